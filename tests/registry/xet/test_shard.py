"""Shards: strict parsing, builders and the §2.5 verification rules (XET_PROTOCOL.md §3.3, §2.5)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import struct

import pytest

from registry.xet import (
    CasBlock,
    CasChunk,
    FileTerm,
    ShardFile,
    XetFormatError,
    build_dedup_shard,
    build_upload_shard,
    build_xorb,
    chunk_hash,
    file_hash,
    hash_to_hex,
    keyed_hash,
    pack_terms,
    parse_upload_shard,
    unpack_terms,
    verification_hash,
    verify_cas_block,
    verify_shard_file,
)
from registry.xet.shard import BOOKEND, SHARD_TAG, cas_block_for, make_shard_file, parse_full_shard


@pytest.fixture(scope="module")
def xorbs():
    a_chunks = [os.urandom(1000 + i) for i in range(5)]
    b_chunks = [os.urandom(2000 + i) for i in range(3)]
    _, a = build_xorb(a_chunks, 0)
    _, b = build_xorb(b_chunks, 1)
    return {a.hash: a, b.hash: b}


def _lookup(xorbs):
    return lambda h: xorbs[h].chunks if h in xorbs else None


def _file(xorbs, sha256=None) -> ShardFile:
    a, b = list(xorbs.values())
    terms = [
        FileTerm(a.hash, sum(c.size for c in a.chunks[0:3]), 0, 3),
        FileTerm(b.hash, sum(c.size for c in b.chunks), 0, 3),
        FileTerm(a.hash, sum(c.size for c in a.chunks[1:5]), 1, 5),
    ]
    return make_shard_file(terms, _lookup(xorbs), sha256=sha256)


def _shard(xorbs) -> bytes:
    files = [_file(xorbs, sha256=hashlib.sha256(b"the file").hexdigest()), _file(xorbs)]
    blocks = [cas_block_for(x.hash, x.chunks) for x in xorbs.values()]
    return build_upload_shard(files, blocks)


def test_make_shard_file_computes_verification_and_file_hash(xorbs):
    f = _file(xorbs)
    a, b = list(xorbs.values())
    chunks = list(a.chunks[0:3]) + list(b.chunks) + list(a.chunks[1:5])
    assert f.hash == file_hash([(c.hash, c.size) for c in chunks])
    assert f.verification[1] == verification_hash([c.hash for c in b.chunks])


def test_upload_shard_round_trips(xorbs):
    data = _shard(xorbs)
    assert data[:32] == SHARD_TAG and struct.unpack_from("<QQ", data, 32) == (2, 0)
    assert data.endswith(BOOKEND)
    parsed = parse_upload_shard(data)
    assert len(parsed.files) == 2
    assert parsed.files[0] == _file(xorbs, sha256=hashlib.sha256(b"the file").hexdigest())
    assert parsed.files[1].sha256 is None and len(parsed.files[1].terms) == 3
    assert [blk.xorb_hash for blk in parsed.xorbs] == list(xorbs)
    a = list(xorbs.values())[0]
    assert parsed.xorbs[0].unpacked_size == a.unpacked_size
    assert parsed.xorbs[0].chunks[2] == CasChunk(
        a.chunks[2].hash, a.chunks[0].size + a.chunks[1].size, a.chunks[2].size
    )
    # File flags: verification (bit31) and metadata ext (bit30) on the first file, as the client sends.
    assert struct.unpack_from("<I", data, 48 + 32)[0] == 0xC0000000


def test_metadata_ext_stores_sha256_in_hash_byte_order(xorbs):
    digest = hashlib.sha256(b"the file").hexdigest()
    f = _file(xorbs, sha256=digest)
    data = build_upload_shard([f], [])
    ext_at = 48 + 48 * (1 + 2 * len(f.terms))
    stored = data[ext_at : ext_at + 32]
    raw = bytes.fromhex(digest)
    assert stored == b"".join(raw[i : i + 8][::-1] for i in range(0, 32, 8))
    assert data[ext_at + 32 : ext_at + 48] == bytes(16)


def test_empty_upload_shard_parses():
    parsed = parse_upload_shard(build_upload_shard([], []))
    assert parsed.files == () and parsed.xorbs == ()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: b"X" + d[1:], "wrong header tag"),
        (lambda d: d[:32] + struct.pack("<Q", 3) + d[40:], "unsupported shard version 3"),
        (lambda d: d[:40] + struct.pack("<Q", 200) + d[48:], "footer_size is 200, expected 0"),
        (lambda d: d + b"\x00", "1 unexpected bytes after the CAS-section bookend"),
        (lambda d: d[:-48], "truncated shard: xorb block 2 header"),
        (lambda d: d[:-1], "truncated shard"),
        (lambda d: d[: 48 + 48 * 3], "truncated shard: file 0 declares 3 terms"),
        (lambda d: d[:20], "truncated shard: header"),
        (lambda d: d[:-16] + b"\x01" + bytes(15), "malformed CAS section bookend"),
    ],
)
def test_parse_upload_shard_rejects(xorbs, mutate, message):
    with pytest.raises(XetFormatError, match=message):
        parse_upload_shard(mutate(_shard(xorbs)))


def test_parse_rejects_missing_file_section_bookend(xorbs):
    f = _file(xorbs)
    # Header + one file block, then straight into a CAS block: the CAS header is read as a file header whose
    # entry count runs past the end.
    from registry.xet.shard import _FILE_HEADER, _serialize_cas, _serialize_file

    block = cas_block_for(*next((x.hash, x.chunks) for x in xorbs.values()))
    data = build_upload_shard([], [])[:48] + _serialize_file(f) + _serialize_cas(block) + BOOKEND
    with pytest.raises(XetFormatError, match="truncated shard"):
        parse_upload_shard(data)
    assert _FILE_HEADER.size == 48


def test_parse_rejects_unknown_file_flags(xorbs):
    data = bytearray(_shard(xorbs))
    struct.pack_into("<I", data, 48 + 32, 0xC0000001)
    with pytest.raises(XetFormatError, match="file 0: unknown file flags 0x00000001"):
        parse_upload_shard(bytes(data))


def test_terms_pack_to_44_bytes(xorbs):
    terms = list(_file(xorbs).terms)
    packed = pack_terms(terms)
    assert len(packed) == 44 * len(terms)
    assert unpack_terms(packed) == terms
    with pytest.raises(XetFormatError, match="multiple of 44"):
        unpack_terms(packed + b"x")


def test_verify_cas_block(xorbs):
    a, b = list(xorbs.values())
    block = cas_block_for(a.hash, a.chunks)
    verify_cas_block(block, a.chunks)
    with pytest.raises(XetFormatError, match="shard lists 5 chunks, the stored xorb has 3"):
        verify_cas_block(block, b.chunks)
    bad = dataclasses.replace(block, chunks=(dataclasses.replace(block.chunks[0], size=1),) + block.chunks[1:])
    with pytest.raises(XetFormatError, match="chunk 0 size 1 does not match"):
        verify_cas_block(bad, a.chunks)
    bad = dataclasses.replace(
        block, chunks=block.chunks[:1] + (dataclasses.replace(block.chunks[1], byte_range_start=0),) + block.chunks[2:]
    )
    with pytest.raises(XetFormatError, match="chunk 1 starts at 0"):
        verify_cas_block(bad, a.chunks)
    bad = dataclasses.replace(block, chunks=(dataclasses.replace(block.chunks[0], hash=bytes(32)),) + block.chunks[1:])
    with pytest.raises(XetFormatError, match="chunk 0 hash does not match"):
        verify_cas_block(bad, a.chunks)
    with pytest.raises(XetFormatError, match="unpacked bytes"):
        verify_cas_block(dataclasses.replace(block, unpacked_size=1), a.chunks)


def test_verify_shard_file_accepts_a_correct_file(xorbs):
    verify_shard_file(_file(xorbs), _lookup(xorbs))
    parsed = parse_upload_shard(_shard(xorbs))
    for f in parsed.files:
        verify_shard_file(f, _lookup(xorbs))


def _with_term(f: ShardFile, i: int, **changes) -> ShardFile:
    terms = list(f.terms)
    terms[i] = dataclasses.replace(terms[i], **changes)
    return dataclasses.replace(f, terms=tuple(terms))


def test_verify_shard_file_rejects(xorbs):
    f = _file(xorbs)
    lookup = _lookup(xorbs)
    a = list(xorbs.values())[0]
    cases = [
        (lambda h: None if h == a.hash else lookup(h), f, "term 0: unknown xorb " + hash_to_hex(a.hash)),
        (lookup, _with_term(f, 2, chunk_end=6), r"term 2: bad chunk range \[1, 6\) for a xorb of 5 chunks"),
        (lookup, _with_term(f, 0, chunk_start=3), r"term 0: bad chunk range \[3, 3\)"),
        (lookup, _with_term(f, 0, unpacked_bytes=f.terms[0].unpacked_bytes + 1), "unpacked_segment_bytes"),
        (lookup, dataclasses.replace(f, verification=None), "verification entries are required"),
        (lookup, dataclasses.replace(f, verification=f.verification[:2]), "2 verification entries for 3 terms"),
        (lookup, dataclasses.replace(f, verification=(bytes(32),) + f.verification[1:]), "term 0: wrong verification"),
        (lookup, dataclasses.replace(f, hash=chunk_hash(b"other")), "the chunks hash to " + hash_to_hex(f.hash)),
    ]
    for xorb_chunks, bad, message in cases:
        with pytest.raises(XetFormatError, match=message):
            verify_shard_file(bad, xorb_chunks)


def test_verify_shard_file_rejects_a_term_moved_to_other_chunks(xorbs):
    # Same sizes and a matching verification hash for the new range are not enough: the file hash must match too.
    f = _file(xorbs)
    a = list(xorbs.values())[0]
    moved = _with_term(f, 0, chunk_start=1, chunk_end=4, unpacked_bytes=sum(c.size for c in a.chunks[1:4]))
    moved = dataclasses.replace(
        moved, verification=(verification_hash([c.hash for c in a.chunks[1:4]]),) + f.verification[1:]
    )
    with pytest.raises(XetFormatError, match="the chunks hash to"):
        verify_shard_file(moved, _lookup(xorbs))


def test_dedup_shard_layout(xorbs):
    key = os.urandom(32)
    items = [(x.hash, x.chunks) for x in xorbs.values()]
    data = build_dedup_shard(items, hmac_key=key, key_expiry=1_900_000_000, creation_ts=1_800_000_000)
    assert struct.unpack_from("<QQ", data, 32) == (2, 200)
    assert data[48:96] == BOOKEND  # empty file section
    shard = parse_full_shard(data)
    assert shard.files == ()
    a, b = list(xorbs.values())
    assert [blk.xorb_hash for blk in shard.xorbs] == [a.hash, b.hash]
    # Chunk hashes are keyed, never raw; sizes and running offsets are the real ones.
    assert [c.hash for c in shard.xorbs[0].chunks] == [keyed_hash(key, c.hash) for c in a.chunks]
    assert not {c.hash for c in a.chunks} & {c.hash for blk in shard.xorbs for c in blk.chunks}
    assert shard.xorbs[1] == CasBlock(
        b.hash,
        tuple(CasChunk(keyed_hash(key, c.hash), c0, c.size) for c, c0 in zip(b.chunks, _starts(b.chunks))),
        b.unpacked_size,
    )
    footer = shard.footer
    assert footer["version"] == 1 and footer["file_info_offset"] == 48 and footer["cas_info_offset"] == 96
    assert footer["file_lookup_num"] == 0
    assert footer["chunk_hash_hmac_key"] == key
    assert footer["key_expiry"] == 1_900_000_000 and footer["creation_ts"] == 1_800_000_000
    assert footer["footer_offset"] == len(data) - 200
    # Xorb lookup: entry index counts 48-byte entries from the CAS section start (a at 0, b at 1 + 5).
    assert sorted(shard.xorb_lookup) == sorted([(_trunc(a.hash), 0), (_trunc(b.hash), 6)])
    assert [k for k, _ in shard.xorb_lookup] == sorted(k for k, _ in shard.xorb_lookup)
    keys = [k for k, _, _ in shard.chunk_lookup]
    assert keys == sorted(keys) and len(keys) == 8
    expected = {(_trunc(keyed_hash(key, c.hash)), 0, i) for i, c in enumerate(a.chunks)}
    expected |= {(_trunc(keyed_hash(key, c.hash)), 6, i) for i, c in enumerate(b.chunks)}
    assert set(shard.chunk_lookup) == expected


def test_dedup_shard_footer_offsets_are_checked(xorbs):
    data = bytearray(
        build_dedup_shard(
            [(x.hash, x.chunks) for x in xorbs.values()], hmac_key=os.urandom(32), key_expiry=1, creation_ts=0
        )
    )
    struct.pack_into("<Q", data, len(data) - 200 + 8 * 5, 0)  # xorb_lookup_offset
    with pytest.raises(XetFormatError, match="xorb_lookup_offset"):
        parse_full_shard(bytes(data))


def _starts(chunks):
    out, pos = [], 0
    for c in chunks:
        out.append(pos)
        pos += c.size
    return out


def _trunc(h: bytes) -> int:
    return int.from_bytes(h[:8], "little")
