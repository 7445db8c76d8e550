"""Hub events as an outbox: what webhooks and notification e-mails react to is never only in memory.

`registry.hooks.hub_event(...)` calls `event_record`, which writes a HubEvent row and its Job in the producer's
transaction. Once that commits, the same process hands the event to the listeners at once (`_dispatch_now`: a
webhook's delivery row is usually written within the request). If that fails, or the process dies between the
commit and the hand-over, the job's row is still queued and the job sweep sends `registry.dispatch_hub_event` to a
worker within a minute. `event_dispatch` runs the listeners once per event, in one transaction with the row's
`dispatched_at`, so a second copy of the job does nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from registry import hooks
from registry.models import HubEvent
from registry.services.jobs import job_enqueue, job_lease

logger = logging.getLogger(__name__)

TASK = "registry.dispatch_hub_event"
KEPT_DAYS = 7
PRUNE_BATCH = 5_000


def event_record(event: dict[str, Any]) -> HubEvent:
    """Write the event and its job in the current transaction; hand it over once that commits."""
    row = HubEvent.objects.create(payload=event)
    job_enqueue(task=TASK, key=row.pk, send=_dispatch_now)
    return row


def _dispatch_now(event_id: int) -> None:
    """In the process that made the event, right after its commit. Never fails the caller: the job stays queued and
    the sweep hands the event to a worker."""
    try:
        with job_lease(task=TASK, key=event_id, worker="inline") as lease:
            if lease.run:
                event_dispatch(event_id=event_id)
    except Exception:  # noqa: BLE001 - the change that made the event has committed; the sweep retries
        logger.warning("hub event %s not dispatched now; the job sweep will", event_id, exc_info=True)


def event_dispatch(*, event_id: int) -> bool:
    """Give the event to every listener, once. Each listener runs in a savepoint: one that fails is logged and the
    others still get the event. False when the event is unknown or was dispatched already."""
    with transaction.atomic():
        row = HubEvent.objects.select_for_update().filter(pk=event_id, dispatched_at__isnull=True).first()
        if row is None:
            return False
        for listener in hooks.hub_event_listeners():
            try:
                with transaction.atomic():
                    listener(dict(row.payload))
            except Exception:  # noqa: BLE001 - one listener's bug must not cost the others their event
                logger.exception("hub event %s: listener %r failed", event_id, listener)
        HubEvent.objects.filter(pk=row.pk).update(dispatched_at=timezone.now())
    return True


def hub_events_prune(*, keep_days: int = KEPT_DAYS, limit: int = PRUNE_BATCH) -> int:
    """Dispatched events older than `keep_days` go (a batch at a time: the hourly prune keeps up)."""
    cutoff = timezone.now() - timedelta(days=keep_days)
    ids = list(HubEvent.objects.filter(dispatched_at__lt=cutoff).order_by("pk").values_list("pk", flat=True)[:limit])
    return HubEvent.objects.filter(pk__in=ids).delete()[0] if ids else 0
