"""Reads of webhooks and their delivery logs, scoped to who manages them (registry.services.webhooks.can_manage)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext

from registry.exceptions import WebhookNotFound
from registry.models import Organization, Webhook, WebhookDelivery
from registry.selectors.keyset import KeysetPage, Ordering, keyset_page
from registry.services.webhooks import can_manage

DELIVERY_ORDER = Ordering(name="new", keys=(("id", "int"),))
DELIVERIES_PAGE_SIZE = 50
WEBHOOKS_MAX = 100  # a user's or an organisation's list, oldest first (services.webhooks.HOOKS_PER_OWNER)


def user_webhooks(*, viewer: Any) -> QuerySet[Webhook]:
    if not getattr(viewer, "is_authenticated", False):
        return Webhook.objects.none()
    return Webhook.objects.filter(owner_user=viewer).order_by("id")[:WEBHOOKS_MAX]


def org_webhooks(*, org: Organization) -> QuerySet[Webhook]:
    return Webhook.objects.filter(owner_org=org).order_by("id")[:WEBHOOKS_MAX]


def webhook_get(*, viewer: Any, uid: str, org: Organization | None = None) -> Webhook:
    """A hook the viewer manages: their own (org=None) or `org`'s; anything else is not found."""
    if not isinstance(uid, str) or len(uid) > 24:
        raise WebhookNotFound(gettext("Webhook not found"))
    qs = Webhook.objects.select_related("owner_user", "owner_org").filter(uid=uid.lower())
    qs = qs.filter(owner_org=org) if org is not None else qs.filter(owner_user_id=getattr(viewer, "pk", None))
    hook = qs.first()
    if hook is None or not can_manage(viewer, hook):
        raise WebhookNotFound(gettext("Webhook not found"))
    return hook


def delivery_page(*, webhook: Webhook, cursor: str | None = None, size: int = DELIVERIES_PAGE_SIZE) -> KeysetPage:
    """The hook's delivery log, newest first (keyset pages on the (webhook, -id) index)."""
    qs = WebhookDelivery.objects.filter(webhook=webhook).defer("payload")
    return keyset_page(qs, ordering=DELIVERY_ORDER, cursor=cursor, size=size)


def delivery_get(*, webhook: Webhook, delivery_id: Any) -> WebhookDelivery:
    try:
        pk = int(delivery_id)
    except (TypeError, ValueError) as exc:
        raise WebhookNotFound(gettext("Delivery not found")) from exc
    delivery = WebhookDelivery.objects.filter(webhook=webhook, pk=pk).select_related("webhook").first()
    if delivery is None:
        raise WebhookNotFound(gettext("Delivery not found"))
    return delivery
