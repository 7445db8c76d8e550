"""Shards (XET_PROTOCOL.md §3.3): strict upload-shard parser, builders, and the §2.5 verification rules.

Every structure is 48 bytes. Upload shard = header (footer_size 0) + file section + bookend + CAS section + bookend,
nothing after. A full shard (§3.3.4, returned by global dedup) adds three lookup tables and a 200-byte footer.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from registry.xet.errors import XetFormatError
from registry.xet.hashing import (
    file_hash,
    hash_to_hex,
    is_global_dedup_eligible,
    keyed_hash,
    sha256_from_shard_bytes,
    sha256_to_shard_bytes,
    verification_hash,
)
from registry.xet.xorb import ChunkMeta

MAX_SHARD_BYTES = 64 * 1024 * 1024

SHARD_TAG = b"HFRepoMetaData" + bytes.fromhex("00556967456a7b815783a5bdd95ccdd14aa9")
SHARD_HEADER_VERSION = 2
SHARD_FOOTER_VERSION = 1
HEADER_SIZE = 48
ENTRY_SIZE = 48
FOOTER_SIZE = 200
BOOKEND = b"\xff" * 32 + bytes(16)

FLAG_VERIFICATION = 1 << 31
FLAG_METADATA_EXT = 1 << 30
CHUNK_FLAG_GLOBAL_DEDUP = 1 << 31
TERM_SIZE = 44

_HEADER = struct.Struct("<32sQQ")
_FILE_HEADER = struct.Struct("<32sIIQ")
_FILE_ENTRY = struct.Struct("<32sIIII")
_CAS_HEADER = struct.Struct("<32sIIII")
_CAS_ENTRY = struct.Struct("<32sIIII")
_TERM = struct.Struct("<32sIII")
_FOOTER_HEAD = struct.Struct("<9Q32sQQ6QQQQQ")
assert _FOOTER_HEAD.size == FOOTER_SIZE
assert _TERM.size == TERM_SIZE


@dataclass(frozen=True)
class FileTerm:
    """A file term: chunks [chunk_start, chunk_end) of one xorb, `unpacked_bytes` long."""

    xorb_hash: bytes
    unpacked_bytes: int
    chunk_start: int
    chunk_end: int


@dataclass(frozen=True)
class ShardFile:
    hash: bytes
    terms: tuple[FileTerm, ...]
    verification: tuple[bytes, ...] | None
    sha256: str | None


@dataclass(frozen=True)
class CasChunk:
    """A chunk as the client lists it; byte_range_start is the running uncompressed offset inside the xorb."""

    hash: bytes
    byte_range_start: int
    size: int


@dataclass(frozen=True)
class CasBlock:
    xorb_hash: bytes
    chunks: tuple[CasChunk, ...]
    unpacked_size: int


@dataclass(frozen=True)
class UploadShard:
    files: tuple[ShardFile, ...]
    xorbs: tuple[CasBlock, ...]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, what: str) -> bytes:
        if self.remaining() < n:
            raise XetFormatError(f"truncated shard: {what} at byte {self.pos} needs {n} bytes, {self.remaining()} left")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


def _parse_header(r: _Reader, *, footer_size: int) -> None:
    tag, version, fsize = _HEADER.unpack(r.take(HEADER_SIZE, "header"))
    if tag != SHARD_TAG:
        raise XetFormatError("not a shard: wrong header tag")
    if version != SHARD_HEADER_VERSION:
        raise XetFormatError(f"unsupported shard version {version} (expected {SHARD_HEADER_VERSION})")
    if fsize != footer_size:
        raise XetFormatError(f"shard footer_size is {fsize}, expected {footer_size}")


def _is_bookend(raw: bytes, section: str, pos: int) -> bool:
    if raw[:32] != b"\xff" * 32:
        return False
    if raw != BOOKEND:
        raise XetFormatError(f"malformed {section} bookend at byte {pos}")
    return True


def _parse_file_section(r: _Reader) -> list[ShardFile]:
    files: list[ShardFile] = []
    while True:
        pos = r.pos
        raw = r.take(ENTRY_SIZE, f"file {len(files)} header (or the file-section bookend)")
        if _is_bookend(raw, "file section", pos):
            return files
        where = f"file {len(files)}"
        fhash, flags, n, _reserved = _FILE_HEADER.unpack(raw)
        unknown = flags & ~(FLAG_VERIFICATION | FLAG_METADATA_EXT)
        if unknown:
            raise XetFormatError(f"{where}: unknown file flags {unknown:#010x}")
        needed = n * ENTRY_SIZE * (2 if flags & FLAG_VERIFICATION else 1)
        needed += ENTRY_SIZE if flags & FLAG_METADATA_EXT else 0
        if needed > r.remaining():
            raise XetFormatError(f"truncated shard: {where} declares {n} terms but the shard ends first")
        terms = []
        for i in range(n):
            xhash, _xflags, ubytes, start, end = _FILE_ENTRY.unpack(r.take(ENTRY_SIZE, f"{where} term {i}"))
            terms.append(FileTerm(xhash, ubytes, start, end))
        verification = None
        if flags & FLAG_VERIFICATION:
            verification = tuple(r.take(ENTRY_SIZE, f"{where} verification {i}")[:32] for i in range(n))
        sha256 = None
        if flags & FLAG_METADATA_EXT:
            sha256 = sha256_from_shard_bytes(r.take(ENTRY_SIZE, f"{where} metadata ext")[:32])
        files.append(ShardFile(fhash, tuple(terms), verification, sha256))


def _parse_cas_section(r: _Reader) -> list[CasBlock]:
    blocks: list[CasBlock] = []
    while True:
        pos = r.pos
        raw = r.take(ENTRY_SIZE, f"xorb block {len(blocks)} header (or the CAS-section bookend)")
        if _is_bookend(raw, "CAS section", pos):
            return blocks
        where = f"xorb block {len(blocks)}"
        xhash, _flags, n, unpacked, _on_disk = _CAS_HEADER.unpack(raw)
        if n * ENTRY_SIZE > r.remaining():
            raise XetFormatError(f"truncated shard: {where} declares {n} chunks but the shard ends first")
        chunks = []
        for i in range(n):
            chash, start, size, _cflags, _res = _CAS_ENTRY.unpack(r.take(ENTRY_SIZE, f"{where} chunk {i}"))
            chunks.append(CasChunk(chash, start, size))
        blocks.append(CasBlock(xhash, tuple(chunks), unpacked))


def parse_upload_shard(data: bytes) -> UploadShard:
    """Parse an upload shard strictly: tag, version 2, footer_size 0, both bookends, entry counts, no trailing bytes."""
    data = bytes(data)
    if len(data) > MAX_SHARD_BYTES:
        raise XetFormatError(f"shard too large: {len(data)} bytes (limit {MAX_SHARD_BYTES})")
    r = _Reader(data)
    _parse_header(r, footer_size=0)
    files = _parse_file_section(r)
    xorbs = _parse_cas_section(r)
    if r.remaining():
        raise XetFormatError(f"{r.remaining()} unexpected bytes after the CAS-section bookend")
    return UploadShard(tuple(files), tuple(xorbs))


def verify_cas_block(block: CasBlock, stored: Sequence[ChunkMeta]) -> None:
    """Raise XetFormatError unless the client's chunk list equals the stored xorb's (hash, size, running offset)."""
    name = hash_to_hex(block.xorb_hash)
    if len(block.chunks) != len(stored):
        raise XetFormatError(f"xorb {name}: shard lists {len(block.chunks)} chunks, the stored xorb has {len(stored)}")
    offset = 0
    for i, (c, s) in enumerate(zip(block.chunks, stored, strict=True)):
        if c.hash != s.hash:
            raise XetFormatError(f"xorb {name}: chunk {i} hash does not match the stored xorb")
        if c.size != s.size:
            raise XetFormatError(f"xorb {name}: chunk {i} size {c.size} does not match the stored {s.size}")
        if c.byte_range_start != offset:
            raise XetFormatError(f"xorb {name}: chunk {i} starts at {c.byte_range_start}, expected {offset}")
        offset += s.size
    if block.unpacked_size != offset:
        raise XetFormatError(f"xorb {name}: shard says {block.unpacked_size} unpacked bytes, the xorb has {offset}")


def verify_shard_file(f: ShardFile, xorb_chunks: Callable[[bytes], Sequence[ChunkMeta] | None]) -> None:
    """Check one file block against stored xorbs (§2.5 step 3, all but the sha256 which needs the bytes)."""
    name = hash_to_hex(f.hash)
    if f.verification is None:
        raise XetFormatError(f"file {name}: verification entries are required")
    if len(f.verification) != len(f.terms):
        raise XetFormatError(f"file {name}: {len(f.verification)} verification entries for {len(f.terms)} terms")
    leaves: list[tuple[bytes, int]] = []
    for i, (term, ventry) in enumerate(zip(f.terms, f.verification, strict=True)):
        where = f"file {name} term {i}"
        chunks = xorb_chunks(term.xorb_hash)
        if chunks is None:
            raise XetFormatError(f"{where}: unknown xorb {hash_to_hex(term.xorb_hash)}")
        if not term.chunk_start < term.chunk_end <= len(chunks):
            raise XetFormatError(
                f"{where}: bad chunk range [{term.chunk_start}, {term.chunk_end}) for a xorb of {len(chunks)} chunks"
            )
        selected = chunks[term.chunk_start : term.chunk_end]
        size = sum(c.size for c in selected)
        if term.unpacked_bytes != size:
            raise XetFormatError(f"{where}: unpacked_segment_bytes {term.unpacked_bytes}, chunks sum to {size}")
        if not hmac.compare_digest(bytes(ventry), verification_hash([c.hash for c in selected])):
            raise XetFormatError(f"{where}: wrong verification hash")
        leaves.extend((c.hash, c.size) for c in selected)
    actual = file_hash(leaves)
    if not hmac.compare_digest(actual, bytes(f.hash)):
        raise XetFormatError(f"file {name}: the chunks hash to {hash_to_hex(actual)}")


def pack_terms(terms: Sequence[FileTerm]) -> bytes:
    """44 bytes per term (32 xorb hash, u32 unpacked bytes, u32 chunk start, u32 chunk end) for a DB BinaryField."""
    return b"".join(_TERM.pack(t.xorb_hash, t.unpacked_bytes, t.chunk_start, t.chunk_end) for t in terms)


def unpack_terms(data: bytes) -> list[FileTerm]:
    if len(data) % TERM_SIZE:
        raise XetFormatError(f"term data length {len(data)} is not a multiple of {TERM_SIZE}")
    return [FileTerm(*t) for t in _TERM.iter_unpack(bytes(data))]


def _serialize_file(f: ShardFile) -> bytes:
    flags = (FLAG_VERIFICATION if f.verification is not None else 0) | (FLAG_METADATA_EXT if f.sha256 else 0)
    out = [_FILE_HEADER.pack(f.hash, flags, len(f.terms), 0)]
    out += [_FILE_ENTRY.pack(t.xorb_hash, 0, t.unpacked_bytes, t.chunk_start, t.chunk_end) for t in f.terms]
    if f.verification is not None:
        if len(f.verification) != len(f.terms):
            raise ValueError("one verification entry per term is required")
        out += [bytes(v) + bytes(16) for v in f.verification]
    if f.sha256:
        out.append(sha256_to_shard_bytes(f.sha256) + bytes(16))
    return b"".join(out)


def _serialize_cas(block: CasBlock, *, on_disk: int = 0, key: bytes | None = None, flags: Sequence[int] = ()) -> bytes:
    out = [_CAS_HEADER.pack(block.xorb_hash, 0, len(block.chunks), block.unpacked_size, on_disk)]
    for i, c in enumerate(block.chunks):
        h = keyed_hash(key, c.hash) if key else c.hash
        out.append(_CAS_ENTRY.pack(h, c.byte_range_start, c.size, flags[i] if flags else 0, 0))
    return b"".join(out)


def build_upload_shard(files: Sequence[ShardFile], xorbs: Sequence[CasBlock]) -> bytes:
    """The upload shard a client sends to POST /v1/shards."""
    return b"".join(
        [_HEADER.pack(SHARD_TAG, SHARD_HEADER_VERSION, 0)]
        + [_serialize_file(f) for f in files]
        + [BOOKEND]
        + [_serialize_cas(b) for b in xorbs]
        + [BOOKEND]
    )


def cas_block_for(xorb_hash: bytes, chunks: Sequence[ChunkMeta]) -> CasBlock:
    """The CAS-info block a client lists for a stored xorb."""
    out = []
    offset = 0
    for c in chunks:
        out.append(CasChunk(c.hash, offset, c.size))
        offset += c.size
    return CasBlock(xorb_hash, tuple(out), offset)


def make_shard_file(
    terms: Sequence[FileTerm], xorb_chunks: Callable[[bytes], Sequence[ChunkMeta]], *, sha256: str | None = None
) -> ShardFile:
    """A correct ShardFile for `terms`: verification entries and file hash computed from the xorbs' chunk lists."""
    verification = []
    leaves: list[tuple[bytes, int]] = []
    for t in terms:
        selected = list(xorb_chunks(t.xorb_hash))[t.chunk_start : t.chunk_end]
        verification.append(verification_hash([c.hash for c in selected]))
        leaves.extend((c.hash, c.size) for c in selected)
    return ShardFile(file_hash(leaves), tuple(terms), tuple(verification), sha256)


def build_dedup_shard(
    xorbs: Sequence[tuple[bytes, Sequence[ChunkMeta]]], *, hmac_key: bytes, key_expiry: int, creation_ts: int
) -> bytes:
    """A full shard (§3.3.4) for a global-dedup hit: empty file section, CAS section with chunk hashes keyed by
    `hmac_key` (so raw chunk hashes never leak), xorb and chunk lookup tables sorted by key, 200-byte footer."""
    if len(hmac_key) != 32:
        raise ValueError("hmac_key must be 32 bytes")
    keyed = any(hmac_key)
    parts = [_HEADER.pack(SHARD_TAG, SHARD_HEADER_VERSION, FOOTER_SIZE), BOOKEND]
    cas_offset = HEADER_SIZE + ENTRY_SIZE
    xorb_lookup: list[tuple[int, int]] = []
    chunk_lookup: list[tuple[int, int, int]] = []
    index = 0
    stored_on_disk = stored = 0
    for xhash, chunks in xorbs:
        block = cas_block_for(xhash, chunks)
        on_disk = chunks[-1].byte_end if chunks else 0
        flags = [
            CHUNK_FLAG_GLOBAL_DEDUP if is_global_dedup_eligible(c.hash, first_in_file=False) else 0 for c in chunks
        ]
        parts.append(_serialize_cas(block, on_disk=on_disk, key=hmac_key if keyed else None, flags=flags))
        xorb_lookup.append((_truncate(xhash), index))
        for i, c in enumerate(chunks):
            h = keyed_hash(hmac_key, c.hash) if keyed else c.hash
            chunk_lookup.append((_truncate(h), index, i))
        index += 1 + len(chunks)
        stored_on_disk += on_disk
        stored += block.unpacked_size
    parts.append(BOOKEND)
    xorb_lookup.sort(key=lambda e: e[0])
    chunk_lookup.sort(key=lambda e: e[0])
    file_lookup_offset = sum(len(p) for p in parts)
    xorb_lookup_offset = file_lookup_offset
    parts += [struct.pack("<QI", k, v) for k, v in xorb_lookup]
    chunk_lookup_offset = xorb_lookup_offset + 12 * len(xorb_lookup)
    parts += [struct.pack("<QII", k, a, b) for k, a, b in chunk_lookup]
    footer_offset = chunk_lookup_offset + 16 * len(chunk_lookup)
    parts.append(
        _FOOTER_HEAD.pack(
            SHARD_FOOTER_VERSION, HEADER_SIZE, cas_offset, file_lookup_offset, 0, xorb_lookup_offset,
            len(xorb_lookup), chunk_lookup_offset, len(chunk_lookup), hmac_key, creation_ts, key_expiry,
            0, 0, 0, 0, 0, 0, stored_on_disk, 0, stored, footer_offset,
        )
    )  # fmt: skip
    return b"".join(parts)


def _truncate(h: bytes) -> int:
    return int.from_bytes(h[:8], "little")


@dataclass(frozen=True)
class FullShard:
    """A parsed full shard (what build_dedup_shard produces); used by tests and diagnostics."""

    files: tuple[ShardFile, ...]
    xorbs: tuple[CasBlock, ...]
    xorb_lookup: tuple[tuple[int, int], ...]
    chunk_lookup: tuple[tuple[int, int, int], ...]
    footer: dict[str, object]


def parse_full_shard(data: bytes) -> FullShard:
    """Parse a shard with footer and lookup tables, checking the footer offsets against the sections."""
    data = bytes(data)
    if len(data) < HEADER_SIZE + FOOTER_SIZE:
        raise XetFormatError("truncated shard: too short for header and footer")
    r = _Reader(data[:-FOOTER_SIZE])
    _parse_header(r, footer_size=FOOTER_SIZE)
    files = _parse_file_section(r)
    cas_offset = r.pos
    xorbs = _parse_cas_section(r)
    values = _FOOTER_HEAD.unpack(data[-FOOTER_SIZE:])
    names = (
        "version file_info_offset cas_info_offset file_lookup_offset file_lookup_num xorb_lookup_offset "
        "xorb_lookup_num chunk_lookup_offset chunk_lookup_num chunk_hash_hmac_key creation_ts key_expiry"
    ).split()
    footer: dict[str, object] = dict(zip(names, values[:12], strict=True))
    footer["reserved"] = values[12:18]
    tail = ("stored_bytes_on_disk", "materialized_bytes", "stored_bytes", "footer_offset")
    footer.update(zip(tail, values[18:], strict=True))
    expected = {
        "version": SHARD_FOOTER_VERSION,
        "file_info_offset": HEADER_SIZE,
        "cas_info_offset": cas_offset,
        "file_lookup_offset": r.pos,
        "xorb_lookup_offset": r.pos + 12 * int(footer["file_lookup_num"]),
        "footer_offset": len(data) - FOOTER_SIZE,
    }
    expected["chunk_lookup_offset"] = expected["xorb_lookup_offset"] + 12 * int(footer["xorb_lookup_num"])
    for key, value in expected.items():
        if footer[key] != value:
            raise XetFormatError(f"shard footer {key} is {footer[key]}, expected {value}")
    if expected["chunk_lookup_offset"] + 16 * int(footer["chunk_lookup_num"]) != footer["footer_offset"]:
        raise XetFormatError("shard lookup tables do not end at the footer")
    xo = int(footer["xorb_lookup_offset"])
    xorb_lookup = tuple(struct.unpack_from("<QI", data, xo + 12 * i) for i in range(int(footer["xorb_lookup_num"])))
    co = int(footer["chunk_lookup_offset"])
    chunk_lookup = tuple(struct.unpack_from("<QII", data, co + 16 * i) for i in range(int(footer["chunk_lookup_num"])))
    return FullShard(tuple(files), tuple(xorbs), xorb_lookup, chunk_lookup, footer)
