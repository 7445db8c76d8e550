from __future__ import annotations

import hashlib
import json
import struct
import tracemalloc

import numpy as np
import pytest
from safetensors.numpy import save as st_save

from registry.validation import StreamReadError, validate_bytes, validate_file, validate_stream

from .corpus import GOOD_DATA, GOOD_KVS, GOOD_TENSORS, PROTO4, STOP, gguf, torch_state_dict_pickle, torch_zip

GOOD = st_save({"a": np.arange(12, dtype=np.float32), "b": np.ones(3, np.int16)})
SHA = hashlib.sha256(GOOD).hexdigest()


def _chunked(data: bytes, size: int):
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_reports_sha256_and_size():
    report = validate_stream([GOOD], path="m.safetensors", expected_sha256=SHA, expected_size=len(GOOD))

    assert report.status == "passed"
    assert (report.sha256, report.size) == (SHA, len(GOOD))
    assert report.checks[0].name == "integrity"


def test_accepts_an_upper_case_expected_digest():
    report = validate_stream([GOOD], path="m.safetensors", expected_sha256=SHA.upper())

    assert report.status == "passed"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"expected_sha256": "0" * 64}, "sha256 is"),
        ({"expected_size": len(GOOD) + 1}, f"size is {len(GOOD)} bytes, expected {len(GOOD) + 1}"),
    ],
)
def test_integrity_mismatch_fails(kwargs, reason):
    report = validate_stream([GOOD], path="m.safetensors", **kwargs)

    assert report.status == "failed"
    assert report.failures[0].name == "integrity"
    assert reason in report.failures[0].message


SAMPLES = {
    "safetensors": (GOOD, "m.safetensors"),
    "pickle": (torch_state_dict_pickle(), "pytorch_model.bin"),
    "zip": (torch_zip(), "model.pt"),
    "gguf": (gguf(GOOD_KVS, GOOD_TENSORS, GOOD_DATA), "m.gguf"),
}


@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
@pytest.mark.parametrize(("data", "path"), SAMPLES.values(), ids=SAMPLES.keys())
def test_verdict_does_not_depend_on_chunking(data, path, chunk_size):
    whole = validate_bytes(data, path=path)
    chunked = validate_stream(_chunked(data, chunk_size), path=path)

    assert whole.status == "passed", whole.checks
    assert (chunked.status, chunked.sha256, chunked.summary) == (whole.status, whole.sha256, whole.summary)


def test_refuses_a_stream_past_max_size():
    report = validate_stream(_chunked(GOOD, 10), path="m.safetensors", max_size=50)

    assert report.status == "failed"
    assert report.sha256 is None
    assert report.checks[0].name == "size"
    assert "exceeds the maximum size of 50 bytes" in report.checks[0].message


def test_refuses_a_declared_oversize_without_reading():
    def never():
        raise AssertionError("the stream should not be read")
        yield b""

    report = validate_stream(never(), path="m.safetensors", expected_size=10**12, max_size=10**9)

    assert report.status == "failed"
    assert "exceeds the maximum" in report.checks[0].message


def test_a_failing_stream_raises_for_retry_not_a_verdict():
    def broken():
        yield GOOD[:10]
        raise ConnectionError("reset by peer")

    with pytest.raises(StreamReadError, match="reset by peer"):
        validate_stream(broken(), path="m.safetensors")


def test_hashes_the_whole_file_even_when_the_format_fails_early():
    data = b"\xff" * 8 + b"rest of a large file" * 100

    report = validate_stream(_chunked(data, 64), path="m.safetensors")

    assert report.status == "failed"
    assert (report.sha256, report.size) == (hashlib.sha256(data).hexdigest(), len(data))


def test_validate_file_reads_from_disk(tmp_path):
    target = tmp_path / "model.safetensors"
    target.write_bytes(GOOD)

    report = validate_file(str(target), path="org/repo/model.safetensors", expected_sha256=SHA)

    assert report.status == "passed"
    assert report.size == len(GOOD)


def test_never_raises_on_bad_input():
    for path in ("a.safetensors", "a.bin", "a.pt", "a.gguf", "a.json", "a.txt"):
        for data in (b"", b"\x00", b"\x80", b"PK\x03\x04", b"GGUF\x03\x00\x00\x00", b"{", b"\xff" * 100):
            assert validate_bytes(data, path=path).status in ("passed", "warning", "failed")


def _big_safetensors(total: int, chunk: int):
    header = json.dumps({"big": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}}).encode()
    count = total - 8 - len(header) - 64
    header = json.dumps({"big": {"dtype": "U8", "shape": [count], "data_offsets": [0, count]}}).encode()
    header += b" " * (-len(header) % 8)
    yield struct.pack("<Q", len(header)) + header
    zeros = bytes(chunk)
    left = count
    while left:
        piece = zeros if left >= chunk else zeros[:left]
        yield piece
        left -= len(piece)


def test_memory_stays_flat_for_a_200_mb_safetensors_stream():
    tracemalloc.start()
    try:
        report = validate_stream(_big_safetensors(200 * 1024 * 1024, 1024 * 1024), path="big.safetensors")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert report.status == "passed", report.checks
    assert report.size > 199 * 1024 * 1024
    assert peak < 20 * 1024 * 1024


def test_memory_stays_flat_for_a_pickle_with_a_large_payload():
    payload = 64 * 1024 * 1024

    def stream():
        yield PROTO4 + b"\x8e" + struct.pack("<Q", payload)
        block = bytes(1024 * 1024)
        for _ in range(payload // len(block)):
            yield block
        yield STOP

    tracemalloc.start()
    try:
        report = validate_stream(stream(), path="blob.pkl")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert report.status == "passed", report.checks
    assert peak < 20 * 1024 * 1024
