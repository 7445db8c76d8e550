"""Xorb serialization and streaming verification (XET_PROTOCOL.md §3.2, §4.5).

A xorb body is a sequence of chunks, each an 8-byte header (version u8 = 0, compressed length u24 LE, scheme u8,
uncompressed length u24 LE) followed by the payload. Scheme 0 = none, 1 = LZ4 frame, 2 = BG4 byte grouping + LZ4 frame.
"""

from __future__ import annotations

import hmac
import io
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import lz4.frame

from registry.xet.errors import XetFormatError
from registry.xet.hashing import chunk_hash, hash_to_hex, xorb_hash

SCHEME_NONE = 0
SCHEME_LZ4 = 1
SCHEME_BG4_LZ4 = 2
SCHEMES = (SCHEME_NONE, SCHEME_LZ4, SCHEME_BG4_LZ4)

HEADER_SIZE = 8
MAX_U24 = (1 << 24) - 1
MAX_CHUNKS = 8192
MAX_UNPACKED = 64 * 1024 * 1024
# The serialized body may exceed 64 MiB slightly (8 B header per chunk plus LZ4 frame overhead), see §3.2.
MAX_XORB_BODY = 66 * 1024 * 1024
CHUNK_META_SIZE = 40
_META = struct.Struct("<32sII")


@dataclass(frozen=True)
class ChunkMeta:
    """One chunk of a stored xorb: `size` is uncompressed; byte offsets index the serialized body, end exclusive."""

    hash: bytes
    size: int
    byte_start: int
    byte_end: int


@dataclass(frozen=True)
class XorbInfo:
    hash: bytes
    chunks: tuple[ChunkMeta, ...]
    serialized_size: int
    unpacked_size: int


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    """Read up to n bytes, looping over short reads (sockets, Django request streams); shorter only at EOF."""
    if n == 0:
        return b""
    first = stream.read(n)
    if not first or len(first) == n:
        return bytes(first or b"")
    buf = bytearray(first)
    while len(buf) < n:
        more = stream.read(n - len(buf))
        if not more:
            break
        buf += more
    return bytes(buf)


def bg4_split(data: bytes) -> bytes:
    """Byte grouping: four groups, group k holding bytes i ≡ k (mod 4)."""
    return b"".join(data[k::4] for k in range(4))


def bg4_join(data: bytes) -> bytes:
    """Undo bg4_split: with n = 4q + r, groups 0..r-1 have q+1 bytes, the rest q."""
    n = len(data)
    q, r = divmod(n, 4)
    out = bytearray(n)
    pos = 0
    for k in range(4):
        size = q + 1 if k < r else q
        out[k::4] = data[pos : pos + size]
        pos += size
    return bytes(out)


def _lz4_decompress(payload: bytes, expected: int, where: str) -> bytes:
    """Decompress one or more concatenated LZ4 frames, never producing more than expected + 1 bytes."""
    out = bytearray()
    rest = payload
    try:
        while rest:
            d = lz4.frame.LZ4FrameDecompressor()
            out += d.decompress(rest, max_length=expected + 1 - len(out))
            if len(out) > expected:
                raise XetFormatError(f"{where}: decompressed data is longer than the header's {expected} bytes")
            if not d.eof:
                if d.needs_input:
                    raise XetFormatError(f"{where}: truncated LZ4 frame")
                raise XetFormatError(f"{where}: decompressed data is longer than the header's {expected} bytes")
            rest = d.unused_data
    except RuntimeError as exc:
        raise XetFormatError(f"{where}: invalid LZ4 data ({exc})") from None
    return bytes(out)


def _decode_payload(scheme: int, payload: bytes, ulen: int, where: str) -> bytes:
    if scheme == SCHEME_NONE:
        data = payload
    elif scheme == SCHEME_LZ4:
        data = _lz4_decompress(payload, ulen, where)
    elif scheme == SCHEME_BG4_LZ4:
        data = bg4_join(_lz4_decompress(payload, ulen, where))
    else:
        raise XetFormatError(f"{where}: unknown compression scheme {scheme}")
    if len(data) != ulen:
        raise XetFormatError(f"{where}: decoded length {len(data)} does not match the header's {ulen} bytes")
    return data


def _iter_raw_chunks(stream: BinaryIO, *, max_bytes: int | None, max_chunks: int | None) -> Iterator[tuple[bytes, int]]:
    """Yield (uncompressed payload, serialized size) per chunk, validating headers and payloads as it goes."""
    offset = 0
    index = 0
    while True:
        header = _read_exact(stream, HEADER_SIZE)
        if not header:
            return
        where = f"chunk {index} at byte {offset}"
        if len(header) < HEADER_SIZE:
            raise XetFormatError(f"{where}: truncated chunk header ({len(header)} of {HEADER_SIZE} bytes)")
        if max_chunks is not None and index >= max_chunks:
            raise XetFormatError(f"too many chunks: more than {max_chunks}")
        version = header[0]
        clen = int.from_bytes(header[1:4], "little")
        scheme = header[4]
        ulen = int.from_bytes(header[5:8], "little")
        if version != 0:
            raise XetFormatError(f"{where}: unsupported chunk version {version}")
        if scheme not in SCHEMES:
            raise XetFormatError(f"{where}: unknown compression scheme {scheme}")
        end = offset + HEADER_SIZE + clen
        if max_bytes is not None and end > max_bytes:
            raise XetFormatError(f"xorb body too large: more than {max_bytes} bytes")
        payload = _read_exact(stream, clen)
        if len(payload) < clen:
            raise XetFormatError(f"{where}: truncated chunk payload ({len(payload)} of {clen} bytes)")
        if scheme == SCHEME_NONE and clen != ulen:
            raise XetFormatError(f"{where}: uncompressed chunk of {clen} bytes declares {ulen} bytes")
        yield _decode_payload(scheme, payload, ulen, where), HEADER_SIZE + clen
        offset = end
        index += 1


def verify_xorb_stream(
    stream: BinaryIO,
    expected_hash: bytes | None = None,
    *,
    max_bytes: int = MAX_XORB_BODY,
    max_chunks: int = MAX_CHUNKS,
    max_unpacked: int = MAX_UNPACKED,
) -> XorbInfo:
    """Read a serialized xorb incrementally (memory O(one chunk)), decode and hash every chunk, and check the limits
    and, when given, the expected xorb hash. Raises XetFormatError with the reason."""
    chunks: list[ChunkMeta] = []
    offset = 0
    unpacked = 0
    for data, nbytes in _iter_raw_chunks(stream, max_bytes=max_bytes, max_chunks=max_chunks):
        unpacked += len(data)
        if unpacked > max_unpacked:
            raise XetFormatError(f"xorb too large: more than {max_unpacked} uncompressed bytes")
        chunks.append(ChunkMeta(chunk_hash(data), len(data), offset, offset + nbytes))
        offset += nbytes
    if not chunks:
        raise XetFormatError("empty xorb: no chunks")
    h = xorb_hash([(c.hash, c.size) for c in chunks])
    if expected_hash is not None and not hmac.compare_digest(h, bytes(expected_hash)):
        raise XetFormatError(
            f"xorb hash mismatch: body hashes to {hash_to_hex(h)}, expected {hash_to_hex(bytes(expected_hash))}"
        )
    return XorbInfo(hash=h, chunks=tuple(chunks), serialized_size=offset, unpacked_size=unpacked)


def decode_chunks(data: bytes | BinaryIO) -> Iterator[bytes]:
    """Serialized whole chunks (a xorb or one ranged read of it) -> their uncompressed payloads, in order."""
    stream = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
    for payload, _ in _iter_raw_chunks(stream, max_bytes=None, max_chunks=None):
        yield payload


def encode_chunk(data: bytes, scheme: int = SCHEME_NONE) -> bytes:
    """One serialized chunk (header + payload) with the given compression scheme."""
    data = bytes(data)
    if len(data) > MAX_U24:
        raise XetFormatError(f"chunk of {len(data)} bytes exceeds the 16 MiB field limit")
    if scheme == SCHEME_NONE:
        payload = data
    elif scheme == SCHEME_LZ4:
        payload = lz4.frame.compress(data)
    elif scheme == SCHEME_BG4_LZ4:
        payload = lz4.frame.compress(bg4_split(data))
    else:
        raise XetFormatError(f"unknown compression scheme {scheme}")
    if len(payload) > MAX_U24:
        raise XetFormatError(f"compressed chunk of {len(payload)} bytes exceeds the 16 MiB field limit")
    header = bytes([0]) + len(payload).to_bytes(3, "little") + bytes([scheme]) + len(data).to_bytes(3, "little")
    return header + payload


def build_xorb(chunks: Sequence[bytes], schemes: Sequence[int] | int = SCHEME_NONE) -> tuple[bytes, XorbInfo]:
    """Serialize chunks into a xorb body and return it with its verified XorbInfo."""
    if isinstance(schemes, int):
        schemes = [schemes] * len(chunks)
    if len(schemes) != len(chunks):
        raise ValueError("one scheme per chunk is required")
    body = b"".join(encode_chunk(c, s) for c, s in zip(chunks, schemes, strict=True))
    return body, verify_xorb_stream(io.BytesIO(body), max_bytes=max(MAX_XORB_BODY, len(body)))


def pack_chunk_meta(chunks: Sequence[ChunkMeta]) -> bytes:
    """40 bytes per chunk (32 hash, u32 uncompressed size, u32 byte_end); byte_start is the previous byte_end."""
    out = bytearray()
    prev_end = 0
    for i, c in enumerate(chunks):
        if c.byte_start != prev_end:
            raise ValueError(f"chunk {i}: byte_start {c.byte_start} does not follow the previous chunk's end")
        out += _META.pack(c.hash, c.size, c.byte_end)
        prev_end = c.byte_end
    return bytes(out)


def unpack_chunk_meta(data: bytes) -> list[ChunkMeta]:
    if len(data) % CHUNK_META_SIZE:
        raise XetFormatError(f"chunk metadata length {len(data)} is not a multiple of {CHUNK_META_SIZE}")
    out = []
    start = 0
    for h, size, end in _META.iter_unpack(bytes(data)):
        out.append(ChunkMeta(h, size, start, end))
        start = end
    return out
