"""Checkpoint validation: one run per commit, one streaming pass per new content, verdicts shared by sha256.

A commit's run checks only the paths the commit added or changed (by git oid against the parent's tree),
then runs repo-level checks on the full tree. Content already judged (in any repo, any commit) is not read
again: its `ContentVerdict` is reused. Runs are resumable and idempotent — a retried or re-queued run skips
the files it already finished — so the task can be `acks_late`; a run whose worker died is found by its
stale heartbeat and queued again (`validation_runs_requeue_stale`).

Failure semantics: bytes that don't hash to their name reject the blob (deleted, never served); content
that fails a check gets a failed verdict, which quarantines it for /resolve. Storage and stream errors are
retried; nothing else escapes — any other error ends the run as failed with the error recorded.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext

from registry import hooks, permissions
from registry.exceptions import Conflict, NotAuthenticated, PermissionDenied, RepoNotFound
from registry.models import (
    VALIDATION_FINISHED,
    ApiKey,
    Blob,
    Branch,
    Commit,
    CommitFile,
    ContentVerdict,
    FileCheck,
    ModelRepo,
    ValidationRun,
    ValidationStatus,
)
from registry.selectors.blobs import file_granted, granted_annotation, uploading_annotation
from registry.selectors.tensors import tensor_tables
from registry.services.audit import audit_record
from registry.services.blobs import blob_reject
from registry.services.jobs import job_dispatch, job_enqueue, lease_held
from registry.services.tensors import content_tensors_store
from registry.storage import ObjectMissing, StorageError, get_store
from registry.validation import StreamReadError, detect_format, validate_stream
from registry.validation.types import FAILED, worst
from registry.validation_repo import INDEX_SUFFIX, TreeFile, check_repo, parameter_counts

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
PROGRESS_EVERY = 8 * 1024 * 1024  # bytes between progress saves (and heartbeats) while streaming
REPO_FILE_MAX_READ = 16 * 1024 * 1024  # config.json / index files read for repo checks
IN_CHUNK = 500  # ids per IN (…) clause: SQLite's variable limit
INTERRUPTED = "validator error: SoftTimeLimitExceeded"
AWAITING_VERDICTS = "waiting for another run to check "
UNFINISHED = (ValidationStatus.PENDING, ValidationStatus.RUNNING)  # FileCheck index filecheck_unfinished_sha256


def stale_after() -> timedelta:
    return timedelta(minutes=getattr(settings, "VALIDATION_STALE_MINUTES", 15))


def _chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start: start + size]


def format_hint(path: str) -> str:
    """What the name alone says of the format: the part of a verdict that depends on the path."""
    return detect_format(b"", path)


def _failure_reason(checks: Iterable[dict[str, Any]]) -> str:
    return "; ".join(f"{c['name']}: {c['message']}" for c in checks if c.get("status") == FAILED)[:2000]


# --- creating runs --------------------------------------------------------------------------------


def _changed_files(commit: Commit) -> list[tuple[str, str, int]]:
    """(path, sha256, size) of the paths the commit added or changed relative to its parent."""
    before = dict(CommitFile.objects.filter(commit_id=commit.parent_id).values_list("path", "git_oid")) \
        if commit.parent_id else {}
    changed: list[tuple[str, str, int]] = []
    inline: list[str] = []
    for path, git_oid, size, sha256 in (CommitFile.objects.filter(commit=commit)
                                        .values_list("path", "git_oid", "size", "blob__sha256")):
        if before.get(path) == git_oid:
            continue
        if sha256 is None:
            inline.append(path)
        else:
            changed.append((path, sha256, size))
    for paths in _chunks(inline):
        for path, content, size in (CommitFile.objects.filter(commit=commit, path__in=paths)
                                    .values_list("path", "content", "size")):
            changed.append((path, hashlib.sha256(bytes(content or b"")).hexdigest(), size))
    return sorted(changed)


def validation_run_create(*, commit: Commit, queue: bool = True) -> ValidationRun:
    """The commit's run (created once, with a FileCheck per added or changed path), queued unless finished."""
    run = ValidationRun.objects.filter(commit=commit).first()
    if run is None:
        files = _changed_files(commit)
        try:
            with transaction.atomic():
                run = ValidationRun.objects.create(repo_id=commit.repo_id, commit=commit,
                                                   bytes_total=sum(size for _p, _s, size in files))
                FileCheck.objects.bulk_create(
                    FileCheck(run=run, path=path, sha256=sha256, size=size) for path, sha256, size in files
                )
        except IntegrityError:  # created concurrently (the hook and a re-run, say)
            run = ValidationRun.objects.get(commit=commit)
    if queue and not run.is_finished:
        _queue_on_commit(run.pk)
    return run


def _queue_on_commit(run_id: int) -> None:
    job_enqueue(task="registry.validate_commit", key=run_id, send=lambda key: _queue(key))


def _queue(run_id: int) -> None:
    """Send the task. A broker outage must not fail the request that committed: the job sweep sends it again."""
    job_dispatch(task="registry.validate_commit", key=run_id)


@hooks.on_commit_created
def _validate_new_commit(commit_id: int) -> None:
    """Every new commit gets a run, once its transaction has committed."""
    commit = Commit.objects.filter(pk=commit_id).first()
    if commit is not None:
        validation_run_create(commit=commit)


# --- executing runs -------------------------------------------------------------------------------


def _claim(run_id: int) -> ValidationRun | None:
    """Mark the run running (one more attempt); None when there is nothing to do or another worker has it."""
    now = timezone.now()
    with transaction.atomic():
        run = ValidationRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.is_finished:
            return None
        if _busy(run, now):
            return None
        if run.attempts >= MAX_ATTEMPTS:
            last = run.error or "no error recorded"
            _finalize_failed(run, f"gave up after {run.attempts} attempts: {last}")
            return None
        done = run.files.filter(status__in=VALIDATION_FINISHED).values_list("size", flat=True)
        run.status = ValidationStatus.RUNNING
        run.attempts += 1
        run.started_at = run.started_at or now
        run.heartbeat_at = now
        run.bytes_checked = sum(done)
        run.save(update_fields=["status", "attempts", "started_at", "heartbeat_at", "bytes_checked"])
    return run


def _busy(run: ValidationRun, now: Any) -> bool:
    """Another worker is on it: running, with a heartbeat younger than the stale limit — unless this worker holds
    the run's job lease (registry/services/jobs.py), which a live worker never lets go."""
    if lease_held("registry.validate_commit", run.pk):
        return False
    return bool(run.status == ValidationStatus.RUNNING and run.heartbeat_at
                and now - run.heartbeat_at < stale_after())


def _finalize_failed(run: ValidationRun, error: str) -> None:
    now = timezone.now()
    run.files.exclude(status__in=VALIDATION_FINISHED).update(
        status=ValidationStatus.FAILED,
        checks=[{"name": "validation", "status": FAILED, "message": error[:1000]}],
    )
    run.status = ValidationStatus.FAILED
    run.error = error[:4000]
    run.finished_at = now
    run.heartbeat_at = now
    run.save(update_fields=["status", "error", "finished_at", "heartbeat_at"])
    audit_record(actor=None, action="validation.finish", target=run.repo,
                 metadata={"commit": run.commit.oid, "status": run.status, "error": error[:500]})
    _resume_waiting(run.repo_id)


def _release(run: ValidationRun, error: str) -> None:
    """Hand the run back (pending) before a retry, so the retried task may claim it at once."""
    ValidationRun.objects.filter(pk=run.pk, status=ValidationStatus.RUNNING).update(
        status=ValidationStatus.PENDING, error=error[:4000], heartbeat_at=timezone.now())


class AwaitingBytes(Exception):
    """A file's whole-file object is still being written (Xet materialisation): not an attempt, not a failure."""


class AwaitingVerdicts(AwaitingBytes):
    """Files the commit carries over are being checked by another run (an earlier commit's, still streaming): the
    tree checks wait for their verdicts rather than judge an index without its shards. The other run queues this
    one again when it finishes (`_resume_waiting`)."""

    def __init__(self, message: str, shas: list[str]) -> None:
        super().__init__(message)
        self.shas = shas


def _being_checked(shas: Sequence[str], run_id: int) -> list[str]:
    """The paths, in other unfinished runs, of these contents' FileChecks that have no verdict yet."""
    busy: list[str] = []
    for part in _chunks(list(dict.fromkeys(shas))):
        busy += list(FileCheck.objects.filter(sha256__in=part, status__in=UNFINISHED).exclude(run_id=run_id)
                     .values_list("path", flat=True)[:5])
    return busy


def _resume_waiting(repo_id: int) -> None:
    """Queue again the repo's runs handed back to wait for verdicts (after this transaction commits). Runs of other
    repos waiting on the same content are picked up by the stale sweep."""
    for run_id in ValidationRun.objects.filter(repo_id=repo_id, status=ValidationStatus.PENDING,
                                               error__startswith=AWAITING_VERDICTS).values_list("pk", flat=True):
        _queue_on_commit(run_id)


def _wait(run: ValidationRun, reason: str) -> None:
    """Hand the run back (pending) without counting the attempt; files finished so far stay finished."""
    ValidationRun.objects.filter(pk=run.pk, status=ValidationStatus.RUNNING).update(
        status=ValidationStatus.PENDING, attempts=max(run.attempts - 1, 0), error=reason[:4000],
        heartbeat_at=timezone.now())


def validation_runs_resume_for_blob(*, sha256: str) -> list[int]:
    """Queue again (after the transaction commits) the unfinished runs that wait for the blob `sha256`."""
    waiting = FileCheck.objects.filter(sha256=sha256).exclude(status__in=VALIDATION_FINISHED).values("run_id")
    ids = list(ValidationRun.objects.exclude(status__in=VALIDATION_FINISHED).filter(pk__in=waiting)
               .values_list("pk", flat=True))
    for run_id in ids:
        _queue_on_commit(run_id)
    return ids


def validation_run_execute(*, run_id: int) -> ValidationRun | None:
    """Check the run's pending files, then its tree. Idempotent; StorageError/StreamReadError mean retry."""
    run = _claim(run_id)
    if run is None:
        return ValidationRun.objects.filter(pk=run_id).first()
    try:
        _check_files(run)
        _finish(run)
    except AwaitingVerdicts as exc:
        _wait(run, str(exc))
        if not _being_checked(exc.shas, run.pk):  # they finished while we handed the run back: go on now
            _queue_on_commit(run.pk)
    except AwaitingBytes as exc:
        _wait(run, str(exc))
    except SoftTimeLimitExceeded:
        with transaction.atomic():
            _finalize_failed(run, "validation exceeded its time limit")
    except (StorageError, StreamReadError) as exc:
        _release(run, f"{type(exc).__name__}: {exc}")
        raise
    except Exception as exc:  # no input may crash the worker: record the failure instead
        logger.exception("validation run %s failed", run_id)
        with transaction.atomic():
            _finalize_failed(run, f"internal error: {type(exc).__name__}: {exc}")
    run.refresh_from_db()
    return run


class _Progress:
    """Counts bytes as the validator pulls them; saves progress and a heartbeat every PROGRESS_EVERY bytes."""

    def __init__(self, run: ValidationRun, base: int, chunks: Iterable[bytes]) -> None:
        self.run_id = run.pk
        self.base = base
        self.chunks = chunks
        self.seen = 0
        self.saved = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.seen += len(chunk)
            if self.seen - self.saved >= PROGRESS_EVERY:
                self.saved = self.seen
                ValidationRun.objects.filter(pk=self.run_id).update(
                    bytes_checked=self.base + self.seen, heartbeat_at=timezone.now())
            yield chunk


def _verdicts_by_sha(shas: Sequence[str]) -> dict[str, ContentVerdict]:
    found: dict[str, ContentVerdict] = {}
    for part in _chunks(list(dict.fromkeys(shas))):
        found.update({v.sha256: v for v in ContentVerdict.objects.filter(sha256__in=part)})
    return found


def _gives_counts(path: str) -> bool:
    return path.endswith((".safetensors", INDEX_SUFFIX))


def _check_files(run: ValidationRun) -> None:
    pending = list(run.files.exclude(status__in=VALIDATION_FINISHED).order_by("path"))
    if not pending:
        return
    entries = {f.path: f for f in CommitFile.objects.filter(commit_id=run.commit_id)
               .select_related("blob").defer("content")
               .annotate(blob_granted=granted_annotation(run.repo_id),
                         blob_uploading=uploading_annotation(run.repo_id))}
    verdicts = _verdicts_by_sha([fc.sha256 for fc in pending])
    progress = run.bytes_checked
    # Safetensors files and indexes first: their headers give the parameter counts, shown before the rest is read.
    pending.sort(key=lambda fc: (not _gives_counts(fc.path), fc.path))
    counted = not _gives_counts(pending[0].path)
    for fc in pending:
        if not counted and not _gives_counts(fc.path):
            counted = True
            _count_early(run, entries)
        entry = entries.get(fc.path)
        _check_one(run, fc, entry, verdicts.get(fc.sha256), progress)
        progress += fc.size


def _save_file(run: ValidationRun, fc: FileCheck, *, status: str, checks: list[dict[str, Any]],
               summary: dict[str, Any], progress: int) -> None:
    fc.status, fc.checks, fc.summary = status, checks, summary
    with transaction.atomic():
        fc.save(update_fields=["status", "checks", "summary"])
        ValidationRun.objects.filter(pk=run.pk).update(bytes_checked=progress, heartbeat_at=timezone.now())


def _failed_check(name: str, message: str) -> list[dict[str, Any]]:
    return [{"name": name, "status": FAILED, "message": message}]


def _check_one(run: ValidationRun, fc: FileCheck, entry: CommitFile | None, verdict: ContentVerdict | None,
               base: int) -> None:
    done = base + fc.size
    if entry is None:  # commits are immutable: only a bug gets here
        _save_file(run, fc, status=FAILED, checks=_failed_check("validation", "not in the commit's tree"),
                   summary={}, progress=done)
        return
    blob = entry.blob
    if blob is not None and not file_granted(repo=run.repo, commit_file=entry):
        # The repo does not hold these bytes (selectors.blobs): nothing is read, and no verdict of the same content
        # made for another repo is shown here.
        if entry.blob_uploading:  # its upload into this repo is being hashed; lfs_upload_check resumes the run
            raise AwaitingBytes(f"{fc.path}: waiting for its upload into this repository to be verified")
        _save_file(run, fc, status=FAILED, progress=done, summary={}, checks=_failed_check(
            "integrity", "the upload of this file into this repository failed verification; upload it again"))
        return
    if blob is not None and blob.state == Blob.State.REJECTED:
        message = f"the stored object was rejected: {blob.rejected_reason}"
        _save_file(run, fc, status=FAILED, progress=done, summary={},
                   checks=_failed_check("integrity", message))
        return
    hint = format_hint(fc.path)
    if verdict is not None and not verdict.stale and verdict.format_hint == hint:
        if blob is None and not verdict.git_oid:
            ContentVerdict.objects.filter(pk=verdict.pk).update(git_oid=entry.git_oid)
        _save_file(run, fc, status=verdict.status, checks=verdict.checks,
                   summary={**verdict.summary, "reused": True}, progress=done)
        return

    if blob is not None and blob.state == Blob.State.PENDING and (blob.xet_hash or blob.uploaded_at is None):
        # Uploaded over Xet: the whole-file object is written by the materialisation worker
        # (services/xet_hub.py), which queues this run again once the blob is verified or rejected. Or nothing
        # is at the blob's key yet (an LFS upload is hashed at its staging key; services/uploads.py resumes us).
        raise AwaitingBytes(f"{fc.path}: waiting for the file uploaded over Xet to be materialised" if blob.xet_hash
                            else f"{fc.path}: waiting for its uploaded bytes to be verified")
    if blob is not None:
        try:
            chunks: Iterable[bytes] = get_store().iter_bytes(blob.storage_key)
        except ObjectMissing as exc:
            _object_missing(run, fc, exc, done)
            return
    else:
        content = CommitFile.objects.filter(pk=entry.pk).values_list("content", flat=True).first()
        chunks = [bytes(content or b"")]
    try:
        report = validate_stream(_Progress(run, base, chunks), path=fc.path, expected_sha256=fc.sha256,
                                 expected_size=fc.size, max_size=settings.MAX_FILE_SIZE)
    except StreamReadError as exc:
        if isinstance(exc.__cause__, SoftTimeLimitExceeded):
            raise exc.__cause__ from None
        if isinstance(exc.__cause__, ObjectMissing):
            _object_missing(run, fc, exc.__cause__, done)
            return
        raise
    result = report.as_dict()
    if any(c["message"].startswith(INTERRUPTED) for c in result["checks"]):
        raise SoftTimeLimitExceeded()
    integrity_failed = any(c["name"] == "integrity" and c["status"] == FAILED for c in result["checks"])
    if integrity_failed or report.sha256 is None:
        # The bytes are not the content named (or were refused unread): judge the file, not the content.
        if integrity_failed and blob is not None:
            blob_reject(blob=blob, reason=_failure_reason(result["checks"]))
        _save_file(run, fc, status=FAILED, checks=result["checks"], summary=result["summary"], progress=done)
        return
    _store_verdict(fc, entry, hint, result, existing=verdict)
    if report.tensors:
        content_tensors_store(sha256=fc.sha256, tensors=report.tensors)
    if blob is not None and blob.state == Blob.State.PENDING:
        now = timezone.now()
        Blob.objects.filter(pk=blob.pk, state=Blob.State.PENDING).update(
            state=Blob.State.VERIFIED, verified_at=now, uploaded_at=Coalesce("uploaded_at", now))
    _save_file(run, fc, status=result["status"], checks=result["checks"], summary=result["summary"],
               progress=done)


def _object_missing(run: ValidationRun, fc: FileCheck, exc: Exception, done: int) -> None:
    """A committed object absent from the store: retried (stores can lag), then failed for good."""
    if run.attempts < MAX_ATTEMPTS:
        raise StorageError(f"{fc.path}: {exc}") from exc
    _save_file(run, fc, status=FAILED, progress=done, summary={},
               checks=_failed_check("integrity", f"the object is missing from the store: {exc}"))


def _store_verdict(fc: FileCheck, entry: CommitFile, hint: str, result: dict[str, Any],
                   existing: ContentVerdict | None) -> None:
    fields = {
        "size": fc.size, "format_hint": hint, "status": result["status"], "checks": result["checks"],
        "summary": result["summary"], "reason": _failure_reason(result["checks"]), "stale": False,
        "created_at": timezone.now(),
    }
    if entry.blob_id is None:
        fields["git_oid"] = entry.git_oid
    if existing is None:
        try:
            with transaction.atomic():
                ContentVerdict.objects.create(sha256=fc.sha256, **fields)
        except IntegrityError:  # judged concurrently by another run: the first verdict stands
            pass
    elif existing.stale:
        ContentVerdict.objects.filter(pk=existing.pk).update(**fields)
    # else: a verdict made under another name hint stands; this file's own result is in its FileCheck.


# --- repo-level checks and the verdict ------------------------------------------------------------


def _read_small(entry: CommitFile) -> bytes | None:
    if entry.size > REPO_FILE_MAX_READ:
        return None
    if entry.blob_id is None:
        content = CommitFile.objects.filter(pk=entry.pk).values_list("content", flat=True).first()
        return bytes(content or b"")
    if entry.blob.state == Blob.State.REJECTED:
        return None
    try:
        return b"".join(get_store().iter_bytes(entry.blob.storage_key))
    except ObjectMissing:
        return None


def _tree(entries: dict[str, CommitFile], own: dict[str, FileCheck]
          ) -> tuple[list[TreeFile], dict[str, str], list[str], list[str]]:
    """The commit's tree as the repo checks see it: (files with their verdicts, path -> content sha256, carried-over
    paths that failed, sha256s of carried-over blobs with no verdict yet)."""
    blob_shas = [e.blob.sha256 for p, e in entries.items() if p not in own and e.blob_id]
    inline_oids = [e.git_oid for p, e in entries.items() if p not in own and not e.blob_id]
    by_sha = _verdicts_by_sha(blob_shas)
    by_oid: dict[str, ContentVerdict] = {}
    for part in _chunks(list(dict.fromkeys(inline_oids))):
        by_oid.update({v.git_oid: v for v in ContentVerdict.objects.filter(git_oid__in=part)})
    unjudged = [e.blob.sha256 for p, e in entries.items()
                if p not in own and e.blob_id and e.blob.sha256 not in by_sha and e.blob.state != Blob.State.REJECTED]

    tree: list[TreeFile] = []
    sha_by_path: dict[str, str] = {}
    inherited_failures: list[str] = []
    for path, entry in sorted(entries.items()):
        if path in own:
            tree.append(TreeFile(path, entry.size, own[path].status, own[path].summary))
            sha_by_path[path] = own[path].sha256
            continue
        verdict = by_sha.get(entry.blob.sha256) if entry.blob_id else by_oid.get(entry.git_oid)
        rejected = entry.blob_id is not None and entry.blob.state == Blob.State.REJECTED
        if rejected or (verdict is not None and verdict.status == FAILED):
            inherited_failures.append(path)
        tree.append(TreeFile(path, entry.size, verdict.status if verdict else None,
                             verdict.summary if verdict else None))
        if entry.blob_id or verdict is not None:
            sha_by_path[path] = entry.blob.sha256 if entry.blob_id else verdict.sha256  # type: ignore[union-attr]
    return tree, sha_by_path, inherited_failures, unjudged


def _store_counts(run: ValidationRun, parameters: int | None, dtypes: dict[str, int]) -> None:
    """The commit's parameter counts on its run, and on the repo when the commit is main's head."""
    ValidationRun.objects.filter(pk=run.pk).update(parameter_count=parameters,
                                                   parameter_dtypes=dtypes if parameters is not None else {})
    on_main = Branch.objects.filter(repo_id=run.repo_id, name="main", head_id=run.commit_id).exists()
    if parameters and on_main:
        ModelRepo.objects.filter(pk=run.repo_id).update(parameter_count=parameters, parameter_dtypes=dtypes)


def _count_early(run: ValidationRun, entries: dict[str, CommitFile]) -> None:
    """Once the commit's safetensors headers are read, and before its slower files (pickles, GGUF, other large
    files) are: its parameter counts, so that model_info and the lists show them while the run goes on."""
    own = {fc.path: fc for fc in run.files.all()}
    tree, _shas, _failures, _unjudged = _tree(entries, own)
    counts = parameter_counts(tree, read=lambda path: _read_small(entries[path]) if path in entries else None)
    if counts is not None:
        with transaction.atomic():
            _store_counts(run, *counts)


def _finish(run: ValidationRun) -> None:
    entries = {f.path: f for f in CommitFile.objects.filter(commit_id=run.commit_id)
               .select_related("blob").defer("content")}
    own = {fc.path: fc for fc in run.files.all()}
    tree, sha_by_path, inherited_failures, unjudged = _tree(entries, own)
    busy = _being_checked(unjudged, run.pk) if unjudged else []
    if busy:
        raise AwaitingVerdicts(AWAITING_VERDICTS + ", ".join(busy), unjudged)

    report = check_repo(tree, read=lambda path: _read_small(entries[path]) if path in entries else None,
                        tensors=tensor_tables(sha_by_path))
    summary = report.as_dict()
    if inherited_failures:
        shown = ", ".join(inherited_failures[:5]) + (" …" if len(inherited_failures) > 5 else "")
        message = f"files carried over from earlier commits failed validation: {shown}"
        summary["checks"].append({"name": "unchanged_files", "status": FAILED, "message": message})
    statuses = [fc.status for fc in own.values()] + [c["status"] for c in summary["checks"]]
    status = worst([s if s in (FAILED, "warning", "passed") else FAILED for s in statuses])
    summary["status"] = worst([c["status"] for c in summary["checks"]])
    parameters = report.summary.get("parameter_count")
    dtypes = report.summary.get("parameter_dtypes") or {}
    now = timezone.now()
    with transaction.atomic():
        ValidationRun.objects.filter(pk=run.pk).update(
            status=status, summary=summary, finished_at=now, heartbeat_at=now, bytes_checked=run.bytes_total,
            error="")
        _store_counts(run, parameters, dtypes)
        audit_record(actor=None, action="validation.finish", target=run.repo,
                     metadata={"commit": run.commit.oid, "status": status})
        hooks.validation_finished(run.pk, status)
        _resume_waiting(run.repo_id)


# --- sweeping and re-running ----------------------------------------------------------------------


def validation_runs_requeue_stale(*, now: Any = None, limit: int = 1000) -> list[int]:
    """Queue again the runs a dead worker left `running`, and `pending` ones nobody picked up.

    Their heartbeat is moved to now, so a run still waiting in a long queue is not re-sent every sweep.
    """
    now = now or timezone.now()
    cutoff = now - stale_after()
    stale = (Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
    with transaction.atomic():
        ids = list(ValidationRun.objects.select_for_update()
                   .filter(stale, status__in=[ValidationStatus.PENDING, ValidationStatus.RUNNING])
                   .order_by("created_at").values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        ValidationRun.objects.filter(pk__in=ids).update(
            status=ValidationStatus.PENDING, heartbeat_at=now,
            error="re-queued: no worker reported progress for a while")
        for run_id in ids:
            _queue_on_commit(run_id)
    logger.info("re-queued %d stale validation runs", len(ids))
    return ids


def validation_run_rerun(*, actor: Any, repo: ModelRepo, commit: Commit, api_key: ApiKey | None = None,
                         ip: str | None = None) -> ValidationRun:
    """Check the commit again from scratch: its files' cached verdicts are dropped (marked stale).

    Stale verdicts are not reused, but a failed one still quarantines its content until replaced.
    """
    if not permissions.can_write_repo(actor, repo, api_key):
        if not permissions.can_read_repo(actor, repo):
            raise RepoNotFound(gettext("Repository not found"))
        if not getattr(actor, "is_authenticated", False):
            raise NotAuthenticated(gettext("Sign in or send an API key with the write scope to re-run validation"))
        raise PermissionDenied(gettext("You need write access to this repository to re-run validation"))
    if commit.repo_id != repo.pk:
        raise RepoNotFound(gettext("Repository not found"))
    run = validation_run_create(commit=commit, queue=False)
    with transaction.atomic():
        run = ValidationRun.objects.select_for_update().get(pk=run.pk)
        if _busy(run, timezone.now()):
            raise Conflict(gettext("This commit is being validated right now; re-run it once the run finishes"))
        shas = list(run.files.values_list("sha256", flat=True))
        for part in _chunks(shas):
            ContentVerdict.objects.filter(sha256__in=part).update(stale=True)
        run.files.update(status=ValidationStatus.PENDING, checks=[], summary={})
        run.status = ValidationStatus.PENDING
        run.attempts = 0
        run.error = ""
        run.bytes_checked = 0
        run.summary = {}
        run.started_at = run.finished_at = run.heartbeat_at = None
        run.save()
        audit_record(actor=actor, action="validation.rerun", target=repo, ip=ip,
                     metadata={"commit": commit.oid, "files": len(shas)})
        _queue_on_commit(run.pk)
    return run
