"""`/api/settings/webhooks` driven by the real huggingface_hub client, and a delivery it parses with its own
WebhookPayload model (HF_COMMUNITY.md §2)."""

from __future__ import annotations

import pytest
from huggingface_hub import WebhookPayload, WebhookWatchedItem
from huggingface_hub.errors import HfHubHTTPError

from registry.models import Webhook, WebhookDelivery
from registry.services.repos import repo_update_settings
from tests.webhooks_support import deliveries, receiver  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


def _status(exc_info: pytest.ExceptionInfo) -> int:
    return exc_info.value.response.status_code


def test_client_round_trip_create_list_get_update_enable_disable_delete(hub) -> None:  # noqa: ANN001
    api = hub.api("owner")
    created = api.create_webhook(url="https://hooks.example.org/a", watched=[{"type": "org", "name": "acme"}],
                                 secret="s3cret")
    assert created.domains == ["repo", "discussion"]  # the client sends both when none are given
    assert created.secret == "s3cret" and created.disabled is False and created.job is None
    assert created.watched == [WebhookWatchedItem(type="org", name="acme")]
    assert [w.id for w in api.list_webhooks()] == [created.id]
    assert api.get_webhook(created.id).url == "https://hooks.example.org/a"

    # update_webhook always sends `watched` ([] when not given): that leaves the list alone.
    updated = api.update_webhook(created.id, url="https://hooks.example.org/b", domains=["repo"])
    assert updated.url == "https://hooks.example.org/b" and updated.domains == ["repo"]
    assert updated.watched == [WebhookWatchedItem(type="org", name="acme")]
    updated = api.update_webhook(created.id, watched=[WebhookWatchedItem(type="model", name="acme/tiny")])
    assert updated.watched == [WebhookWatchedItem(type="model", name="acme/tiny")]

    assert api.disable_webhook(created.id).disabled is True
    assert api.get_webhook(created.id).disabled is True
    assert api.enable_webhook(created.id).disabled is False

    api.delete_webhook(created.id)
    assert api.list_webhooks() == []
    with pytest.raises(HfHubHTTPError) as exc:
        api.get_webhook(created.id)
    assert _status(exc) == 404


def test_another_users_webhook_is_not_found(hub) -> None:  # noqa: ANN001
    hook = hub.api("owner").create_webhook(url="https://hooks.example.org/a", watched=[])
    outsider = hub.api("outsider")
    assert outsider.list_webhooks() == []
    for call in (lambda: outsider.get_webhook(hook.id),
                 lambda: outsider.update_webhook(hook.id, url="https://evil.example.org/"),
                 lambda: outsider.disable_webhook(hook.id),
                 lambda: outsider.delete_webhook(hook.id)):
        with pytest.raises(HfHubHTTPError) as exc:
            call()
        assert _status(exc) == 404
    assert Webhook.objects.get(uid=hook.id).url == "https://hooks.example.org/a"


def test_anonymous_is_401(hub) -> None:  # noqa: ANN001
    import requests

    response = requests.get(f"{hub.url}/api/settings/webhooks", timeout=10)
    assert response.status_code == 401


@pytest.mark.parametrize("kwargs, message", [
    ({"url": "ftp://hooks.example.org/"}, "http"),
    ({"url": "https://hooks.example.org/", "domains": ["repo", "spaces"]}, "domain"),
    ({"url": "https://hooks.example.org/", "watched": [{"type": "team", "name": "x"}]}, "watched type"),
    ({"url": "https://hooks.example.org/", "watched": [{"type": "model", "name": "no-namespace"}]}, "namespace"),
    ({"url": "https://hooks.example.org/", "secret": "é"}, "ASCII"),
    ({"url": "not a url"}, "url"),
    ({"job_id": "abc"}, "Jobs"),
])
def test_invalid_webhooks_are_400(hub, kwargs, message) -> None:  # noqa: ANN001
    kwargs.setdefault("watched", [])
    with pytest.raises(HfHubHTTPError) as exc:
        hub.api("owner").create_webhook(**kwargs)
    assert _status(exc) == 400
    assert message.lower() in exc.value.response.headers["X-Error-Message"].lower()
    assert not Webhook.objects.exists()


def test_private_literal_ip_refused_when_the_guard_is_on(hub, settings) -> None:  # noqa: ANN001
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    for url in ("http://127.0.0.1:9/", "http://10.1.2.3/", "http://[::1]/", "http://169.254.169.254/latest"):
        with pytest.raises(HfHubHTTPError) as exc:
            hub.api("owner").create_webhook(url=url, watched=[])
        assert _status(exc) == 400
        assert "private" in exc.value.response.headers["X-Error-Message"]


def test_update_with_secrets_for_jobs_is_400(hub) -> None:  # noqa: ANN001
    import requests

    hook = hub.api("owner").create_webhook(url="https://hooks.example.org/a", watched=[])
    response = requests.post(f"{hub.url}/api/settings/webhooks/{hook.id}", timeout=10,
                             headers={"Authorization": f"Bearer {hub.token('owner')}"},
                             json={"watched": [], "secrets": {"HF_TOKEN": "x"}})
    assert response.status_code == 400


def test_a_commit_is_delivered_and_parses_as_the_clients_payload(hub, make_repo, receiver,  # noqa: ANN001, F811
                                                                 deliveries) -> None:  # noqa: F811
    repo = make_repo("tiny")
    api = hub.api("owner")
    hook = api.create_webhook(url=receiver.url, watched=[{"type": "model", "name": "acme/tiny"}], secret="s3cret")
    before = repo.branches.get(name="main").head.oid
    info = api.upload_file(path_or_fileobj=b"hello", path_in_repo="notes.txt", repo_id="acme/tiny")
    assert deliveries.run() == ["delivered"]
    [request] = receiver.requests
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Webhook-Secret"] == "s3cret"
    payload = WebhookPayload.model_validate_json(request.body)
    assert payload.event.scope == "repo.content" and payload.event.action == "update"
    assert payload.repo.name == "acme/tiny" and payload.repo.type == "model" and payload.repo.private is False
    assert payload.repo.url.web.endswith("/acme/tiny")
    assert payload.webhook.id == hook.id and payload.webhook.version == 3
    [ref] = payload.updatedRefs
    assert (ref.ref, ref.oldSha, ref.newSha) == ("refs/heads/main", before, info.oid)
    assert request.json()["repo"]["headSha"] == info.oid
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "delivered" and delivery.response_status == 200 and delivery.attempts == 1
    assert delivery.latency_ms is not None and delivery.response_excerpt == '{"ok": true}'
    from registry.models import Job  # the outbox row, written with the delivery and finished by the worker
    assert list(Job.objects.filter(task="registry.deliver_webhook").values_list("key", "state")) == [
        (delivery.pk, "done")]


def test_private_repo_events_reach_only_hooks_whose_owner_can_read(hub, make_repo, receiver,  # noqa: ANN001, F811
                                                                   deliveries) -> None:  # noqa: F811
    make_repo("secret", private=True)
    watched = [{"type": "org", "name": "acme"}]
    reader_hook = hub.api("reader").create_webhook(url=receiver.url + "?who=reader", watched=watched)
    hub.api("outsider").create_webhook(url=receiver.url + "?who=outsider", watched=watched)
    hub.api("owner").upload_file(path_or_fileobj=b"x", path_in_repo="a.txt", repo_id="acme/secret")
    deliveries.run()
    assert [r.path for r in receiver.requests] == ["/hook?who=reader"]
    assert WebhookDelivery.objects.get().webhook.uid == reader_hook.id


def test_domains_and_disabled_hooks_filter_events(hub, make_repo, receiver, deliveries) -> None:  # noqa: ANN001, F811
    repo = make_repo("tiny")
    api = hub.api("owner")
    api.create_webhook(url=receiver.url + "?d=discussion", watched=[{"type": "org", "name": "acme"}],
                       domains=["discussion"])
    off = api.create_webhook(url=receiver.url + "?d=off", watched=[{"type": "org", "name": "acme"}])
    api.disable_webhook(off.id)
    api.create_webhook(url=receiver.url + "?d=other", watched=[{"type": "user", "name": "someone-else"}])
    api.create_webhook(url=receiver.url + "?d=repo", watched=[{"type": "org", "name": "ACME"}], domains=["repo"])
    repo_update_settings(actor=hub.p.owner, repo=repo, private=True)
    deliveries.run()
    [request] = receiver.requests
    assert request.path == "/hook?d=repo"
    payload = WebhookPayload.model_validate_json(request.body)
    assert payload.event.scope == "repo.config" and payload.repo.private is True
    assert request.json()["updatedConfig"] == {"private": True}


def test_list_query_count_is_flat(hub, django_assert_max_num_queries) -> None:  # noqa: ANN001
    from django.test import Client

    for i in range(4):
        hub.api("owner").create_webhook(url=f"https://hooks.example.org/{i}", watched=[])
    client = Client()
    with django_assert_max_num_queries(8):
        response = client.get("/api/settings/webhooks", HTTP_AUTHORIZATION=f"Bearer {hub.token('owner')}")
    assert response.status_code == 200 and len(response.json()) == 4


def test_a_read_only_key_cannot_change_webhooks(hub) -> None:  # noqa: ANN001
    from huggingface_hub import HfApi

    from tests.fixtures.personas import make_key

    read_only = HfApi(endpoint=hub.url, token=make_key(hub.p.owner, scopes="read"))
    with pytest.raises(HfHubHTTPError) as exc:
        read_only.create_webhook(url="https://hooks.example.org/a", watched=[])
    assert _status(exc) == 403
    hook = hub.api("owner").create_webhook(url="https://hooks.example.org/a", watched=[])
    assert [w.id for w in read_only.list_webhooks()] == [hook.id]
    with pytest.raises(HfHubHTTPError):
        read_only.delete_webhook(hook.id)
    assert Webhook.objects.count() == 1
