"""The BlobStore contract, run against both backends (`blob_store`: local disk, S3 through moto over HTTP).

Presigned URLs are exercised as clients use them: S3's over real HTTP against the moto server, the local
store's (hub-relative, Django-signed) through the hub's own views with Django's test client.
At the end, what only one backend has: signed-token checks and key checks (local), endpoints (S3).
"""

from __future__ import annotations

import hashlib
import io
import random
import tempfile
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest
from django.core import signing
from django.core.management import call_command
from django.test import Client

from registry.storage import ObjectMissing, StorageError, get_store
from registry.storage.base import MIN_PART_SIZE, InvalidUpload, blob_key
from registry.storage.local import LocalBlobStore
from registry.storage.s3 import S3BlobStore

MiB = 1024 * 1024


class PatternStream:
    """`size` deterministic pseudo-random bytes, generated as they are read: a non-seekable stream (only
    `read`) whose content does not depend on how it is read, so no test holds a large object whole."""

    BLOCK = 64 * 1024

    def __init__(self, size: int, seed: int = 0) -> None:
        self._left = size
        self._rng = random.Random(seed)
        self._buffer = b""

    def read(self, amount: int = -1) -> bytes:
        if amount is None or amount < 0:
            amount = self._left + len(self._buffer)
        while len(self._buffer) < amount and self._left > 0:
            block = min(self.BLOCK, self._left)
            self._buffer += self._rng.randbytes(block)
            self._left -= block
        chunk, self._buffer = self._buffer[:amount], self._buffer[amount:]
        return chunk


def pattern_sha256(size: int, seed: int = 0) -> str:
    digest, stream = hashlib.sha256(), PatternStream(size, seed)
    while chunk := stream.read(MiB):
        digest.update(chunk)
    return digest.hexdigest()


def stored_sha256(store, key: str, *, chunk_size: int = 256 * 1024) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in store.iter_bytes(key, chunk_size=chunk_size):
        assert len(chunk) <= chunk_size
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def http(
    method: str,
    url: str,
    *,
    data: bytes = b"",
    headers: dict[str, str] | None = None,
    client: Client | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-cased headers, body): S3's absolute URLs over HTTP, local ones through the hub."""
    headers = headers or {}
    if url.startswith("/"):
        response = (client or Client()).generic(
            method, url, data=data, content_type="application/octet-stream", headers=headers
        )
        body = b"".join(response.streaming_content) if response.streaming else response.content
        return response.status_code, {k.lower(): v for k, v in response.headers.items()}, body
    if data:
        headers = {"Content-Type": "application/octet-stream", **headers}
    request = urllib.request.Request(url, data=data or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


KEY = blob_key("ab" * 32)


# --- objects -------------------------------------------------------------------------------------------


def test_multi_megabyte_object_round_trips_streaming(blob_store):
    size = 20 * MiB + 123  # over S3BlobStore's managed-transfer threshold: uploaded in parts
    blob_store.put_stream(KEY, PatternStream(size, seed=1), size=size)
    info = blob_store.head(KEY)
    assert info is not None and info.size == size and info.etag.startswith('"')
    assert stored_sha256(blob_store, KEY) == (pattern_sha256(size, seed=1), size)


def test_put_stream_takes_a_seekable_file_of_unknown_size(blob_store):
    with tempfile.TemporaryFile() as spool:
        spool.write(b"0123456789" * 1000)
        spool.seek(0)
        blob_store.put_stream(KEY, spool)
    assert b"".join(blob_store.iter_bytes(KEY)) == b"0123456789" * 1000


def test_put_stream_overwrites_an_object_whole(blob_store):
    blob_store.put_stream(KEY, io.BytesIO(b"first version"), size=13)
    blob_store.put_stream(KEY, io.BytesIO(b"second"), size=6)
    assert b"".join(blob_store.iter_bytes(KEY)) == b"second"
    assert blob_store.head(KEY).size == 6


@pytest.mark.parametrize("actual", [999, 1001])
@pytest.mark.parametrize("seekable", [True, False], ids=["seekable", "stream"])
def test_put_stream_of_another_size_than_declared_leaves_no_object(blob_store, actual, seekable):
    source = io.BytesIO(b"x" * actual) if seekable else PatternStream(actual)
    with pytest.raises(InvalidUpload):
        blob_store.put_stream(KEY, source, size=1000)
    assert blob_store.head(KEY) is None


def test_empty_object(blob_store):
    blob_store.put_stream(KEY, io.BytesIO(b""), size=0)
    assert blob_store.head(KEY).size == 0
    assert b"".join(blob_store.iter_bytes(KEY)) == b""


def test_ranged_reads(blob_store):
    data = random.Random(2).randbytes(1000)
    blob_store.put_stream(KEY, io.BytesIO(data), size=len(data))

    def read(**kwargs) -> bytes:
        return b"".join(blob_store.iter_bytes(KEY, chunk_size=7, **kwargs))

    assert read(start=10, end=19) == data[10:20]
    assert read(start=990) == data[990:]
    assert read(end=0) == data[:1]
    assert read(start=999, end=999) == data[999:]
    assert read(start=500, end=5000) == data[500:]  # an end past the object is clamped
    with pytest.raises(ValueError):
        read(start=1000)
    with pytest.raises(ValueError):
        read(start=20, end=10)


def test_head_of_missing_object_is_none(blob_store):
    assert blob_store.head(KEY) is None


def test_reading_a_missing_object_raises_object_missing_when_called(blob_store):
    with pytest.raises(ObjectMissing):
        blob_store.iter_bytes(KEY)
    assert issubclass(ObjectMissing, StorageError)


def test_delete_is_idempotent(blob_store):
    blob_store.put_stream(KEY, io.BytesIO(b"bytes"), size=5)
    blob_store.delete(KEY)
    assert blob_store.head(KEY) is None
    blob_store.delete(KEY)
    blob_store.delete(blob_key("cd" * 32))


def test_copy_makes_the_destination_hold_the_source_and_leaves_the_source(blob_store):
    """How a verified staged upload becomes its blob's object, without the bytes passing through the hub."""
    staged = "lfs-staging/0123456789abcdef"
    blob_store.put_stream(staged, io.BytesIO(b"verified bytes"), size=14)
    blob_store.put_stream(KEY, io.BytesIO(b"older"), size=5)
    blob_store.copy(staged, KEY)
    assert b"".join(blob_store.iter_bytes(KEY)) == b"verified bytes"
    blob_store.delete(staged)  # the copy outlives its source
    assert blob_store.head(staged) is None
    assert b"".join(blob_store.iter_bytes(KEY)) == b"verified bytes"
    with pytest.raises(ObjectMissing):
        blob_store.copy(staged, blob_key("ef" * 32))
    assert blob_store.head(blob_key("ef" * 32)) is None


# --- presigned URLs over HTTP -------------------------------------------------------------------------


def test_presigned_put_then_get(blob_store, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024  # a presigned PUT streams the body: the cap must not apply
    data = random.Random(3).randbytes(3 * MiB + 5)
    put_url = blob_store.presigned_put_url(KEY, expires=300, size=len(data))
    status, headers, _ = http("PUT", put_url, data=data)
    assert status == 200
    assert headers["etag"].startswith('"')
    assert blob_store.head(KEY).size == len(data)

    status, headers, body = http("GET", blob_store.presigned_get_url(KEY, expires=300))
    assert (status, body) == (200, data)
    assert int(headers["content-length"]) == len(data)
    # An unnamed object (a xorb) is still served inert: an attachment of no particular type.
    assert (headers["content-type"], headers["content-disposition"]) == ("application/octet-stream", "attachment")


def test_presigned_get_serves_ranges_and_a_filename(blob_store):
    data = random.Random(4).randbytes(10_000)
    blob_store.put_stream(KEY, io.BytesIO(data), size=len(data))
    url = blob_store.presigned_get_url(KEY, expires=300, filename="modèle v1.safetensors")

    status, headers, body = http("GET", url, headers={"Range": "bytes=100-199"})
    assert (status, body) == (206, data[100:200])
    assert headers["content-range"] == "bytes 100-199/10000"
    assert headers["content-length"] == "100"
    assert headers["content-disposition"].startswith("attachment;")
    assert "mod%C3%A8le%20v1.safetensors" in headers["content-disposition"]

    status, headers, body = http("GET", url, headers={"Range": "bytes=9990-"})
    assert (status, body, headers["content-range"]) == (206, data[9990:], "bytes 9990-9999/10000")
    status, headers, body = http("GET", url, headers={"Range": "bytes=-10"})
    assert (status, body, headers["content-range"]) == (206, data[-10:], "bytes 9990-9999/10000")
    status, headers, _ = http("GET", url, headers={"Range": "bytes=20000-"})
    assert status == 416


def test_multipart_upload_through_presigned_part_urls(blob_store):
    sizes = [MIN_PART_SIZE, MIN_PART_SIZE + 1, MIN_PART_SIZE + 7]
    parts = [random.Random(10 + i).randbytes(size) for i, size in enumerate(sizes)]
    upload_id = blob_store.multipart_create(KEY)
    assert blob_store.multipart_list_parts(KEY, upload_id) == {}

    etags = {}
    for number, part in enumerate(parts[:2], start=1):
        status, headers, _ = http(
            "PUT", blob_store.multipart_part_url(KEY, upload_id, number, expires=300), data=part
        )
        assert status == 200
        etags[number] = headers["etag"]
    assert etags[1] == f'"{hashlib.md5(parts[0]).hexdigest()}"'
    # A resumed upload learns which parts are already there.
    assert blob_store.multipart_list_parts(KEY, upload_id) == etags
    assert blob_store.head(KEY) is None

    status, headers, _ = http(
        "PUT", blob_store.multipart_part_url(KEY, upload_id, 3, expires=300), data=parts[2]
    )
    assert status == 200
    etags[3] = headers["etag"]
    blob_store.multipart_complete(KEY, upload_id, sorted(etags.items()))

    whole = b"".join(parts)
    assert blob_store.head(KEY).size == len(whole)
    assert stored_sha256(blob_store, KEY) == (hashlib.sha256(whole).hexdigest(), len(whole))


def _upload_parts(store, upload_id: str, parts: list[bytes]) -> list[tuple[int, str]]:
    done = []
    for number, part in enumerate(parts, start=1):
        status, headers, _ = http(
            "PUT", store.multipart_part_url(KEY, upload_id, number, expires=300), data=part
        )
        assert status == 200
        done.append((number, headers["etag"]))
    return done


def test_multipart_complete_refuses_a_part_with_another_etag(blob_store):
    upload_id = blob_store.multipart_create(KEY)
    done = _upload_parts(blob_store, upload_id, [b"a" * MIN_PART_SIZE, b"tail"])
    with pytest.raises(InvalidUpload):
        blob_store.multipart_complete(KEY, upload_id, [done[0], (2, '"' + "0" * 32 + '"')])
    assert blob_store.head(KEY) is None


def test_multipart_complete_refuses_a_small_part_that_is_not_the_last(blob_store):
    upload_id = blob_store.multipart_create(KEY)
    done = _upload_parts(blob_store, upload_id, [b"small", b"tail"])
    with pytest.raises(InvalidUpload):
        blob_store.multipart_complete(KEY, upload_id, done)
    assert blob_store.head(KEY) is None


def test_multipart_single_small_part_is_fine(blob_store):
    upload_id = blob_store.multipart_create(KEY)
    blob_store.multipart_complete(KEY, upload_id, _upload_parts(blob_store, upload_id, [b"only part"]))
    assert b"".join(blob_store.iter_bytes(KEY)) == b"only part"


def test_multipart_abort_drops_the_upload(blob_store):
    upload_id = blob_store.multipart_create(KEY)
    _upload_parts(blob_store, upload_id, [b"p" * 1000])
    blob_store.multipart_abort(KEY, upload_id)
    with pytest.raises(ObjectMissing):
        blob_store.multipart_list_parts(KEY, upload_id)
    with pytest.raises(StorageError):  # ObjectMissing on S3 and local; moto answers a 500 instead
        blob_store.multipart_complete(KEY, upload_id, [(1, '"x"')])
    blob_store.multipart_abort(KEY, upload_id)  # idempotent
    assert blob_store.head(KEY) is None


def test_stale_unfinished_writes_are_aborted_and_fresh_ones_kept(blob_store):
    """A worker killed in the middle of a write leaves a multipart upload (S3) or a temporary file (local): the
    storage GC aborts what is older than the grace period, and nothing in progress."""
    from datetime import timedelta

    from django.utils import timezone

    old_id = blob_store.multipart_create(KEY)
    _upload_parts(blob_store, old_id, [b"p" * 1000])
    if blob_store.name == "local":  # moto reports every upload as initiated in 2010, so only here
        assert blob_store.abort_stale_uploads(started_before=timezone.now() - timedelta(hours=1)) == 0
        assert blob_store.multipart_list_parts(KEY, old_id)  # in progress: kept
    assert blob_store.abort_stale_uploads(started_before=timezone.now() + timedelta(minutes=5)) >= 1
    with pytest.raises(ObjectMissing):
        blob_store.multipart_list_parts(KEY, old_id)


# --- local store only: the hub serves its signed URLs --------------------------------------------------


def _signed_in_the_past(store: LocalBlobStore, monkeypatch, seconds: int, make_url):  # noqa: ANN001
    real = signing.time.time
    with monkeypatch.context() as mp:
        mp.setattr(signing, "time", SimpleNamespace(time=lambda: real() - seconds))
        return make_url()


@pytest.mark.parametrize("op", ["get", "put", "part"])
def test_expired_local_url_is_403(local_store, monkeypatch, op):
    local_store.put_stream(KEY, io.BytesIO(b"hello"), size=5)
    upload_id = local_store.multipart_create(KEY)
    make = {
        "get": lambda: local_store.presigned_get_url(KEY, expires=60),
        "put": lambda: local_store.presigned_put_url(KEY, expires=60, size=5),
        "part": lambda: local_store.multipart_part_url(KEY, upload_id, 1, expires=60),
    }[op]
    assert http("GET" if op == "get" else "PUT", make(), data=b"" if op == "get" else b"hello")[0] == 200
    url = _signed_in_the_past(local_store, monkeypatch, 61, make)
    status, headers, body = http("GET" if op == "get" else "PUT", url, data=b"" if op == "get" else b"hello")
    assert status == 403
    assert headers["x-error-code"] == "SignatureExpired"
    assert "expired" in headers["x-error-message"]
    assert body.startswith(b"signed URL has expired")


def test_tampered_local_url_is_403(local_store):
    local_store.put_stream(KEY, io.BytesIO(b"hello"), size=5)
    url = local_store.presigned_get_url(KEY, expires=60)
    prefix, token = url.rsplit("/", 1)
    payload, timestamp, signature = token.split(":")
    other = local_store.presigned_get_url(blob_key("cd" * 32), expires=60).rsplit("/", 1)[1].split(":")[0]
    for forged in (
        f"{payload}:{timestamp}:{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        f"{other}:{timestamp}:{signature}",  # another key under this signature
        "not-a-token",
    ):
        status, headers, _ = http("GET", f"{prefix}/{forged}")
        assert status == 403
        assert headers["x-error-code"] == "SignatureInvalid"


def test_local_url_for_one_operation_does_not_authorise_another(local_store):
    get_url = local_store.presigned_get_url(KEY, expires=60)
    token = get_url.rsplit("/", 1)[1]
    assert http("PUT", f"/_blobs/put/{token}", data=b"x")[0] == 403
    assert http("PUT", f"/_blobs/part/{token}", data=b"x")[0] == 403


def test_local_head_and_errors(local_store):
    url = local_store.presigned_get_url(KEY, expires=60)
    status, headers, _ = http("GET", url)
    assert status == 404 and headers["x-error-code"] == "EntryNotFound"

    local_store.put_stream(KEY, io.BytesIO(b"0123456789"), size=10)
    status, headers, body = http("HEAD", url)
    assert (status, body) == (200, b"")
    assert headers["content-length"] == "10" and headers["accept-ranges"] == "bytes"
    assert headers["etag"] == local_store.head(KEY).etag
    status, headers, _ = http("GET", url, headers={"Range": "bytes=10-"})
    assert status == 416
    assert headers["content-range"] == "bytes */10"
    assert headers["x-error-code"] == "RangeNotSatisfiable"
    # Several ranges, or nonsense: RFC 9110 says serve the whole object.
    assert http("GET", url, headers={"Range": "bytes=0-1,4-5"})[:3:2] == (200, b"0123456789")
    assert http("GET", url, headers={"Range": "pages=1"})[:3:2] == (200, b"0123456789")
    # If-Range naming an older version: the whole (current) object.
    assert http("GET", url, headers={"Range": "bytes=0-1", "If-Range": '"old"'})[:3:2] == (200, b"0123456789")
    assert http("GET", url, headers={"Range": "bytes=0-1", "If-Range": local_store.head(KEY).etag})[0] == 206
    status, headers, _ = http("POST", url, data=b"x")
    assert (status, headers["x-error-code"], headers["allow"]) == (405, "MethodNotAllowed", "GET, HEAD")
    assert http("GET", local_store.presigned_put_url(KEY, expires=60, size=1))[0] == 405


def test_local_put_needs_the_signed_size_and_no_csrf_token(local_store):
    url = local_store.presigned_put_url(KEY, expires=60, size=5)
    client = Client(enforce_csrf_checks=True)
    status, headers, _ = http("PUT", url, data=b"toolong", client=client)
    assert status == 400 and headers["x-error-code"] == "BadRequest"
    assert local_store.head(KEY) is None
    status, headers, _ = http("PUT", url, data=b"hello", client=client)
    assert status == 200
    assert headers["etag"] == local_store.head(KEY).etag


def test_local_part_put_for_a_finished_upload_is_404(local_store):
    upload_id = local_store.multipart_create(KEY)
    url = local_store.multipart_part_url(KEY, upload_id, 1, expires=60)
    local_store.multipart_abort(KEY, upload_id)
    status, headers, _ = http("PUT", url, data=b"late")
    assert status == 404 and headers["x-error-code"] == "NoSuchUpload"


def test_local_writes_are_atomic_and_leave_no_temporary_files(local_store):
    class Failing(io.BytesIO):
        def read(self, n=-1):
            if self.tell() >= 2 * MiB:
                raise OSError("client went away")
            return super().read(n)

    local_store.put_stream(KEY, io.BytesIO(b"old"), size=3)
    with pytest.raises(InvalidUpload):  # the sender failed, not the store
        local_store.put_stream(KEY, Failing(b"n" * 3 * MiB))
    assert b"".join(local_store.iter_bytes(KEY)) == b"old"
    assert list((local_store.root / "_tmp").iterdir()) == []


@pytest.mark.parametrize(
    "key",
    [
        "../outside",
        "blobs/../../outside",
        "/etc/passwd",
        "blobs\\ab",
        "blobs/a\x00b",
        "",
        "blobs//ab",
        "./blobs",
        "_multipart/x",
        "_tmp/x",
    ],
)
def test_local_store_refuses_keys_that_escape_its_root(local_store, key):
    for call in (
        lambda: local_store.head(key),
        lambda: local_store.iter_bytes(key),
        lambda: local_store.put_stream(key, io.BytesIO(b"x")),
        lambda: local_store.delete(key),
        lambda: local_store.presigned_get_url(key, expires=60),
        lambda: local_store.presigned_put_url(key, expires=60, size=1),
        lambda: local_store.multipart_create(key),
    ):
        with pytest.raises(ValueError):
            call()


def test_local_part_urls_need_a_known_upload(local_store):
    with pytest.raises(ObjectMissing):
        local_store.multipart_part_url(KEY, "../../etc", 1, expires=60)
    upload_id = local_store.multipart_create(KEY)
    with pytest.raises(ObjectMissing):  # an upload belongs to one key
        local_store.multipart_list_parts(blob_key("cd" * 32), upload_id)
    with pytest.raises(ValueError):
        local_store.multipart_part_url(KEY, upload_id, 0, expires=60)
    with pytest.raises(ValueError):
        local_store.multipart_part_url(KEY, upload_id, 10_001, expires=60)


@pytest.mark.s3
def test_signed_blob_routes_are_404_when_the_store_is_s3(s3_store):
    token = LocalBlobStore(root="/nonexistent").presigned_get_url(KEY, expires=60).rsplit("/", 1)[1]
    assert http("GET", f"/_blobs/get/{token}")[0] == 404


# --- S3 only --------------------------------------------------------------------------------------


@pytest.mark.s3
def test_presigned_urls_point_at_the_public_endpoint(s3_store, moto_server):
    public = moto_server.replace("127.0.0.1", "localhost")
    store = S3BlobStore(
        bucket=s3_store.bucket,
        endpoint_url=moto_server,
        public_endpoint_url=public,
        access_key_id="testing",
        secret_access_key="testing",
    )
    store.put_stream(KEY, io.BytesIO(b"public"), size=6)
    url = store.presigned_get_url(KEY, expires=60)
    assert url.startswith(f"{public}/{s3_store.bucket}/{KEY}?")  # path-style, public host
    assert http("GET", url)[2] == b"public"
    put_url = store.presigned_put_url(blob_key("cd" * 32), expires=60, size=3)
    assert put_url.startswith(f"{public}/") and "content-length" in put_url.lower()
    upload_id = store.multipart_create(KEY)
    assert store.multipart_part_url(KEY, upload_id, 1, expires=60).startswith(f"{public}/")
    assert store.client.meta.endpoint_url == moto_server


@pytest.mark.s3
def test_ensure_bucket_is_idempotent(s3_store, settings):
    assert s3_store.ensure_bucket() is False
    fresh = S3BlobStore(
        bucket=s3_store.bucket + "-new",
        endpoint_url=settings.S3_ENDPOINT_URL,
        access_key_id="testing",
        secret_access_key="testing",
    )
    assert fresh.ensure_bucket() is True
    assert fresh.ensure_bucket() is False
    # S3's own safety net for multipart uploads nobody finishes (a killed worker's), set once, kept on reruns
    rules = fresh.client.get_bucket_lifecycle_configuration(Bucket=fresh.bucket)["Rules"]
    assert [r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] for r in rules] == [2]
    fresh.client.delete_bucket(Bucket=fresh.bucket)


@pytest.mark.s3
def test_ensure_bucket_command(s3_store, settings):
    settings.S3_BUCKET = s3_store.bucket + "-cmd"
    from registry.storage import reset_store

    reset_store()
    out = io.StringIO()
    call_command("ensure_bucket", stdout=out)
    assert "Created bucket" in out.getvalue()
    call_command("ensure_bucket", stdout=out)
    assert "Found bucket" in out.getvalue()
    get_store().client.delete_bucket(Bucket=settings.S3_BUCKET)


def test_ensure_bucket_command_is_a_no_op_for_the_local_store(local_store):
    out = io.StringIO()
    call_command("ensure_bucket", stdout=out)
    assert "no bucket to create" in out.getvalue()
