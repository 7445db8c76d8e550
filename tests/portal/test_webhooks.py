"""Settings → Webhooks (a user's) and Organisation → Webhooks (its admins'): create with the form and its CSRF token,
edit, enable/disable, delete, the delivery log and replay; in English and Korean."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from registry.models import AuditEvent, Webhook, WebhookDelivery
from registry.services import webhooks as svc

LIST = "/settings/webhooks"
ORG = "/organizations/acme/settings/webhooks"


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):  # noqa: ANN001, ANN202
    monkeypatch.setattr(svc, "_send", lambda delivery_id: None)


def _hook(user, url="https://hooks.example.org/h", **kwargs) -> Webhook:  # noqa: ANN001
    return svc.webhook_create(actor=user, url=url, watched=kwargs.pop("watched", [{"type": "org", "name": "acme"}]),
                              **kwargs)


def _form(**overrides) -> dict:  # noqa: ANN003
    data = {"url": "https://hooks.example.org/new", "watched": "org:acme\nmodel:acme/tiny",
            "domains": ["repo", "discussion"], "secret": "s3cret"}
    data.update(overrides)
    return data


def test_requires_login(client, db) -> None:  # noqa: ANN001
    assert client.get(LIST).status_code == 302


def test_create_with_the_form_and_its_csrf_token(personas) -> None:  # noqa: ANN001
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.outsider)
    assert client.post(LIST, _form()).status_code == 403  # no token
    page = client.get(LIST).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(LIST, {**_form(), "csrfmiddlewaretoken": token})
    hook = Webhook.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{LIST}/{hook.uid}"
    assert hook.owner_user == personas.outsider and hook.secret == "s3cret"
    assert hook.watched == [{"type": "org", "name": "acme"}, {"type": "model", "name": "acme/tiny"}]
    assert AuditEvent.objects.filter(action="webhook.create", target_label=hook.uid).exists()


@pytest.mark.parametrize("overrides, message", [
    ({"url": "ftp://x.example.org/"}, "http"),
    ({"watched": "acme"}, "type:name"),
    ({"watched": "team:acme"}, "watched type"),
])
def test_invalid_input_is_shown_on_the_form(as_user, personas, overrides, message) -> None:  # noqa: ANN001
    response = as_user(personas.owner).post(LIST, _form(**overrides))
    assert response.status_code == 400 and message in response.content.decode()
    assert not Webhook.objects.exists()


def test_list_shows_only_own_hooks_with_flat_queries(as_user, personas,  # noqa: ANN001
                                                     django_assert_max_num_queries) -> None:
    for i in range(3):
        _hook(personas.owner, f"https://hooks.example.org/{i}")
    _hook(personas.outsider, "https://elsewhere.example.org/")
    client = as_user(personas.owner)
    with django_assert_max_num_queries(12) as few:
        html = client.get(LIST).content.decode()
    assert html.count("https://hooks.example.org/") == 3 and "elsewhere" not in html
    for i in range(3, 9):
        _hook(personas.owner, f"https://hooks.example.org/{i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(LIST).content.decode().count("https://hooks.example.org/") == 9


def test_detail_shows_the_delivery_log_and_replays(as_user, personas,  # noqa: ANN001
                                                   django_assert_max_num_queries) -> None:
    hook = _hook(personas.owner)
    for i in range(3):
        WebhookDelivery.objects.create(webhook=hook, scope="repo.content", action="update", repo_name="acme/tiny",
                                       payload={"n": i}, status="delivered", attempts=1, response_status=200,
                                       latency_ms=42 + i, response_excerpt=f"receiver-said-{i}")
    failed = WebhookDelivery.objects.create(webhook=hook, scope="discussion", action="create", payload={"n": 9},
                                            status="failed", attempts=5, response_status=500,
                                            error="the receiver answered 500")
    client = as_user(personas.owner)
    with django_assert_max_num_queries(14) as few:
        html = client.get(f"{LIST}/{hook.uid}").content.decode()
    assert "receiver-said-2" in html and "44 ms" in html and "the receiver answered 500" in html
    assert html.index("discussion.create") < html.index("repo.content.update")  # newest first
    for i in range(6):
        WebhookDelivery.objects.create(webhook=hook, scope="repo", action="update", payload={}, status="pending")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(f"{LIST}/{hook.uid}")
    response = client.post(f"{LIST}/{hook.uid}/deliveries/{failed.pk}/replay")
    assert response.status_code == 302
    again = WebhookDelivery.objects.order_by("-pk").first()
    assert again.replay_of_id == failed.pk and again.payload == {"n": 9} and again.status == "pending"


def test_edit_enable_disable_delete(as_user, personas) -> None:  # noqa: ANN001
    hook = _hook(personas.owner)
    client = as_user(personas.owner)
    client.post(f"{LIST}/{hook.uid}", _form(url="https://hooks.example.org/edited", domains=["repo"]))
    hook.refresh_from_db()
    assert hook.url == "https://hooks.example.org/edited" and hook.domains == ["repo"]
    client.post(f"{LIST}/{hook.uid}/disable")
    assert Webhook.objects.get(pk=hook.pk).disabled
    assert "This webhook is disabled" in client.get(f"{LIST}/{hook.uid}").content.decode()
    client.post(f"{LIST}/{hook.uid}/enable")
    assert not Webhook.objects.get(pk=hook.pk).disabled
    assert client.post(f"{LIST}/{hook.uid}/delete").status_code == 302
    assert not Webhook.objects.exists()


def test_someone_elses_hook_is_404(as_user, personas) -> None:  # noqa: ANN001
    hook = _hook(personas.owner)
    delivery = WebhookDelivery.objects.create(webhook=hook, scope="repo", action="update", payload={})
    client = as_user(personas.outsider)
    assert client.get(f"{LIST}/{hook.uid}").status_code == 404
    for action in ("disable", "delete"):
        assert client.post(f"{LIST}/{hook.uid}/{action}").status_code == 404
    assert client.post(f"{LIST}/{hook.uid}/deliveries/{delivery.pk}/replay").status_code == 404
    assert Webhook.objects.get(pk=hook.pk).disabled is False
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize("who, status", [("owner", 200), ("member", 404), ("reader", 404), ("outsider", 404)])
def test_org_webhooks_are_for_its_admins(as_user, personas, who, status) -> None:  # noqa: ANN001
    assert as_user(getattr(personas, who)).get(ORG).status_code == status
    response = as_user(getattr(personas, who)).post(ORG, _form())
    assert Webhook.objects.filter(owner_org=personas.org).exists() == (status == 200)
    if status == 200:
        assert response["Location"].startswith(f"{ORG}/")


def test_org_hook_pages(as_user, personas) -> None:  # noqa: ANN001
    hook = svc.webhook_create(actor=personas.owner, org=personas.org, url="https://hooks.example.org/org",
                              watched=[{"type": "org", "name": "acme"}])
    client = as_user(personas.owner)
    assert "https://hooks.example.org/org" in client.get(ORG).content.decode()
    assert client.get(f"{ORG}/{hook.uid}").status_code == 200
    assert client.get(f"{LIST}/{hook.uid}").status_code == 404  # not the user's own
    assert "https://hooks.example.org/org" not in client.get(LIST).content.decode()
    client.post(f"{ORG}/{hook.uid}/disable")
    assert Webhook.objects.get(pk=hook.pk).disabled
    assert as_user(personas.member).post(f"{ORG}/{hook.uid}/delete").status_code == 404
    assert 'href="/organizations/acme/settings/webhooks"' in as_user(personas.owner).get("/acme").content.decode()


def test_pages_in_korean(as_user, personas) -> None:  # noqa: ANN001
    hook = _hook(personas.owner)
    client = as_user(personas.owner)
    html = client.get(LIST, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "웹훅" in html and "Create a webhook" not in html
    html = client.get(f"{LIST}/{hook.uid}", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "전송" in html
