"""Reads for releases: per repo (visibility follows the repo's), the consortium's latest, an admin's queue."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext

from registry import permissions
from registry.exceptions import ReleaseNotFound
from registry.models import ModelRepo, Release, ReleaseDecision, RepoFollow, UserDownload
from registry.selectors.repos import repo_visible_queryset

LISTED = (Release.State.PUBLISHED,)


def releases_for_repo(*, repo: ModelRepo, viewer: Any = None, include_unpublished: bool = False,
                      include_withdrawn: bool = False) -> QuerySet[Release]:
    """The repo's releases, newest first; open, rejected and withdrawn ones only when asked for and the viewer may
    see them (permissions.can_see_open_releases). The caller got the repo through repo_get for this viewer."""
    if not (include_unpublished or include_withdrawn) or not permissions.can_see_open_releases(viewer, repo):
        include_unpublished = include_withdrawn = False
    states = list(LISTED)
    if include_unpublished:
        states += [Release.State.DRAFT, Release.State.PENDING, Release.State.APPROVED, Release.State.REJECTED]
    if include_withdrawn:
        states.append(Release.State.WITHDRAWN)
    return (Release.objects.filter(repo=repo, state__in=states)
            .select_related("repo", "commit", "license", "requested_by").order_by("-created_at", "-id"))


def release_visible_get(*, viewer: Any, repo: ModelRepo, version: str) -> Release:
    """A release of a repo the viewer reads: published and withdrawn ones for every reader, open and rejected
    requests only for those who may see them (permissions.can_see_open_releases); ReleaseNotFound otherwise."""
    release = release_get(repo=repo, version=version)
    if release.state not in (Release.State.PUBLISHED, Release.State.WITHDRAWN) \
            and not permissions.can_see_open_releases(viewer, repo):
        raise ReleaseNotFound(gettext("%(repo_id)s has no release %(version)s")
            % {"repo_id": repo.repo_id, "version": version})
    return release


def release_get(*, repo: ModelRepo, version: str) -> Release:
    release = (Release.objects.select_related("repo", "commit", "license", "requested_by", "withdrawn_by",
                                              "inference_waived_by")
               .filter(repo=repo, version=version.removeprefix("v")).first())
    if release is None:
        raise ReleaseNotFound(gettext("%(repo_id)s has no release %(version)s")
            % {"repo_id": repo.repo_id, "version": version})
    return release


def published_releases(*, viewer: Any = None, limit: int = 10) -> list[Release]:
    """The latest published releases of repos the viewer can see (withdrawn ones are not listed)."""
    return list(Release.objects.filter(state=Release.State.PUBLISHED,
                                       repo__in=repo_visible_queryset(viewer=viewer))
                .select_related("repo", "commit").order_by("-published_at", "-id")[:limit])


def pending_releases_for(user: Any) -> QuerySet[Release]:
    """Open requests (pending, and blocked drafts) of repos this consortium admin may read and has not decided on
    yet (another organisation's private repo is none of their business)."""
    decided = ReleaseDecision.objects.filter(user=user).values("release_id")
    return (Release.objects.filter(state__in=[Release.State.PENDING, Release.State.DRAFT],
                                   repo__in=repo_visible_queryset(viewer=user).values("pk"))
            .exclude(pk__in=decided).select_related("repo", "commit", "requested_by")
            .order_by("created_at", "id"))


def release_downloaders(*, release: Release) -> QuerySet[UserDownload]:
    return (UserDownload.objects.filter(repo=release.repo, commit=release.commit)
            .select_related("user").order_by("-last_at"))


def withdrawn_release_for_commit(*, repo: ModelRepo, commit_id: int) -> Release | None:
    return Release.objects.filter(repo=repo, commit_id=commit_id, state=Release.State.WITHDRAWN).first()


def follow_state(*, user: Any, repo: ModelRepo) -> tuple[bool, int]:
    """(whether the user follows the repo, how many people do)."""
    followers = RepoFollow.objects.filter(repo=repo)
    count = followers.count()
    mine = bool(count and getattr(user, "is_authenticated", False) and followers.filter(user=user).exists())
    return mine, count
