"""API keys: `hub_<id>_<secret>`. The id is stored in clear to find the row; the whole key only hashed."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from registry import generation
from registry.exceptions import InvalidInput, PermissionDenied
from registry.models import ApiKey, Membership, Organization
from registry.services.audit import audit_record

KEY_PREFIX = "hub_"
_ALPHABET = string.ascii_lowercase + string.digits
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(
    *,
    user: Any,
    name: str,
    scopes: list[str],
    organization: Organization | None = None,
    expires_days: int | None = None,
    actor: Any = None,
    ip: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns (row, secret). The secret exists only in this return value."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput(gettext("a key needs a name of at most 100 characters"))
    scopes = sorted(set(scopes or []))
    if not scopes or any(s not in ApiKey.Scope.values for s in scopes):
        raise InvalidInput(gettext("scopes must be a non-empty subset of read, write, admin"))
    if "admin" in scopes and not (user.is_staff or Membership.objects.filter(
            user=user, role=Membership.Role.ADMIN).exists()):
        raise PermissionDenied(gettext("only organisation admins and staff can create admin-scope keys"))
    if organization is not None and not (
        user.is_superuser or Membership.objects.filter(user=user, organization=organization).exists()
    ):
        raise PermissionDenied(gettext("you are not a member of %(slug)s") % {"slug": organization.slug})
    if expires_days is not None and expires_days < 1:
        raise InvalidInput(gettext("expiry must be at least one day"))
    public_id = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    secret = f"{KEY_PREFIX}{public_id}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey.objects.create(
            user=user, name=name, prefix=f"{KEY_PREFIX}{public_id}", secret_hash=_hash(secret), scopes=scopes,
            organization=organization,
            expires_at=timezone.now() + timedelta(days=expires_days) if expires_days else None,
        )
        audit_record(actor=actor or user, action="api_key.create", target=key, ip=ip,
                     target_label=f"{key.prefix} ({name}) of {user.get_username()}",
                     metadata={"scopes": scopes, "organization": organization.slug if organization else None})
    return key, secret


def api_key_revoke(*, actor: Any, key: ApiKey, ip: str | None = None) -> ApiKey:
    if not (getattr(actor, "is_staff", False) or actor.pk == key.user_id):
        raise PermissionDenied(gettext("you can only revoke your own keys"))
    if key.revoked_at is not None:
        return key
    with transaction.atomic():
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="api_key.revoke", target=key, ip=ip,
                     target_label=f"{key.prefix} ({key.name}) of {key.user}")
    return key


def api_key_authenticate(*, secret: str) -> ApiKey | None:
    """The active key matching the secret, or None. Constant-time comparison of the hash.

    The row (with its user) is memoised per process behind the registry generation (registry.generation), so a
    revoked key, a deactivated user or a changed scope is seen on the next request; expiry is checked every time.
    """
    if not secret.startswith(KEY_PREFIX) or secret.count("_") < 2:
        return None
    prefix = secret[: len(KEY_PREFIX) + 8]
    key = generation.memoised(
        ("api_key", prefix),
        lambda: ApiKey.objects.select_related("user", "organization").filter(prefix=prefix).first())
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        return None
    if not key.is_active or not key.user.is_active:
        return None
    now = timezone.now()
    # The memoised row keeps the last_used_at it was read with: what this process wrote since is noted beside it.
    last_used = max(filter(None, (key.last_used_at, generation.noted(("api_key_used", key.pk)))), default=None)
    if last_used is None or now - last_used > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)  # not a watched change: the memo stays
        generation.note(("api_key_used", key.pk), now)
        last_used = now
    key.last_used_at = last_used
    return key
