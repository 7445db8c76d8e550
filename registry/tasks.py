"""Celery tasks: thin wrappers that take ids and call one service. Idempotent, so acks_late is safe.

The tasks that do a job someone is waiting for run as leased jobs (`@leased`, registry/services/jobs.py): each is a
database row first, held by the worker that runs it, and sent again by registry.sweep_jobs if its message or its
worker is lost.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from celery import current_task, shared_task
from celery.signals import worker_ready
from django.conf import settings

from registry.models import Blob
from registry.services.blobs import blob_verify
from registry.services.jobs import job_lease, jobs_sweep
from registry.storage import StorageError


def leased(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run the task body only while holding the job of (name, id); the id is the task's last argument."""

    def decorate(body: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(body)
        def run(*args: Any, **kwargs: Any) -> Any:
            request = getattr(current_task, "request", None)
            worker = str(getattr(request, "hostname", "") or "")
            with job_lease(task=name, key=int(args[-1]), worker=worker) as lease:
                if not lease.run:
                    return f"skipped: {lease.why}"
                return body(*args, **kwargs)

        return run

    return decorate


@shared_task(name="registry.verify_blob", bind=True, acks_late=True, autoretry_for=(StorageError,),
             retry_backoff=True, max_retries=5, soft_time_limit=3600, time_limit=3700)
@leased("registry.verify_blob")
def verify_blob(self, blob_id: int) -> str:  # noqa: ANN001
    blob = Blob.objects.filter(pk=blob_id).first()
    if blob is None or blob.state != Blob.State.PENDING:
        return blob.state if blob else "missing"
    return blob_verify(blob=blob).state


@shared_task(name="registry.verify_upload", bind=True, acks_late=True, autoretry_for=(StorageError,),
             retry_backoff=True, max_retries=5, soft_time_limit=3600, time_limit=3700)
@leased("registry.verify_upload")
def verify_upload(self, upload_id: int) -> str:  # noqa: ANN001
    """Hash a large LFS upload at its staging key; matching bytes become the blob's and grant the repo."""
    from registry.services.uploads import lfs_upload_check

    upload = lfs_upload_check(upload_id=upload_id)
    return upload.state if upload else "missing"


@shared_task(name="registry.materialise_xet_blob", bind=True, acks_late=True, autoretry_for=(StorageError,),
             retry_backoff=True, retry_backoff_max=600, max_retries=7, soft_time_limit=4 * 3600,
             time_limit=4 * 3600 + 300)
@leased("registry.materialise_xet_blob")
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
    from registry.services.storage_gc import stale_writes_gc_run, storage_gc_run, upload_gc_run, xet_gc_run
    from registry.services.uploads import lfs_uploads_requeue
    from registry.services.xet_hub import xet_pending_requeue

    report = storage_gc_run()
    uploads = upload_gc_run()  # LFS uploads never finished (or finished long ago) and what they staged
    xet = xet_gc_run()  # unreferenced xorbs and shards, and XET_XORB_RETENTION_DAYS
    requeued = xet_pending_requeue()  # Xet uploads whose materialisation was lost (broker outage, dead worker)
    checks = lfs_uploads_requeue()  # LFS uploads whose check was lost
    aborted = stale_writes_gc_run()  # multipart uploads and temporary files of writes nobody will finish
    return {"deleted": len(report.deleted), "freed_bytes": report.freed_bytes, "failed": len(report.failed),
            "uploads_dropped": uploads, "xet": xet.as_dict(), "xet_requeued": len(requeued),
            "uploads_requeued": len(checks), "stale_writes_aborted": aborted}


# --- checkpoint validation ----------------------------------------------------------------------


def _validation_retry_errors() -> tuple[type[Exception], ...]:
    from registry.validation import StreamReadError

    return (StorageError, StreamReadError)


@shared_task(name="registry.validate_commit", bind=True, acks_late=True,
             autoretry_for=_validation_retry_errors(), retry_backoff=True, retry_backoff_max=600,
             retry_jitter=True, max_retries=7, soft_time_limit=4 * 3600, time_limit=4 * 3600 + 300)
@leased("registry.validate_commit")
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
@leased("registry.inference.run_check")
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
@leased("registry.publish_release")
def publish_release(self, release_id: int) -> str:  # noqa: ANN001
    """Tag, sign and publish an approved release. Idempotent; retried on database/storage hiccups."""
    from django.db import DatabaseError

    from registry.services.releases import release_publish

    try:
        return release_publish(release_id=release_id).state
    except DatabaseError as exc:
        raise self.retry(exc=exc) from exc


@shared_task(name="registry.send_release_advisories", acks_late=True)
@leased("registry.send_release_advisories")
def send_release_advisories(release_id: int) -> int:
    from registry.services.releases import release_send_advisories

    return release_send_advisories(release_id=release_id)


@shared_task(name="registry.push_release_mirror", bind=True, acks_late=True, max_retries=5)
@leased("registry.push_release_mirror")
def push_release_mirror(self, mirror_id: int) -> str:  # noqa: ANN001
    """Push a published release to its mirror; transient failures retry with exponential backoff."""
    from registry.services.mirrors import MirrorTransientError, mirror_push

    try:
        return mirror_push(mirror_id=mirror_id, final_attempt=self.request.retries >= self.max_retries).status
    except MirrorTransientError as exc:
        raise self.retry(exc=exc, countdown=30 * 2 ** self.request.retries) from exc


# --- webhooks -------------------------------------------------------------------------------------------------


@leased("registry.deliver_webhook")
def _deliver_webhook(delivery_id: int) -> str:
    from registry.services.webhooks import webhook_deliver

    delivery = webhook_deliver(delivery_id=delivery_id)
    return delivery.status if delivery else "missing"


@shared_task(name="registry.deliver_webhook", bind=True, acks_late=True, max_retries=10, soft_time_limit=60,
             time_limit=90)
def deliver_webhook(self, delivery_id: int) -> str:  # noqa: ANN001
    """POST one webhook delivery; a failed attempt comes back after a backoff (10 s, 30 s, 90 s …) until the service
    gives up on it. The job's row waits as long, so the sweep resends it only if the retry message is lost."""
    from registry.services.jobs import job_postpone
    from registry.services.webhooks import RETRY_GRACE_SECONDS, WebhookRetry, retry_countdown

    try:
        return _deliver_webhook(delivery_id)
    except WebhookRetry as exc:
        countdown = retry_countdown(exc.attempts)
        job_postpone(task="registry.deliver_webhook", key=delivery_id, seconds=countdown + RETRY_GRACE_SECONDS)
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(name="registry.prune_webhook_deliveries", acks_late=True, soft_time_limit=300, time_limit=360)
def prune_webhook_deliveries() -> int:
    """Hourly: the delivery log keeps 30 days, dispatched hub events a week."""
    from registry.services.events import hub_events_prune
    from registry.services.webhooks import webhook_deliveries_prune

    return webhook_deliveries_prune() + hub_events_prune()


# --- reliable dispatch --------------------------------------------------------------------------------------


@shared_task(name="registry.sweep_jobs", acks_late=True, soft_time_limit=120, time_limit=150)
def sweep_jobs() -> dict:
    """Every 30 s (CELERY_BEAT_SCHEDULE) and when a worker starts: send again what a lost message or a dead worker
    left behind."""
    return jobs_sweep().as_dict()


@worker_ready.connect
def _sweep_when_a_worker_starts(sender: Any = None, **_: Any) -> None:
    """A worker that starts holds nothing: its name's old leases are released at once (a restarted worker, or the
    whole embedded hub started again), and every due job is sent."""
    import logging

    hostname = str(getattr(sender, "hostname", "") or "")
    try:
        report = jobs_sweep(restarted_worker=hostname or None)
    except Exception:  # noqa: BLE001 - the periodic sweep will do it; the worker must start either way
        logging.getLogger(__name__).warning("job sweep at worker start failed", exc_info=True)
    else:
        logging.getLogger(__name__).info("job sweep at the start of %s: %s", hostname, report.as_dict())


# --- community ----------------------------------------------------------------------------------------------


@shared_task(name="registry.notify_discussion", acks_late=True)
@leased("registry.notify_discussion")
def notify_discussion(event_id: int) -> int:
    """E-mail a new thread or comment to the repo's followers and the thread's participants. A late copy of a job
    that is done sends nothing (the job runner would run it again unguarded; mail is not idempotent)."""
    from registry.models import Job
    from registry.services.discussion_mail import NOTIFY_TASK, notify
    from registry.services.jobs import lease_held

    if not lease_held(NOTIFY_TASK, event_id) and Job.objects.filter(
            task=NOTIFY_TASK, key=event_id, state=Job.State.DONE).exists():
        return 0
    return notify(event_id=event_id)


@shared_task(name="registry.dispatch_hub_event", acks_late=True, soft_time_limit=120, time_limit=150)
@leased("registry.dispatch_hub_event")
def dispatch_hub_event(event_id: int) -> bool:
    """Hand a hub event to its listeners (webhook deliveries, notification mail) when the process that made it could
    not (registry.services.events)."""
    from registry.services.events import event_dispatch

    return event_dispatch(event_id=event_id)


# The tasks behind registry.models.Job rows, by name (registry/services/jobs.py sends them through these).
JOB_TASKS: dict[str, Callable[[], Any]] = {
    "registry.verify_blob": lambda: verify_blob,
    "registry.verify_upload": lambda: verify_upload,
    "registry.materialise_xet_blob": lambda: materialise_xet_blob,
    "registry.validate_commit": lambda: validate_commit,
    "registry.inference.run_check": lambda: inference_run_check,
    "registry.publish_release": lambda: publish_release,
    "registry.send_release_advisories": lambda: send_release_advisories,
    "registry.push_release_mirror": lambda: push_release_mirror,
    "registry.notify_discussion": lambda: notify_discussion,
    "registry.deliver_webhook": lambda: deliver_webhook,
    "registry.dispatch_hub_event": lambda: dispatch_hub_event,
}
