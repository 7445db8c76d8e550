"""Celery tasks: thin wrappers that take ids and call one service. Idempotent, so acks_late is safe."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from registry.models import Blob
from registry.services.blobs import blob_verify
from registry.storage import StorageError


@shared_task(name="registry.verify_blob", bind=True, acks_late=True, autoretry_for=(StorageError,),
             retry_backoff=True, max_retries=5, soft_time_limit=3600, time_limit=3700)
def verify_blob(self, blob_id: int) -> str:  # noqa: ANN001
    blob = Blob.objects.filter(pk=blob_id).first()
    if blob is None or blob.state != Blob.State.PENDING:
        return blob.state if blob else "missing"
    return blob_verify(blob=blob).state


@shared_task(name="registry.verify_upload", bind=True, acks_late=True, autoretry_for=(StorageError,),
             retry_backoff=True, max_retries=5, soft_time_limit=3600, time_limit=3700)
def verify_upload(self, upload_id: int) -> str:  # noqa: ANN001
    """Hash a large LFS upload at its staging key; matching bytes become the blob's and grant the repo."""
    from registry.services.uploads import lfs_upload_check

    upload = lfs_upload_check(upload_id=upload_id)
    return upload.state if upload else "missing"


@shared_task(name="registry.materialise_xet_blob", bind=True, acks_late=True, autoretry_for=(StorageError,),
             retry_backoff=True, retry_backoff_max=600, max_retries=7, soft_time_limit=4 * 3600,
             time_limit=4 * 3600 + 300)
def materialise_xet_blob(self, blob_id: int) -> str:  # noqa: ANN001
    """Write a Xet-uploaded file as its whole-file blob and verify its sha256 (same queue as verify_blob).

    Idempotent; store errors retry, and the last attempt rejects the blob with the error instead.
    """
    from registry.services.xet_hub import xet_blob_materialise

    blob = xet_blob_materialise(blob_id=blob_id, final_attempt=self.request.retries >= self.max_retries)
    return blob.state if blob else "missing"


# --- storage GC (uploads feature) ---------------------------------------------------------------


@shared_task(name="registry.storage_gc", acks_late=True, soft_time_limit=1800, time_limit=1900)
def storage_gc() -> dict:
    """Hourly (CELERY_BEAT_SCHEDULE): drop blobs nothing references once their grace period is over."""
    from registry.services.storage_gc import storage_gc_run, upload_gc_run, xet_gc_run
    from registry.services.uploads import lfs_uploads_requeue
    from registry.services.xet_hub import xet_pending_requeue

    report = storage_gc_run()
    uploads = upload_gc_run()  # LFS uploads never finished (or finished long ago) and what they staged
    xet = xet_gc_run()  # unreferenced xorbs and shards, and XET_XORB_RETENTION_DAYS
    requeued = xet_pending_requeue()  # Xet uploads whose materialisation was lost (broker outage, dead worker)
    checks = lfs_uploads_requeue()  # LFS uploads whose check was lost
    return {"deleted": len(report.deleted), "freed_bytes": report.freed_bytes, "failed": len(report.failed),
            "uploads_dropped": uploads, "xet": xet.as_dict(), "xet_requeued": len(requeued),
            "uploads_requeued": len(checks)}


# --- checkpoint validation ----------------------------------------------------------------------


def _validation_retry_errors() -> tuple[type[Exception], ...]:
    from registry.validation import StreamReadError

    return (StorageError, StreamReadError)


@shared_task(name="registry.validate_commit", bind=True, acks_late=True,
             autoretry_for=_validation_retry_errors(), retry_backoff=True, retry_backoff_max=600,
             retry_jitter=True, max_retries=7, soft_time_limit=4 * 3600, time_limit=4 * 3600 + 300)
def validate_commit(self, run_id: int) -> str:  # noqa: ANN001
    """Validate one ValidationRun (the commit's new files, then its tree). Idempotent: safe to redeliver."""
    from registry.services.validation import validation_run_execute

    run = validation_run_execute(run_id=run_id)
    return run.status if run is not None else "missing"


@shared_task(name="registry.requeue_stale_validation", acks_late=True, soft_time_limit=300, time_limit=360)
def requeue_stale_validation() -> int:
    """Every 5 minutes (CELERY_BEAT_SCHEDULE): queue again runs a dead worker left behind."""
    from registry.services.validation import validation_runs_requeue_stale

    return len(validation_runs_requeue_stale())


# --- quick inference checks (gpu queue: CELERY_TASK_ROUTES sends registry.inference.* there) ------------


@shared_task(name="registry.inference.run_check", acks_late=True,
             soft_time_limit=settings.INFERENCE_TIME_LIMIT_SECONDS,
             time_limit=settings.INFERENCE_TIME_LIMIT_SECONDS + 120)  # services.inference.HARD_LIMIT_GRACE_SECONDS
def inference_run_check(check_id: int) -> str:
    """Smoke-test one InferenceCheck's commit. Idempotent: a finished check is left as it is."""
    from registry.services.inference import inference_check_execute

    check = inference_check_execute(check_id=check_id)
    return check.status if check is not None else "missing"


@shared_task(name="registry.requeue_stale_inference", acks_late=True, soft_time_limit=300, time_limit=360)
def requeue_stale_inference() -> int:
    """Every 5 minutes (CELERY_BEAT_SCHEDULE), on the validation queue: checks never left `pending` or
    `running` for good (a broker outage, a dead gpu worker)."""
    from registry.services.inference import inference_checks_requeue_stale

    return len(inference_checks_requeue_stale())


# --- releases ------------------------------------------------------------------------------------------------


@shared_task(name="registry.publish_release", bind=True, acks_late=True, max_retries=5, default_retry_delay=30)
def publish_release(self, release_id: int) -> str:  # noqa: ANN001
    """Tag, sign and publish an approved release. Idempotent; retried on database/storage hiccups."""
    from django.db import DatabaseError

    from registry.services.releases import release_publish

    try:
        return release_publish(release_id=release_id).state
    except DatabaseError as exc:
        raise self.retry(exc=exc) from exc


@shared_task(name="registry.send_release_advisories", acks_late=True)
def send_release_advisories(release_id: int) -> int:
    from registry.services.releases import release_send_advisories

    return release_send_advisories(release_id=release_id)


@shared_task(name="registry.push_release_mirror", bind=True, acks_late=True, max_retries=5)
def push_release_mirror(self, mirror_id: int) -> str:  # noqa: ANN001
    """Push a published release to its mirror; transient failures retry with exponential backoff."""
    from registry.services.mirrors import MirrorTransientError, mirror_push

    try:
        return mirror_push(mirror_id=mirror_id, final_attempt=self.request.retries >= self.max_retries).status
    except MirrorTransientError as exc:
        raise self.retry(exc=exc, countdown=30 * 2 ** self.request.retries) from exc
