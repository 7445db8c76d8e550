"""Reads of validation results: a revision's run for the API, and quarantine decisions for downloads."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext

from registry.exceptions import EntryNotFound
from registry.models import Blob, Commit, CommitFile, ContentVerdict, FileCheck, ModelRepo, ValidationRun
from registry.selectors.repos import repo_get, revision_resolve


@dataclass(frozen=True)
class RevisionValidation:
    repo: ModelRepo
    revision: str
    commit: Commit
    run: ValidationRun
    files: list[FileCheck]


def validation_for_revision(*, viewer: Any, namespace: str, name: str, revision: str = "main"
                            ) -> RevisionValidation:
    """The run of the commit `revision` names, with the same visibility as the repo (private → not found)."""
    repo = repo_get(viewer=viewer, namespace=namespace, name=name)
    commit = revision_resolve(repo=repo, revision=revision)
    result = validation_for_commit(repo=repo, commit=commit, revision=revision)
    if result is None:
        raise EntryNotFound(gettext("revision %(oid)s has not been validated")
            % {"oid": commit.oid}, code="ValidationNotFound")
    return result


def validation_for_commit(*, repo: ModelRepo, commit: Commit, revision: str) -> RevisionValidation | None:
    """The run of a commit the caller already resolved (and may see), with its files; None if never run.

    Two queries whatever the number of files.
    """
    run = ValidationRun.objects.filter(commit=commit).first()
    if run is None:
        return None
    files = list(FileCheck.objects.filter(run=run).order_by("path"))
    return RevisionValidation(repo=repo, revision=revision, commit=commit, run=run, files=files)


def commit_validation_status(*, commit: Commit | None) -> str | None:
    """The status of the commit's run (pending, running, passed, warning, failed), None when it has none."""
    if commit is None:
        return None
    return ValidationRun.objects.filter(commit=commit).values_list("status", flat=True).first()


def validation_run_list(*, repo: ModelRepo | None = None) -> QuerySet[ValidationRun]:
    qs = ValidationRun.objects.select_related("repo", "commit")
    return qs.filter(repo=repo) if repo is not None else qs


# --- quarantine ---------------------------------------------------------------------------------


def _failed_reason(**match: Any) -> Subquery:
    return Subquery(ContentVerdict.objects.filter(status="failed", **match).values("reason")[:1])


def quarantine_annotation() -> Coalesce:
    """`quarantine_reason` for CommitFile rows: the failed verdict of the blob (by sha256) or of the inline
    content (by git blob sha1), else NULL. An annotation, so /resolve pays no extra query."""
    return Coalesce(_failed_reason(sha256=OuterRef("blob__sha256")),
                    _failed_reason(git_oid=OuterRef("git_oid")))


def with_quarantine(qs: QuerySet[CommitFile]) -> QuerySet[CommitFile]:
    """CommitFile rows with `quarantine_reason` annotated (subqueries: no extra query for a listing).
    Read it through `file_quarantine`, which also knows rejected blobs (select_related("blob") first)."""
    return qs.annotate(quarantine_reason=quarantine_annotation())


VERDICT_CHUNK = 500  # content keys per IN (…)

Verdict = tuple[str, str, Any]  # (status, reason, checks)


def content_verdicts(keys: Iterable[tuple[str | None, str]], *, failed_only: bool = False
                     ) -> Callable[[str | None, str], Verdict | None]:
    """The verdicts on a set of file contents, read in one query per VERDICT_CHUNK keys; returns a lookup
    `(blob sha256 or None, git oid) -> (status, reason, checks) | None`.

    The one rule every reader of verdicts applies, as `quarantine_annotation` does in SQL: a file is judged by the
    verdict on its blob's sha256, else by the verdict on its git blob id. `failed_only` reads only failed verdicts
    (the partial indexes: a few rows whatever the number of verdicts)."""
    keys = list(keys)
    shas = sorted({sha for sha, _oid in keys if sha})
    oids = sorted({oid for _sha, oid in keys if oid})
    qs = ContentVerdict.objects.filter(status="failed") if failed_only else ContentVerdict.objects.all()
    by_sha: dict[str, Verdict] = {}
    by_oid: dict[str, Verdict] = {}
    for start in range(0, max(len(shas), len(oids)), VERDICT_CHUNK):
        cond = Q(sha256__in=shas[start:start + VERDICT_CHUNK]) | Q(git_oid__in=oids[start:start + VERDICT_CHUNK])
        for sha256, git_oid, status, reason, checks in qs.filter(cond).values_list(
                "sha256", "git_oid", "status", "reason", "checks"):
            by_sha.setdefault(sha256, (status, reason, checks))
            if git_oid:
                by_oid.setdefault(git_oid, (status, reason, checks))

    def lookup(sha256: str | None, git_oid: str) -> Verdict | None:
        found = by_sha.get(sha256) if sha256 else None
        return found if found is not None else by_oid.get(git_oid)

    return lookup


def quarantine_attach(*, files: Sequence[CommitFile]) -> None:
    """Set `quarantine_reason` on a page of CommitFile rows (blobs joined), as `with_quarantine` would annotate it:
    the failed verdicts of their blobs' sha256 or their git oids (`content_verdicts`). `file_quarantine` then
    answers without a query."""
    if not files:
        return
    lookup = content_verdicts(((f.blob.sha256 if f.blob_id is not None else None, f.git_oid) for f in files),
                              failed_only=True)
    for f in files:
        verdict = lookup(f.blob.sha256 if f.blob_id is not None else None, f.git_oid)
        f.quarantine_reason = verdict[1] if verdict is not None else None  # type: ignore[attr-defined]


def file_quarantine(*, commit_file: CommitFile) -> str | None:
    """Why the file must not be served (its content failed validation, or its bytes were rejected), or None.

    Uses the `quarantine_reason` annotation when the row carries it (no query); otherwise one query.
    """
    blob = commit_file.blob if commit_file.blob_id else None
    if blob is not None and blob.state == Blob.State.REJECTED:
        return f"the stored bytes failed verification: {blob.rejected_reason}"
    if hasattr(commit_file, "quarantine_reason"):
        reason = commit_file.quarantine_reason
    else:
        cond = Q(sha256=blob.sha256) if blob is not None else Q(git_oid=commit_file.git_oid)
        if blob is None and commit_file.content is not None:
            cond |= Q(sha256=hashlib.sha256(bytes(commit_file.content)).hexdigest())
        reason = ContentVerdict.objects.filter(cond, status="failed").values_list("reason", flat=True).first()
    if reason is None:
        return None
    return reason or "the file failed validation"


def file_lookup_checked(*, repo: ModelRepo, candidates: Sequence[tuple[str, str]]
                        ) -> tuple[str, CommitFile | None, str]:
    """`selectors.hf.file_lookup`, with each row's `quarantine_reason` and `blob_granted` (may the repo serve its
    blob: selectors.blobs.file_granted) annotated in the same single query."""
    from registry.selectors import hf
    from registry.selectors.blobs import granted_annotation

    return hf.file_lookup(repo=repo, candidates=candidates,
                          annotations={"quarantine_reason": quarantine_annotation(),
                                       "blob_granted": granted_annotation(repo.pk)})
