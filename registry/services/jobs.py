"""Reliable dispatch: every job that matters is a row (registry.models.Job) before it is a broker message.

- `job_enqueue` writes the row in the caller's transaction and sends the task once that commits. A send that fails
  (broker down, stalled) is logged and left to the sweeper; the state change that needed the job is never undone.
- A worker runs the task inside `job_lease`: it takes the row with a lease (`LEASE_SECONDS`) and renews it from a
  thread while the task runs. A second copy of the message (a redelivery, a sweep) finds the lease held and does
  nothing; a copy arriving after the job finished does nothing either.
- `jobs_sweep` (registry.sweep_jobs: every SWEEP_SECONDS, and when a worker starts) sends again every queued job
  that is due — never sent, its message lost (the embedded broker deletes a message when a worker takes it), or its
  last send long enough ago — and puts back every running job whose lease ran out (its worker died). A job held by a
  dead worker is therefore running again within LEASE_SECONDS + SWEEP_SECONDS (75 s) plus the broker's delay; a
  worker that restarts under the same name takes its jobs back at once.

Each task stays idempotent (the jobs' services are), so running one twice is harmless, only wasteful.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from registry.models import Job

logger = logging.getLogger(__name__)

LEASE_SECONDS = 45  # a worker renews it every third of that
SWEEP_SECONDS = 30  # CELERY_BEAT_SCHEDULE["registry.sweep_jobs"]
MAX_ATTEMPTS = 10  # starts (each worker death counts) before a job is given up as failed
SWEEP_BATCH = 500  # jobs sent per sweep: the sweep stays cheap with a large backlog
DONE_KEPT_DAYS = 7


def _redispatch_delay(dispatches: int) -> timedelta:
    """How long a sent job may wait in the broker before it is sent again: 60 s, then doubling up to an hour (a long
    backlog gets few duplicates; a lost message costs a minute)."""
    return timedelta(seconds=min(60 * 2 ** max(dispatches - 1, 0), 3600))


def _retry_delay(attempts: int) -> timedelta:
    """After a failed start: 2, 4, 8 … seconds, at most ten minutes, with jitter."""
    return timedelta(seconds=min(2 ** max(attempts, 1), 600) * random.uniform(0.8, 1.2))


def _task(name: str):  # noqa: ANN202
    """The Celery task object of `name`, looked up on registry.tasks (where tests may replace its methods)."""
    from registry import tasks

    return tasks.JOB_TASKS[name]()


# --- enqueue and send ---------------------------------------------------------------------------------------


def job_enqueue(*, task: str, key: int, send: Callable[[int], object] | None = None) -> None:
    """Record the job in the current transaction (or at once outside one) and send it once that commits.

    `send(key)` sends the message; by default `job_dispatch`. An open job for (task, key) is reused: enqueueing
    twice, or while it runs, is one job (a running job keeps its lease; the caller's change is seen by its next
    start if it has one)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            Job.objects.get_or_create(task=task, key=key, state__in=[Job.State.QUEUED, Job.State.RUNNING],
                                      defaults={"state": Job.State.QUEUED, "created_at": now, "updated_at": now})
    except IntegrityError:  # created by a concurrent transaction: that one is the open job
        pass
    sender = send or (lambda k: job_dispatch(task=task, key=k))
    transaction.on_commit(lambda: sender(key))


def job_postpone(*, task: str, key: int, seconds: float) -> None:
    """A queued job that retries itself later (Celery's retry with a countdown): the sweep leaves it alone until
    then, and sends it only if that message is lost."""
    Job.objects.filter(task=task, key=key, state=Job.State.QUEUED).update(
        due_at=timezone.now() + timedelta(seconds=seconds), updated_at=timezone.now())


def job_dispatch(*, task: str, key: int) -> bool:
    """Send the task's message now and note it; False (logged) when the broker refused: the sweeper retries."""
    try:
        _task(task).apply_async((key,))
    except Exception:  # noqa: BLE001 - any broker error: the job's row stays due, the sweep sends it
        logger.warning("could not send %s(%s); the job sweep will send it again", task, key, exc_info=True)
        return False
    _note_sent(task, key)
    return True


def _note_sent(task: str, key: int) -> None:
    now = timezone.now()
    try:
        job = Job.objects.filter(task=task, key=key, state=Job.State.QUEUED).only("dispatches").first()
        if job is not None:
            Job.objects.filter(pk=job.pk, state=Job.State.QUEUED).update(
                dispatches=F("dispatches") + 1, due_at=now + _redispatch_delay(job.dispatches + 1), updated_at=now)
    except Exception:  # noqa: BLE001 - the message is out; at worst the sweep sends it once more
        logger.warning("could not note that %s(%s) was sent", task, key, exc_info=True)


# --- running ------------------------------------------------------------------------------------------------

_held: ContextVar[tuple[str, int] | None] = ContextVar("job_held", default=None)


def lease_held(task: str, key: int) -> bool:
    """True inside `job_lease` for this job: no other live worker can be on it, so whatever "running" state its
    rows show was left by a worker that died (services use this instead of their own, slower staleness rules)."""
    return _held.get() == (task, int(key))



@dataclass(frozen=True)
class Lease:
    """What `job_lease` yields: run the task body only when `run` is true."""

    run: bool
    why: str = ""  # when not: "held" (another worker runs it) or "failed" (given up)
    job_id: int | None = None


@contextmanager
def job_lease(*, task: str, key: int, worker: str = "") -> Iterator[Lease]:
    """Hold the job of (task, key) while the block runs. With no job row at all (a direct call, a message sent
    before jobs were rows) the block runs unguarded, as the task always could."""
    lease = _claim(task, key, worker)
    if not lease.run or lease.job_id is None:
        yield lease
        return
    beat = _Heartbeat(lease.job_id)
    beat.start()
    token = _held.set((task, int(key)))
    try:
        yield lease
    except BaseException as exc:
        beat.stop()
        _release(lease.job_id, exc)
        raise
    finally:
        _held.reset(token)
    beat.stop()
    _finish(lease.job_id)


def _claim(task: str, key: int, worker: str) -> Lease:
    now = timezone.now()
    takeable = Q(state=Job.State.QUEUED) | Q(state=Job.State.RUNNING, lease_until__lt=now)
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(takeable, task=task, key=key).first()
        if job is None:
            latest = Job.objects.filter(task=task, key=key).order_by("-pk").only("state").first()
            if latest is not None and latest.state in (Job.State.RUNNING, Job.State.FAILED):
                return Lease(run=False, why="held" if latest.state == Job.State.RUNNING else "failed")
            # No row, or the job is done: run unguarded. The task is idempotent, so a late copy of a finished job
            # answers with what it found (and a direct call works as it always did).
            return Lease(run=True)
        if job.attempts >= MAX_ATTEMPTS:
            Job.objects.filter(pk=job.pk).update(state=Job.State.FAILED, finished_at=now, updated_at=now,
                                                 last_error=(job.last_error + "\ngave up after "
                                                             f"{job.attempts} starts").strip())
            logger.error("job %s(%s) gave up after %s starts", task, key, job.attempts)
            return Lease(run=False, why="failed")
        updated = Job.objects.filter(pk=job.pk, state=job.state, attempts=job.attempts).update(
            state=Job.State.RUNNING, attempts=F("attempts") + 1, lease_until=now + timedelta(seconds=LEASE_SECONDS),
            worker=worker[:200], updated_at=now)
    if not updated:  # SQLite has no row locks: another worker took it between our read and write
        return Lease(run=False, why="held")
    return Lease(run=True, job_id=job.pk)


def _finish(job_id: int) -> None:
    now = timezone.now()
    _write(lambda: Job.objects.filter(pk=job_id, state=Job.State.RUNNING).update(
        state=Job.State.DONE, finished_at=now, updated_at=now, lease_until=None, due_at=None))


def _release(job_id: int, exc: BaseException) -> None:
    """The task raised (a retry, a transient error, a bug): back to queued, due again after a backoff. Celery's own
    retry (autoretry_for) usually arrives first; otherwise the sweep sends it when due."""
    now = timezone.now()
    job = Job.objects.filter(pk=job_id).only("attempts").first()
    attempts = job.attempts if job else 1
    _write(lambda: Job.objects.filter(pk=job_id, state=Job.State.RUNNING).update(
        state=Job.State.QUEUED, lease_until=None, due_at=now + _retry_delay(attempts), updated_at=now,
        last_error=f"{type(exc).__name__}: {exc}"[:2000]))


def _write(update: Callable[[], object]) -> None:
    """A bookkeeping write that must not mask the task's own outcome; the lease's expiry covers a lost one."""
    try:
        update()
    except Exception:  # noqa: BLE001
        logger.warning("could not record a job's state; its lease will run out and the sweep will see it",
                       exc_info=True)


class _Heartbeat:
    """Renews the lease every third of LEASE_SECONDS from a thread (with its own database connection) while the
    task runs. A killed worker renews nothing: the lease runs out and the sweep puts the job back."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-lease-{job_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        try:
            while not self._stop.wait(LEASE_SECONDS / 3):
                now = timezone.now()
                _write(lambda now=now: Job.objects.filter(pk=self.job_id, state=Job.State.RUNNING).update(
                    lease_until=now + timedelta(seconds=LEASE_SECONDS), updated_at=now))
        finally:
            connection.close()  # this thread's own connection


# --- the sweep ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepReport:
    reclaimed: int  # running jobs whose lease ran out (or whose worker restarted), put back
    sent: int  # queued jobs sent to the broker
    send_failed: int
    pruned: int  # finished jobs older than DONE_KEPT_DAYS, deleted

    def as_dict(self) -> dict[str, int]:
        return {"reclaimed": self.reclaimed, "sent": self.sent, "send_failed": self.send_failed,
                "pruned": self.pruned}


def jobs_sweep(*, restarted_worker: str | None = None, limit: int = SWEEP_BATCH) -> SweepReport:
    """Put back the jobs of dead workers and send every due job. `restarted_worker`: a worker that just started
    under this name holds nothing, whatever its old leases say."""
    now = timezone.now()
    expired = Q(state=Job.State.RUNNING, lease_until__lt=now)
    if restarted_worker:
        expired |= Q(state=Job.State.RUNNING, worker=restarted_worker)
    reclaimed = Job.objects.filter(expired).update(state=Job.State.QUEUED, lease_until=None, due_at=None,
                                                   updated_at=now)
    if reclaimed:
        logger.warning("job sweep: %s job(s) lost their worker; sending them again", reclaimed)
    due = list(Job.objects.filter(Q(due_at__isnull=True) | Q(due_at__lte=now), state=Job.State.QUEUED)
               .order_by("due_at", "pk").values_list("task", "key")[:limit])
    sent = failed = 0
    for task, key in due:
        if job_dispatch(task=task, key=key):
            sent += 1
        else:
            failed += 1
    cutoff = now - timedelta(days=DONE_KEPT_DAYS)
    old = list(Job.objects.filter(state__in=[Job.State.DONE, Job.State.FAILED], finished_at__lt=cutoff)
               .values_list("pk", flat=True)[:limit])
    pruned = Job.objects.filter(pk__in=old).delete()[0] if old else 0
    return SweepReport(reclaimed=reclaimed, sent=sent, send_failed=failed, pruned=pruned)
