"""Xet on the hub side: CAS tokens for the HF routes, commits of Xet-uploaded files, and their materialisation.

The stock client uploads every large file over Xet (registry.services.xet, the /cas API) and then commits it as an
ordinary `lfsFile` keyed by sha256. The commit accepts a sha256 the Xet index knows for the repo: it creates (or
reuses) the Blob row, PENDING, with `xet_hash` set. A worker then *materialises* it once: reconstructs the file from
its xorbs in one stream, hashes it while writing the whole-file object at the blob's storage key (what non-Xet
downloads and validation read), and marks the blob verified — or rejects it when the bytes are not the committed
sha256. Until then the file is unverified, and /resolve answers 403 BlobNotVerified as for any pending blob.
Cost: a Xet-uploaded file is stored twice (its xorbs and the whole file); XET_XORB_RETENTION_DAYS drops old xorbs.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from registry import permissions
from registry.exceptions import PermissionDenied
from registry.hashing import digests_equal
from registry.models import Blob, ModelRepo, XetFile
from registry.services import xet as cas
from registry.services.audit import audit_record
from registry.services.blobs import blob_reject
from registry.services.jobs import job_dispatch, job_enqueue
from registry.services.pulls import is_pr_ref, upload_access_check
from registry.storage import StorageError, blob_key, get_store
from registry.storage.base import InvalidUpload
from registry.xet import IterReader, XetFormatError

logger = logging.getLogger(__name__)


# --- tokens ---------------------------------------------------------------------------------------------------


def xet_token_issue(*, principal: Any, repo: ModelRepo, scope: str, revision: str, base_url: str,
                    create_pr: bool = False) -> cas.XetToken:
    """A CAS access token for `repo`. Read: the caller has already passed the download checks (private, gated).

    Write needs write access to the repo, answered as every write route answers (404 to those who can't see the
    repo, 403 to readers and read-scoped keys).
    """
    if scope not in ("read", "write"):
        raise ValueError(f"unknown xet token scope {scope!r}")
    user, api_key = principal.user, principal.api_key
    proposal = False
    if scope == "write":
        if create_pr or is_pr_ref(revision):
            # A pull request's bytes: readers who may propose get a token that writes chunks, never a branch.
            upload_access_check(actor=user, repo=repo, revision=revision, create_pr=create_pr, api_key=api_key)
            proposal = not permissions.can_write_repo(user, repo, api_key)
        else:
            permissions.require_write_repo(user, repo, api_key)
        if repo.disabled:
            raise PermissionDenied(gettext("This repository has been disabled"))
    return cas.issue_token(principal=principal, repo=repo, scope=scope, revision=revision, base_url=base_url,
                           proposal=proposal)


# --- commits --------------------------------------------------------------------------------------------------


def _usable(blob: Blob | None) -> bool:
    """Bytes are (or will be) at the blob's key without us: verified, or uploaded there and waiting for a worker.
    Whether a repo may reference it is another question (selectors.blobs, asked by commits.py)."""
    return blob is not None and blob.state != Blob.State.REJECTED and (
        blob.state == Blob.State.VERIFIED or blob.uploaded_at is not None)


def xet_blobs_prepare(*, repo: ModelRepo, shas: Sequence[tuple[str, str, int | None]]) -> list[int]:
    """Blob rows for the committed (path, sha256, declared size) that only the repo's Xet index knows.

    Returns the ids of the Xet-backed blobs still waiting to be materialised (new ones, and ones an earlier attempt
    left pending), to queue once the commit has landed. A sha256 neither store knows is left to commit_create,
    which refuses it as before; a declared size that differs from the Xet file's is refused here (400).
    """
    from registry.exceptions import InvalidInput

    wanted: dict[str, tuple[str, int | None]] = {}
    for path, sha256, size in shas:
        wanted.setdefault(sha256.lower(), (path, size))
    if not wanted:
        return []
    existing = {b.sha256: b for b in Blob.objects.filter(sha256__in=wanted)}
    pending: list[int] = []
    for sha256, (path, size) in wanted.items():
        blob = existing.get(sha256)
        if blob is not None and blob.xet_hash and blob.state == Blob.State.PENDING:
            pending.append(blob.pk)  # a retried commit: queue it again (the worker is idempotent)
            continue
        if _usable(blob):
            continue
        xet_file = cas.file_for_sha256(repo=repo, sha256=sha256)
        if xet_file is None:
            continue  # unknown to both stores: commit_create answers as for any missing object
        if size is not None and size != xet_file.size:
            raise InvalidInput(gettext("%(path)s: declared size %(size)s but the file uploaded over Xet with sha256 "
                                       "%(sha256)s has %(size2)s bytes")
                % {"path": path, "size": size, "sha256": sha256, "size2": xet_file.size})
        if blob is not None and blob.state == Blob.State.REJECTED and blob.xet_hash == xet_file.hash:
            continue  # the same reconstruction was already found wrong: commit_create says it was rejected
        pending.append(_blob_for_xet_file(sha256=sha256, xet_file=xet_file).pk)
    return pending


def _blob_for_xet_file(*, sha256: str, xet_file: XetFile) -> Blob:
    """Create the blob (or take over a never-uploaded or rejected row) as pending, backed by `xet_file`."""
    now = timezone.now()
    fields = {"size": xet_file.size, "xet_hash": xet_file.hash, "state": Blob.State.PENDING, "uploaded_at": now,
              "created_at": now, "rejected_reason": "", "verified_at": None}
    with transaction.atomic():
        blob = Blob.objects.select_for_update().filter(sha256=sha256).first()
        if blob is None:
            try:
                with transaction.atomic():
                    return Blob.objects.create(sha256=sha256, storage_key=blob_key(sha256), **fields)
            except IntegrityError:  # the same file committed at the same moment elsewhere: use that row
                blob = Blob.objects.select_for_update().get(sha256=sha256)
        if _usable(blob):
            return blob  # uploaded through LFS meanwhile
        if blob.multipart_upload_id:
            # An abandoned LFS multipart upload for these bytes: the worker writes the object itself.
            get_store().multipart_abort(blob.storage_key, blob.multipart_upload_id)
            fields["multipart_upload_id"] = ""
        for name, value in fields.items():
            setattr(blob, name, value)
        blob.save(update_fields=list(fields))
        return blob


def xet_materialise_small(blob_ids: Sequence[int]) -> list[int]:
    """Materialise at once the files up to SYNC_VERIFY_MAX_SIZE (as LFS uploads of that size are hashed at once), so
    that right after the commit returns every client can download them; the ids still pending are returned for the
    worker. Any failure here is left to the worker (a store hiccup inside a request costs nothing but time)."""
    limit = settings.SYNC_VERIFY_MAX_SIZE
    small = set(Blob.objects.filter(pk__in=blob_ids, state=Blob.State.PENDING, size__lte=limit)
                .exclude(xet_hash="").values_list("pk", flat=True))
    for blob_id in small:
        try:
            xet_blob_materialise(blob_id=blob_id)
        except Exception:  # noqa: BLE001 - the worker does it then
            logger.warning("could not materialise Xet blob %s at commit; the worker will", blob_id, exc_info=True)
    done = set(Blob.objects.filter(pk__in=small).exclude(state=Blob.State.PENDING).values_list("pk", flat=True))
    return [blob_id for blob_id in blob_ids if blob_id not in done]


def xet_materialise_queue(blob_ids: Sequence[int]) -> None:
    """Queue the materialisation of `blob_ids` once the current transaction commits (at once outside one)."""
    for blob_id in dict.fromkeys(blob_ids):
        job_enqueue(task="registry.materialise_xet_blob", key=blob_id, send=lambda key: _queue(key))


def _queue(blob_id: int) -> None:
    """Send it now (a broker outage is logged: the job sweep sends it again)."""
    job_dispatch(task="registry.materialise_xet_blob", key=blob_id)


# --- materialisation ------------------------------------------------------------------------------------------


class _HashingReader(io.RawIOBase):
    """A file-like view of the reconstruction that hashes what the store reads, in order (not seekable, so the
    S3 store streams it part by part and the local store copies it chunk by chunk)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._source = IterReader(chunks)
        self.digest = hashlib.sha256()
        self.size = 0
        self.error: Exception | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, amount: int | None = -1) -> bytes:
        try:
            out = self._source.read(-1 if amount is None else amount)
        except Exception as exc:  # remembered: boto3 may wrap what a read raises
            self.error = exc
            raise
        self.digest.update(out)
        self.size += len(out)
        return out

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)


def xet_blob_materialise(*, blob_id: int, final_attempt: bool = False) -> Blob | None:
    """Reconstruct a Xet-backed pending blob into its whole-file object and verify it. Idempotent.

    StorageError propagates (the task retries) unless `final_attempt`, when the blob is rejected with the error.
    """
    blob = Blob.objects.filter(pk=blob_id).first()
    if blob is None or blob.state != Blob.State.PENDING or not blob.xet_hash:
        return blob
    xet_file = XetFile.objects.filter(hash=blob.xet_hash).first()
    if xet_file is None:
        return _reject(blob, f"the Xet file {blob.xet_hash} it was uploaded as is no longer registered; "
                             "upload the file again")
    store = get_store()
    reader = _HashingReader(iter(()))
    try:
        # Database reads happen here, in this thread; the S3 store pulls the reader from its transfer threads.
        reader = _HashingReader(cas.iter_file_bytes(xet_file))
        store.put_stream(blob.storage_key, reader, size=blob.size)
    except Exception as exc:  # noqa: BLE001 - sorted below: bad data rejects, a store hiccup retries
        cause = reader.error or exc
        if isinstance(cause, XetFormatError | cas.CasError):  # undecodable, or a xorb no longer stored
            return _reject(blob, f"the Xet file {xet_file.hash} could not be reconstructed: {cause}")
        if isinstance(cause, InvalidUpload):  # the store counted another length than the committed size
            return _reject(blob, f"the Xet file {xet_file.hash} does not reconstruct to the {blob.size} bytes "
                                 f"committed: {cause}")
        if isinstance(cause, StorageError):
            if not final_attempt:
                raise cause from exc
            return _reject(blob, f"the Xet file {xet_file.hash} could not be read from the store: {cause}")
        raise
    sha256 = reader.digest.hexdigest()
    if reader.size != blob.size or not digests_equal(sha256, blob.sha256):
        return _reject(blob, f"the Xet file {xet_file.hash} reconstructs to content with sha256 {sha256} and size "
                             f"{reader.size}; the commit named sha256 {blob.sha256} and size {blob.size}")
    now = timezone.now()
    with transaction.atomic():
        done = Blob.objects.filter(pk=blob.pk, state=Blob.State.PENDING, xet_hash=xet_file.hash).update(
            state=Blob.State.VERIFIED, verified_at=now, rejected_reason="")
        if done:
            audit_record(actor=None, action="blob.materialise", target=blob, target_label=blob.sha256,
                         metadata={"size": blob.size, "xet_hash": xet_file.hash})
        _after_materialise(blob)
    blob.refresh_from_db()
    return blob


def _reject(blob: Blob, reason: str) -> Blob:
    """blob_reject (row rejected, stored object deleted), then let waiting validation runs record it."""
    rejected = blob_reject(blob=blob, reason=reason)
    with transaction.atomic():
        _after_materialise(rejected)
    return rejected


def _after_materialise(blob: Blob) -> None:
    """Validation runs that waited for these bytes go on (registry.services.validation waits for them)."""
    from registry.services.validation import validation_runs_resume_for_blob

    validation_runs_resume_for_blob(sha256=blob.sha256)


def xet_pending_requeue(*, older_than_minutes: int = 60, limit: int = 1000) -> list[int]:
    """Queue again Xet-backed blobs still pending after a while (a broker outage, a dead worker).

    Their `uploaded_at` moves to now, so a long materialisation still running is not re-sent every sweep (a
    duplicate run is harmless anyway: it writes the same bytes and the state changes are conditional).
    """
    now = timezone.now()
    with transaction.atomic():
        ids = list(Blob.objects.select_for_update()
                   .filter(state=Blob.State.PENDING, uploaded_at__lt=now - timedelta(minutes=older_than_minutes))
                   .exclude(xet_hash="").order_by("pk").values_list("pk", flat=True)[:limit])
        Blob.objects.filter(pk__in=ids).update(uploaded_at=now)
        xet_materialise_queue(ids)
    return ids
