from __future__ import annotations

from typing import Any

from django.db import models

from registry.models import AuditEvent


def audit_record(
    *,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_label: str = "",
    metadata: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Write one AuditEvent. Called by services inside their transaction, so it lands with the change."""
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor=actor if authenticated else None,
        actor_label=actor.get_username() if authenticated else "system",
        action=action,
        target_type=target_type or (target._meta.model_name if target is not None else ""),
        target_id=str(target.pk) if target is not None and target.pk is not None else "",
        target_label=target_label or (str(target) if target is not None else ""),
        metadata=metadata or {},
        ip=ip,
    )
