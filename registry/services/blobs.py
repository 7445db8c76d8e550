"""Blobs: content-addressed objects in the store. Registered before upload, verified after."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from typing import Any, BinaryIO

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from registry.exceptions import BlobMissing, InvalidInput
from registry.hashing import SHA256_RE, digests_equal, sha256_stream
from registry.models import Blob, ModelRepo, RepoBlob
from registry.storage import blob_key, get_store


def _check_sha(sha256: str) -> str:
    sha256 = (sha256 or "").lower()
    if not SHA256_RE.match(sha256):
        raise InvalidInput(gettext("%(sha256)r is not a sha256 hex digest") % {"sha256": sha256})
    return sha256


def blob_register_pending(*, sha256: str, size: int) -> Blob:
    """The row for `sha256`, created pending (nothing stored yet) when missing. Idempotent, race-safe.

    Sizes are not compared: an unverified row's size is only what its first uploader announced, and the first
    verified bytes set it (so announcing a wrong size first can't lock anyone out of an oid).
    """
    sha256 = _check_sha(sha256)
    if size < 0:
        raise InvalidInput(gettext("size must not be negative"))
    try:
        with transaction.atomic():
            blob, _ = Blob.objects.get_or_create(
                sha256=sha256, defaults={"size": size, "storage_key": blob_key(sha256)}
            )
    except IntegrityError:
        blob = Blob.objects.get(sha256=sha256)
    return blob


def blob_register(*, sha256: str, size: int) -> Blob:
    """The row for an object about to be stored, or already stored with that size (InvalidInput otherwise)."""
    blob = blob_register_pending(sha256=sha256, size=size)
    if blob.size != size and blob.state == Blob.State.VERIFIED:
        raise InvalidInput(gettext("object %(sha256)s is known with size %(size)s, not %(size2)s")
            % {"sha256": blob.sha256, "size": blob.size, "size2": size})
    return blob


def blob_verify(*, blob: Blob) -> Blob:
    """Hash the stored object by streaming it; mark it verified, or rejected when it does not match.

    A rejected blob's bytes are deleted: they are never served under a name they don't have.
    """
    store = get_store()
    info = store.head(blob.storage_key)
    if info is None:
        raise BlobMissing(gettext("object %(sha256)s was never uploaded") % {"sha256": blob.sha256})
    sha256, size = sha256_stream(store.iter_bytes(blob.storage_key))
    now = timezone.now()
    with transaction.atomic():
        locked = Blob.objects.select_for_update().get(pk=blob.pk)
        if digests_equal(sha256, locked.sha256) and size == locked.size:
            locked.state = Blob.State.VERIFIED
            locked.verified_at = now
            locked.rejected_reason = ""
        else:
            locked.state = Blob.State.REJECTED
            locked.rejected_reason = (
                f"stored content has sha256 {sha256} and size {size}; expected {locked.sha256} / {locked.size}"
            )
        locked.uploaded_at = locked.uploaded_at or now
        locked.save(update_fields=["state", "verified_at", "rejected_reason", "uploaded_at"])
    if locked.state == Blob.State.REJECTED:
        store.delete(locked.storage_key)
    return locked


def repo_blob_grant(*, repo: ModelRepo, blobs: Iterable[Blob], source: str, actor: Any = None) -> None:
    """Let `repo` reference (and serve) `blobs`: its writer proved to hold their bytes (registry/models/uploads.py).
    Idempotent; the caller has checked the proof and the write access."""
    created_by = actor if getattr(actor, "is_authenticated", False) else None
    RepoBlob.objects.bulk_create(
        [RepoBlob(repo=repo, blob=blob, source=source, created_by=created_by) for blob in blobs],
        ignore_conflicts=True,
    )


def blob_ingest_stream(*, stream: BinaryIO, expected_sha256: str | None = None, repo: ModelRepo | None = None,
                       actor: Any = None) -> Blob:
    """Store bytes from a local stream (seeding, browser uploads, workers), hashing while spooling.

    The bytes are spooled to a temporary file once (constant memory), then streamed to the store. With `repo` (whose
    write access the caller checked), the repo may reference them: the hub itself received the bytes for it.
    """
    digest = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile() as spool:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
            spool.write(chunk)
        sha256 = digest.hexdigest()
        if expected_sha256 and not digests_equal(sha256, expected_sha256.lower()):
            raise InvalidInput(gettext("content has sha256 %(sha256)s, not the declared %(expected_sha256)s")
                % {"sha256": sha256, "expected_sha256": expected_sha256})
        blob = blob_register(sha256=sha256, size=size)
        if blob.state != Blob.State.VERIFIED:
            spool.seek(0, os.SEEK_SET)
            get_store().put_stream(blob.storage_key, spool, size=size)
            now = timezone.now()
            Blob.objects.filter(pk=blob.pk).update(
                state=Blob.State.VERIFIED, size=size, uploaded_at=now, verified_at=now, rejected_reason=""
            )
            blob.refresh_from_db()
    if repo is not None:
        repo_blob_grant(repo=repo, blobs=[blob], source=RepoBlob.Source.INGEST, actor=actor)
    return blob


# --- checkpoint validation ----------------------------------------------------------------------


def blob_reject(*, blob: Blob, reason: str) -> Blob:
    """Mark a blob rejected (its stored bytes are not the content it is named for) and delete the object.

    A rejected blob is never served and can't be committed again; re-uploading the right bytes under the
    same sha256 is the way back (the upload flow verifies them afresh).
    """
    from registry.services.audit import audit_record

    with transaction.atomic():
        locked = Blob.objects.select_for_update().get(pk=blob.pk)
        locked.state = Blob.State.REJECTED
        locked.rejected_reason = reason[:2000]
        locked.verified_at = None
        locked.save(update_fields=["state", "rejected_reason", "verified_at"])
        audit_record(actor=None, action="blob.reject", target=locked, target_label=locked.sha256,
                     metadata={"reason": reason[:500]})
    get_store().delete(locked.storage_key)
    return locked
