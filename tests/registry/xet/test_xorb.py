"""Xorb serialization and streaming verification (XET_PROTOCOL.md §3.2, §4.5)."""

from __future__ import annotations

import io
import os
import struct
import time

import lz4.frame
import pytest

from registry.xet import (
    MAX_CHUNKS,
    ChunkMeta,
    XetFormatError,
    build_xorb,
    chunk_hash,
    decode_chunks,
    encode_chunk,
    pack_chunk_meta,
    unpack_chunk_meta,
    verify_xorb_stream,
    xorb_hash,
)
from registry.xet.xorb import bg4_join, bg4_split


def _floats(n: int) -> bytes:
    return struct.pack(f"<{n}f", *(i * 0.25 for i in range(n)))


def _header(version: int, clen: int, scheme: int, ulen: int) -> bytes:
    return bytes([version]) + clen.to_bytes(3, "little") + bytes([scheme]) + ulen.to_bytes(3, "little")


class TrickleStream(io.RawIOBase):
    """Returns at most 7 bytes per read, like a slow socket, to prove reads are looped."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self._inner.read(min(n, 7) if n >= 0 else 7)


CHUNKS = [os.urandom(5000), b"abc" * 3001, _floats(4001), b"", b"z" * 70000]


def test_mixed_scheme_xorb_round_trips():
    body, info = build_xorb(CHUNKS, [0, 1, 2, 0, 2])
    assert [body[c.byte_start + 4] for c in info.chunks] == [0, 1, 2, 0, 2]  # header byte 4 = scheme
    assert len(body) == info.serialized_size == info.chunks[-1].byte_end
    assert info.unpacked_size == sum(len(c) for c in CHUNKS)
    assert [c.size for c in info.chunks] == [len(c) for c in CHUNKS]
    assert [c.hash for c in info.chunks] == [chunk_hash(c) for c in CHUNKS]
    assert info.hash == xorb_hash([(chunk_hash(c), len(c)) for c in CHUNKS])
    # Compression actually happened for the compressible chunks.
    assert info.chunks[1].byte_end - info.chunks[1].byte_start < len(CHUNKS[1]) // 10

    verified = verify_xorb_stream(TrickleStream(body), info.hash)
    assert verified == info
    assert list(decode_chunks(body)) == CHUNKS
    assert list(decode_chunks(io.BytesIO(body))) == CHUNKS


def test_decode_chunks_of_a_ranged_read():
    body, info = build_xorb(CHUNKS, 1)
    part = body[info.chunks[1].byte_start : info.chunks[3].byte_end]
    assert list(decode_chunks(part)) == CHUNKS[1:4]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 6, 7, 1001, 4096])
def test_bg4_round_trip_for_every_length_mod_4(n):
    data = os.urandom(n)
    grouped = bg4_split(data)
    assert len(grouped) == n
    q, r = divmod(n, 4)
    assert grouped[: q + (1 if r > 0 else 0)] == data[0::4]
    assert bg4_join(grouped) == data
    assert list(decode_chunks(encode_chunk(data, 2))) == [data]


def test_bg4_payload_is_lz4_frame_of_grouped_bytes():
    data = _floats(301) + b"xyz"
    payload = encode_chunk(data, 2)[8:]
    assert bg4_join(lz4.frame.decompress(payload)) == data


def test_chunk_meta_packs_to_40_bytes_per_chunk():
    _, info = build_xorb(CHUNKS, 1)
    packed = pack_chunk_meta(info.chunks)
    assert len(packed) == 40 * len(CHUNKS)
    assert unpack_chunk_meta(packed) == list(info.chunks)
    with pytest.raises(XetFormatError, match="multiple of 40"):
        unpack_chunk_meta(packed[:-1])
    with pytest.raises(ValueError, match="byte_start"):
        pack_chunk_meta([ChunkMeta(bytes(32), 1, 5, 10)])


def _body() -> tuple[bytes, bytes]:
    body, info = build_xorb([b"a" * 100, b"b" * 200], 0)
    return body, info.hash


def _reject(data: bytes, match: str, expected: bytes | None = None, **kwargs) -> None:
    with pytest.raises(XetFormatError, match=match):
        verify_xorb_stream(io.BytesIO(data), expected, **kwargs)


def test_rejects_wrong_expected_hash():
    body, h = _body()
    _reject(body, "xorb hash mismatch", expected=bytes(32))
    verify_xorb_stream(io.BytesIO(body), h)


def test_rejects_truncated_chunk_payload():
    body, _ = _body()
    _reject(body[:-1], r"chunk 1 at byte 108: truncated chunk payload \(199 of 200 bytes\)")


def test_rejects_partial_header_and_trailing_garbage():
    body, _ = _body()
    _reject(body + b"\x00\x01\x02", r"chunk 2 at byte 316: truncated chunk header \(3 of 8 bytes\)")
    _reject(body + _header(0, 50, 0, 50), "chunk 2 at byte 316: truncated chunk payload")


def test_rejects_unsupported_version():
    _reject(_header(1, 3, 0, 3) + b"abc", "chunk 0 at byte 0: unsupported chunk version 1")


def test_rejects_unknown_scheme():
    body, _ = _body()
    _reject(body + _header(0, 3, 3, 3) + b"abc", "chunk 2 at byte 316: unknown compression scheme 3")


def test_rejects_lying_uncompressed_length():
    payload = lz4.frame.compress(b"q" * 1000)
    _reject(_header(0, len(payload), 1, 999) + payload, "longer than the header's 999 bytes")
    _reject(_header(0, len(payload), 1, 1001) + payload, "decoded length 1000 does not match the header's 1001")
    _reject(_header(0, 3, 0, 4) + b"abc", "uncompressed chunk of 3 bytes declares 4 bytes")


def test_rejects_corrupt_lz4_payload():
    _reject(_header(0, 10, 1, 10) + b"0123456789", "chunk 0 at byte 0: invalid LZ4 data")


def test_rejects_truncated_lz4_frame_inside_a_complete_chunk():
    payload = lz4.frame.compress(os.urandom(3000))[:-20]
    _reject(_header(0, len(payload), 1, 3000) + payload, "chunk 0 at byte 0: (truncated LZ4 frame|invalid LZ4 data)")


def test_rejects_empty_body():
    _reject(b"", "empty xorb")


def test_rejects_too_many_chunks():
    body, _ = build_xorb([bytes([i]) for i in range(5)], 0)
    _reject(body, "too many chunks: more than 4", max_chunks=4)
    assert len(verify_xorb_stream(io.BytesIO(body), max_chunks=5).chunks) == 5
    assert MAX_CHUNKS == 8192


def test_rejects_body_over_max_bytes_before_reading_it():
    body, _ = _body()
    _reject(body, "xorb body too large: more than 300 bytes", max_bytes=300)
    assert verify_xorb_stream(io.BytesIO(body), max_bytes=len(body)).serialized_size == len(body)


def test_rejects_too_many_unpacked_bytes():
    body, _ = _body()
    _reject(body, "more than 299 uncompressed bytes", max_unpacked=299)


def test_verifying_a_64_mib_xorb_takes_about_a_second():
    # Performance sanity, not a strict timing assertion: 512 chunks of 128 KiB, half LZ4-compressed.
    chunks = [os.urandom(64 * 1024) + bytes(64 * 1024) for _ in range(512)]
    body, info = build_xorb(chunks, [i % 2 for i in range(512)])
    assert info.unpacked_size == 64 * 1024 * 1024
    started = time.monotonic()
    assert verify_xorb_stream(io.BytesIO(body), info.hash) == info
    assert time.monotonic() - started < 30  # generous on a shared 2-core machine; ~1 s normally
