"""Webhook matching, payloads and delivery (registry.services.webhooks): events from every producer parse with the
client's own WebhookPayload; failed attempts retry, failed deliveries disable the hook; the SSRF guard."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from huggingface_hub import WebhookPayload

from registry import hooks
from registry.exceptions import InvalidInput, WebhookNotFound
from registry.models import AuditEvent, Discussion, DiscussionEvent, Release, Webhook, WebhookDelivery
from registry.services import webhooks as svc
from registry.services.commits import AddInline, commit_create
from registry.services.refs import branch_create, branch_delete, tag_create
from registry.services.releases import release_approve, release_publish, release_withdraw
from registry.services.repos import repo_delete, repo_move
from tests.fixtures.releases import request
from tests.webhooks_support import receiver  # noqa: F401 - fixture


@pytest.fixture
def sent(monkeypatch):  # noqa: ANN201
    """Delivery jobs sent to the broker (captured)."""
    queued: list[int] = []
    monkeypatch.setattr(svc, "_send", queued.append)
    return queued


def _hook(personas, url="https://hooks.example.org/h", *, watched=None, **kwargs) -> Webhook:  # noqa: ANN001
    return svc.webhook_create(actor=kwargs.pop("actor", personas.owner), url=url,
                              watched=watched if watched is not None else [{"type": "org", "name": "acme"}],
                              **kwargs)


def _payloads(scope: str | None = None) -> list[dict]:
    qs = WebhookDelivery.objects.order_by("pk")
    if scope:
        qs = qs.filter(scope=scope)
    return [d.payload for d in qs]


def _parse(payload: dict) -> WebhookPayload:
    return WebhookPayload.model_validate(payload)


def test_ref_events_report_created_and_deleted_refs(personas, make_repo, sent,  # noqa: ANN001
                                                    django_capture_on_commit_callbacks) -> None:
    repo = make_repo("tiny")
    _hook(personas)
    head = repo.branches.get(name="main").head.oid
    with django_capture_on_commit_callbacks(execute=True):
        branch_create(actor=personas.owner, repo=repo, name="dev")
        tag_create(actor=personas.owner, repo=repo, name="v1")
        branch_delete(actor=personas.owner, repo=repo, name="dev")
    refs = [(r.ref, r.oldSha, r.newSha) for p in _payloads("repo.content") for r in _parse(p).updatedRefs]
    assert refs == [("refs/heads/dev", None, head), ("refs/tags/v1", None, head), ("refs/heads/dev", head, None)]
    assert len(sent) == 3  # one job per delivery, in the outbox
    from registry.models import Job
    assert Job.objects.filter(task="registry.deliver_webhook").count() == 3


def test_repo_lifecycle_events(personas, make_repo, sent, django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    _hook(personas)
    with django_capture_on_commit_callbacks(execute=True):
        repo = make_repo("tiny")
    created = _parse(_payloads("repo")[0])
    assert (created.event.action, created.repo.name) == ("create", "acme/tiny")
    with django_capture_on_commit_callbacks(execute=True):
        repo = repo_move(actor=personas.owner, repo=repo, to_namespace="acme", to_name="renamed")
    moved = _parse(_payloads("repo")[1])
    assert moved.event.action == "move" and moved.repo.name == "acme/tiny"
    assert moved.movedTo.name == "acme/renamed"
    with django_capture_on_commit_callbacks(execute=True):
        repo_delete(actor=personas.owner, repo=repo)
    deleted = _parse(_payloads("repo")[2])
    assert deleted.event.action == "delete" and deleted.repo.name == "acme/renamed"


def test_a_moved_repos_hook_on_the_old_name_hears_the_move(personas, make_repo, sent,  # noqa: ANN001
                                                            django_capture_on_commit_callbacks) -> None:
    repo = make_repo("tiny")
    _hook(personas, watched=[{"type": "model", "name": "acme/tiny"}])
    with django_capture_on_commit_callbacks(execute=True):
        repo_move(actor=personas.owner, repo=repo, to_namespace="acme", to_name="renamed")
    assert [d.action for d in WebhookDelivery.objects.all()] == ["move"]


def test_discussion_and_comment_events_parse(personas, make_repo, sent,  # noqa: ANN001
                                             django_capture_on_commit_callbacks) -> None:
    repo = make_repo("tiny")
    _hook(personas, domains=["discussion"])
    discussion = Discussion.objects.create(repo=repo, num=1, title="Typo in card", author=personas.outsider,
                                           author_name="oscar")
    comment = DiscussionEvent.objects.create(discussion=discussion, type="comment", author=personas.outsider,
                                             content="There is a typo")
    pr = Discussion.objects.create(repo=repo, num=2, title="Fix", is_pull_request=True, author=personas.reader,
                                   target_branch="main", status="merged", merge_commit_oid="a" * 40)
    hidden = DiscussionEvent.objects.create(discussion=discussion, type="comment", content="spam", hidden=True)
    with django_capture_on_commit_callbacks(execute=True):
        hooks.hub_event(scope="discussion", action="create", repo_id=repo.pk, discussion_id=discussion.pk,
                        comment_id=comment.pk)
        hooks.hub_event(scope="discussion", action="update", repo_id=repo.pk, discussion_id=pr.pk)
        hooks.hub_event(scope="discussion.comment", action="update", repo_id=repo.pk, discussion_id=discussion.pk,
                        comment_id=hidden.pk)
        hooks.hub_event(scope="repo.content", action="update", repo_id=repo.pk, updated_refs=[])  # not watched
    opened, merged, hid = (_parse(p) for p in _payloads())
    assert opened.discussion.num == 1 and opened.discussion.title == "Typo in card"
    assert opened.discussion.isPullRequest is False and opened.discussion.status == "open"
    assert opened.discussion.url.web.endswith("/acme/tiny/discussions/1")
    assert opened.comment.id == comment.eid and opened.comment.content == "There is a typo"
    assert merged.discussion.changes.base == "refs/heads/main" and merged.discussion.changes.mergeCommitId == "a" * 40
    assert hid.event.scope == "discussion.comment" and hid.comment.hidden is True and hid.comment.content is None


def test_release_events_carry_the_release_and_still_parse(personas, ready, admins, signing_key, sent,  # noqa: ANN001
                                                         django_capture_on_commit_callbacks, monkeypatch) -> None:
    monkeypatch.setattr("registry.services.releases._queue_publish", lambda key: None)
    repo, commit = ready
    _hook(personas, watched=[{"type": "model", "name": "acme/tiny"}], domains=["repo"])
    with django_capture_on_commit_callbacks(execute=True):
        release = request(personas, repo)
        release.state = Release.State.PENDING  # the checklist passed (ready), as release_recheck leaves it
        release.save()
        release = release_approve(actor=admins["telco"], release=release)
        release = release_publish(release_id=release.pk)
        release_withdraw(actor=admins["telco"], release=release, reason="bad weights")
    releases = [p["release"] for p in _payloads("release")]
    assert [r["action"] for r in releases] == ["requested", "approved", "published", "withdrawn"]
    assert releases[2]["version"] == "1.0.0" and releases[2]["commit"] == commit.oid
    assert releases[2]["tag"] == "v1.0.0"
    assert [_parse(p).event.action for p in _payloads("release")] == ["create", "update", "update", "update"]
    assert [(p["updatedConfig"]) for p in _payloads("repo.config")] == [{"private": False}]
    assert [r.ref for p in _payloads("repo.content") for r in _parse(p).updatedRefs] == ["refs/tags/v1.0.0"]


def test_org_hooks_see_the_orgs_private_repos_not_others(personas, make_repo, sent,  # noqa: ANN001
                                                         django_capture_on_commit_callbacks) -> None:
    from registry.models import Organization
    other = Organization.objects.create(slug="other", name="Other")
    from registry.models import Membership
    Membership.objects.create(user=personas.outsider, organization=other, role=Membership.Role.ADMIN)
    mine = svc.webhook_create(actor=personas.owner, org=personas.org, url="https://hooks.example.org/acme",
                              watched=[{"type": "org", "name": "acme"}])
    svc.webhook_create(actor=personas.outsider, org=other, url="https://hooks.example.org/other",
                       watched=[{"type": "org", "name": "acme"}])
    with django_capture_on_commit_callbacks(execute=True):
        make_repo("secret", private=True)
    assert {d.webhook_id for d in WebhookDelivery.objects.all()} == {mine.pk}
    with pytest.raises(Exception, match="admins"):
        svc.webhook_create(actor=personas.member, org=personas.org, url="https://x.example.org/", watched=[])


# --- delivery -----------------------------------------------------------------------------------------------


def _delivery(hook: Webhook) -> WebhookDelivery:
    return WebhookDelivery.objects.create(webhook=hook, scope="repo", action="update", payload={"x": 1})


def test_failed_attempts_retry_then_the_delivery_fails(personas, receiver) -> None:  # noqa: ANN001, F811
    receiver.status, receiver.answer = 500, b"boom" * 1000
    hook = _hook(personas, receiver.url)
    delivery = _delivery(hook)
    for attempt in range(1, svc.MAX_ATTEMPTS):
        with pytest.raises(svc.WebhookRetry) as exc:
            svc.webhook_deliver(delivery_id=delivery.pk)
        assert exc.value.attempts == attempt
    delivery = svc.webhook_deliver(delivery_id=delivery.pk)
    assert delivery.status == "failed" and delivery.attempts == svc.MAX_ATTEMPTS
    assert delivery.response_status == 500 and len(delivery.response_excerpt) == 1024
    assert len(receiver.requests) == svc.MAX_ATTEMPTS
    hook.refresh_from_db()
    assert hook.failure_streak == 1 and not hook.disabled
    assert svc.retry_countdown(1) < svc.retry_countdown(2) < svc.retry_countdown(4)


def test_the_task_retries_with_backoff(personas, receiver, monkeypatch) -> None:  # noqa: ANN001, F811
    from celery.exceptions import Retry
    from django.utils import timezone

    from registry import tasks
    from registry.models import Job
    from registry.services.jobs import job_enqueue

    receiver.status = 503
    delivery = _delivery(_hook(personas, receiver.url))
    job_enqueue(task=svc.TASK, key=delivery.pk, send=lambda key: None)
    seen = {}

    def fake_retry(**kwargs):  # noqa: ANN003, ANN202
        seen.update(kwargs)
        return Retry()

    monkeypatch.setattr(tasks.deliver_webhook, "retry", fake_retry)
    with pytest.raises(Retry):
        tasks.deliver_webhook.run(delivery.pk)
    assert seen["countdown"] == svc.retry_countdown(1)
    assert WebhookDelivery.objects.get().status == "pending"
    job = Job.objects.get(task=svc.TASK, key=delivery.pk)
    # Queued again, and not due before the retry's countdown: the sweep doesn't resend it early.
    assert job.state == "queued" and job.attempts == 1
    assert job.due_at > timezone.now() + timedelta(seconds=svc.retry_countdown(1))


def test_repeated_failures_disable_the_hook_and_email_the_owner(personas, receiver, settings) -> None:  # noqa: ANN001, F811
    settings.SITE_NAME = "Lab Models"
    receiver.status = 404
    hook = _hook(personas, receiver.url)
    Webhook.objects.filter(pk=hook.pk).update(failure_streak=svc.DISABLE_AFTER - 1)
    delivery = _delivery(hook)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=svc.MAX_ATTEMPTS - 1)
    from django.test import TestCase
    with TestCase.captureOnCommitCallbacks(execute=True):
        svc.webhook_deliver(delivery_id=delivery.pk)
    hook.refresh_from_db()
    assert hook.disabled and "failed deliveries" in hook.disabled_reason
    [message] = mail.outbox
    assert message.to == [personas.owner.email] and "[Lab Models]" in message.subject
    assert hook.url in message.body
    assert AuditEvent.objects.filter(action="webhook.disable", target_label=hook.uid).exists()
    # Re-enabling clears the streak; later deliveries of a disabled hook are not attempted.
    svc.webhook_set_disabled(actor=personas.owner, webhook=hook, disabled=False)
    assert Webhook.objects.get(pk=hook.pk).failure_streak == 0


def test_a_success_resets_the_streak(personas, receiver) -> None:  # noqa: ANN001, F811
    hook = _hook(personas, receiver.url, secret="top")
    Webhook.objects.filter(pk=hook.pk).update(failure_streak=3)
    assert svc.webhook_deliver(delivery_id=_delivery(hook).pk).status == "delivered"
    assert Webhook.objects.get(pk=hook.pk).failure_streak == 0
    assert receiver.requests[0].headers["X-Webhook-Secret"] == "top"


def test_redirects_are_not_followed(personas, receiver) -> None:  # noqa: ANN001, F811
    receiver.status, receiver.headers = 302, {"Location": "http://169.254.169.254/latest/meta-data"}
    delivery = _delivery(_hook(personas, receiver.url))
    with pytest.raises(svc.WebhookRetry):
        svc.webhook_deliver(delivery_id=delivery.pk)
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().response_status == 302


def test_a_disabled_hooks_pending_delivery_is_not_sent(personas, receiver) -> None:  # noqa: ANN001, F811
    hook = _hook(personas, receiver.url)
    delivery = _delivery(hook)
    svc.webhook_set_disabled(actor=personas.owner, webhook=hook, disabled=True)
    svc.webhook_deliver(delivery_id=delivery.pk)
    assert receiver.requests == [] and WebhookDelivery.objects.get().status == "failed"


def test_replay_sends_the_payload_again_as_a_new_delivery(personas, receiver, sent) -> None:  # noqa: ANN001, F811
    hook = _hook(personas, receiver.url)
    first = _delivery(hook)
    svc.webhook_deliver(delivery_id=first.pk)
    again = svc.webhook_replay(actor=personas.owner, delivery=first)
    assert again.pk != first.pk and again.payload == first.payload and again.replay_of_id == first.pk
    svc.webhook_deliver(delivery_id=again.pk)
    assert len(receiver.requests) == 2
    assert AuditEvent.objects.filter(action="webhook.replay").count() == 1
    with pytest.raises(WebhookNotFound):
        svc.webhook_replay(actor=personas.outsider, delivery=first)


# --- SSRF guard ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("addresses", [["10.0.0.7"], ["127.0.0.1"], ["169.254.169.254"], ["::1"],
                                       ["93.184.216.34", "192.168.1.1"], ["::ffff:127.0.0.1"], ["224.0.0.1"],
                                       ["0.0.0.0"], ["fd00::1"], ["100.64.0.1"]])
def test_delivery_refuses_private_targets(personas, settings, monkeypatch, addresses) -> None:  # noqa: ANN001
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    monkeypatch.setattr(svc, "_resolve", lambda host, port: addresses)
    connected = []
    monkeypatch.setattr(svc.socket, "create_connection", lambda *a, **k: connected.append(a))
    hook = _hook(personas, "http://hooks.internal.example/h")  # a name: accepted at creation, checked per send
    delivery = _delivery(hook)
    with pytest.raises(svc.WebhookRetry, match="private"):
        svc.webhook_deliver(delivery_id=delivery.pk)
    assert connected == []
    assert "private" in WebhookDelivery.objects.get().error


def test_delivery_connects_to_the_checked_address(personas, settings, monkeypatch) -> None:  # noqa: ANN001
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])  # a rebinding resolver: public first, loopback later
    monkeypatch.setattr(svc, "_resolve", lambda host, port: next(answers))
    connected = []

    def fake_connect(address, timeout):  # noqa: ANN001, ANN202
        connected.append((address, timeout))
        raise ConnectionRefusedError("refused")

    monkeypatch.setattr(svc.socket, "create_connection", fake_connect)
    delivery = _delivery(_hook(personas, "http://hooks.example.org/h"))
    with pytest.raises(svc.WebhookRetry):
        svc.webhook_deliver(delivery_id=delivery.pk)
    assert connected == [(("93.184.216.34", 80), svc.TIMEOUT_SECONDS)]


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://10.0.0.1:8080/x", "https://[fe80::1]/",
                                 "http://0.0.0.0/"])
def test_creating_a_hook_to_a_literal_private_ip_is_refused(personas, settings, url) -> None:  # noqa: ANN001
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    with pytest.raises(InvalidInput, match="private"):
        _hook(personas, url)


def test_the_setting_allows_private_targets(personas, settings, receiver) -> None:  # noqa: ANN001, F811
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    assert svc.webhook_deliver(delivery_id=_delivery(_hook(personas, receiver.url)).pk).status == "delivered"


def test_update_with_empty_watched_keeps_the_list(personas) -> None:  # noqa: ANN001
    hook = _hook(personas, watched=[{"type": "model", "name": "acme/tiny"}])
    svc.webhook_update(actor=personas.owner, webhook=hook, watched=[])
    assert Webhook.objects.get(pk=hook.pk).watched == [{"type": "model", "name": "acme/tiny"}]
    assert list(hook.watches.values_list("type", "name")) == [("model", "acme/tiny")]


def test_a_commit_creating_a_branch_reports_its_full_ref(personas, make_repo, sent,  # noqa: ANN001
                                                 django_capture_on_commit_callbacks) -> None:
    repo = make_repo("tiny")
    _hook(personas)
    with django_capture_on_commit_callbacks(execute=True):
        commit_create(actor=personas.owner, repo=repo, operations=[AddInline("a.txt", b"a")], title="x",
                      branch="feature", create_branch=True)
    assert _parse(_payloads("repo.content")[0]).updatedRefs[0].ref == "refs/heads/feature"


def test_matching_reads_a_fixed_number_of_queries(personas, make_repo,  # noqa: ANN001
                                                  django_assert_max_num_queries) -> None:
    from tests.fixtures.personas import make_user

    repo = make_repo("secret", private=True)
    for user in (personas.owner, personas.member, personas.reader, personas.outsider):
        _hook(personas, actor=user)
    with django_assert_max_num_queries(4) as few:
        matched = svc.matching_hooks(repo, "repo.content")
    assert sorted(h.owner_user.username for h in matched) == ["mina", "olivia", "rae"]  # not oscar
    for i in range(6):
        _hook(personas, actor=make_user(f"u{i}"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(svc.matching_hooks(repo, "repo.content")) == 3


def test_old_finished_deliveries_are_pruned(personas) -> None:  # noqa: ANN001
    from django.utils import timezone

    hook = _hook(personas)
    old = timezone.now() - timedelta(days=svc.DELIVERIES_KEPT_DAYS + 1)
    gone = [WebhookDelivery.objects.create(webhook=hook, scope="repo", action="update", payload={}, status=s,
                                           created_at=old) for s in ("delivered", "failed")]
    stuck = WebhookDelivery.objects.create(webhook=hook, scope="repo", action="update", payload={}, created_at=old)
    recent = _delivery(hook)
    assert svc.webhook_deliveries_prune() == 2
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {stuck.pk, recent.pk}
    assert not WebhookDelivery.objects.filter(pk__in=[d.pk for d in gone]).exists()


def test_an_owner_has_a_bounded_number_of_hooks(personas, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(svc, "HOOKS_PER_OWNER", 2)
    _hook(personas)
    _hook(personas)
    with pytest.raises(InvalidInput, match="at most 2"):
        _hook(personas)
    _hook(personas, actor=personas.outsider)  # another owner's count


def test_a_deleted_discussion_is_reported_from_its_snapshot(personas, make_repo, sent,  # noqa: ANN001
                                                            django_capture_on_commit_callbacks) -> None:
    repo = make_repo("tiny")
    _hook(personas, domains=["discussion"])
    with django_capture_on_commit_callbacks(execute=True):
        # What discussions.discussion_delete reports: the row is gone when the listener runs.
        hooks.hub_event(scope="discussion", action="delete", repo_id=repo.pk, discussion_id=987,
                        snapshot={"num": 4, "title": "Spam", "status": "open", "isPullRequest": False,
                                  "author": "spammer"})
    [payload] = _payloads("discussion")
    parsed = _parse(payload)
    assert parsed.event.action == "delete" and parsed.discussion.num == 4 and parsed.discussion.title == "Spam"
    assert parsed.discussion.author.id == "spammer"
