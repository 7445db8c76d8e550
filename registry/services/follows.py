"""Following a model: its published releases are emailed to followers."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from registry.exceptions import NotAuthenticated
from registry.models import ModelRepo, RepoFollow


def follow_set(*, user: Any, repo: ModelRepo, follow: bool) -> bool:
    """Follow or unfollow (idempotent). The caller has checked the user can read the repo."""
    if not getattr(user, "is_authenticated", False):
        raise NotAuthenticated(gettext("sign in to follow a model"))
    if not follow:
        RepoFollow.objects.filter(user=user, repo=repo).delete()
        return False
    try:
        with transaction.atomic():
            RepoFollow.objects.get_or_create(user=user, repo=repo)
    except IntegrityError:  # a concurrent click created it
        pass
    return True

