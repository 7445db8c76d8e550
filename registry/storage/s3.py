"""The blob store on S3 or anything that speaks its protocol (MinIO, moto in the tests).

Two clients: server-side calls go to S3_ENDPOINT_URL; presigned URLs are signed for S3_PUBLIC_ENDPOINT_URL,
the address clients can reach (in docker compose the hub talks to `http://minio:9000`, browsers and
`huggingface_hub` to `http://localhost:9000`). A presigned URL's signature covers its host, so the URL has to
be signed for the public address; it cannot be rewritten afterwards. Path-style addressing throughout:
MinIO and moto do not serve virtual-hosted buckets on a bare host name.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from typing import Any, BinaryIO

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from registry.storage.base import (
    CHUNK_SIZE,
    MAX_PART_NUMBER,
    BlobStore,
    InvalidUpload,
    ObjectInfo,
    ObjectMissing,
    StorageError,
    in_request,
    unquote_etag,
)
from registry.user_content import content_headers

_MISSING = {"NoSuchKey", "NotFound", "404", "NoSuchUpload", "NoSuchBucket"}
_INVALID = {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML"}
_MiB = 1024 * 1024
TRANSFER_THRESHOLD = 16 * _MiB
DEFAULT_TRANSFER_CHUNK = 64 * _MiB  # 10,000 parts of 64 MiB: objects up to 625 GiB of unknown size
GET_URL_REUSE_SECONDS = 60.0  # presigned GETs handed out again within this (and a tenth of their life)
GET_URL_MEMO_ENTRIES = 10_000
ABORT_INCOMPLETE_DAYS = 2  # the bucket lifecycle rule (ensure_bucket)
# (connect timeout, read timeout, attempts): see S3BlobStore._make_client
REQUEST_TIMEOUTS = (1.0, 2.0, 2)
WORKER_TIMEOUTS = (2.0, 30.0, 3)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def _errors(what: str) -> Iterator[None]:
    """botocore's exceptions in the store's vocabulary."""
    try:
        yield
    except ClientError as exc:
        code = _code(exc)
        if code in _MISSING:
            raise ObjectMissing(f"{what}: {code}") from exc
        if code in _INVALID:
            raise InvalidUpload(f"{what}: {code}: {exc}") from exc
        if code == "InvalidRange":
            raise ValueError(f"{what}: range not satisfiable") from exc
        raise StorageError(f"{what}: {exc}") from exc
    except (BotoCoreError, S3UploadFailedError) as exc:
        raise StorageError(f"{what}: {exc}") from exc


class _SizedReader:
    """A read-only view of a stream that insists on exactly `size` bytes (a non-seekable stream's length
    can only be checked while it is read). Deliberately not seekable, so boto3 streams it part by part."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self._stream = stream
        self._size = size
        self._read = 0

    def read(self, amount: int = -1) -> bytes:
        want = self._size + 1 - self._read if amount is None or amount < 0 else amount
        chunk = self._stream.read(max(0, min(want, self._size + 1 - self._read)))
        self._read += len(chunk)
        if self._read > self._size:
            raise InvalidUpload(f"got more than the declared {self._size} bytes")
        if not chunk and self._read != self._size:
            raise InvalidUpload(f"got {self._read} bytes, expected {self._size}")
        return chunk


def _remaining(stream: BinaryIO) -> int | None:
    """Bytes left in a seekable stream, None when it cannot tell."""
    try:
        if not stream.seekable():
            return None
        here = stream.tell()
        end = stream.seek(0, 2)
        stream.seek(here)
    except (AttributeError, OSError, ValueError):
        return None
    return end - here


class S3BlobStore(BlobStore):
    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        public_endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("S3BlobStore needs a bucket")
        self.bucket = bucket
        self.endpoint_url = endpoint_url or None
        self.public_endpoint_url = public_endpoint_url or self.endpoint_url
        self.region = region or "us-east-1"
        self._access_key_id = access_key_id or None  # None: boto3's own chain (instance roles, env, files)
        self._secret_access_key = secret_access_key or None
        self._get_urls: dict[tuple[str, str | None, int], tuple[str, float]] = {}  # see presigned_get_url

    @classmethod
    def from_settings(cls) -> S3BlobStore:
        return cls(
            bucket=settings.S3_BUCKET,
            endpoint_url=settings.S3_ENDPOINT_URL,
            public_endpoint_url=settings.S3_PUBLIC_ENDPOINT_URL,
            region=settings.S3_REGION,
            access_key_id=settings.AWS_ACCESS_KEY_ID,
            secret_access_key=settings.AWS_SECRET_ACCESS_KEY,
        )

    def __repr__(self) -> str:
        return f"<S3BlobStore bucket={self.bucket!r} endpoint={self.endpoint_url!r}>"

    # --- clients (boto3 clients are thread-safe; sessions are not, so each store makes its own) -------------
    def _make_client(self, endpoint_url: str | None, *, patient: bool = True) -> Any:
        session = boto3.session.Session(
            aws_access_key_id=self._access_key_id,
            aws_secret_access_key=self._secret_access_key,
            region_name=self.region,
        )
        # Bounded waits. A worker may wait for a slow store (long reads between two bytes of a big object, a few
        # retries); a web request may not: REQUEST_TIMEOUTS, two attempts, so a stalled store is a 503 within
        # about five seconds and never holds all of a web process's threads.
        connect, read, attempts = WORKER_TIMEOUTS if patient else REQUEST_TIMEOUTS
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=connect,
            read_timeout=read,
            retries={"max_attempts": attempts, "mode": "standard"},
            # Only send/require checksums where S3 demands them: MinIO and older S3 clones mishandle the
            # CRC trailers newer botocore adds by default, and presigned PUTs cannot carry them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return session.client("s3", endpoint_url=endpoint_url, config=config)

    @property
    def client(self) -> Any:
        """The client for the calls made now: short timeouts inside a web request, patient ones elsewhere."""
        return self._request_client if in_request() else self._worker_client

    @cached_property
    def _worker_client(self) -> Any:
        return self._make_client(self.endpoint_url)

    @cached_property
    def _request_client(self) -> Any:
        return self._make_client(self.endpoint_url, patient=False)

    @cached_property
    def public_client(self) -> Any:
        """Signs presigned URLs (no network call)."""
        if self.public_endpoint_url == self.endpoint_url:
            return self._worker_client
        return self._make_client(self.public_endpoint_url)

    # --- bucket -----------------------------------------------------------------------------------
    def ensure_bucket(self) -> bool:
        """Create the bucket if it does not exist; True when it was created."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            self.ensure_lifecycle()
            return False
        except ClientError as exc:
            if _code(exc) not in _MISSING:
                raise StorageError(f"bucket {self.bucket}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"bucket {self.bucket}: {exc}") from exc
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**kwargs)
        except ClientError as exc:
            if _code(exc) in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                self.ensure_lifecycle()
                return False  # created meanwhile by another process (or ours under another name)
            raise StorageError(f"cannot create bucket {self.bucket}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot create bucket {self.bucket}: {exc}") from exc
        self.ensure_lifecycle()
        return True

    def ensure_lifecycle(self) -> None:
        """The store's own safety net for unfinished multipart uploads (a client that gave up, a killed worker): S3
        drops their parts after ABORT_INCOMPLETE_DAYS. The hourly storage GC aborts them sooner."""
        rule = {"ID": "hub-abort-incomplete-multipart-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_INCOMPLETE_DAYS}}
        with _errors(f"lifecycle of bucket {self.bucket}"):
            try:
                current = self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket).get("Rules", [])
            except ClientError as exc:
                if _code(exc) != "NoSuchLifecycleConfiguration":
                    raise
                current = []
            rules = [r for r in current if r.get("ID") != rule["ID"]] + [rule]
            self.client.put_bucket_lifecycle_configuration(Bucket=self.bucket,
                                                           LifecycleConfiguration={"Rules": rules})

    # --- objects ----------------------------------------------------------------------------------
    def head(self, key: str) -> ObjectInfo | None:
        try:
            with _errors(f"head {key}"):
                response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ObjectMissing:
            return None
        return ObjectInfo(size=int(response["ContentLength"]), etag=response.get("ETag", ""))

    def iter_bytes(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = CHUNK_SIZE
    ) -> Iterator[bytes]:
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"invalid range {start}-{end}")
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if start or end is not None:
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end}"
        with _errors(f"get {key}"):
            body = self.client.get_object(**kwargs)["Body"]
        return self._iter_body(key, body, chunk_size)

    @staticmethod
    def _iter_body(key: str, body: Any, chunk_size: int) -> Iterator[bytes]:
        try:
            with _errors(f"read {key}"):
                try:
                    yield from body.iter_chunks(chunk_size)
                except OSError as exc:  # urllib3's protocol/timeout errors while streaming
                    raise StorageError(f"read {key}: {exc}") from exc
        finally:
            body.close()

    def put_stream(self, key: str, stream: BinaryIO, *, size: int | None = None) -> None:
        source: Any = stream
        if size is not None:
            remaining = _remaining(stream)
            if remaining is None:
                source = _SizedReader(stream, size)
            elif remaining != size:
                raise InvalidUpload(f"stream holds {remaining} bytes, expected {size}")
        if size is None:
            chunk = DEFAULT_TRANSFER_CHUNK
        else:  # stay under S3's 10,000 parts, in whole MiB
            chunk = max(TRANSFER_THRESHOLD, math.ceil(size / (MAX_PART_NUMBER - 100) / _MiB) * _MiB)
        config = TransferConfig(
            multipart_threshold=TRANSFER_THRESHOLD,
            multipart_chunksize=chunk,
            max_concurrency=4,
            max_io_queue=8,
        )
        # s3transfer's knob, not exposed by boto3's constructor: parts buffered from a non-seekable stream
        config.max_in_memory_upload_chunks = 4
        with _errors(f"put {key}"):
            self.client.upload_fileobj(source, self.bucket, key, Config=config)

    def copy(self, source: str, destination: str) -> None:
        """A server-side copy (boto3's managed copy: UploadPartCopy in parts above the threshold, so objects over
        S3's 5 GiB CopyObject limit copy too)."""
        config = TransferConfig(multipart_threshold=DEFAULT_TRANSFER_CHUNK, multipart_chunksize=DEFAULT_TRANSFER_CHUNK,
                                max_concurrency=4)
        with _errors(f"copy {source} to {destination}"):
            self.client.copy({"Bucket": self.bucket, "Key": source}, self.bucket, destination, Config=config)

    def delete(self, key: str) -> None:
        try:
            with _errors(f"delete {key}"):
                self.client.delete_object(Bucket=self.bucket, Key=key)
        except ObjectMissing:
            pass

    # --- presigned URLs ---------------------------------------------------------------------------
    def _presign(self, method: str, params: dict[str, Any], expires: int, http_method: str) -> str:
        with _errors(f"presign {method}"):
            return self.public_client.generate_presigned_url(
                method,
                Params={"Bucket": self.bucket, **params},
                ExpiresIn=int(expires),
                HttpMethod=http_method,
            )

    def presigned_get_url(self, key: str, *, expires: int, filename: str | None = None) -> str:
        """A signed GET. The same URL is handed out again for a tenth of its life (at most a minute): signing
        costs more than the rest of a warm HEAD /resolve, and every caller still gets ≥ 90 % of `expires`."""
        memo_key = (key, filename, int(expires))
        now = time.monotonic()
        hit = self._get_urls.get(memo_key)
        if hit is not None and now - hit[1] < min(GET_URL_REUSE_SECONDS, expires / 10):
            return hit[0]
        # S3 serves the type the uploader's PUT declared unless told otherwise: the URL names an inert one (an S3
        # origin may be shared with something else; registry.user_content).
        served = content_headers(filename)
        params: dict[str, Any] = {"Key": key, "ResponseContentType": served["Content-Type"],
                                  "ResponseContentDisposition": served["Content-Disposition"]}
        url = self._presign("get_object", params, expires, "GET")
        if len(self._get_urls) >= GET_URL_MEMO_ENTRIES:
            self._get_urls.clear()
        self._get_urls[memo_key] = (url, now)
        return url

    def presigned_put_url(self, key: str, *, expires: int, size: int) -> str:
        # ContentLength becomes a signed header: S3 and MinIO refuse a body of any other length.
        return self._presign("put_object", {"Key": key, "ContentLength": int(size)}, expires, "PUT")

    # --- multipart --------------------------------------------------------------------------------
    def multipart_create(self, key: str) -> str:
        with _errors(f"create multipart {key}"):
            return self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]

    def multipart_part_url(self, key: str, upload_id: str, part_number: int, *, expires: int) -> str:
        if not 1 <= int(part_number) <= MAX_PART_NUMBER:
            raise ValueError(f"part number must be 1…{MAX_PART_NUMBER}, got {part_number!r}")
        params = {"Key": key, "UploadId": upload_id, "PartNumber": int(part_number)}
        return self._presign("upload_part", params, expires, "PUT")

    def multipart_list_parts(self, key: str, upload_id: str) -> dict[int, str]:
        parts: dict[int, str] = {}
        with _errors(f"list parts {key}"):
            paginator = self.client.get_paginator("list_parts")
            for page in paginator.paginate(Bucket=self.bucket, Key=key, UploadId=upload_id):
                for part in page.get("Parts", []):
                    parts[int(part["PartNumber"])] = part["ETag"]
        return dict(sorted(parts.items()))

    def multipart_complete(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        if not parts:
            raise InvalidUpload("a multipart upload needs at least one part")
        body = {
            "Parts": [
                {"PartNumber": int(number), "ETag": f'"{unquote_etag(etag)}"'} for number, etag in parts
            ]
        }
        with _errors(f"complete multipart {key}"):
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload=body
            )

    def multipart_abort(self, key: str, upload_id: str) -> None:
        try:
            with _errors(f"abort multipart {key}"):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ObjectMissing:
            pass

    def abort_stale_uploads(self, *, started_before: datetime, limit: int = 1000) -> int:
        """S3 lists every multipart upload in progress: whoever started it (a client, or boto3's managed transfer in
        a worker that was killed), one started that long ago is dead. (ensure_bucket also sets a lifecycle rule.)"""
        aborted = 0
        with _errors("list multipart uploads"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket)
            for page in pages:
                for upload in page.get("Uploads", []):
                    if aborted >= limit:
                        return aborted
                    if upload["Initiated"] < started_before:
                        self.multipart_abort(upload["Key"], upload["UploadId"])
                        aborted += 1
        return aborted
