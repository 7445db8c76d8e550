"""Quick inference checks: after a commit's validation passes, a gpu-queue worker loads the model and
generates a few tokens (registry.inference.smoke), recording timings, samples and what went wrong.

Checks are rows, never exceptions to the caller: a worker without torch records `skipped`, a model that
misbehaves (NaN logits, a tokenizer it cannot use) records `failed`, and any other error also ends the
check as `failed` with the error — the worker survives. Nothing stays `pending` or `running` for good: the
beat sweep (inference_checks_requeue_stale) re-sends what a broker outage or a dead worker left behind. Models
too large for the worker's memory are skipped before loading; out of memory and the time limit end `failed`.
Only verified blobs are materialised, hashed again while streamed into the cache, and only file types a
safetensors model needs (no pickles reach the worker's disk).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import shutil
import socket
import tempfile
import time
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from registry import hooks, permissions
from registry.exceptions import NotAuthenticated, PermissionDenied, RepoNotFound
from registry.models import (
    ApiKey,
    Blob,
    Commit,
    CommitFile,
    InferenceCheck,
    InferenceStatus,
    ModelRepo,
    ValidationRun,
    ValidationStatus,
)
from registry.services.audit import audit_record
from registry.services.jobs import job_dispatch, job_enqueue, lease_held
from registry.storage import get_store

logger = logging.getLogger(__name__)

# What a safetensors causal LM needs: weights, configs, tokenizer files, chat templates. Nothing else is copied.
MATERIALISED_SUFFIXES = (".safetensors", ".json", ".txt", ".model", ".tiktoken", ".jinja")
HARD_LIMIT_GRACE_SECONDS = 120  # the task's hard time limit is the soft one (the setting) plus this
WORKER_LOST = "worker lost"


def time_limit_seconds() -> int:
    """The soft time limit of one check (INFERENCE_TIME_LIMIT_SECONDS)."""
    return int(getattr(settings, "INFERENCE_TIME_LIMIT_SECONDS", 1800))


def lost_after() -> timedelta:
    """A `running` check whose worker said nothing for longer than the task's hard limit lost that worker:
    a live one would have been stopped by Celery by then."""
    return timedelta(seconds=time_limit_seconds() + HARD_LIMIT_GRACE_SECONDS)


def stale_after() -> timedelta:
    """A `pending` check no worker took for this long is sent again (the broker was down, the message lost)."""
    return timedelta(minutes=getattr(settings, "INFERENCE_STALE_MINUTES", 15))


def max_attempts() -> int:
    return int(getattr(settings, "INFERENCE_MAX_ATTEMPTS", 3))


class Unrunnable(Exception):
    """The commit cannot be checked (nothing loadable, unverified bytes): the check is skipped."""


class CorruptObject(Exception):
    """Stored bytes do not hash to their name: the check fails (the validator will reject the blob)."""


def commit_is_checkable(*, commit: Commit) -> bool:
    """The commit's tree has a config.json and safetensors weights at its root level or below."""
    files = CommitFile.objects.filter(commit=commit)
    return (files.filter(path="config.json").exists()
            and files.filter(path__endswith=".safetensors").exists())


def inference_check_request(*, commit: Commit) -> InferenceCheck:
    """A pending check of the commit (an already pending one is reused), queued once the transaction commits."""
    with transaction.atomic():
        check = (InferenceCheck.objects.select_for_update()
                 .filter(commit=commit, status=InferenceStatus.PENDING).first())
        if check is None:
            check = InferenceCheck.objects.create(repo_id=commit.repo_id, commit=commit)
        _queue_on_commit(check.pk)
    return check


def _queue_on_commit(check_id: int) -> None:
    job_enqueue(task="registry.inference.run_check", key=check_id, send=lambda key: _queue(key))


def _queue(check_id: int) -> None:
    """Send the task (routed to the gpu queue by its name). A broker outage must not fail the caller: the job
    sweep sends it again."""
    job_dispatch(task="registry.inference.run_check", key=check_id)


@hooks.on_validation_finished
def _check_validated_commit(run_id: int, status: str) -> None:
    """A commit whose validation passed (or only warned) and holds a loadable model gets a check."""
    if status not in (ValidationStatus.PASSED, ValidationStatus.WARNING):
        return
    run = ValidationRun.objects.select_related("commit").filter(pk=run_id).first()
    if run is not None and commit_is_checkable(commit=run.commit):
        inference_check_request(commit=run.commit)


def inference_check_rerun(*, actor: Any, repo: ModelRepo, commit: Commit, api_key: ApiKey | None = None,
                          ip: str | None = None) -> InferenceCheck:
    """Check the commit again (a new row; the history stays). Needs write access, like validation re-runs."""
    if not permissions.can_write_repo(actor, repo, api_key):
        if not permissions.can_read_repo(actor, repo):
            raise RepoNotFound(gettext("Repository not found"))
        if not getattr(actor, "is_authenticated", False):
            raise NotAuthenticated(gettext(
                "Sign in or send an API key with the write scope to re-run inference checks"))
        raise PermissionDenied(gettext("You need write access to this repository to re-run inference checks"))
    if commit.repo_id != repo.pk:
        raise RepoNotFound(gettext("Repository not found"))
    with transaction.atomic():
        check = inference_check_request(commit=commit)
        audit_record(actor=actor, action="inference.rerun", target=repo, ip=ip,
                     metadata={"commit": commit.oid, "check": check.pk})
    return check


# --- executing ------------------------------------------------------------------------------------


def _lost(now: Any) -> Q:
    """Running, and silent for longer than the hard time limit (heartbeat, or start for older rows)."""
    cutoff = now - lost_after()
    return Q(status=InferenceStatus.RUNNING) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
        | Q(heartbeat_at__isnull=True, started_at__isnull=True))


def _give_up(check: InferenceCheck, now: Any) -> None:
    check.status = InferenceStatus.FAILED
    check.reason = (f"{WORKER_LOST}: {check.attempts} attempt(s) started and none finished (the worker died "
                    f"or stopped answering, e.g. killed for memory or past the hard time limit)")
    check.finished_at = now
    check.save(update_fields=["status", "reason", "finished_at"])


def _claim(check_id: int) -> InferenceCheck | None:
    """Mark the check running (one more attempt); None when it is finished or another worker is on it.

    A redelivered message of a check whose worker was lost takes it over; past INFERENCE_MAX_ATTEMPTS the
    check ends `failed` with the "worker lost" reason instead of being tried again.
    """
    now = timezone.now()
    takeable = Q(status=InferenceStatus.PENDING) | _lost(now)
    if lease_held("registry.inference.run_check", check_id):  # its last worker died: the job lease says so
        takeable |= Q(status=InferenceStatus.RUNNING)
    with transaction.atomic():
        check = InferenceCheck.objects.select_for_update().filter(takeable, pk=check_id).first()
        if check is None:
            return None
        if check.attempts >= max_attempts():
            _give_up(check, now)
            return None
        check.status = InferenceStatus.RUNNING
        check.attempts += 1
        check.started_at = now
        check.heartbeat_at = now
        check.worker_host = socket.gethostname()[:255]
        check.save(update_fields=["status", "attempts", "started_at", "heartbeat_at", "worker_host"])
    return check


def _heartbeat(check: InferenceCheck) -> None:
    InferenceCheck.objects.filter(pk=check.pk, status=InferenceStatus.RUNNING).update(heartbeat_at=timezone.now())


def inference_checks_requeue_stale(*, now: Any = None, limit: int = 1000) -> list[int]:
    """The beat sweep: send again pending checks nobody took, re-queue running ones whose worker was lost,
    and end as `failed` ("worker lost") those that already used INFERENCE_MAX_ATTEMPTS. Returns the ids sent.

    Heartbeats move to now, so a check still waiting in a long queue is not re-sent on every sweep.
    """
    now = now or timezone.now()
    cutoff = now - stale_after()
    waiting = Q(status=InferenceStatus.PENDING) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
    requeued: list[int] = []
    with transaction.atomic():
        stale = list(InferenceCheck.objects.select_for_update().filter(waiting | _lost(now))
                     .order_by("created_at").only("pk", "status", "attempts")[:limit])
        given_up = [c for c in stale if c.status == InferenceStatus.RUNNING and c.attempts >= max_attempts()]
        for check in given_up:
            _give_up(check, now)
        requeued = [c.pk for c in stale if c not in given_up]
        if requeued:
            InferenceCheck.objects.filter(pk__in=requeued).update(status=InferenceStatus.PENDING, heartbeat_at=now)
        for check_id in requeued:
            _queue_on_commit(check_id)
    if stale:
        logger.info("inference sweep: re-queued %d checks, %d lost their worker for good", len(requeued),
                    len(given_up))
    return requeued


def _finish(check: InferenceCheck, *, status: str, reason: str = "", result: dict[str, Any] | None = None,
            started: float) -> None:
    result = result or {}
    check.status = status
    check.reason = reason[:4000]
    check.metrics = result.get("metrics") or {}
    check.samples = result.get("samples") or {}
    check.device = str(result.get("device") or "")[:64]
    check.library_versions = result.get("library_versions") or {}
    check.duration_seconds = round(time.monotonic() - started, 4)
    check.finished_at = timezone.now()
    check.save(update_fields=["status", "reason", "metrics", "samples", "device", "library_versions",
                              "duration_seconds", "finished_at"])


def inference_check_execute(*, check_id: int) -> InferenceCheck | None:
    """Run one check: materialise the commit's files, smoke-test them, store the result. Idempotent."""
    from registry.inference.smoke import RuntimeUnavailable, run_smoke

    check = _claim(check_id)
    if check is None:
        return InferenceCheck.objects.filter(pk=check_id).first()
    started = time.monotonic()
    snapshot: Path | None = None
    try:
        if not commit_is_checkable(commit=check.commit):
            raise Unrunnable("the commit has no config.json and *.safetensors weights to load")
        snapshot = materialise_commit(commit=check.commit)
        _heartbeat(check)
        result = run_smoke(snapshot, max_model_bytes=int(getattr(settings, "INFERENCE_MAX_MODEL_BYTES", 0)),
                           passthrough=(SoftTimeLimitExceeded,))
        _finish(check, status=result["status"], reason=result.get("reason", ""), result=result, started=started)
    except RuntimeUnavailable as exc:
        _finish(check, status=InferenceStatus.SKIPPED, reason=str(exc), started=started)
    except Unrunnable as exc:
        _finish(check, status=InferenceStatus.SKIPPED, reason=str(exc), started=started)
    except CorruptObject as exc:
        _finish(check, status=InferenceStatus.FAILED, reason=str(exc), started=started)
    except SoftTimeLimitExceeded:
        _finish(check, status=InferenceStatus.FAILED,
                reason=f"the inference check exceeded its time limit ({time_limit_seconds()} s)", started=started)
    except MemoryError as exc:  # materialising or anything else outside the smoke suite's own handling
        _finish(check, status=InferenceStatus.FAILED, reason=f"out of memory: {exc}", started=started)
    except Exception as exc:  # no model may crash the worker: record the failure instead
        logger.exception("inference check %s failed", check_id)
        _finish(check, status=InferenceStatus.FAILED, reason=f"internal error: {type(exc).__name__}: {exc}",
                started=started)
    finally:
        if snapshot is not None:
            shutil.rmtree(snapshot, ignore_errors=True)
    check.refresh_from_db()
    return check


# --- materialising a commit -----------------------------------------------------------------------


def cache_dir() -> Path:
    return Path(getattr(settings, "INFERENCE_CACHE_DIR", Path(settings.VAR_DIR) / "inference-cache"))


def _object_path(sha256: str) -> Path:
    return cache_dir() / "objects" / sha256[:2] / sha256


def _safe_relative(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if rel.is_absolute() or any(part in ("", ".", "..") for part in rel.parts):
        raise Unrunnable(f"refusing to materialise the path {path!r}")
    return rel


def _store_object(sha256: str, chunks: Any) -> Path:
    """Write the content under its sha256 (hashed while streamed, compared in constant time); cached after."""
    target = _object_path(sha256)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
        if not hmac.compare_digest(digest.hexdigest(), sha256):
            raise CorruptObject(f"the stored bytes of {sha256} hash to {digest.hexdigest()}")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def materialise_commit(*, commit: Commit) -> Path:
    """A folder holding the commit's loadable files (symlinks into the sha256-keyed object cache)."""
    entries = list(CommitFile.objects.filter(commit=commit).select_related("blob").defer("content")
                   .order_by("path"))
    wanted = [e for e in entries if e.path.lower().endswith(MATERIALISED_SUFFIXES)]
    snapshots = cache_dir() / "snapshots"
    snapshots.mkdir(parents=True, exist_ok=True)
    snapshot = Path(tempfile.mkdtemp(dir=snapshots, prefix=f"{commit.oid[:12]}-"))
    try:
        for entry in wanted:
            rel = _safe_relative(entry.path)
            if entry.blob_id is not None:
                blob = entry.blob
                if blob.state != Blob.State.VERIFIED:
                    raise Unrunnable(f"{entry.path}: its bytes are not verified ({blob.state})")
                source = _store_object(blob.sha256, get_store().iter_bytes(blob.storage_key))
            else:
                content = bytes(CommitFile.objects.filter(pk=entry.pk).values_list("content", flat=True)
                                .first() or b"")
                source = _store_object(hashlib.sha256(content).hexdigest(), [content])
            link = snapshot / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(source)
    except BaseException:
        shutil.rmtree(snapshot, ignore_errors=True)
        raise
    return snapshot
