"""Storage GC: drop blobs nothing references once their grace period is over.

Two kinds of garbage, one rule. Uploads that were never committed (pending, or verified but unused)
and blobs whose last commit went away (a deleted repo) are both "referenced by no CommitFile". A blob
is kept while any of its timestamps is inside the grace period: registering it again (a new LFS batch
for the same bytes) bumps `created_at`, so an upload in progress is never swept.

Race safety: each blob is re-checked under a row lock, and the row is deleted before its bytes. A
commit that references the blob concurrently either commits first (we see the reference and keep the
blob) or waits on our lock and then fails its foreign-key check (nothing half-done); a batch that
re-registers the object after we dropped the row gets a fresh row whose verify step finds no bytes
and asks for the upload again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from registry.models import Blob, BlobUpload, CommitFile
from registry.services.audit import audit_record
from registry.storage import StorageError, get_store

logger = logging.getLogger(__name__)

DEFAULT_BATCH_LIMIT = 1000


@dataclass
class GcReport:
    deleted: list[str] = field(default_factory=list)  # sha256 of the dropped blobs
    freed_bytes: int = 0
    aborted_uploads: int = 0
    failed: list[str] = field(default_factory=list)  # store errors: the row is gone, the bytes may remain


def _stale(cutoff: datetime) -> Q:
    return (
        Q(created_at__lt=cutoff)
        & (Q(uploaded_at__isnull=True) | Q(uploaded_at__lt=cutoff))
        & (Q(verified_at__isnull=True) | Q(verified_at__lt=cutoff))
    )


def storage_gc_candidates(*, now: datetime | None = None, grace_hours: int | None = None):  # noqa: ANN201
    """Blobs referenced by no commit and untouched for the grace period."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=grace_hours if grace_hours is not None else settings.UPLOAD_GRACE_HOURS)
    referenced = CommitFile.objects.filter(blob_id=OuterRef("pk"))
    return Blob.objects.filter(_stale(cutoff)).exclude(Exists(referenced)).order_by("pk"), cutoff


def storage_gc_run(
    *, now: datetime | None = None, grace_hours: int | None = None, limit: int = DEFAULT_BATCH_LIMIT
) -> GcReport:
    """Delete up to `limit` unreferenced, stale blobs (rows, bytes, unfinished multipart uploads)."""
    candidates, cutoff = storage_gc_candidates(now=now, grace_hours=grace_hours)
    report = GcReport()
    store = get_store()
    for pk in list(candidates.values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            blob = (
                Blob.objects.select_for_update(skip_locked=True)
                .filter(_stale(cutoff), pk=pk)
                .exclude(Exists(CommitFile.objects.filter(blob_id=OuterRef("pk"))))
                .first()
            )
            if blob is None:
                continue  # referenced, touched or locked since we listed it
            blob.delete()
        report.deleted.append(blob.sha256)
        report.freed_bytes += blob.size if blob.uploaded_at or blob.state == Blob.State.VERIFIED else 0
        try:
            if blob.multipart_upload_id:
                store.multipart_abort(blob.storage_key, blob.multipart_upload_id)
                report.aborted_uploads += 1
            store.delete(blob.storage_key)
        except StorageError as exc:
            logger.warning("storage GC: could not delete %s from the store: %s", blob.storage_key, exc)
            report.failed.append(blob.sha256)
    if report.deleted or report.failed:
        audit_record(
            actor=None,
            action="storage.gc",
            target_type="blob",
            target_label=f"{len(report.deleted)} blobs",
            metadata={
                "deleted": len(report.deleted),
                "freed_bytes": report.freed_bytes,
                "aborted_uploads": report.aborted_uploads,
                "failed": report.failed[:100],
                "sha256": report.deleted[:100],
                "grace_cutoff": cutoff.isoformat(),
            },
        )
    return report


# --- unfinished writes: multipart uploads and temporary files nobody will finish ---------------------------


def stale_writes_gc_run(*, now: datetime | None = None, grace_hours: int | None = None) -> int:
    """Abort what was started before the grace period (plus an hour) and never finished: client multipart uploads
    whose completion link has expired, and the store writes of workers that were killed midway (boto3's own
    multipart uploads, the local store's temporary files). Nothing that old can still complete."""
    now = now or timezone.now()
    hours = (grace_hours if grace_hours is not None else settings.UPLOAD_GRACE_HOURS) + 1
    return get_store().abort_stale_uploads(started_before=now - timedelta(hours=hours))


# --- LFS uploads: staged bytes never finished, and rows of uploads long done -----------------------


def upload_gc_run(*, now: datetime | None = None, grace_hours: int | None = None,
                  limit: int = DEFAULT_BATCH_LIMIT) -> int:
    """Drop uploads untouched for the grace period that are not being hashed (those are re-queued instead): their
    staged bytes and unfinished multipart uploads, then the row. A verified upload's bytes already moved to its
    blob (and the repo's RepoBlob row outlives it); a rejected one's were deleted. Returns the rows dropped."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=grace_hours if grace_hours is not None else settings.UPLOAD_GRACE_HOURS)
    store = get_store()
    dropped = 0
    stale = BlobUpload.objects.filter(created_at__lt=cutoff).exclude(state=BlobUpload.State.UPLOADED)
    for pk in list(stale.order_by("pk").values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            upload = stale.select_for_update(skip_locked=True).filter(pk=pk).first()
            if upload is None:
                continue  # touched (a new batch for it) or locked since we listed it
            upload.delete()
        dropped += 1
        try:
            if upload.multipart_upload_id:
                store.multipart_abort(upload.staging_key, upload.multipart_upload_id)
            store.delete(upload.staging_key)
        except StorageError as exc:
            logger.warning("storage GC: could not delete %s from the store: %s", upload.staging_key, exc)
    return dropped


# --- Xet: xorbs, files and shards nothing needs, and xorb retention ------------------------------


@dataclass
class XetGcReport:
    files: int = 0  # XetFile rows dropped (no committed blob uses them)
    xorbs: list[str] = field(default_factory=list)  # xorbs deleted (rows and bytes)
    shards: list[str] = field(default_factory=list)  # shards deleted (rows and bytes)
    dropped: list[str] = field(default_factory=list)  # xorbs whose bytes XET_XORB_RETENTION_DAYS removed
    grants: int = 0  # expired upload grants (and whatever was staged for them) dropped
    freed_bytes: int = 0
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"files": self.files, "xorbs": len(self.xorbs), "shards": len(self.shards),
                "dropped": len(self.dropped), "grants": self.grants, "freed_bytes": self.freed_bytes,
                "failed": len(self.failed)}


def _xorbs_of(terms: bytes) -> set[str]:
    from registry.xet import hash_to_hex, unpack_terms

    return {hash_to_hex(t.xorb_hash) for t in unpack_terms(bytes(terms))}


def _live_files() -> Q:
    """XetFiles a blob in some commit is backed by (the blob's xet_hash: cleared when retention drops xorbs)."""
    used = Blob.objects.filter(xet_hash=OuterRef("hash")).filter(
        Exists(CommitFile.objects.filter(blob_id=OuterRef("pk"))))
    return Q(Exists(used))


def xet_gc_run(*, now: datetime | None = None, grace_hours: int | None = None,
               limit: int = DEFAULT_BATCH_LIMIT) -> XetGcReport:
    """Xet storage hygiene, with the blob GC's grace period.

    1. XetFiles no committed blob uses, untouched for the grace period, are forgotten (uploads never committed,
       files of deleted repos, files whose xorbs retention dropped).
    2. Xorbs no remaining XetFile references, older than the grace period and not re-linked to a repo within it,
       are deleted (row, then bytes). Each is re-checked under its row lock against files registered meanwhile.
    3. Shards whose files are all gone are deleted, and upload grants expired for the grace period (with any
       object staged for them and never committed).
    4. With XET_XORB_RETENTION_DAYS > 0: older xorbs whose files are all materialised as verified blobs lose their
       bytes (dropped_at); those blobs stop advertising their Xet hash, so Xet clients download the whole file.
    """
    from registry.models import XetFile, XetShard, Xorb, XorbGrant

    now = now or timezone.now()
    cutoff = now - timedelta(hours=grace_hours if grace_hours is not None else settings.UPLOAD_GRACE_HOURS)
    report = XetGcReport()
    store = get_store()

    # A file re-registered for a repo recently (its shard was sent again) may be about to be committed there.
    dead_files = (XetFile.objects.filter(created_at__lt=cutoff).exclude(repo_links__created_at__gte=cutoff)
                  .exclude(_live_files()))
    dead = list(dead_files.values_list("hash", flat=True)[:limit])
    if dead:
        _, per_model = XetFile.objects.filter(hash__in=dead).exclude(_live_files()).delete()
        report.files = per_model.get(XetFile._meta.label, 0)

    scan_started = timezone.now()
    referenced: dict[str, set[str]] = {}  # xorb hash -> hashes of the files that use it
    for file_hash, terms in XetFile.objects.values_list("hash", "terms").iterator():
        for xorb in _xorbs_of(terms):
            referenced.setdefault(xorb, set()).add(file_hash)

    old_xorbs = (Xorb.objects.filter(created_at__lt=cutoff).exclude(repo_links__created_at__gte=cutoff)
                 .order_by("created_at").values_list("hash", flat=True))
    candidates = [h for h in old_xorbs.iterator() if h not in referenced][:limit]
    for xorb_hash in candidates:
        with transaction.atomic():
            xorb = Xorb.objects.select_for_update(skip_locked=True).filter(pk=xorb_hash).first()
            if xorb is None:
                continue
            newer = XetFile.objects.filter(created_at__gte=scan_started).values_list("terms", flat=True)
            if any(xorb_hash in _xorbs_of(t) for t in newer):
                continue  # a shard registered a file using it while we scanned
            xorb.delete()
        report.xorbs.append(xorb_hash)
        if xorb.dropped_at is None:
            report.freed_bytes += xorb.size
            try:
                store.delete(xorb.storage_key)
            except StorageError as exc:
                logger.warning("xet GC: could not delete xorb %s from the store: %s", xorb.storage_key, exc)
                report.failed.append(xorb_hash)

    for shard in XetShard.objects.filter(created_at__lt=cutoff).order_by("created_at")[:limit]:
        files = _shard_files(shard)
        if files is None or XetFile.objects.filter(hash__in=files).exists():
            continue
        with transaction.atomic():
            deleted, _ = XetShard.objects.filter(pk=shard.pk).delete()
        if deleted:
            report.shards.append(shard.sha256)
            report.freed_bytes += shard.size
            try:
                store.delete(shard.storage_key)
            except StorageError as exc:
                logger.warning("xet GC: could not delete shard %s from the store: %s", shard.storage_key, exc)
                report.failed.append(shard.sha256)

    for grant in XorbGrant.objects.filter(expires_at__lt=cutoff).order_by("expires_at")[:limit]:
        # Grants are good for an hour: an object still staged after the grace period was never committed.
        try:
            store.delete(grant.staging_key)
        except StorageError as exc:
            logger.warning("xet GC: could not delete staged xorb %s: %s", grant.staging_key, exc)
            report.failed.append(grant.staging_key)
            continue
        grant.delete()
        report.grants += 1

    if settings.XET_XORB_RETENTION_DAYS > 0:
        _xet_retention(now=now, referenced=referenced, report=report, limit=limit)

    if report.files or report.xorbs or report.shards or report.dropped or report.grants or report.failed:
        audit_record(actor=None, action="storage.xet_gc", target_type="xorb",
                     target_label=f"{len(report.xorbs)} xorbs, {len(report.shards)} shards",
                     metadata={**report.as_dict(), "xorbs_deleted": report.xorbs[:100],
                               "xorbs_dropped": report.dropped[:100], "failed_keys": report.failed[:100],
                               "grace_cutoff": cutoff.isoformat()})
    return report


def _shard_files(shard) -> list[str] | None:  # noqa: ANN001
    """The file hashes a stored shard registered; None when it can't be read (kept, and logged)."""
    from registry.xet import XetFormatError, hash_to_hex, parse_upload_shard
    from registry.xet.shard import MAX_SHARD_BYTES

    if shard.size > MAX_SHARD_BYTES:
        return None
    try:
        data = b"".join(get_store().iter_bytes(shard.storage_key))
        return [hash_to_hex(f.hash) for f in parse_upload_shard(data).files]
    except (StorageError, XetFormatError, ValueError) as exc:
        logger.warning("xet GC: shard %s is unreadable, kept: %s", shard.sha256, exc)
        return None


def _xet_retention(*, now: datetime, referenced: dict[str, set[str]], report: XetGcReport, limit: int) -> None:
    from registry.models import Xorb

    old = now - timedelta(days=settings.XET_XORB_RETENTION_DAYS)
    store = get_store()
    for xorb_hash in list(Xorb.objects.filter(created_at__lt=old, dropped_at__isnull=True)
                          .order_by("created_at").values_list("hash", flat=True)[:limit]):
        files = referenced.get(xorb_hash, set())
        if not files:
            continue  # nothing reconstructs from it: step 2 deletes it once past the grace period
        with transaction.atomic():
            xorb = Xorb.objects.select_for_update(skip_locked=True).filter(pk=xorb_hash,
                                                                           dropped_at__isnull=True).first()
            if xorb is None:
                continue
            backing = Blob.objects.select_for_update().filter(xet_hash__in=files)
            materialised = {b.xet_hash for b in backing if b.state == Blob.State.VERIFIED}
            if materialised != files:
                continue  # a file not (yet) written as a whole blob still needs these chunks
            Blob.objects.filter(xet_hash__in=files, state=Blob.State.VERIFIED).update(xet_hash="")
            Xorb.objects.filter(pk=xorb_hash).update(dropped_at=now)
        try:
            store.delete(xorb.storage_key)
        except StorageError as exc:
            logger.warning("xet retention: could not delete xorb %s: %s", xorb.storage_key, exc)
            report.failed.append(xorb_hash)
            continue
        report.dropped.append(xorb_hash)
        report.freed_bytes += xorb.size
