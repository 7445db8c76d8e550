"""Webhooks (HF_COMMUNITY.md §2): a user's (or an organisation's) subscription to events on repos it can read, and
the log of every delivery made for it.

A hook is owned by a user (the HF client's `/api/settings/webhooks`) or by an organisation (managed by its admins in
the portal). Its public id is lowercase hex, as the Hub's are. Deliveries are rows first (the job outbox sends them);
the log keeps status, latency and a bounded excerpt of the receiver's answer.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

WEBHOOK_DOMAINS = ("repo", "discussion")
WATCHED_TYPES = ("user", "org", "model", "dataset", "space", "bucket")
RESPONSE_EXCERPT_MAX = 1024


def new_webhook_id() -> str:
    return secrets.token_hex(12)


class Webhook(models.Model):
    uid = models.CharField(max_length=24, unique=True, default=new_webhook_id, help_text="Public id (lowercase hex).")
    owner_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="webhooks")
    owner_org = models.ForeignKey("registry.Organization", null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="webhooks")
    url = models.CharField(max_length=2000, help_text="http:// or https:// receiver (checked by the service).")
    secret = models.CharField(max_length=200, blank=True,
                              help_text="Sent as X-Webhook-Secret; shown back to the owner, as the Hub does.")
    domains = models.JSONField(default=list, help_text='Subset of ["repo", "discussion"].')
    watched = models.JSONField(default=list, help_text='[{"type": "model"|"user"|"org"|…, "name": …}]')
    disabled = models.BooleanField(default=False)
    disabled_reason = models.CharField(max_length=300, blank=True)
    failure_streak = models.PositiveIntegerField(default=0, help_text="Consecutive failed deliveries.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(owner_user__isnull=False, owner_org__isnull=True)
                           | Q(owner_user__isnull=True, owner_org__isnull=False)),
                name="webhook_one_owner"),
        ]
        indexes = [
            models.Index(fields=["owner_user", "id"], name="webhook_user_list"),
            models.Index(fields=["owner_org", "id"], name="webhook_org_list"),
            models.Index(fields=["disabled"], name="webhook_enabled"),
        ]

    def __str__(self) -> str:
        return f"{self.uid} → {self.url}"

    @property
    def owner_label(self) -> str:
        if self.owner_org_id is not None:
            return self.owner_org.slug
        return self.owner_user.get_username() if self.owner_user_id else ""


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    scope = models.CharField(max_length=40)
    action = models.CharField(max_length=20)
    repo_name = models.CharField(max_length=200, blank=True)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=RESPONSE_EXCERPT_MAX, blank=True)
    error = models.CharField(max_length=500, blank=True)
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["webhook", "-id"], name="webhook_delivery_log")]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.webhook_id} {self.scope}.{self.action} {self.status}"


class WebhookWatch(models.Model):
    """One watched item of a hook, lowercased: the index events are matched on (a repo's id, its namespace)."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="watches")
    type = models.CharField(max_length=10)
    name = models.CharField(max_length=200)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["webhook", "type", "name"], name="uniq_webhook_watch")]
        indexes = [models.Index(fields=["type", "name"], name="webhook_watch_lookup")]
        verbose_name_plural = "webhook watches"

    def __str__(self) -> str:
        return f"{self.type}:{self.name}"
