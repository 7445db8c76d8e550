"""safetensors: structural validation, stricter than the reference loader.

Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON (padded with trailing spaces), then the
data section, which the tensors' `data_offsets` must tile exactly: sorted, from 0, no gap, no overlap, no
trailing bytes. Only the header is held in memory, bounded by `Limits.max_header_size`.
"""

from __future__ import annotations

import math
import struct
import unicodedata
from dataclasses import dataclass
from typing import Any

from registry.validation.stream import Source
from registry.validation.strict_json import JsonInvalid, loads_strict
from registry.validation.types import PASSED, FormatResult, Invalid, Limits, TensorInfo

CHECK = "safetensors"

# Bits per element, from the safetensors `Dtype` enum (safetensors/src/tensor.rs).
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}

_ENTRY_KEYS = frozenset({"dtype", "shape", "data_offsets"})
_MAX_OFFSET = 2**63 - 1
_METADATA_SUMMARY_LIMIT = 16 * 1024


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class SafetensorsHeader:
    tensors: dict[str, TensorEntry]
    metadata: dict[str, str] | None
    data_size: int  # bytes the tensors cover; the data section must be exactly this long


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _has_control(name: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in name)


def _entry(name: str, raw: Any, limits: Limits) -> TensorEntry:
    if not name:
        raise Invalid(CHECK, "a tensor has an empty name")
    if _has_control(name):
        raise Invalid(CHECK, f"tensor name {name!r} contains control characters")
    if not isinstance(raw, dict):
        raise Invalid(CHECK, f"tensor {name!r}: entry must be an object, not {type(raw).__name__}")
    keys = set(raw)
    if keys != _ENTRY_KEYS:
        extra, missing = sorted(keys - _ENTRY_KEYS), sorted(_ENTRY_KEYS - keys)
        detail = "; ".join(
            part
            for part in (
                f"unexpected keys {extra}" if extra else "",
                f"missing keys {missing}" if missing else "",
            )
            if part
        )
        raise Invalid(
            CHECK, f"tensor {name!r}: entry must have exactly dtype, shape, data_offsets ({detail})"
        )
    dtype = raw["dtype"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise Invalid(CHECK, f"tensor {name!r}: unknown dtype {dtype!r}")
    shape = raw["shape"]
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise Invalid(
            CHECK, f"tensor {name!r}: shape must be a list of non-negative integers, got {shape!r}"[:300]
        )
    if len(shape) > limits.max_rank:
        raise Invalid(CHECK, f"tensor {name!r}: rank {len(shape)} exceeds {limits.max_rank}")
    elements = 1
    for dim in shape:
        elements *= dim
        if elements > limits.max_elements:
            raise Invalid(
                CHECK, f"tensor {name!r}: shape {shape} has more than {limits.max_elements} elements"
            )
    offsets = raw["data_offsets"]
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(o) and 0 <= o <= _MAX_OFFSET for o in offsets)
    ):
        raise Invalid(
            CHECK, f"tensor {name!r}: data_offsets must be two integers in [0, 2^63), got {offsets!r}"[:300]
        )
    start, end = offsets
    if end < start:
        raise Invalid(CHECK, f"tensor {name!r}: data_offsets [{start}, {end}] end before they begin")
    bits = elements * DTYPE_BITS[dtype]
    if bits % 8:
        raise Invalid(
            CHECK,
            f"tensor {name!r}: {elements} {dtype} elements are {bits} bits, not a whole number of bytes",
        )
    if bits // 8 != end - start:
        raise Invalid(
            CHECK,
            f"tensor {name!r}: {dtype}{shape} needs {bits // 8} bytes but data_offsets [{start}, {end}] "
            f"span {end - start}",
        )
    return TensorEntry(name=name, dtype=dtype, shape=tuple(shape), start=start, end=end)


def parse_header(header: bytes, limits: Limits) -> SafetensorsHeader:
    """Validate the JSON header bytes (everything after the 8-byte length) and the tiling of its offsets."""
    if not header.startswith(b"{"):
        raise Invalid(CHECK, "header must start with '{'")
    body = header.rstrip(b" ")
    if not body.endswith(b"}"):
        raise Invalid(CHECK, "header must be a JSON object followed only by space padding")
    try:
        root = loads_strict(body, max_depth=limits.max_json_depth)
    except JsonInvalid as exc:
        raise Invalid(CHECK, f"header: {exc}") from exc
    if not isinstance(root, dict):
        raise Invalid(CHECK, f"header root must be an object, not {type(root).__name__}")

    metadata: dict[str, str] | None = None
    tensors: dict[str, TensorEntry] = {}
    for name, raw in root.items():
        if name == "__metadata__":
            if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
                raise Invalid(CHECK, "__metadata__ must be an object mapping strings to strings")
            metadata = raw
            continue
        if len(tensors) >= limits.max_tensors:
            raise Invalid(CHECK, f"more than {limits.max_tensors} tensors")
        tensors[name] = _entry(name, raw, limits)

    ordered = sorted(tensors.values(), key=lambda t: (t.start, t.end))
    cursor = 0
    previous: TensorEntry | None = None
    for entry in ordered:
        if entry.start < cursor:
            assert previous is not None  # cursor > 0 only after a tensor
            raise Invalid(
                CHECK,
                f"tensor {entry.name!r} [{entry.start}, {entry.end}) overlaps "
                f"{previous.name!r} [{previous.start}, {previous.end})",
            )
        if entry.start > cursor:
            after = f"after {previous.name!r} (ends at {cursor})" if previous else "at the start of the data"
            raise Invalid(
                CHECK, f"gap of {entry.start - cursor} bytes {after}: {entry.name!r} starts at {entry.start}"
            )
        cursor = entry.end
        previous = entry
    return SafetensorsHeader(tensors=tensors, metadata=metadata, data_size=cursor)


def summarize(header: SafetensorsHeader, header_size: int) -> dict[str, Any]:
    dtypes: dict[str, int] = {}
    parameters = 0
    for entry in header.tensors.values():
        parameters += entry.elements
        dtypes[entry.dtype] = dtypes.get(entry.dtype, 0) + entry.elements
    summary: dict[str, Any] = {
        "header_size": header_size,
        "tensor_count": len(header.tensors),
        "parameter_count": parameters,
        "dtypes": dict(sorted(dtypes.items())),
        "tensors": {name: entry.nbytes for name, entry in header.tensors.items()},
    }
    if header.metadata is not None:
        if sum(len(k) + len(v) for k, v in header.metadata.items()) <= _METADATA_SUMMARY_LIMIT:
            summary["metadata"] = header.metadata
        else:
            summary["metadata_keys"] = sorted(header.metadata)[:100]
    return summary


def check_safetensors(src: Source, *, path: str, limits: Limits) -> FormatResult:
    result = FormatResult()
    prefix = src.read(8)
    if len(prefix) < 8:
        raise Invalid(CHECK, f"file is {len(prefix)} bytes, too short for the 8-byte header length")
    (length,) = struct.unpack("<Q", prefix)
    if length > limits.max_header_size:
        raise Invalid(CHECK, f"header length {length} exceeds the limit of {limits.max_header_size} bytes")
    if length < 2:
        raise Invalid(CHECK, f"header length {length} is too small for a JSON object")
    header_bytes = src.read(length)
    if len(header_bytes) < length:
        raise Invalid(
            CHECK,
            f"header length {length} runs past the end of the file (only {len(header_bytes)} bytes follow)",
        )
    header = parse_header(header_bytes, limits)
    del header_bytes
    data = src.drain()
    if data < header.data_size:
        raise Invalid(
            CHECK,
            f"file truncated: tensors need {header.data_size} bytes of data "
            f"but only {data} follow the header",
        )
    if data > header.data_size:
        raise Invalid(
            CHECK,
            f"{data - header.data_size} trailing bytes after the last tensor (data section is {data} bytes, "
            f"tensors cover {header.data_size})",
        )
    result.summary.update(summarize(header, length))
    result.tensors = [TensorInfo(e.name, e.dtype, e.shape, e.nbytes)
                      for e in sorted(header.tensors.values(), key=lambda e: e.name)]
    result.add(
        CHECK,
        PASSED,
        f"{len(header.tensors)} tensors, {result.summary['parameter_count']} parameters",
    )
    return result
