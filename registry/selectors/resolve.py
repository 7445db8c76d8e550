"""Reads of the download route (`/resolve`), memoised per web process behind the registry generation.

huggingface_hub HEADs every file of a snapshot on every load, so these run far more often than anything else. The
answers are the same as `repo_get` + `permissions.can_download` + `validation.file_lookup_checked` give; they are
just remembered until any watched row changes (registry.generation explains when that is noticed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext

from registry import generation, permissions
from registry.exceptions import RepoNotFound
from registry.models import CommitFile, ModelRepo
from registry.selectors.repos import repo_by_name
from registry.selectors.validation import file_lookup_checked


def repo_for_download(*, viewer: Any, namespace: str, name: str) -> tuple[ModelRepo, bool]:
    """The repo (RepoNotFound, as `repo_get` answers, when missing or private to the viewer) and whether the
    viewer may download its files (gated repos: an accepted license, or membership of the owner)."""
    repo = generation.memoised(("repo", namespace.lower(), name.lower()),
                               lambda: repo_by_name(namespace=namespace, name=name))
    if repo is None:
        raise RepoNotFound(gettext("Repository not found"))
    viewer_key = viewer.pk if getattr(viewer, "is_authenticated", False) else None
    readable, downloadable = generation.memoised(
        ("repo_access", repo.pk, viewer_key),
        lambda: (permissions.can_read_repo(viewer, repo), permissions.can_download(viewer, repo)))
    if not readable:
        raise RepoNotFound(gettext("Repository not found"))
    return repo, downloadable


def file_for_download(*, repo: ModelRepo, candidates: Sequence[tuple[str, str]]
                      ) -> tuple[str, CommitFile | None, str]:
    """`file_lookup_checked` (commit oid, the file with its blob and quarantine reason or None, path)."""
    return generation.memoised(("file", repo.pk, tuple(candidates)),
                               lambda: file_lookup_checked(repo=repo, candidates=candidates), keep=_slim)


MEMO_CONTENT_MAX = 16 * 1024  # inline files up to this size are remembered with their bytes


def _slim(found: tuple[str, CommitFile | None, str]) -> tuple[str, CommitFile | None, str]:
    """Remember a larger inline file without its bytes (a deferred field: a GET loads them, a HEAD never needs
    them), so the memo stays small whatever the repos hold."""
    oid, entry, path = found
    if entry is not None and entry.content is not None and len(entry.content) > MEMO_CONTENT_MAX:
        entry = generation.model_copy(entry)
        del entry.__dict__["content"]
    return oid, entry, path

