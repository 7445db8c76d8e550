"""Builders for the crafted corpus: raw bytes and opcodes only. Nothing here, or in the tests, unpickles."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from typing import Any

# -- safetensors --------------------------------------------------------------------------------------------


def st_raw(header: bytes, data: bytes = b"", *, length: int | None = None) -> bytes:
    return struct.pack("<Q", len(header) if length is None else length) + header + data


def st(header: dict[str, Any], data: bytes = b"") -> bytes:
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return st_raw(raw, data)


def entry(dtype: str, shape: list[int], start: int, end: int) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [start, end]}


# -- pickle opcodes -----------------------------------------------------------------------------------------

PROTO2 = b"\x80\x02"
PROTO4 = b"\x80\x04"
MARK = b"("
STOP = b"."
TUPLE = b"t"
TUPLE1 = b"\x85"
TUPLE2 = b"\x86"
EMPTY_TUPLE = b")"
EMPTY_DICT = b"}"
REDUCE = b"R"
SETITEMS = b"u"
STACK_GLOBAL = b"\x93"
MEMOIZE = b"\x94"
POP = b"0"
POP_MARK = b"1"
DUP = b"2"
BINPERSID = b"Q"
NEWFALSE = b"\x89"
NEWTRUE = b"\x88"
OBJ = b"o"


def glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def inst(module: str, name: str) -> bytes:
    return b"i" + module.encode() + b"\n" + name.encode() + b"\n"


def su(text: str) -> bytes:
    """SHORT_BINUNICODE"""
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def bu(text: str) -> bytes:
    """BINUNICODE"""
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def k(n: int) -> bytes:
    """BININT1"""
    return b"K" + bytes([n])


def put(i: int) -> bytes:
    return b"q" + bytes([i])


def get(i: int) -> bytes:
    return b"h" + bytes([i])


def call(callable_ops: bytes, *args: bytes) -> bytes:
    """callable(*args) through MARK ... TUPLE REDUCE."""
    return callable_ops + MARK + b"".join(args) + TUPLE + REDUCE


def stack_global(module: str, name: str) -> bytes:
    return su(module) + MEMOIZE + su(name) + MEMOIZE + STACK_GLOBAL


ORDERED_DICT = glob("collections", "OrderedDict")


def rebuild_tensor(storage: str, key: str, size: tuple[int, ...]) -> bytes:
    """torch._utils._rebuild_tensor_v2(persistent storage, offset, size, stride, requires_grad, hooks)."""
    stride = []
    acc = 1
    for dim in reversed(size):
        stride.insert(0, acc)
        acc *= dim
    numel = acc
    pid = MARK + bu("storage") + glob("torch", storage) + bu(key) + bu("cpu") + k(numel) + TUPLE + BINPERSID
    return call(
        glob("torch._utils", "_rebuild_tensor_v2"),
        pid,
        k(0),
        MARK + b"".join(k(d) for d in size) + TUPLE,
        MARK + b"".join(k(s) for s in stride) + TUPLE,
        NEWFALSE,
        call(ORDERED_DICT),
    )


def torch_state_dict_pickle() -> bytes:
    """What torch.save writes for {weight: FloatTensor[2,3], bias: Parameter(HalfTensor[3]), dtype: bfloat16},
    protocol 2, with the memo use torch's pickler makes."""
    weight = rebuild_tensor("FloatStorage", "0", (2, 3))
    bias = call(glob("torch._utils", "_rebuild_parameter"), rebuild_tensor("HalfStorage", "1", (3,)), NEWTRUE,
                call(ORDERED_DICT))  # fmt: skip
    return (
        PROTO2
        + ORDERED_DICT
        + put(0)
        + EMPTY_TUPLE
        + REDUCE
        + put(1)
        + MARK
        + bu("weight")
        + put(2)
        + weight
        + bu("bias")
        + bias
        + bu("dtype")
        + glob("torch", "bfloat16")
        + bu("shape")
        + call(glob("torch", "Size"), MARK + k(2) + k(3) + TUPLE)
        + bu("again")
        + get(2)  # a memoised string reused as a value
        + SETITEMS
        + STOP
    )


def legacy_torch_pickle(main: bytes | None = None, storages: bytes = b"\x06" + bytes(7) + bytes(24)) -> bytes:
    """torch's pre-1.6 format: magic, protocol, sys info, the object, storage keys, then raw storages."""
    magic = PROTO2 + b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + STOP
    protocol = PROTO2 + b"M\xe9\x03" + STOP  # 1001
    sys_info = PROTO2 + EMPTY_DICT + STOP
    keys = PROTO2 + b"]" + MARK + bu("0") + b"e" + STOP
    return magic + protocol + sys_info + (main or torch_state_dict_pickle()) + keys + storages


# -- zip archives -------------------------------------------------------------------------------------------


def torch_zip(
    data_pkl: bytes | None = None, *, extra: dict[str, bytes] | None = None, root: str = "archive"
) -> bytes:
    members: dict[str, bytes] = {
        f"{root}/data.pkl": torch_state_dict_pickle() if data_pkl is None else data_pkl,
        f"{root}/byteorder": b"little",
        f"{root}/data/0": bytes(24),
        f"{root}/data/1": bytes(6),
        f"{root}/version": b"3\n",
        f"{root}/.data/serialization_id": b"0123456789",
    }
    members.update(extra or {})
    return zip_of(members)


def zip_of(members: dict[str, bytes] | list[tuple[str, bytes]], *, method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in items:
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buffer.getvalue()


# -- gguf ---------------------------------------------------------------------------------------------------

U8, U32, STRING, ARRAY, U64 = 0, 4, 8, 9, 10
F32, Q8_0, Q4_0 = 0, 8, 2


def gstr(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def kv(key: str, kind: int, payload: bytes) -> bytes:
    return gstr(key) + struct.pack("<I", kind) + payload


def kv_u32(key: str, value: int) -> bytes:
    return kv(key, U32, struct.pack("<I", value))


def kv_str(key: str, value: str) -> bytes:
    return kv(key, STRING, gstr(value))


def kv_strings(key: str, values: list[str]) -> bytes:
    return kv(key, ARRAY, struct.pack("<IQ", STRING, len(values)) + b"".join(gstr(v) for v in values))


def tensor_info(name: str, dims: list[int], ggml_type: int, offset: int) -> bytes:
    return (
        gstr(name)
        + struct.pack("<I", len(dims))
        + b"".join(struct.pack("<Q", d) for d in dims)
        + struct.pack("<IQ", ggml_type, offset)
    )


def gguf(
    kvs: list[bytes],
    tensors: list[bytes],
    data: bytes,
    *,
    version: int = 3,
    alignment: int = 32,
    tensor_count: int | None = None,
    kv_count: int | None = None,
) -> bytes:
    header = (
        b"GGUF"
        + struct.pack("<I", version)
        + struct.pack("<Q", len(tensors) if tensor_count is None else tensor_count)
        + struct.pack("<Q", len(kvs) if kv_count is None else kv_count)
        + b"".join(kvs)
        + b"".join(tensors)
    )
    return header + bytes(-len(header) % alignment) + data


GOOD_KVS = [
    kv_str("general.architecture", "llama"),
    kv_str("general.name", "tiny"),
    kv_strings("tokenizer.ggml.tokens", ["<s>", "</s>", "hello"]),
    kv("tokenizer.ggml.scores", ARRAY, struct.pack("<IQ", 6, 3) + struct.pack("<3f", 0.0, 0.0, -1.5)),
]
# F32[4] at 0 (16 bytes), Q8_0[32] at 32 (34 bytes): 66 data bytes
GOOD_TENSORS = [tensor_info("tok.weight", [4], F32, 0), tensor_info("blk.0.q", [32], Q8_0, 32)]
GOOD_DATA = bytes(66)
