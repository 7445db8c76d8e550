"""Hub events are an outbox: a hub that dies between a commit and its webhooks delays them, never loses them."""

from __future__ import annotations

import pytest

from registry import hooks, tasks
from registry.models import HubEvent, Job
from registry.services import discussions as svc
from registry.services.jobs import jobs_sweep

pytestmark = pytest.mark.django_db


@pytest.fixture
def seen(monkeypatch):
    events: list[dict] = []
    monkeypatch.setattr(hooks, "_event_listeners", [events.append])
    return events


def test_an_event_whose_process_died_is_handed_over_by_the_sweep(personas, make_repo, seen, monkeypatch,
                                                                  django_capture_on_commit_callbacks):
    repo = make_repo()
    HubEvent.objects.all().delete()
    Job.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=False):  # the process dies right after the commit
        svc.discussion_create(actor=personas.outsider, repo=repo, title="Hello", description="x")
    assert seen == []
    job = Job.objects.get(task="registry.dispatch_hub_event")
    assert job.state == "queued" and HubEvent.objects.get(pk=job.key).dispatched_at is None

    sent: list[int] = []
    monkeypatch.setattr(tasks.dispatch_hub_event, "apply_async", lambda args, **kw: sent.append(args[0]))
    jobs_sweep()
    assert sent == [job.key]
    tasks.dispatch_hub_event(job.key)  # the worker that got it
    assert [(e["scope"], e["action"]) for e in seen] == [("discussion", "create")]
    assert HubEvent.objects.get(pk=job.key).dispatched_at is not None
    tasks.dispatch_hub_event(job.key)  # a second copy of the message
    assert len(seen) == 1


def test_a_failing_listener_costs_the_others_nothing(personas, make_repo, monkeypatch,
                                                     django_capture_on_commit_callbacks):
    got: list[dict] = []

    def broken(event: dict) -> None:
        raise RuntimeError("listener bug")

    monkeypatch.setattr(hooks, "_event_listeners", [broken, got.append])
    repo = make_repo()
    Job.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        d = svc.discussion_create(actor=personas.outsider, repo=repo, title="Hello", description="x")
    assert [e["discussion_id"] for e in got] == [d.pk]
    assert Job.objects.get(task="registry.dispatch_hub_event").state == "done"
