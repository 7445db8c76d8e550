"""Webhooks in Django admin: staff disable, enable, delete and replay through the services, each audited."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from registry.models import AuditEvent, Webhook, WebhookDelivery
from registry.services import webhooks as svc


@pytest.fixture
def staff(db, client, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setattr(svc, "_send", lambda delivery_id: None)
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


def act(client, model: str, action: str, pks: list[int]):  # noqa: ANN001, ANN201
    return client.post(reverse(f"admin:registry_{model}_changelist"),
                       {"action": action, "_selected_action": pks}, follow=True)


def test_staff_disable_enable_and_delete_hooks_with_audit(staff, personas) -> None:  # noqa: ANN001
    hook = svc.webhook_create(actor=personas.outsider, url="https://hooks.example.org/h",
                              watched=[{"type": "org", "name": "acme"}])
    assert staff.get(reverse("admin:registry_webhook_changelist")).status_code == 200
    assert staff.get(reverse("admin:registry_webhook_change", args=[hook.pk])).status_code == 200
    act(staff, "webhook", "disable", [hook.pk])
    hook.refresh_from_db()
    assert hook.disabled and hook.disabled_reason == "disabled by an administrator"
    act(staff, "webhook", "enable", [hook.pk])
    assert not Webhook.objects.get(pk=hook.pk).disabled
    act(staff, "webhook", "delete_hooks", [hook.pk])
    assert not Webhook.objects.exists()
    actions = list(AuditEvent.objects.filter(target_label=hook.uid).order_by("pk").values_list("action", "actor_label"))
    assert actions == [("webhook.create", "oscar"), ("webhook.disable", "root"), ("webhook.enable", "root"),
                       ("webhook.delete", "root")]


def test_staff_replay_deliveries(staff, personas) -> None:  # noqa: ANN001
    hook = svc.webhook_create(actor=personas.outsider, url="https://hooks.example.org/h", watched=[])
    delivery = WebhookDelivery.objects.create(webhook=hook, scope="repo", action="update", payload={"a": 1},
                                              status="failed", attempts=5, error="the receiver answered 500")
    assert "the receiver answered 500" in staff.get(
        reverse("admin:registry_webhookdelivery_change", args=[delivery.pk])).content.decode()
    act(staff, "webhookdelivery", "replay", [delivery.pk])
    again = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    assert again.status == "pending" and again.payload == {"a": 1} and again.replay_of_id == delivery.pk
    assert AuditEvent.objects.filter(action="webhook.replay", actor_label="root").exists()


def test_non_staff_services_refuse_staff_flag(personas) -> None:  # noqa: ANN001
    from registry.exceptions import WebhookNotFound

    hook = svc.webhook_create(actor=personas.owner, url="https://hooks.example.org/h", watched=[])
    with pytest.raises(WebhookNotFound):
        svc.webhook_delete(actor=personas.outsider, webhook=hook, staff=True)
