"""Reads of inference checks, with the repo's visibility (private → not found)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Max, Subquery

from registry.models import Commit, InferenceCheck, InferenceStatus, ModelRepo
from registry.selectors.repos import repo_get, revision_resolve


@dataclass(frozen=True)
class RevisionInferenceChecks:
    repo: ModelRepo
    revision: str
    commit: Commit
    checks: list[InferenceCheck]


def inference_checks_for_revision(*, viewer: Any, namespace: str, name: str, revision: str = "main"
                                  ) -> RevisionInferenceChecks:
    """The checks of the commit `revision` names, newest first (an empty list when never checked)."""
    repo = repo_get(viewer=viewer, namespace=namespace, name=name)
    commit = revision_resolve(repo=repo, revision=revision)
    checks = list(InferenceCheck.objects.filter(commit=commit).order_by("-created_at", "-id"))
    return RevisionInferenceChecks(repo=repo, revision=revision, commit=commit, checks=checks)


# --- the portal's Checks tab --------------------------------------------------------------------------

CHART_REVISIONS = 20  # points in the tokens/s chart


@dataclass(frozen=True)
class SpeedPoint:
    """tokens/s of one commit: its newest passed check."""

    commit_oid: str
    commit_title: str
    committed_at: Any
    tokens_per_second: float
    device: str


def commit_inference_status(*, commit: Commit | None) -> str | None:
    """The status of the commit's newest check, None when it was never checked (one query)."""
    if commit is None:
        return None
    return (InferenceCheck.objects.filter(commit=commit).order_by("-created_at", "-id")
            .values_list("status", flat=True).first())


def inference_latest_for_commit(*, repo: ModelRepo, commit: Commit) -> InferenceCheck | None:
    """The newest check of a commit of `repo` (visible to the caller: the view resolved it with repo_get)."""
    return (InferenceCheck.objects.filter(repo=repo, commit=commit).order_by("-created_at", "-id").first())


def inference_speed_history(*, repo: ModelRepo, limit: int | None = None) -> list[SpeedPoint]:
    """tokens/s across the repo's commits, oldest first: the newest `limit` commits with a passed check,
    one point per commit (its newest passed check; ids grow with time), in one query."""
    limit = limit or CHART_REVISIONS
    passed = InferenceCheck.objects.filter(repo=repo, status=InferenceStatus.PASSED)
    newest_per_commit = passed.values("commit").annotate(last=Max("id")).values("last")
    rows = (passed.filter(pk__in=Subquery(newest_per_commit))
            .select_related("commit").only("metrics", "device", "created_at", "commit__oid", "commit__title",
                                           "commit__created_at")
            .order_by("-commit__created_at", "-id")[:limit])
    points = []
    for check in rows:
        speed = (check.metrics or {}).get("tokens_per_second")
        if isinstance(speed, (int, float)) and speed >= 0:
            points.append(SpeedPoint(commit_oid=check.commit.oid, commit_title=check.commit.title,
                                     committed_at=check.commit.created_at, tokens_per_second=float(speed),
                                     device=check.device))
    return points[::-1]
