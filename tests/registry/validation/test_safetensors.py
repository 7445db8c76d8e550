from __future__ import annotations

import struct

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from registry.validation import validate_bytes

from .corpus import entry, st, st_raw


def _good() -> bytes:
    return st_save(
        {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4, dtype=np.int8)},
        metadata={"format": "pt"},
    )


def _deep(levels: int) -> bytes:
    return b'{"__metadata__":' + b"[" * levels + b"]" * levels + b"}"


GOOD_FILES = {
    "float16": {"x": np.zeros((3, 5), np.float16)},
    "float32+int8": {"a": np.zeros((2, 3), np.float32), "b": np.ones(7, np.int8)},
    "float64": {"x": np.ones(2, np.float64)},
    "ints": {"u8": np.zeros(3, np.uint8), "i16": np.zeros(3, np.int16), "i64": np.zeros(2, np.int64)},
    "unsigned": {"u16": np.zeros(3, np.uint16), "u32": np.zeros(3, np.uint32), "u64": np.zeros(1, np.uint64)},
    "bool": {"mask": np.array([True, False, True])},
    "complex64": {"z": np.zeros(2, np.complex64)},
    "zero-size tensor": {"empty": np.zeros((0, 4), np.float32), "x": np.ones(1, np.float32)},
    "scalar": {"s": np.array(3.0, np.float32)},
    "no tensors": {},
}


@pytest.mark.parametrize("tensors", GOOD_FILES.values(), ids=GOOD_FILES.keys())
def test_accepts_files_written_by_the_reference_library(tensors):
    data = st_save(tensors, metadata={"format": "pt"})

    report = validate_bytes(data, path="model.safetensors")

    assert report.status == "passed", report.checks
    assert report.summary["format"] == "safetensors"
    assert report.summary["tensor_count"] == len(tensors)
    assert report.summary["parameter_count"] == sum(int(t.size) for t in tensors.values())
    assert report.summary["tensors"] == {name: t.nbytes for name, t in tensors.items()}
    st_load(data)  # the reference loader agrees


HANDMADE_GOOD = {
    "bf16": st({"w": entry("BF16", [2, 2], 0, 8)}, bytes(8)),
    "f8_e4m3": st({"w": entry("F8_E4M3", [5], 0, 5)}, bytes(5)),
    "f8_e8m0": st({"w": entry("F8_E8M0", [3], 0, 3)}, bytes(3)),
    "f4 even count": st({"w": entry("F4", [2, 2], 0, 2)}, bytes(2)),
    "f6 multiple of four": st({"w": entry("F6_E2M3", [4], 0, 3)}, bytes(3)),
    "offsets listed out of order": st({"b": entry("U8", [2], 2, 4), "a": entry("U8", [2], 0, 2)}, bytes(4)),
    "zero-length tensors share an offset": st(
        {"e1": entry("F32", [0], 0, 0), "e2": entry("F32", [0], 0, 0), "x": entry("U8", [1], 0, 1)}, b"\x01"
    ),
    "metadata only": st({"__metadata__": {"format": "pt", "note": "hello"}}),
}


@pytest.mark.parametrize("data", HANDMADE_GOOD.values(), ids=HANDMADE_GOOD.keys())
def test_accepts_handmade_good_files(data):
    report = validate_bytes(data, path="model.safetensors")

    assert report.status == "passed", report.checks


def test_summary_counts_parameters_per_dtype():
    report = validate_bytes(_good(), path="model.safetensors")

    assert report.summary["dtypes"] == {"F32": 6, "I8": 4}
    assert report.summary["parameter_count"] == 10
    assert report.summary["metadata"] == {"format": "pt"}


GOOD = _good()
TWO_F32 = {"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 8, 16)}

BAD_FILES = [
    ("empty file", b"", "too short"),
    ("shorter than the length prefix", b"\x10\x00\x00", "too short"),
    ("truncated data", GOOD[:-3], "truncated"),
    ("truncated header", GOOD[:20], "runs past the end"),
    ("header length past the file", st_raw(b"{}", length=1000), "runs past the end"),
    ("header length near 2^63", st_raw(b"{}", length=2**63 - 5), "exceeds the limit"),
    ("header length 2^64-1", st_raw(b"{}", length=2**64 - 1), "exceeds the limit"),
    ("header length too small", st_raw(b"{", length=1), "too small"),
    ("non-JSON header", st_raw(b"{not json}     "), "not valid JSON"),
    ("array root", st_raw(b"[]      "), "must start with '{'"),
    ("leading whitespace", st_raw(b" {}     "), "must start with '{'"),
    ("byte order mark", st_raw(b"\xef\xbb\xbf{}   "), "must start with '{'"),
    ("newline padding", st_raw(b"{}\n\n\n\n\n\n"), "space padding"),
    ("junk after the object", st_raw(b'{}{"a":1}'), "not valid JSON"),
    ("invalid UTF-8", st_raw(b'{"\xff":1}'), "invalid UTF-8"),
    (
        "overlapping offsets",
        st({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)}, bytes(12)),
        "overlaps",
    ),
    (
        "gap between tensors",
        st({"a": entry("F32", [1], 0, 4), "b": entry("F32", [1], 8, 12)}, bytes(12)),
        "gap",
    ),
    ("data not starting at 0", st({"a": entry("F32", [1], 4, 8)}, bytes(8)), "gap of 4 bytes at the start"),
    ("trailing bytes", st(TWO_F32, bytes(17)), "1 trailing bytes"),
    ("missing data", st(TWO_F32, bytes(15)), "truncated"),
    ("byte range not matching shape", st({"a": entry("F32", [3], 0, 8)}, bytes(8)), "needs 12 bytes"),
    ("unknown dtype", st({"a": entry("F128", [1], 0, 16)}, bytes(16)), "unknown dtype 'F128'"),
    ("lower-case dtype", st({"a": entry("f32", [1], 0, 4)}, bytes(4)), "unknown dtype"),
    ("F4 odd element count", st({"a": entry("F4", [3], 0, 2)}, bytes(2)), "not a whole number of bytes"),
    (
        "F6 element count not /4",
        st({"a": entry("F6_E3M2", [3], 0, 3)}, bytes(3)),
        "not a whole number of bytes",
    ),
    (
        "duplicate top-level key",
        st_raw(
            b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
            b"\x00",
        ),
        "duplicate key 'a'",
    ),
    (
        "duplicate key inside an entry",
        st_raw(b'{"a":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}}', b"\x00"),
        "duplicate key 'dtype'",
    ),
    ("duplicate metadata key", st_raw(b'{"__metadata__":{"k":"1","k":"2"}}'), "duplicate key 'k'"),
    ("non-string metadata value", st({"__metadata__": {"k": 1}}), "__metadata__"),
    ("metadata not an object", st({"__metadata__": "x"}), "__metadata__"),
    ("metadata null", st({"__metadata__": None}), "__metadata__"),
    ("deep nesting under the recursion limit", st_raw(_deep(100)), "nesting deeper"),
    ("deep nesting past the recursion limit", st_raw(_deep(100_000)), "nesting deeper"),
    ("NaN in a shape", st_raw(b'{"a":{"dtype":"U8","shape":[NaN],"data_offsets":[0,1]}}', b"\x00"), "NaN"),
    ("lone surrogate", st_raw(b'{"__metadata__":{"k":"\\ud800"}}'), "surrogate"),
    ("extra key in an entry", st({"a": {**entry("U8", [1], 0, 1), "extra": 1}}, b"\x00"), "exactly dtype"),
    ("missing key in an entry", st({"a": {"dtype": "U8", "shape": [1]}}, b"\x00"), "missing keys"),
    ("entry not an object", st({"a": [1, 2]}), "must be an object"),
    ("negative dimension", st({"a": entry("U8", [-1], 0, 1)}, b"\x00"), "non-negative integers"),
    (
        "boolean dimension",
        st({"a": {"dtype": "U8", "shape": [True], "data_offsets": [0, 1]}}, b"\x00"),
        "shape",
    ),
    ("float dimension", st({"a": {"dtype": "U8", "shape": [1.0], "data_offsets": [0, 1]}}, b"\x00"), "shape"),
    ("overflowing shape", st({"a": entry("U8", [2**40, 2**40], 0, 1)}, b"\x00"), "more than"),
    (
        "three offsets",
        st({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1, 2]}}, b"\x00"),
        "data_offsets",
    ),
    ("offset past 2^63", st({"a": entry("U8", [1], 2**63, 2**63 + 1)}, b"\x00"), "data_offsets"),
    ("end before start", st({"a": entry("U8", [0], 1, 0)}, b"\x00"), "end before they begin"),
    ("empty tensor name", st({"": entry("U8", [1], 0, 1)}, b"\x00"), "empty name"),
    ("control character in name", st({"a\nb": entry("U8", [1], 0, 1)}, b"\x00"), "control characters"),
]


@pytest.mark.parametrize(
    ("data", "reason"), [(d, r) for _, d, r in BAD_FILES], ids=[n for n, _, _ in BAD_FILES]
)
def test_refuses_malformed_files(data, reason):
    report = validate_bytes(data, path="model.safetensors")

    assert report.status == "failed"
    assert any(reason in check.message for check in report.failures), report.checks


def test_detects_safetensors_under_any_name():
    report = validate_bytes(_good(), path="weights.bin")

    assert report.summary["format"] == "safetensors"
    assert report.status == "passed"


def test_refuses_a_pickle_named_safetensors():
    report = validate_bytes(b"\x80\x02}q\x00.", path="model.safetensors")

    assert report.status == "failed"
    assert any("name says safetensors" in c.message for c in report.failures)


def test_header_bound_is_configurable():
    from registry.validation import Limits

    report = validate_bytes(_good(), path="m.safetensors", limits=Limits(max_header_size=64))

    assert report.status == "failed"
    assert "exceeds the limit of 64" in report.failures[0].message


def test_header_length_is_read_little_endian():
    header = b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
    data = struct.pack(">Q", len(header)) + header + b"\x00"

    report = validate_bytes(data, path="model.safetensors")

    assert report.status == "failed"
