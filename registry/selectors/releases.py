"""Reads for releases: per repo (visibility follows the repo's), the consortium's latest, an admin's queue."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from registry.exceptions import ReleaseNotFound, RepoNotFound
from registry.models import ModelRepo, Release, ReleaseDecision, RepoFollow, UserDownload
from registry.selectors.repos import repo_get, repo_visible_queryset

LISTED = (Release.State.PUBLISHED,)


def releases_for_repo(*, repo: ModelRepo, viewer: Any = None, include_unpublished: bool = False,
                      include_withdrawn: bool = False) -> QuerySet[Release]:
    """The repo's releases, newest first. The caller has checked the viewer may read the repo."""
    states = list(LISTED)
    if include_unpublished:
        states += [Release.State.DRAFT, Release.State.PENDING, Release.State.APPROVED, Release.State.REJECTED]
    if include_withdrawn:
        states.append(Release.State.WITHDRAWN)
    return (Release.objects.filter(repo=repo, state__in=states)
            .select_related("repo", "commit", "license", "requested_by").order_by("-created_at", "-id"))


def release_get(*, repo: ModelRepo, version: str) -> Release:
    release = (Release.objects.select_related("repo", "commit", "license", "requested_by", "withdrawn_by",
                                              "inference_waived_by")
               .filter(repo=repo, version=version.removeprefix("v")).first())
    if release is None:
        raise ReleaseNotFound(f"{repo.repo_id} has no release {version}")
    return release


def published_releases(*, viewer: Any = None, limit: int = 10) -> list[Release]:
    """The latest published releases of repos the viewer can see (withdrawn ones are not listed)."""
    return list(Release.objects.filter(state=Release.State.PUBLISHED,
                                       repo__in=repo_visible_queryset(viewer=viewer))
                .select_related("repo", "commit").order_by("-published_at", "-id")[:limit])


def pending_releases_for(user: Any) -> QuerySet[Release]:
    """Open requests (pending, and blocked drafts) this consortium admin has not decided on yet."""
    decided = ReleaseDecision.objects.filter(user=user).values("release_id")
    return (Release.objects.filter(state__in=[Release.State.PENDING, Release.State.DRAFT])
            .exclude(pk__in=decided).select_related("repo", "commit", "requested_by")
            .order_by("created_at", "id"))


def release_downloaders(*, release: Release) -> QuerySet[UserDownload]:
    return (UserDownload.objects.filter(repo=release.repo, commit=release.commit)
            .select_related("user").order_by("-last_at"))


def withdrawn_release_for_commit(*, repo: ModelRepo, commit_id: int) -> Release | None:
    return Release.objects.filter(repo=repo, commit_id=commit_id, state=Release.State.WITHDRAWN).first()


def release_repo_get(*, viewer: Any, namespace: str, name: str) -> ModelRepo:
    """The repo, as repo_get sees it — except that consortium admins, who sign releases off, also reach a private
    repo that has release requests (its files stay private to them: only the release records are shown)."""
    from registry.services.releases import is_consortium_admin

    try:
        return repo_get(viewer=viewer, namespace=namespace, name=name)
    except RepoNotFound:
        if not is_consortium_admin(viewer):
            raise
        repo = (ModelRepo.objects.filter(namespace__iexact=namespace, name__iexact=name, releases__isnull=False)
                .select_related("owner_org", "owner_user", "license").distinct().first())
        if repo is None:
            raise
        return repo


def follow_state(*, user: Any, repo: ModelRepo) -> tuple[bool, int]:
    """(whether the user follows the repo, how many people do)."""
    followers = RepoFollow.objects.filter(repo=repo)
    count = followers.count()
    mine = bool(count and getattr(user, "is_authenticated", False) and followers.filter(user=user).exists())
    return mine, count
