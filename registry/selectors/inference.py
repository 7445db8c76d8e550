"""Reads of inference checks, with the repo's visibility (private → not found)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from registry.models import Commit, InferenceCheck, ModelRepo
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
