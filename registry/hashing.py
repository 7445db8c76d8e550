"""Content identities the Hub protocol uses: sha256 for blobs, git blob sha1 for files and LFS pointers."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
COMMIT_OID_RE = re.compile(r"^[0-9a-f]{40}$")


def git_blob_sha1(content: bytes) -> str:
    digest = hashlib.sha1(f"blob {len(content)}\0".encode(), usedforsecurity=False)
    digest.update(content)
    return digest.hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def lfs_pointer_sha1(sha256: str, size: int) -> str:
    return git_blob_sha1(lfs_pointer(sha256, size))


def sha256_stream(chunks: Iterable[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def digests_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
