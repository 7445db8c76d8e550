"""Celery tasks: thin wrappers that take ids and call one service. Idempotent, so acks_late is safe."""

from __future__ import annotations

from celery import shared_task

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
