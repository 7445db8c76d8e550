from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.utils.translation import gettext

from registry import permissions
from registry.exceptions import EntryNotFound, InvalidInput, RepoNotFound, RevisionNotFound
from registry.hashing import COMMIT_OID_RE
from registry.models import PR_REF_PREFIX, Branch, Commit, CommitAlias, CommitFile, Membership, ModelRepo, Tag
from registry.names import lookup_ok, name_ok


def repo_visible_queryset(*, viewer: Any) -> QuerySet[ModelRepo]:
    qs = ModelRepo.objects.select_related("owner_org", "owner_user", "license")
    if viewer is not None and getattr(viewer, "is_superuser", False):
        return qs
    if viewer is None or not getattr(viewer, "is_authenticated", False):
        return qs.filter(private=False)
    org_ids = Membership.objects.filter(user=viewer).values("organization_id")
    return qs.filter(Q(private=False) | Q(owner_user=viewer) | Q(owner_org__in=org_ids))


def repo_get(*, viewer: Any, namespace: str, name: str) -> ModelRepo:
    """The repo, or RepoNotFound — the same answer whether it is missing or private to the viewer."""
    repo = repo_by_name(namespace=namespace, name=name)
    if repo is None or not permissions.can_read_repo(viewer, repo):
        raise RepoNotFound(gettext("Repository not found"))
    return repo


def repo_by_name(*, namespace: str, name: str) -> ModelRepo | None:
    """The repo of that name (case-insensitive) with its owner and license, whoever may see it."""
    if not (name_ok(namespace) and name_ok(name)):
        return None  # no repo can have that name: no query (PostgreSQL refuses a NUL in one)
    return ModelRepo.objects.select_related("owner_org", "owner_user", "license").filter(
        repo_id_ci(namespace, name)).first()


def lower_is(field: str, value: str) -> Q:
    """`LOWER(field) = LOWER(value)`: a case-insensitive match that a functional index on LOWER(field) serves
    (Django's `__iexact` compares UPPER(), which no index of ours has)."""
    return Q(Exact(Lower(field), Lower(Value(value))))


def repo_id_ci(namespace: str, name: str) -> Q:
    """The repo `namespace/name` whatever the case: the expressions of the unique constraint uniq_repo_id_ci, whose
    index answers it."""
    return lower_is("namespace", namespace) & lower_is("name", name)


def revision_resolve(*, repo: ModelRepo, revision: str) -> Commit:
    """A branch, a tag, or a full commit id of this repo."""
    if not isinstance(revision, str):
        raise InvalidInput(gettext("a revision must be a string (a branch, a tag or a commit id)"))
    if not lookup_ok(revision):
        raise RevisionNotFound(gettext("Invalid rev id: %(revision)s") % {"revision": revision})
    branch = Branch.objects.select_related("head").filter(repo=repo, name=revision).first()
    if branch is not None:
        return branch.head
    tag = Tag.objects.select_related("commit").filter(repo=repo, name=revision).first()
    if tag is not None:
        return tag.commit
    if COMMIT_OID_RE.match(revision):
        commit = Commit.objects.filter(repo=repo, oid=revision).first()
        if commit is not None:
            return commit
        # An id from before commit ids were git ids (migration 0031): pinned revisions keep working.
        alias = CommitAlias.objects.select_related("commit").filter(repo=repo, old_oid=revision).first()
        if alias is not None:
            return alias.commit
    raise RevisionNotFound(gettext("Invalid rev id: %(revision)s") % {"revision": revision})


def commit_files(*, commit: Commit, prefix: str = "") -> QuerySet[CommitFile]:
    qs = CommitFile.objects.filter(commit=commit).select_related("blob").defer("content")
    if prefix:
        qs = qs.filter(path__startswith=prefix.rstrip("/") + "/")
    return qs.order_by("path")


def commit_file(*, commit: Commit, path: str) -> CommitFile:
    if not lookup_ok(path):
        raise EntryNotFound(gettext("%(path)s does not exist in revision %(oid)s") % {"path": path, "oid": commit.oid})
    entry = CommitFile.objects.select_related("blob").filter(commit=commit, path=path).first()
    if entry is None:
        raise EntryNotFound(gettext("%(path)s does not exist in revision %(oid)s") % {"path": path, "oid": commit.oid})
    return entry


def repo_refs(*, repo: ModelRepo) -> tuple[list[Branch], list[Tag]]:
    """The repo's branches (pull request refs `refs/pr/N` left out: see repo_pr_refs) and tags."""
    branches = list(Branch.objects.filter(repo=repo).exclude(name__startswith=PR_REF_PREFIX)
                    .select_related("head").order_by("name"))
    tags = list(Tag.objects.filter(repo=repo).select_related("commit").order_by("name"))
    return branches, tags


def repo_pr_refs(*, repo: ModelRepo) -> list[tuple[int, Branch]]:
    """The pull requests' refs `refs/pr/N` (N, branch), by number: one query."""
    rows = Branch.objects.filter(repo=repo, name__startswith=PR_REF_PREFIX).select_related("head")
    found = []
    for branch in rows:
        tail = branch.name[len(PR_REF_PREFIX):]
        if tail.isdigit():
            found.append((int(tail), branch))
    return sorted(found, key=lambda item: item[0])
