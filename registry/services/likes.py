"""Liking and unliking a model. The count on ModelRepo (`likes`) changes in the same transaction as the RepoLike
row, with an F expression (no read-modify-write race), so a list sorted by likes never counts rows.

The caller has checked the user can read the repo (registry.selectors.repos.repo_get): a private repo is not found
for an outsider. No AuditEvent: a like changes nothing anyone audits (as a download).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.utils.translation import gettext

from registry import permissions
from registry.exceptions import NotAuthenticated, PermissionDenied
from registry.models import ApiKey, ModelRepo, RepoLike


def _signed_in(user: Any, repo: ModelRepo, api_key: ApiKey | None) -> None:
    if not getattr(user, "is_authenticated", False):
        raise NotAuthenticated(gettext("sign in to like a model"))
    if api_key is not None and not permissions.key_allows_write(api_key, repo.owner_org_id):
        raise PermissionDenied(gettext("this API key is read-only: changing a like needs a key with the write scope"))


def repo_like(*, user: Any, repo: ModelRepo, api_key: ApiKey | None = None) -> bool:
    """Like (idempotent). True when this call added the like."""
    _signed_in(user, repo, api_key)
    try:
        with transaction.atomic():
            _, created = RepoLike.objects.get_or_create(user=user, repo=repo)
            if created:
                ModelRepo.objects.filter(pk=repo.pk).update(likes=F("likes") + 1)
    except IntegrityError:  # a concurrent click created it first (and counted it)
        return False
    return created


def repo_unlike(*, user: Any, repo: ModelRepo, api_key: ApiKey | None = None) -> bool:
    """Unlike (idempotent). True when this call removed a like."""
    _signed_in(user, repo, api_key)
    with transaction.atomic():
        deleted, _ = RepoLike.objects.filter(user=user, repo=repo).delete()
        if deleted:
            ModelRepo.objects.filter(pk=repo.pk, likes__gt=0).update(likes=F("likes") - 1)
    return bool(deleted)


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="likes_user_deleted")
def _user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A deleted account's likes go with it (CASCADE): take them off the counts in the same transaction."""
    ModelRepo.objects.filter(pk__in=RepoLike.objects.filter(user=instance).values("repo_id"),
                             likes__gt=0).update(likes=F("likes") - 1)
