"""Helpers for the Xet tests: files registered in the Xet index without the client, and the materialisation worker.

`xet_file_register` stores real xorbs (registry.xet builds them) and registers the file the way a verified shard
would (XetFile + links), optionally under a sha256 its bytes don't have (a corrupted index entry).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

from registry.models import ModelRepo, XetFile, XetFileRepo, Xorb, XorbRepo
from registry.storage import get_store
from registry.xet import FileTerm, build_xorb, file_hash, hash_to_hex, hex_to_hash, pack_chunk_meta, pack_terms

CHUNK = 64 * 1024


@dataclass
class Registered:
    file: XetFile
    xorbs: list[Xorb]
    data: bytes


def xorb_store(repo: ModelRepo, chunks: Sequence[bytes]) -> tuple[Xorb, list]:
    body, info = build_xorb(list(chunks))
    hex_hash = hash_to_hex(info.hash)
    key = f"xet-test/xorbs/{hex_hash}"
    get_store().put_stream(key, io.BytesIO(body), size=len(body))
    xorb, _ = Xorb.objects.get_or_create(hash=hex_hash, defaults={
        "storage_key": key, "size": len(body), "unpacked_size": info.unpacked_size, "n_chunks": len(info.chunks),
        "chunk_meta": pack_chunk_meta(info.chunks)})
    XorbRepo.objects.get_or_create(xorb=xorb, repo=repo)
    return xorb, list(info.chunks)


def xet_file_register(repo: ModelRepo, data: bytes, *, sha256: str | None = None,
                      xorb_chunks: int = 16) -> Registered:
    """Store `data` as xorbs of `xorb_chunks` chunks each and register it for `repo` (sha256: what to claim)."""
    chunks = [data[i: i + CHUNK] for i in range(0, len(data), CHUNK)]
    terms, leaves, xorbs = [], [], []
    for start in range(0, len(chunks), xorb_chunks):
        xorb, metas = xorb_store(repo, chunks[start: start + xorb_chunks])
        xorbs.append(xorb)
        terms.append(FileTerm(hex_to_hash(xorb.hash), xorb.unpacked_size, 0, len(metas)))
        leaves.extend((m.hash, m.size) for m in metas)
    xet_file, _ = XetFile.objects.get_or_create(hash=hash_to_hex(file_hash(leaves)), defaults={
        "sha256": sha256 or hashlib.sha256(data).hexdigest(), "size": len(data), "terms": pack_terms(terms)})
    XetFileRepo.objects.get_or_create(file=xet_file, repo=repo)
    return Registered(xet_file, xorbs, data)
