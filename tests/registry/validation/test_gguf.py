from __future__ import annotations

import struct

import pytest

from registry.validation import Limits, validate_bytes

from .corpus import (
    ARRAY,
    F32,
    GOOD_DATA,
    GOOD_KVS,
    GOOD_TENSORS,
    Q4_0,
    Q8_0,
    STRING,
    U8,
    U64,
    gguf,
    gstr,
    kv,
    kv_str,
    kv_u32,
    tensor_info,
)


def test_accepts_a_well_formed_file():
    report = validate_bytes(gguf(GOOD_KVS, GOOD_TENSORS, GOOD_DATA), path="tiny.Q8_0.gguf")

    assert report.status == "passed", report.checks
    assert report.summary["format"] == "gguf"
    assert report.summary["version"] == 3
    assert report.summary["tensor_count"] == 2
    assert report.summary["parameter_count"] == 36
    assert report.summary["types"] == {"F32": 4, "Q8_0": 32}
    assert report.summary["general.architecture"] == "llama"


def test_accepts_version_2_and_a_custom_alignment():
    tensors = [tensor_info("a", [4], F32, 0), tensor_info("b", [4], F32, 64)]
    data = gguf([kv_u32("general.alignment", 64)], tensors, bytes(80), version=2, alignment=64)

    report = validate_bytes(data, path="x.gguf")

    assert report.status == "passed", report.checks
    assert report.summary["alignment"] == 64


def test_detects_gguf_under_another_name():
    report = validate_bytes(gguf(GOOD_KVS, GOOD_TENSORS, GOOD_DATA), path="model.bin")

    assert report.summary["format"] == "gguf"
    assert report.status == "passed"


def _nested_array(depth: int) -> bytes:
    payload = struct.pack("<IQ", U8, 1) + b"\x00"
    for _ in range(depth):
        payload = struct.pack("<IQ", ARRAY, 1) + payload
    return kv("deep", ARRAY, payload)


GOOD = gguf(GOOD_KVS, GOOD_TENSORS, GOOD_DATA)

BAD = [
    ("bad magic", b"GGUX" + GOOD[4:], "bad magic"),
    ("version 1", gguf(GOOD_KVS, GOOD_TENSORS, GOOD_DATA, version=1), "unsupported GGUF version 1"),
    ("version 4", gguf(GOOD_KVS, GOOD_TENSORS, GOOD_DATA, version=4), "unsupported GGUF version 4"),
    ("huge tensor count", gguf([], [], b"", tensor_count=2**40), "tensor count"),
    ("huge metadata count", gguf([], [], b"", kv_count=2**63), "metadata count"),
    ("empty file", b"", "bad magic"),
    ("truncated header", GOOD[:60], "truncated"),
    ("huge string length", gguf([struct.pack("<Q", 2**62) + b"key"], [], b""), "over the limit"),
    ("unknown value type", gguf([kv("k", 13, b"\x00")], [], b""), "unknown value type 13"),
    (
        "unknown array element type",
        gguf([kv("k", ARRAY, struct.pack("<IQ", 42, 1))], [], b""),
        "element type 42",
    ),
    ("huge array", gguf([kv("k", ARRAY, struct.pack("<IQ", U64, 2**60))], [], b""), "cannot fit"),
    ("arrays nested too deep", gguf([_nested_array(6)], [], b""), "nested deeper"),
    ("invalid UTF-8 key", gguf([gstr(b"\xff\xfe") + struct.pack("<I", U8) + b"\x00"], [], b""), "UTF-8"),
    ("duplicate key", gguf([kv_str("a", "x"), kv_str("a", "y")], [], b""), "duplicate metadata key 'a'"),
    ("alignment not a power of two", gguf([kv_u32("general.alignment", 48)], [], b""), "power-of-two"),
    ("alignment zero", gguf([kv_u32("general.alignment", 0)], [], b""), "power-of-two"),
    (
        "alignment of the wrong type",
        gguf([kv("general.alignment", U64, struct.pack("<Q", 32))], [], b""),
        "power-of-two UINT32",
    ),
    ("misaligned offset", gguf([], [tensor_info("a", [4], F32, 8)], bytes(24)), "not aligned to 32"),
    ("tensor past the end", gguf([], [tensor_info("a", [64], F32, 0)], bytes(16)), "runs past the end"),
    (
        "overlapping tensors",
        gguf([], [tensor_info("a", [16], F32, 0), tensor_info("b", [4], F32, 32)], bytes(64)),
        "overlaps",
    ),
    ("duplicate tensor", gguf([], [tensor_info("a", [4], F32, 0)] * 2, bytes(64)), "duplicate tensor 'a'"),
    ("removed ggml type", gguf([], [tensor_info("a", [32], 4, 0)], bytes(64)), "unknown ggml type 4"),
    ("row not a whole block", gguf([], [tensor_info("a", [30], Q4_0, 0)], bytes(64)), "not a multiple"),
    ("five dimensions", gguf([], [tensor_info("a", [1, 1, 1, 1, 1], F32, 0)], bytes(32)), "5 dimensions"),
    ("zero dimensions", gguf([], [tensor_info("a", [], F32, 0)], bytes(32)), "0 dimensions"),
    ("tensor name too long", gguf([], [tensor_info("n" * 64, [4], F32, 0)], bytes(32)), "1 to 63 bytes"),
    (
        "overflowing shape",
        gguf([], [tensor_info("a", [2**32, 2**32, 2**32], F32, 0)], bytes(32)),
        "overflows",
    ),
    (
        "string array cut short",
        gguf([kv("k", ARRAY, struct.pack("<IQ", STRING, 3) + gstr("a"))], [], b""),
        "truncated",
    ),
    (
        "Q8_0 data short by one byte",
        gguf([], [tensor_info("q", [32], Q8_0, 0)], bytes(33)),
        "runs past the end",
    ),
]


@pytest.mark.parametrize(("data", "reason"), [(d, r) for _, d, r in BAD], ids=[n for n, _, _ in BAD])
def test_refuses_malformed_files(data, reason):
    report = validate_bytes(data, path="model.gguf")

    assert report.status == "failed"
    assert any(reason in c.message for c in report.failures), report.checks


def test_counts_are_bounded_by_the_header_budget_before_parsing():
    data = gguf([], [], b"", kv_count=1000, tensor_count=1000)

    report = validate_bytes(data, path="m.gguf", limits=Limits(max_gguf_header=4096))

    assert report.status == "failed"
    assert "cannot fit in the header" in report.failures[0].message
