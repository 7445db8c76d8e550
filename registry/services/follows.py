"""Following a model: its published releases are emailed to followers."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext

from registry.exceptions import NotAuthenticated
from registry.models import ModelRepo, RepoFollow


def row_present(model: type[models.Model], present: bool, **keys: Any) -> bool:
    """Make the row of `keys` exist or not (a follow, a mute), idempotently; a concurrent request that made it
    first is fine. Returns `present`."""
    if not present:
        model.objects.filter(**keys).delete()
        return False
    try:
        with transaction.atomic():
            model.objects.get_or_create(**keys)
    except IntegrityError:  # a concurrent click created it
        pass
    return True


def follow_set(*, user: Any, repo: ModelRepo, follow: bool) -> bool:
    """Follow or unfollow (idempotent). The caller has checked the user can read the repo."""
    if not getattr(user, "is_authenticated", False):
        raise NotAuthenticated(gettext("sign in to follow a model"))
    return row_present(RepoFollow, follow, user=user, repo=repo)

