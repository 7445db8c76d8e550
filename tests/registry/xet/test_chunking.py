"""Golden tests: our chunking + chunk hash + Merkle + file hash equal the installed client's (hf_xet.hash_files)."""

from __future__ import annotations

import io
import random
import struct
import time

import hf_xet
import pytest

from registry.xet import GEAR_TABLE, chunk_hash, chunking, file_hash, file_hash_of, hash_to_hex, iter_chunks

MIN, MAX = 8 * 1024, 128 * 1024


def _ours(path) -> str:
    with open(path, "rb") as f:
        return hash_to_hex(file_hash([(chunk_hash(c), len(c)) for c in iter_chunks(f)]))


def _client(*paths) -> list[str]:
    return [info.hash for info in hf_xet.hash_files([str(p) for p in paths])]


def _window_match_at(rng: random.Random, length: int) -> bytes:
    """Random bytes whose gear hash over the last 64 bytes matches the boundary mask (found by search)."""
    while True:
        block = rng.randbytes(1 << 20)
        data = bytearray(block)
        hit = chunking._first_window_match(data, 63, len(data))
        if hit is not None:
            return bytes(data[hit - 63 : hit + 1])


@pytest.fixture(scope="module")
def golden_files(tmp_path_factory):
    rng = random.Random(8)
    d = tmp_path_factory.mktemp("xet-golden")
    files = {
        "random_2mb": rng.randbytes(2 * 1024 * 1024),
        "text_300kb": (b"The consortium hub stores model weights. " * 8000)[: 300 * 1024],
        "tiny": b"tiny file under 8 KiB\n" * 100,
        "float32_1_5mb": struct.pack("<393216f", *(rng.gauss(0, 1) for _ in range(393216))),
        "random_9mb_many_levels": rng.randbytes(9 * 1024 * 1024 + 12345),
        "empty": b"",
        "one_byte": b"x",
        "exactly_max": rng.randbytes(MAX),
        "zeros_1mb": bytes(1024 * 1024),
    }
    # A window that matches the mask 30 bytes before the minimum chunk size: no boundary may fall there.
    match = _window_match_at(rng, 64)
    early = rng.randbytes(MIN - 30 - 64) + match + rng.randbytes(300 * 1024)
    files["match_before_min"] = early
    paths = {}
    for name, data in files.items():
        p = d / name
        p.write_bytes(data)
        paths[name] = p
    return paths


def test_file_hashes_match_hf_xet(golden_files):
    names = list(golden_files)
    expected = _client(*golden_files.values())
    ours = [_ours(golden_files[n]) for n in names]
    assert dict(zip(names, ours, strict=True)) == dict(zip(names, expected, strict=True))


def test_the_golden_set_exercises_a_multi_level_merkle_tree(golden_files):
    with open(golden_files["random_9mb_many_levels"], "rb") as f:
        sizes = [len(c) for c in iter_chunks(f)]
    assert len(sizes) > 81  # more than 9 * 9 leaves: at least three levels of merging
    assert all(MIN <= s <= MAX for s in sizes[:-1])
    assert 0 < sizes[-1] <= MAX


def test_no_boundary_before_the_minimum_chunk_size(golden_files):
    with open(golden_files["match_before_min"], "rb") as f:
        first = next(iter_chunks(f))
    assert len(first) >= MIN


def test_chunks_concatenate_to_the_input_and_respect_limits(golden_files):
    for name in ("random_2mb", "text_300kb", "zeros_1mb", "exactly_max"):
        data = golden_files[name].read_bytes()
        chunks = list(iter_chunks(io.BytesIO(data)))
        assert b"".join(chunks) == data
        assert all(MIN <= len(c) <= MAX for c in chunks[:-1])
    assert [len(c) for c in iter_chunks(io.BytesIO(bytes(1024 * 1024)))] == [MAX] * 8  # no boundary in zeros


def test_pure_python_fallback_gives_the_same_chunks(golden_files, monkeypatch):
    data = golden_files["random_2mb"].read_bytes()
    fast = [len(c) for c in iter_chunks(io.BytesIO(data))]
    monkeypatch.setattr(chunking, "np", None)
    assert [len(c) for c in iter_chunks(io.BytesIO(data))] == fast
    assert file_hash_of(io.BytesIO(data)) == _client(golden_files["random_2mb"])[0]


def test_file_hash_of_matches_client(golden_files):
    p = golden_files["float32_1_5mb"]
    with open(p, "rb") as f:
        assert file_hash_of(f) == _client(p)[0]


def test_gear_table_is_the_gearhash_default_table():
    assert len(GEAR_TABLE) == 256 and len(set(GEAR_TABLE)) == 256
    assert GEAR_TABLE[0] == 0xB088D3A9E840F559 and GEAR_TABLE[255] == 0x63C7A906C1DD187B


def test_chunking_8_mb_takes_seconds_not_minutes():
    data = random.Random(3).randbytes(8 * 1024 * 1024)
    started = time.monotonic()
    assert sum(len(c) for c in iter_chunks(io.BytesIO(data))) == len(data)
    assert time.monotonic() - started < 30  # ~0.1 s with numpy, ~1 s without, on a shared 2-core machine
