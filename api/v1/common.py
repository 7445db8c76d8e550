"""Small pieces the native API views share."""

from __future__ import annotations

from rest_framework.request import Request

from registry.models import Commit, ModelRepo
from registry.selectors.repos import repo_get, revision_resolve


def rerun_target(request: Request, namespace: str, name: str) -> tuple[str, ModelRepo, Commit]:
    """(revision, repo, commit) a re-run request names: `?revision=` or a JSON `revision`, default main."""
    data = request.data if isinstance(request.data, dict) else {}
    revision = str(request.query_params.get("revision") or data.get("revision") or "main")
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    return revision, repo, revision_resolve(repo=repo, revision=revision)
