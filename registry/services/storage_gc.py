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

from registry.models import Blob, CommitFile
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
