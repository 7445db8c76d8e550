"""Reads of likes: a user's liked repos and a repo's likers, newest first, as keyset pages over the RepoLike
indexes (repolike_user_created, repolike_repo_created), and whether the viewer likes a repo."""

from __future__ import annotations

from typing import Any

from registry.models import ModelRepo, RepoLike
from registry.selectors.keyset import KeysetPage, Ordering, keyset_page
from registry.selectors.lineage import visible_repo_q

LIKES_ORDER = Ordering("likes", (("created_at", "datetime"), ("id", "int")))
MAX_PAGE_SIZE = 1000


def user_likes_page(*, viewer: Any, user: Any, cursor: str | None, size: int) -> KeysetPage:
    """The repos `user` likes that `viewer` may see (a private repo's like shows only to its readers), newest
    first; each row's `repo` is loaded. InvalidInput for a cursor no page of this list gave."""
    rows = (RepoLike.objects.filter(user=user).filter(visible_repo_q(viewer, "repo__"))
            .select_related("repo"))
    return keyset_page(rows, ordering=LIKES_ORDER, cursor=cursor, size=max(1, min(size, MAX_PAGE_SIZE)))


def repo_likers_page(*, repo: ModelRepo, cursor: str | None, size: int) -> KeysetPage:
    """Who likes `repo` (the caller has checked the viewer may read it), newest first; each row's `user` loaded."""
    rows = RepoLike.objects.filter(repo=repo).select_related("user")
    return keyset_page(rows, ordering=LIKES_ORDER, cursor=cursor, size=max(1, min(size, MAX_PAGE_SIZE)))


def like_state(*, user: Any, repo: ModelRepo) -> bool:
    """Whether the user likes the repo (no query for anonymous viewers or a repo nobody likes)."""
    if not getattr(user, "is_authenticated", False) or not repo.likes:
        return False
    return RepoLike.objects.filter(user=user, repo=repo).exists()
