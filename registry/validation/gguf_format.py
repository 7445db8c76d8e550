"""GGUF (llama.cpp): header, key/value metadata and tensor infos, parsed as a stream.

Every count and length read from the file is checked against a limit and against the header budget before
anything is read for it; arrays of fixed-size values are skipped rather than decoded.
"""

from __future__ import annotations

import struct
from typing import Any

from registry.validation.stream import Source
from registry.validation.types import PASSED, FormatResult, Invalid, Limits, TensorInfo

CHECK = "gguf"
DEFAULT_ALIGNMENT = 32
_MAX_DIMS = 4  # GGML_MAX_DIMS
_MAX_NAME = 63  # GGML_MAX_NAME is 64 including the terminating NUL
_QK_K = 256

# value type -> struct format (fixed-size types); 8 = string, 9 = array
_FIXED: dict[int, str] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<B",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_TYPE_NAMES = {
    0: "UINT8", 1: "INT8", 2: "UINT16", 3: "INT16", 4: "UINT32", 5: "INT32", 6: "FLOAT32",
    7: "BOOL", 8: "STRING", 9: "ARRAY", 10: "UINT64", 11: "INT64", 12: "FLOAT64",
}  # fmt: skip

# ggml type -> (name, elements per block, bytes per block), from gguf-py's GGML_QUANT_SIZES
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 2 + 16),
    3: ("Q4_1", 32, 2 + 2 + 16),
    6: ("Q5_0", 32, 2 + 4 + 16),
    7: ("Q5_1", 32, 2 + 2 + 4 + 16),
    8: ("Q8_0", 32, 2 + 32),
    9: ("Q8_1", 32, 4 + 4 + 32),
    10: ("Q2_K", 256, 2 + 2 + _QK_K // 16 + _QK_K // 4),
    11: ("Q3_K", 256, 2 + _QK_K // 4 + _QK_K // 8 + 12),
    12: ("Q4_K", 256, 2 + 2 + _QK_K // 2 + 12),
    13: ("Q5_K", 256, 2 + 2 + _QK_K // 2 + _QK_K // 8 + 12),
    14: ("Q6_K", 256, 2 + _QK_K // 2 + _QK_K // 4 + _QK_K // 16),
    15: ("Q8_K", 256, 4 + _QK_K + _QK_K // 8),
    16: ("IQ2_XXS", 256, 2 + _QK_K // 4),
    17: ("IQ2_XS", 256, 2 + _QK_K // 4 + _QK_K // 32),
    18: ("IQ3_XXS", 256, 2 + _QK_K // 4 + _QK_K // 8),
    19: ("IQ1_S", 256, 2 + _QK_K // 8 + _QK_K // 16),
    20: ("IQ4_NL", 32, 2 + 16),
    21: ("IQ3_S", 256, 2 + _QK_K // 4 + _QK_K // 8 + _QK_K // 32 + 4),
    22: ("IQ2_S", 256, 2 + _QK_K // 4 + _QK_K // 16),
    23: ("IQ4_XS", 256, 2 + 2 + _QK_K // 2 + _QK_K // 64),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, _QK_K // 8 + _QK_K // 16 + _QK_K // 32),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 2 + 4 * 13),
    35: ("TQ2_0", 256, 2 + 64),
    39: ("MXFP4", 32, 1 + 16),
    40: ("NVFP4", 64, 4 + 32),
    41: ("Q1_0", 128, 2 + 16),
}

_SUMMARY_KEYS = ("general.architecture", "general.name", "general.file_type", "general.quantization_version")
# Per-architecture keys (`{arch}.block_count`…) the repo checks compare with the tensor table.
_ANATOMY_SUFFIXES = (".block_count", ".embedding_length", ".vocab_size")
TOKENS_KEY = "tokenizer.ggml.tokens"


class _Reader:
    """Reads the header from the stream, charging every byte to the header budget."""

    def __init__(self, src: Source, budget: int) -> None:
        self._src = src
        self._budget = budget

    def bytes(self, n: int, what: str) -> bytes:
        if n > self._budget - self._src.position:
            raise Invalid(CHECK, f"{what} ({n} bytes) would take the header past {self._budget} bytes")
        data = self._src.read(n)
        if len(data) < n:
            raise Invalid(CHECK, f"file truncated while reading {what}")
        return data

    def skip(self, n: int, what: str) -> None:
        if n > self._budget - self._src.position:
            raise Invalid(CHECK, f"{what} ({n} bytes) would take the header past {self._budget} bytes")
        if self._src.skip(n) < n:
            raise Invalid(CHECK, f"file truncated while reading {what}")

    @property
    def remaining(self) -> int:
        return self._budget - self._src.position

    def unpack(self, fmt: str, what: str) -> Any:
        return struct.unpack(fmt, self.bytes(struct.calcsize(fmt), what))[0]

    def string(self, what: str, limit: int) -> str:
        length = self.unpack("<Q", f"{what} length")
        if length > limit:
            raise Invalid(CHECK, f"{what} is {length} bytes, over the limit of {limit}")
        raw = self.bytes(length, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Invalid(CHECK, f"{what} is not valid UTF-8") from exc


def _value(reader: _Reader, kind: int, key: str, limits: Limits, depth: int) -> Any:
    """Parse one value; strings and scalars are returned, arrays summarised as (element type, count)."""
    if kind in _FIXED:
        return reader.unpack(_FIXED[kind], f"value of {key!r}")
    if kind == 8:
        return reader.string(f"string value of {key!r}", limits.max_gguf_string)
    if kind == 9:
        if depth >= limits.max_gguf_array_depth:
            raise Invalid(CHECK, f"{key!r}: arrays nested deeper than {limits.max_gguf_array_depth}")
        item = reader.unpack("<I", f"array type of {key!r}")
        count = reader.unpack("<Q", f"array length of {key!r}")
        if item not in _TYPE_NAMES:
            raise Invalid(CHECK, f"{key!r}: unknown array element type {item}")
        if count * (struct.calcsize(_FIXED[item]) if item in _FIXED else 8) > reader.remaining:
            raise Invalid(CHECK, f"{key!r}: array of {count} elements cannot fit in the header")
        if item in _FIXED:
            reader.skip(count * struct.calcsize(_FIXED[item]), f"array {key!r}")
        else:
            for _ in range(count):  # each element costs >= 8 bytes, so the budget bounds this loop
                _value(reader, item, key, limits, depth + 1)
        return (_TYPE_NAMES[item], count)
    raise Invalid(CHECK, f"{key!r}: unknown value type {kind}")


def check_gguf(src: Source, *, path: str, limits: Limits) -> FormatResult:
    result = FormatResult()
    reader = _Reader(src, limits.max_gguf_header)
    magic = src.read(4)
    if magic != b"GGUF":
        raise Invalid(CHECK, f"bad magic {magic!r}, expected b'GGUF'")
    version = reader.unpack("<I", "version")
    if version not in (2, 3):
        raise Invalid(CHECK, f"unsupported GGUF version {version} (2 and 3 are supported)")
    tensor_count = reader.unpack("<Q", "tensor count")
    kv_count = reader.unpack("<Q", "metadata count")
    if tensor_count > limits.max_gguf_tensors:
        raise Invalid(CHECK, f"tensor count {tensor_count} exceeds the limit of {limits.max_gguf_tensors}")
    if kv_count > limits.max_gguf_kv:
        raise Invalid(CHECK, f"metadata count {kv_count} exceeds the limit of {limits.max_gguf_kv}")

    # smallest encodings: a KV is key length + 1 byte + type + 1 byte; a tensor info is 8 + 1 + 4 + 8 + 4 + 8
    if kv_count * 14 + tensor_count * 33 > reader.remaining:
        raise Invalid(
            CHECK, f"{kv_count} metadata entries and {tensor_count} tensors cannot fit in the header"
        )
    alignment = DEFAULT_ALIGNMENT
    anatomy: dict[str, int] = {}
    seen: set[str] = set()
    for _ in range(kv_count):
        key = reader.string("metadata key", 65_535)
        if not key:
            raise Invalid(CHECK, "empty metadata key")
        if key in seen:
            raise Invalid(CHECK, f"duplicate metadata key {key!r}")
        seen.add(key)
        kind = reader.unpack("<I", f"type of {key!r}")
        value = _value(reader, kind, key, limits, 0)
        if key == "general.alignment":
            if kind != 4 or value == 0 or value & (value - 1):
                raise Invalid(CHECK, f"general.alignment must be a power-of-two UINT32, got {value!r}")
            alignment = value
        elif key in _SUMMARY_KEYS and not isinstance(value, tuple):
            result.summary[key] = value if not isinstance(value, str) else value[:200]
        if key.endswith(_ANATOMY_SUFFIXES) and isinstance(value, int) and not isinstance(value, bool):
            anatomy[key] = value
        elif key == TOKENS_KEY and isinstance(value, tuple):
            anatomy[key] = value[1]  # the array's length: the tokenizer's vocabulary

    tensors: list[tuple[int, int, str]] = []
    table: list[TensorInfo] = []
    names: set[str] = set()
    parameters = 0
    types: dict[str, int] = {}
    for _ in range(tensor_count):
        name = reader.string("tensor name", 65_535)
        if not name or len(name.encode()) > _MAX_NAME:
            raise Invalid(CHECK, f"tensor name {name[:80]!r} must be 1 to {_MAX_NAME} bytes")
        if name in names:
            raise Invalid(CHECK, f"duplicate tensor {name!r}")
        names.add(name)
        n_dims = reader.unpack("<I", f"dimension count of {name!r}")
        if not 1 <= n_dims <= _MAX_DIMS:
            raise Invalid(CHECK, f"tensor {name!r}: {n_dims} dimensions (1 to {_MAX_DIMS} allowed)")
        dims = [reader.unpack("<Q", f"dimensions of {name!r}") for _ in range(n_dims)]
        elements = 1
        for dim in dims:
            elements *= dim
        if elements > 2**63 - 1:
            raise Invalid(CHECK, f"tensor {name!r}: shape {dims} overflows")
        ggml_type = reader.unpack("<I", f"type of {name!r}")
        if ggml_type not in GGML_TYPES:
            raise Invalid(CHECK, f"tensor {name!r}: unknown ggml type {ggml_type}")
        type_name, block, block_bytes = GGML_TYPES[ggml_type]
        if dims[0] % block:
            raise Invalid(
                CHECK,
                f"tensor {name!r}: first dimension {dims[0]} is not a multiple of "
                f"{type_name}'s block {block}",
            )
        offset = reader.unpack("<Q", f"offset of {name!r}")
        tensors.append((offset, offset + elements // block * block_bytes, name))
        table.append(TensorInfo(name, type_name, tuple(dims), elements // block * block_bytes))
        parameters += elements
        types[type_name] = types.get(type_name, 0) + elements

    header_end = src.position
    data_start = -(-header_end // alignment) * alignment
    data_size = src.drain() - (data_start - header_end)
    if data_size < 0:
        raise Invalid(CHECK, "file ends inside the padding before the tensor data")
    tensors.sort()
    cursor = 0
    previous = ""
    for start, end, name in tensors:
        if start % alignment:
            raise Invalid(CHECK, f"tensor {name!r}: offset {start} is not aligned to {alignment}")
        if start < cursor:
            raise Invalid(CHECK, f"tensor {name!r} overlaps {previous!r}")
        if end > data_size:
            raise Invalid(
                CHECK,
                f"tensor {name!r} data [{start}, {end}) runs past the end of the file "
                f"({data_size} data bytes)",
            )
        cursor, previous = end, name

    result.summary.update(
        version=version,
        tensor_count=tensor_count,
        kv_count=kv_count,
        alignment=alignment,
        parameter_count=parameters,
        types=dict(sorted(types.items())),
    )
    architecture = result.summary.get("general.architecture")
    kept = {k: v for k, v in anatomy.items()
            if k == TOKENS_KEY or (isinstance(architecture, str) and k.startswith(architecture + "."))}
    if kept:
        result.summary["anatomy"] = dict(sorted(kept.items()))
    result.tensors = sorted(table, key=lambda t: t.name)
    result.add(CHECK, PASSED, f"GGUF v{version}, {tensor_count} tensors, {kv_count} metadata keys")
    return result
