"""Reliable dispatch (registry/services/jobs.py): a job is a row before it is a message, a worker holds it by a lease,
and the sweep sends again what a lost message, a failed send or a dead worker left behind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from registry import tasks
from registry.models import Job
from registry.services import jobs
from registry.services.jobs import job_enqueue, job_lease, jobs_sweep

pytestmark = pytest.mark.django_db

TASK = "registry.verify_blob"


@pytest.fixture
def broker(monkeypatch):
    """The messages sent, by task name; `down = True` makes every send fail like a stalled broker."""

    class Broker:
        down = False
        sent: list[tuple[str, int]] = []

    b = Broker()
    b.sent = []
    for name, task in tasks.JOB_TASKS.items():
        def send(args, name=name, **kw):  # noqa: ANN001, ANN202
            if b.down:
                raise ConnectionError("broker unreachable")
            b.sent.append((name, args[0]))
        monkeypatch.setattr(task(), "apply_async", send)
    return b


def job(key: int = 1) -> Job:
    return Job.objects.get(task=TASK, key=key)


def later(seconds: float):  # noqa: ANN201
    """A clock `seconds` from now, for monkeypatching jobs.timezone.now."""
    moment = timezone.now() + timedelta(seconds=seconds)
    return lambda: moment


def test_the_row_is_written_with_the_change_and_sent_after_commit(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        job_enqueue(task=TASK, key=7)
        assert broker.sent == []  # nothing leaves before the transaction commits
        assert job(7).state == Job.State.QUEUED
    assert broker.sent == [(TASK, 7)]
    assert job(7).dispatches == 1 and job(7).due_at > timezone.now()  # not sent again before it is due


def test_a_rolled_back_change_leaves_no_job(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            job_enqueue(task=TASK, key=7)
            raise RuntimeError("the state change failed")
    assert broker.sent == [] and not Job.objects.exists()


def test_enqueueing_twice_is_one_job(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job_enqueue(task=TASK, key=7)
        job_enqueue(task=TASK, key=7)
    assert Job.objects.filter(task=TASK, key=7).count() == 1


def test_a_failed_send_is_left_to_the_sweep(broker, django_capture_on_commit_callbacks):
    broker.down = True
    with django_capture_on_commit_callbacks(execute=True):
        job_enqueue(task=TASK, key=7)  # the caller's change commits anyway
    assert broker.sent == [] and job(7).dispatches == 0 and job(7).due_at is None
    broker.down = False
    assert jobs_sweep().sent == 1
    assert broker.sent == [(TASK, 7)]


def test_a_sent_job_nobody_took_is_sent_again_later_and_less_often(broker, django_capture_on_commit_callbacks,
                                                                     monkeypatch):
    with django_capture_on_commit_callbacks(execute=True):
        job_enqueue(task=TASK, key=7)
    assert jobs_sweep().sent == 0  # just sent: not due yet
    at_61, at_122, at_182 = later(61), later(122), later(182)
    monkeypatch.setattr(jobs.timezone, "now", at_61)
    assert jobs_sweep().sent == 1  # its message was lost (the embedded broker deletes what a dying worker took)
    assert job(7).dispatches == 2
    monkeypatch.setattr(jobs.timezone, "now", at_122)
    assert jobs_sweep().sent == 0  # the second wait is longer: a long backlog gets few duplicates
    monkeypatch.setattr(jobs.timezone, "now", at_182)
    assert jobs_sweep().sent == 1


def test_a_held_job_is_not_run_twice_and_a_finished_one_is_done(broker):
    Job.objects.create(task=TASK, key=7)
    with job_lease(task=TASK, key=7, worker="a@host") as first:
        assert first.run
        assert job(7).state == Job.State.RUNNING and job(7).worker == "a@host" and job(7).attempts == 1
        with job_lease(task=TASK, key=7, worker="b@host") as second:  # a duplicate message, another worker
            assert not second.run and second.why == "held"
        assert jobs.lease_held(TASK, 7)
    assert not jobs.lease_held(TASK, 7)
    assert job(7).state == Job.State.DONE and job(7).finished_at is not None
    assert jobs_sweep().sent == 0


def test_a_dead_workers_job_is_sent_again_once_its_lease_runs_out(broker, monkeypatch):
    Job.objects.create(task=TASK, key=7)
    lease = jobs._claim(TASK, 7, "dead@host")  # taken, then the worker is killed: nothing renews the lease
    assert lease.run
    assert jobs_sweep().reclaimed == 0  # the lease still runs
    monkeypatch.setattr(jobs.timezone, "now", later(jobs.LEASE_SECONDS + 1))
    report = jobs_sweep()
    assert report.reclaimed == 1 and report.sent == 1
    assert broker.sent == [(TASK, 7)] and job(7).state == Job.State.QUEUED
    # the next worker takes it over (the lease, not the dead worker's row, decides)
    with job_lease(task=TASK, key=7, worker="b@host") as taken:
        assert taken.run
    assert job(7).attempts == 2 and job(7).state == Job.State.DONE


def test_a_restarted_worker_gets_its_jobs_back_at_once(broker):
    Job.objects.create(task=TASK, key=7)
    jobs._claim(TASK, 7, "embedded@host")  # the whole hub was killed while this ran
    report = jobs_sweep(restarted_worker="embedded@host")  # worker_ready of the restarted hub
    assert report.reclaimed == 1 and broker.sent == [(TASK, 7)]


def test_the_lease_is_renewed_while_the_task_runs(broker, monkeypatch, transactional_db):
    monkeypatch.setattr(jobs, "LEASE_SECONDS", 0.6)
    Job.objects.create(task=TASK, key=7)
    import time

    with job_lease(task=TASK, key=7, worker="a@host"):
        first = job(7).lease_until
        time.sleep(1.0)  # longer than the lease: the heartbeat thread renewed it
        assert job(7).lease_until > first
        assert job(7).lease_until > timezone.now()


def test_a_failing_task_is_retried_later_then_given_up(broker, monkeypatch):
    Job.objects.create(task=TASK, key=7)
    with pytest.raises(OSError), job_lease(task=TASK, key=7, worker="a@host"):
        raise OSError("the store hiccupped")
    failed = job(7)
    assert failed.state == Job.State.QUEUED and "store hiccupped" in failed.last_error
    assert failed.due_at > timezone.now()  # backoff before the sweep sends it again
    Job.objects.filter(pk=failed.pk).update(attempts=jobs.MAX_ATTEMPTS)
    with job_lease(task=TASK, key=7, worker="a@host") as lease:
        assert not lease.run and lease.why == "failed"
    assert job(7).state == Job.State.FAILED and "gave up" in job(7).last_error


def test_a_direct_call_without_a_row_runs_as_before(broker):
    with job_lease(task=TASK, key=99, worker="") as lease:
        assert lease.run and lease.job_id is None
    assert not Job.objects.exists()


def test_the_worker_start_hook_sweeps_for_its_own_name(broker):
    Job.objects.create(task=TASK, key=7)
    jobs._claim(TASK, 7, "validation@box")

    class Worker:
        hostname = "validation@box"

    tasks._sweep_when_a_worker_starts(sender=Worker())
    assert broker.sent == [(TASK, 7)]


def test_the_sweep_runs_every_30_seconds_on_the_validation_queue(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["registry.sweep_jobs"]
    assert entry == {"task": "registry.sweep_jobs", "schedule": 30.0}
    from portal.celery import app

    assert app.amqp.router.route({}, "registry.sweep_jobs")["queue"].name == "validation"


def test_every_service_queues_through_a_job_row(broker, personas, make_repo, django_capture_on_commit_callbacks):
    """A commit queues its validation as a job (the on-commit hook), as every other job-queueing service does."""
    from registry.services.commits import AddInline, commit_create

    with django_capture_on_commit_callbacks(execute=True):
        commit_create(actor=personas.owner, repo=make_repo(), title="t",
                      operations=[AddInline("config.json", b"{}")])
    validations = Job.objects.filter(task="registry.validate_commit")
    assert validations.exists()
    assert ("registry.validate_commit", validations.first().key) in broker.sent
