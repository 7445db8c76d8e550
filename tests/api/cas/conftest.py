"""Helpers for the Xet CAS tests: tokens, xorbs and shards built with registry.xet, and fetching presigned URLs
from either store (local: served by the hub through the test client; S3: moto over real HTTP)."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from api.auth import Principal
from registry.services import xet
from registry.services.keys import api_key_create
from registry.xet import (
    ChunkMeta,
    FileTerm,
    ShardFile,
    build_upload_shard,
    build_xorb,
    cas_block_for,
    hash_to_hex,
    make_shard_file,
)


@dataclass
class Xorb:
    body: bytes
    hash: bytes
    chunks: tuple[ChunkMeta, ...]
    data: list[bytes]  # uncompressed chunk payloads

    @property
    def hex(self) -> str:
        return hash_to_hex(self.hash)


def make_xorb(sizes: tuple[int, ...] = (3000, 5000, 4000), schemes: Any = (0, 1, 2), seed: bytes = b"") -> Xorb:
    data = [os.urandom(n) if i % 2 == 0 else (seed + bytes(range(256)) * (n // 256 + 1))[:n]
            for i, n in enumerate(sizes)]
    body, info = build_xorb(data, list(schemes)[: len(data)] if not isinstance(schemes, int) else schemes)
    return Xorb(body, info.hash, info.chunks, data)


def whole_file(*xorbs: Xorb, sha256: str | None = None) -> tuple[ShardFile, bytes]:
    """A file made of all chunks of the given xorbs, in order, with a correct sha256 ext unless one is given."""
    content = b"".join(b"".join(x.data) for x in xorbs)
    terms = [FileTerm(x.hash, sum(c.size for c in x.chunks), 0, len(x.chunks)) for x in xorbs]
    by_hash = {x.hash: x.chunks for x in xorbs}
    f = make_shard_file(terms, by_hash.__getitem__, sha256=sha256 or hashlib.sha256(content).hexdigest())
    return f, content


def shard_for(files: list[ShardFile], xorbs: list[Xorb]) -> bytes:
    return build_upload_shard(files, [cas_block_for(x.hash, x.chunks) for x in xorbs])


@dataclass
class Cas:
    client: Any
    personas: Any
    repo: Any
    other_repo: Any

    def token(self, scope: str = "write", *, repo: Any = None, user: Any = None, key: Any = None) -> str:
        user = user or self.personas.member
        if key is None:
            key, _ = api_key_create(user=user, name="cas", scopes=["read", "write"])
        return xet.issue_token(principal=Principal(user, key), repo=repo or self.repo, scope=scope,
                               revision="main").access_token

    def auth(self, token: str | None = None, **kwargs: Any) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {token or self.token(**kwargs)}"}

    def post_xorb(self, x: Xorb, token: str | None = None, body: bytes | None = None, path_hash: str | None = None,
                  **kw: Any) -> Any:
        return self.client.post(f"/cas/v1/xorbs/default/{path_hash or x.hex}", data=x.body if body is None else body,
                                content_type="application/octet-stream", **self.auth(token, **kw))

    def post_shard(self, shard: bytes, token: str | None = None, **kw: Any) -> Any:
        return self.client.post("/cas/v1/shards", data=shard, content_type="application/octet-stream",
                                **self.auth(token, **kw))

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """GET a presigned URL the way hf_xet does (no CAS token)."""
        parts = urlsplit(url)
        if parts.hostname == "testserver":
            extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()}
            response = self.client.get(parts.path, **extra)
            return response.status_code, b"".join(response.streaming_content) if response.streaming else \
                response.content
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - moto on 127.0.0.1
            return response.status, response.read()

    def put(self, url: str, body: bytes, headers: dict[str, str] | None = None) -> int:
        parts = urlsplit(url)
        if parts.hostname == "testserver":
            extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()}
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            return self.client.put(path, data=body, content_type="application/octet-stream", **extra).status_code
        headers = {"Content-Type": "application/octet-stream", **(headers or {})}
        request = urllib.request.Request(url, data=body, method="PUT", headers=headers)
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - moto on 127.0.0.1
            return response.status


@pytest.fixture
def cas(client, personas, make_repo) -> Cas:  # noqa: ANN001
    return Cas(client, personas, make_repo("tiny"), make_repo("other"))
