"""The blob store on a local directory: the embedded default (`make run`) and the tests' second backend.

Objects live at root/<key>. Every write goes to a temporary file under root/_tmp (same filesystem) and is
moved into place with os.replace, so a reader never sees half an object. Presigned URLs are hub-relative
paths served by api/blobstore.py, authorised by a Django-signed token (op, key, …) that expires like an S3
presigned URL does.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from django.core import signing

from registry.storage.base import (
    CHUNK_SIZE,
    MAX_PART_NUMBER,
    MIN_PART_SIZE,
    BlobStore,
    InvalidUpload,
    ObjectInfo,
    ObjectMissing,
    StorageError,
    unquote_etag,
)

TOKEN_SALT = "registry.storage.local.presigned"
URL_PREFIX = "/_blobs"  # where portal/urls.py mounts api.blobstore_urls
TMP_DIR = "_tmp"
MULTIPART_DIR = "_multipart"
_RESERVED = {TMP_DIR, MULTIPART_DIR}
_UPLOAD_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_OPS = {"get", "put", "part"}


class TokenInvalid(Exception):
    """A presigned token that is forged, tampered with, meant for another operation, or expired."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.expired = expired


@dataclass(frozen=True)
class SignedRequest:
    """What a valid token authorises."""

    op: str
    key: str
    upload_id: str | None = None
    part: int | None = None
    filename: str | None = None
    size: int | None = None


def check_key(key: str) -> str:
    """Refuse keys that could leave the root or reach the store's own directories."""
    if not isinstance(key, str) or not key:
        raise ValueError("empty storage key")
    if "\\" in key or "\x00" in key or key.startswith("/"):
        raise ValueError(f"invalid storage key {key!r}")
    parts = key.split("/")
    if any(part in {"", ".", ".."} for part in parts):
        raise ValueError(f"invalid storage key {key!r}")
    if parts[0] in _RESERVED:
        raise ValueError(f"storage key {key!r} is in a reserved directory")
    return key


def _check_part_number(part_number: int) -> int:
    if (
        isinstance(part_number, bool)
        or not isinstance(part_number, int)
        or not 1 <= part_number <= MAX_PART_NUMBER
    ):
        raise ValueError(f"part number must be 1…{MAX_PART_NUMBER}, got {part_number!r}")
    return part_number


def _quoted(digest: str) -> str:
    return f'"{digest}"'


class LocalBlobStore(BlobStore):
    name = "local"

    def __init__(self, root: Path | str, *, url_prefix: str = URL_PREFIX, get_url_prefix: str | None = None) -> None:
        """`get_url_prefix`: where download URLs point, when not at `url_prefix` (an absolute URL on the separate
        user-content origin, settings.USER_CONTENT_URL)."""
        self.root = Path(root).resolve()
        self.url_prefix = url_prefix.rstrip("/")
        self.get_url_prefix = (get_url_prefix or url_prefix).rstrip("/")

    # --- paths ------------------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        path = self.root.joinpath(*check_key(key).split("/"))
        if not path.is_relative_to(self.root):  # belt and braces: check_key already refused this
            raise ValueError(f"invalid storage key {key!r}")
        return path

    def _upload_dir(self, key: str, upload_id: str) -> Path:
        """The parts directory of an upload started for `key`; ObjectMissing otherwise (like NoSuchUpload)."""
        check_key(key)
        if not isinstance(upload_id, str) or not _UPLOAD_ID_RE.match(upload_id):
            raise ObjectMissing(f"no multipart upload {upload_id!r}")
        directory = self.root / MULTIPART_DIR / upload_id
        try:
            recorded = (directory / "key").read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ObjectMissing(f"no multipart upload {upload_id!r}") from None
        except OSError as exc:
            raise StorageError(f"cannot read multipart upload {upload_id}: {exc}") from exc
        if recorded != key:
            raise ObjectMissing(f"no multipart upload {upload_id!r} for {key!r}")
        return directory

    @contextmanager
    def _atomic_write(self, destination: Path) -> Iterator[BinaryIO]:
        """A temporary file that replaces `destination` only if the block finishes without an exception."""
        tmp_dir = self.root / TMP_DIR
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            destination.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="w-")
        except OSError as exc:
            raise StorageError(f"cannot write under {self.root}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as tmp:
                yield tmp
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, destination)
        except BaseException as exc:
            with suppress(FileNotFoundError):
                os.unlink(tmp_name)
            if isinstance(exc, OSError):
                raise StorageError(f"cannot write {destination}: {exc}") from exc
            raise

    @staticmethod
    def _copy(stream: BinaryIO, out: BinaryIO, *, size: int | None, digest=None) -> int:  # noqa: ANN001
        """Copy in chunks; with `size`, read no more than size + 1 bytes and insist on exactly size."""
        written = 0
        while True:
            want = CHUNK_SIZE if size is None else min(CHUNK_SIZE, size + 1 - written)
            try:
                chunk = stream.read(want) if want > 0 else b""
            except OSError as exc:  # the sender, not the store, failed (e.g. a client that hung up)
                raise InvalidUpload(f"could not read the upload after {written} bytes: {exc}") from exc
            if not chunk:
                break
            written += len(chunk)
            if size is not None and written > size:
                raise InvalidUpload(f"got more than the declared {size} bytes")
            if digest is not None:
                digest.update(chunk)
            out.write(chunk)
        if size is not None and written != size:
            raise InvalidUpload(f"got {written} bytes, expected {size}")
        return written

    # --- objects ----------------------------------------------------------------------------------
    def head(self, key: str) -> ObjectInfo | None:
        try:
            stat = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(f"cannot stat {key}: {exc}") from exc
        # Cheap and changes whenever the file is replaced; hashing on every HEAD would read the whole file.
        return ObjectInfo(size=stat.st_size, etag=_quoted(f"{stat.st_size:x}-{stat.st_mtime_ns:x}"))

    def iter_bytes(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = CHUNK_SIZE
    ) -> Iterator[bytes]:
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"invalid range {start}-{end}")
        try:
            handle = self._path(key).open("rb")
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectMissing(f"no object {key!r}") from None
        except OSError as exc:
            raise StorageError(f"cannot open {key}: {exc}") from exc
        size = os.fstat(handle.fileno()).st_size
        if start and start >= size:
            handle.close()
            raise ValueError(f"range start {start} is past the end of {key} ({size} bytes)")
        stop = size if end is None else min(end + 1, size)
        return self._iter_file(handle, start, stop, chunk_size)

    @staticmethod
    def _iter_file(handle: BinaryIO, start: int, stop: int, chunk_size: int) -> Iterator[bytes]:
        with handle:
            handle.seek(start)
            remaining = stop - start
            while remaining > 0:
                chunk = handle.read(min(chunk_size, remaining))
                if not chunk:  # truncated under us: cannot happen with atomic replaces, but never loop
                    raise StorageError("object shorter than expected")
                remaining -= len(chunk)
                yield chunk

    def put_stream(self, key: str, stream: BinaryIO, *, size: int | None = None) -> None:
        with self._atomic_write(self._path(key)) as out:
            self._copy(stream, out, size=size)

    def copy(self, source: str, destination: str) -> None:
        """A hard link moved into place (objects are replaced, never rewritten in place, so sharing an inode is
        safe); a byte copy where the filesystem refuses links."""
        src, dst = self._path(source), self._path(destination)
        if not src.is_file():
            raise ObjectMissing(f"no object {source!r}")
        tmp = self.root / TMP_DIR / f"l-{secrets.token_hex(16)}"
        try:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, tmp)
            os.replace(tmp, dst)
            return
        except FileNotFoundError:
            raise ObjectMissing(f"no object {source!r}") from None
        except OSError:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
        try:
            with src.open("rb") as handle, self._atomic_write(dst) as out:
                self._copy(handle, out, size=None)
        except FileNotFoundError:
            raise ObjectMissing(f"no object {source!r}") from None

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc}") from exc

    # --- presigned URLs -----------------------------------------------------------------------------
    def _sign(self, op: str, *, expires: int, **fields: object) -> str:
        payload = {"op": op, "ttl": int(expires), **{k: v for k, v in fields.items() if v is not None}}
        return signing.dumps(payload, salt=TOKEN_SALT)

    def read_token(self, token: str, *, op: str) -> SignedRequest:
        """Check a token from a presigned URL (signature, operation, expiry) and say what it authorises."""
        try:
            payload = signing.loads(token, salt=TOKEN_SALT)  # signature first: then the ttl can be trusted
            if not isinstance(payload, dict) or payload.get("op") not in _OPS:
                raise TokenInvalid("invalid signed URL")
            signing.loads(token, salt=TOKEN_SALT, max_age=int(payload["ttl"]))
        except signing.SignatureExpired:
            raise TokenInvalid("signed URL has expired", expired=True) from None
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            raise TokenInvalid("invalid signed URL") from None
        if payload["op"] != op:
            raise TokenInvalid("signed URL is for another operation")
        try:
            request = SignedRequest(
                op=op,
                key=check_key(payload["key"]),
                upload_id=payload.get("upload_id"),
                part=payload.get("part"),
                filename=payload.get("filename"),
                size=payload.get("size"),
            )
        except (KeyError, ValueError):
            raise TokenInvalid("invalid signed URL") from None
        return request

    def presigned_get_url(self, key: str, *, expires: int, filename: str | None = None) -> str:
        token = self._sign("get", expires=expires, key=check_key(key), filename=filename)
        return f"{self.get_url_prefix}/get/{token}"

    def presigned_put_url(self, key: str, *, expires: int, size: int) -> str:
        return (
            f"{self.url_prefix}/put/{self._sign('put', expires=expires, key=check_key(key), size=int(size))}"
        )

    # --- multipart ------------------------------------------------------------------------------------
    def multipart_create(self, key: str) -> str:
        check_key(key)
        upload_id = secrets.token_hex(16)
        directory = self.root / MULTIPART_DIR / upload_id
        try:
            directory.mkdir(parents=True)
            (directory / "key").write_text(key, encoding="utf-8")
        except OSError as exc:
            raise StorageError(f"cannot start a multipart upload: {exc}") from exc
        return upload_id

    def multipart_part_url(self, key: str, upload_id: str, part_number: int, *, expires: int) -> str:
        self._upload_dir(key, upload_id)
        token = self._sign(
            "part", expires=expires, key=key, upload_id=upload_id, part=_check_part_number(part_number)
        )
        return f"{self.url_prefix}/part/{token}"

    def multipart_put_part(
        self, key: str, upload_id: str, part_number: int, stream: BinaryIO, *, size: int | None = None
    ) -> str:
        """Store one part (what a part URL's PUT does) and return its ETag: the quoted md5, as S3 does."""
        directory = self._upload_dir(key, upload_id)
        _check_part_number(part_number)
        digest = hashlib.md5(usedforsecurity=False)
        with self._atomic_write(directory / str(part_number)) as out:
            self._copy(stream, out, size=size, digest=digest)
        etag = _quoted(digest.hexdigest())
        # The sidecar only saves list_parts from re-hashing; complete always re-hashes the part itself.
        with self._atomic_write(directory / f"{part_number}.etag") as out:
            out.write(etag.encode())
        return etag

    def multipart_list_parts(self, key: str, upload_id: str) -> dict[int, str]:
        directory = self._upload_dir(key, upload_id)
        parts: dict[int, str] = {}
        try:
            for entry in directory.iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    etag = (directory / f"{entry.name}.etag").read_text()
                except FileNotFoundError:
                    etag = _quoted(self._md5_of(entry))
                parts[int(entry.name)] = etag
        except FileNotFoundError:
            raise ObjectMissing(f"no multipart upload {upload_id!r}") from None
        except OSError as exc:
            raise StorageError(f"cannot list parts of {upload_id}: {exc}") from exc
        return dict(sorted(parts.items()))

    @staticmethod
    def _md5_of(path: Path) -> str:
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
        return digest.hexdigest()

    def multipart_complete(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        directory = self._upload_dir(key, upload_id)
        if not parts:
            raise InvalidUpload("a multipart upload needs at least one part")
        numbers = [number for number, _ in parts]
        if any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)):
            raise InvalidUpload("parts must be listed in ascending order, each once")
        for number in numbers:
            _check_part_number(number)
        with self._atomic_write(self._path(key)) as out:
            for index, (number, etag) in enumerate(parts):
                digest = hashlib.md5(usedforsecurity=False)
                try:
                    handle = (directory / str(number)).open("rb")
                except FileNotFoundError:
                    raise InvalidUpload(f"part {number} was never uploaded") from None
                with handle:
                    part_size = 0
                    while chunk := handle.read(CHUNK_SIZE):
                        digest.update(chunk)
                        part_size += len(chunk)
                        out.write(chunk)
                if not hmac.compare_digest(digest.hexdigest(), unquote_etag(etag)):
                    raise InvalidUpload(f"part {number} has another ETag than {etag}")
                if part_size < MIN_PART_SIZE and index < len(parts) - 1:
                    raise InvalidUpload(
                        f"part {number} is {part_size} bytes; all but the last need {MIN_PART_SIZE}"
                    )
        shutil.rmtree(directory, ignore_errors=True)

    def multipart_abort(self, key: str, upload_id: str) -> None:
        try:
            directory = self._upload_dir(key, upload_id)
        except ObjectMissing:
            return
        shutil.rmtree(directory, ignore_errors=True)

    def abort_stale_uploads(self, *, started_before: datetime, limit: int = 1000) -> int:
        """Multipart upload folders and temporary files (a write whose process was killed) older than that."""
        cutoff = started_before.timestamp()
        dropped = 0
        for folder, remove in ((self.root / MULTIPART_DIR, shutil.rmtree), (self.root / TMP_DIR, os.unlink)):
            try:
                entries = list(os.scandir(folder))
            except FileNotFoundError:
                continue
            for entry in entries:
                if dropped >= limit:
                    return dropped
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        remove(entry.path)
                        dropped += 1
                except FileNotFoundError:
                    continue
        return dropped
