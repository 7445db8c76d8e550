"""Xet hashes (XET_PROTOCOL.md §3.1, §4.1–4.4): chunk, Merkle (xorb/file), verification and keyed hashes.

Hashes are 32 raw bytes in code. Their string form (paths, JSON, X-Xet-Hash and the Merkle node text) is the four
little-endian u64 words printed as 16 hex digits each, i.e. every 8-byte group written with its bytes reversed.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence

import blake3

from registry.xet.errors import XetFormatError

DATA_KEY = bytes.fromhex("6697f5775b9550de3135cbaca597181c9de421109beb2b58b4d0b04b93adf229")
INTERNAL_NODE_KEY = bytes.fromhex("017ec5c7a5472996fd946666b48a02e65ddd536f37c76dd2f86352e64a53713f")
VERIFICATION_KEY = bytes.fromhex("7f1857d6ce56ed66127ff913e7a5c3f3a4cd26d5b5db49e64124987f28fb94c3")
FILE_KEY = bytes(32)
ZERO_HASH = bytes(32)

GLOBAL_DEDUP_MODULUS = 1024
_MERKLE_MEAN_BRANCHING = 4
_MERKLE_MAX_GROUP = 2 * _MERKLE_MEAN_BRANCHING + 1
_HEX_RE = re.compile(r"[0-9a-fA-F]{64}")
_U64 = struct.Struct("<Q")


def _check_hash(h: bytes, what: str = "hash") -> None:
    if not isinstance(h, bytes | bytearray | memoryview) or len(h) != 32:
        raise XetFormatError(f"{what} must be 32 bytes")


def _blake3_keyed(key: bytes, data: bytes) -> bytes:
    return blake3.blake3(data, key=key).digest()


def chunk_hash(data: bytes) -> bytes:
    """The hash of one chunk's uncompressed bytes (§4.1)."""
    return _blake3_keyed(DATA_KEY, data)


def hash_to_hex(h: bytes) -> str:
    """Raw 32 bytes -> the §3.1 string (each 8-byte group byte-reversed, lowercase hex)."""
    _check_hash(h)
    return "".join(bytes(h[i : i + 8])[::-1].hex() for i in range(0, 32, 8))


def hex_to_hash(s: str) -> bytes:
    """The §3.1 string (any case) -> raw 32 bytes; XetFormatError (a ValueError) on anything else."""
    if not isinstance(s, str) or not _HEX_RE.fullmatch(s):
        raise XetFormatError(f"invalid Xet hash {str(s)[:80]!r}: expected 64 hex characters")
    raw = bytes.fromhex(s)
    return b"".join(raw[i : i + 8][::-1] for i in range(0, 32, 8))


def _last_u64(h: bytes) -> int:
    return _U64.unpack_from(h, 24)[0]


def _next_cut(level: Sequence[tuple[bytes, int]], start: int) -> int:
    """Index (exclusive) where the group beginning at `start` ends (§4.2 cut rule)."""
    remaining = len(level) - start
    if remaining <= 2:
        return len(level)
    end = min(_MERKLE_MAX_GROUP, remaining)
    for i in range(2, end):
        if _last_u64(level[start + i][0]) % _MERKLE_MEAN_BRANCHING == 0:
            return start + i + 1
    return start + end


def _merge(group: Sequence[tuple[bytes, int]]) -> tuple[bytes, int]:
    text = "".join(f"{hash_to_hex(h)} : {size}\n" for h, size in group)
    return _blake3_keyed(INTERNAL_NODE_KEY, text.encode("ascii")), sum(size for _, size in group)


def merkle_root(leaves: Sequence[tuple[bytes, int]]) -> bytes:
    """Merkle root over (hash, size) leaves (§4.2); an empty list gives 32 zero bytes."""
    level = [(bytes(h), int(size)) for h, size in leaves]
    if not level:
        return ZERO_HASH
    for h, _ in level:
        _check_hash(h, "leaf hash")
    while len(level) > 1:
        nxt = []
        start = 0
        while start < len(level):
            cut = _next_cut(level, start)
            nxt.append(_merge(level[start:cut]))
            start = cut
        level = nxt
    return level[0][0]


def xorb_hash(leaves: Sequence[tuple[bytes, int]]) -> bytes:
    """A xorb's hash: the Merkle root over its chunks."""
    return merkle_root(leaves)


def file_hash(leaves: Sequence[tuple[bytes, int]]) -> bytes:
    """A file's Xet hash (§4.3): blake3 keyed with 32 zero bytes over the Merkle root of all its chunks.

    An empty file hashes to 32 zero bytes, as hf_xet.hash_files reports.
    """
    if not leaves:
        return ZERO_HASH
    return _blake3_keyed(FILE_KEY, merkle_root(leaves))


def verification_hash(chunk_hashes: Sequence[bytes]) -> bytes:
    """The term verification hash (§4.4) over the raw hashes of the chunks xorb[start:end]."""
    for h in chunk_hashes:
        _check_hash(h, "chunk hash")
    return _blake3_keyed(VERIFICATION_KEY, b"".join(bytes(h) for h in chunk_hashes))


def sha256_from_shard_bytes(b: bytes) -> str:
    """FileMetadataExt sha256 field (stored with each 8-byte group reversed) -> normal sha256 hex digest."""
    if len(b) != 32:
        raise XetFormatError("sha256 field must be 32 bytes")
    return hash_to_hex(b)


def sha256_to_shard_bytes(hexdigest: str) -> bytes:
    """Normal sha256 hex digest -> the 32 bytes stored in a FileMetadataExt."""
    return hex_to_hash(hexdigest)


def keyed_hash(key: bytes, h: bytes) -> bytes:
    """HMAC used in dedup shards (§3.3.4): blake3 keyed with `key` over the raw hash."""
    if len(key) != 32:
        raise XetFormatError("HMAC key must be 32 bytes")
    _check_hash(h)
    return _blake3_keyed(key, bytes(h))


def is_global_dedup_eligible(h: bytes, *, first_in_file: bool) -> bool:
    """Whether a chunk goes into the global dedup index (§4.7): first chunk of a file, or last u64 % 1024 == 0."""
    _check_hash(h, "chunk hash")
    return first_in_file or _last_u64(h) % GLOBAL_DEDUP_MODULUS == 0
