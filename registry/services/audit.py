from __future__ import annotations

from typing import Any

from django.db import models

from registry.models import AuditEvent

# Every action a service records. The admin's action filter offers these (a fixed list: a SELECT DISTINCT over a
# million audit rows is what it replaces); tests/registry/services/test_audit.py checks that every action a
# service writes is listed here.
AUDIT_ACTIONS: tuple[str, ...] = (
    "api_key.create", "api_key.revoke",
    "attachment.delete",
    "blob.materialise", "blob.reject", "blob.upload",
    "branch.create", "branch.delete", "branch.update",
    "commit.create",
    "discussion.comment.edit", "discussion.comment.hide", "discussion.create", "discussion.delete",
    "discussion.lock", "discussion.status", "discussion.unlock",
    "inference.rerun",
    "license.accept", "license.approve", "license.cancel", "license.grant", "license.reject", "license.update",
    "mirror.set",
    "org.invite", "org.invite_accept", "org.invite_cancel", "org.member_add", "org.member_remove",
    "org.member_role",
    "pull_request.merge",
    "release.approve", "release.mirror", "release.publish", "release.recheck", "release.reject",
    "release.request", "release.waive_inference", "release.withdraw",
    "repo.create", "repo.delete", "repo.license_from_card", "repo.move", "repo.restore", "repo.take_down",
    "repo.update", "repo.update_settings",
    "storage.gc", "storage.xet_gc",
    "tag.create", "tag.delete",
    "validation.finish", "validation.rerun",
    "webhook.create", "webhook.delete", "webhook.disable", "webhook.enable", "webhook.replay", "webhook.update",
)
# What events are about (AuditEvent.target_type: the target's model name, or what a service names).
AUDIT_TARGET_TYPES: tuple[str, ...] = ("apikey", "blob", "license", "modelrepo", "organization", "webhook", "xorb")


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
