"""One interface for the blob store; `s3` and `local` implement it, switched by settings.BLOB_STORE.

Keys are content-addressed (`blobs/ab/cd/<sha256>`): an object is written once and never renamed.
URLs returned by the presign methods may be relative to the hub (local store); callers make them
absolute with `request.build_absolute_uri`, which leaves absolute URLs (S3) untouched.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

CHUNK_SIZE = 1024 * 1024
# S3's smallest multipart part (every part but the last); the local store enforces it too, for parity.
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10_000


# Inside a web request a store that does not answer must cost seconds, not minutes (a 503 follows); workers may
# wait longer for the same calls. The network stores read this to pick their timeouts (see S3BlobStore.client).
_in_request: ContextVar[bool] = ContextVar("blob_store_in_request", default=False)


@contextmanager
def request_scope() -> Iterator[None]:
    """Mark the calls made inside as made on behalf of a waiting HTTP client (short timeouts, one retry)."""
    token = _in_request.set(True)
    try:
        yield
    finally:
        _in_request.reset(token)


def in_request() -> bool:
    return _in_request.get()


def blob_key(sha256: str) -> str:
    return f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str  # in HTTP form, quotes included (as S3 returns it); opaque, not a content hash


def unquote_etag(etag: str) -> str:
    """`"abc"`, `W/"abc"` and `abc` all name the same part: compare ETags without their quoting."""
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


class StorageError(Exception):
    """The store failed (network, permissions): worth a retry, not the user's fault."""


class ObjectMissing(StorageError):
    """The object (or the multipart upload) does not exist."""


class InvalidUpload(StorageError):
    """The client's bytes cannot be accepted (size differs from the declared one; a multipart part missing,
    with another ETag, too small, out of order): the caller's fault, retrying will not help."""


class BlobStore(ABC):
    name: str

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """Size and etag, or None when the object does not exist."""

    @abstractmethod
    def iter_bytes(self, key: str, *, start: int = 0, end: int | None = None,
                   chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Stream bytes [start, end] (end inclusive, None = to the end; an end past the object is clamped).

        Raises ObjectMissing when called (not on the first chunk), ValueError when start is past the end.
        """

    @abstractmethod
    def put_stream(self, key: str, stream: BinaryIO, *, size: int | None = None) -> None:
        """Write an object from a file-like object, streaming (used by workers, seeding, tests).

        With `size`, a stream of any other length raises InvalidUpload and leaves no object behind.
        """

    @abstractmethod
    def copy(self, source: str, destination: str) -> None:
        """Make `destination` hold the bytes of `source` (replacing it), without passing them through the hub.

        Raises ObjectMissing when `source` does not exist. Promotes a verified staged upload to its blob's key.
        """

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; no error if it is already gone."""

    @abstractmethod
    def presigned_get_url(self, key: str, *, expires: int, filename: str | None = None) -> str:
        """A self-authorising GET URL (Range supported) whose answer carries the inert type and disposition
        registry.user_content gives `filename` (an attachment when there is none)."""

    @abstractmethod
    def presigned_put_url(self, key: str, *, expires: int, size: int) -> str:
        """A self-authorising PUT URL for the whole object."""

    @abstractmethod
    def multipart_create(self, key: str) -> str:
        """Start a multipart upload and return its upload id."""

    @abstractmethod
    def multipart_part_url(self, key: str, upload_id: str, part_number: int, *, expires: int) -> str:
        """A self-authorising PUT URL for one part; the response carries the part's ETag."""

    @abstractmethod
    def multipart_list_parts(self, key: str, upload_id: str) -> dict[int, str]:
        """Part number → ETag of the parts received so far (lets a resumed upload skip them)."""

    @abstractmethod
    def multipart_complete(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        """Assemble the parts [(part_number, etag), …] (ascending) into the object.

        Raises ObjectMissing for an unknown upload, InvalidUpload for a part that is missing, has another
        ETag, or is under MIN_PART_SIZE without being the last.
        """

    @abstractmethod
    def multipart_abort(self, key: str, upload_id: str) -> None:
        """Drop an unfinished multipart upload and its parts; no error if it is already gone."""

    @abstractmethod
    def abort_stale_uploads(self, *, started_before: datetime, limit: int = 1000) -> int:
        """Drop every unfinished write started before `started_before` — multipart uploads (the clients' and the
        hub's own, whose process may have been killed) and half-written temporary files. Returns how many."""
