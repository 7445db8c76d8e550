"""Branches and tags. Tags are immutable: created or deleted, never moved."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from registry import hooks, permissions
from registry.exceptions import Conflict, InvalidInput, PermissionDenied, RevisionNotFound
from registry.models import PR_REF_PREFIX, ApiKey, Branch, Commit, ModelRepo, Tag
from registry.names import check_ref_name, check_text, lookup_ok
from registry.services.audit import audit_record

DEFAULT_BRANCH = "main"


def _start(repo: ModelRepo, revision: str | None):
    from registry.selectors.repos import revision_resolve

    return revision_resolve(repo=repo, revision=revision or DEFAULT_BRANCH)


def branch_create(*, actor: Any, repo: ModelRepo, name: str, start_revision: str | None = None,
                  api_key: ApiKey | None = None, ip: str | None = None) -> Branch:
    permissions.require_write_repo(actor, repo, api_key)
    check_ref_name(name)
    commit = _start(repo, start_revision)
    if Tag.objects.filter(repo=repo, name=name).exists():
        raise Conflict(gettext("a tag named %(name)r already exists") % {"name": name})
    try:
        with transaction.atomic():
            branch = Branch.objects.create(repo=repo, name=name, head=commit)
            audit_record(actor=actor, action="branch.create", target=repo, ip=ip,
                         metadata={"branch": name, "commit": commit.oid})
            hooks.ref_moved(repo_id=repo.pk, ref=f"refs/heads/{name}", old=None, new=commit.oid)
    except IntegrityError as exc:
        raise Conflict(gettext("Reference already exists: refs/heads/%(name)s") % {"name": name}) from exc
    return branch


def branch_fast_forward(*, actor: Any, repo: ModelRepo, name: str, to: Commit, expected_head: str,
                        api_key: ApiKey | None = None, ip: str | None = None) -> Branch:
    """Move branch `name` forward to `to`, a commit of the repo that descends from the branch's head (git's
    fast-forward: `git push origin feature:main` after review), by compare-and-set on `expected_head`. Nothing is
    rewritten: `to` and the commits between were made (and validated) already."""
    from registry.selectors.history import is_ancestor

    permissions.require_write_repo(actor, repo, api_key)
    if repo.disabled:
        raise PermissionDenied(gettext("This repository has been disabled"))
    if name.startswith(PR_REF_PREFIX):
        raise InvalidInput(gettext("a pull request's ref is not a branch: close the pull request instead"))
    if to.repo_id != repo.pk:
        raise RevisionNotFound(gettext("Invalid rev id: %(revision)s") % {"revision": to.oid})
    with transaction.atomic():
        ref = Branch.objects.select_for_update().filter(repo=repo, name=name).first()
        if ref is None:
            raise RevisionNotFound(gettext("Invalid rev id: %(revision)s") % {"revision": name})
        head = ref.head
        if head.oid != expected_head:
            raise Conflict(gettext("stale info: the branch has moved on the hub; fetch first"))
        if not is_ancestor(ancestor=head, descendant=to):
            raise Conflict(gettext("non-fast-forward: %(oid)s does not build on the branch head %(head)s; pull "
                                   "(rebase) and push again (force pushes are refused)")
                           % {"oid": to.oid[:12], "head": head.oid[:12]})
        moved = Branch.objects.filter(pk=ref.pk, head_id=head.pk).update(head=to, updated_at=timezone.now())
        if not moved:
            raise Conflict(gettext("stale info: the branch has moved on the hub; fetch first"))
        audit_record(actor=actor, action="branch.update", target=repo, ip=ip,
                     metadata={"branch": name, "from": head.oid, "to": to.oid})
        hooks.ref_moved(repo_id=repo.pk, ref=f"refs/heads/{name}", old=head.oid, new=to.oid)
    ref.head = to
    return ref


def branch_delete(*, actor: Any, repo: ModelRepo, name: str, api_key: ApiKey | None = None,
                  ip: str | None = None) -> None:
    permissions.require_write_repo(actor, repo, api_key)
    if name == DEFAULT_BRANCH:
        raise InvalidInput(gettext("the default branch can't be deleted"))
    if name.startswith(PR_REF_PREFIX):
        raise InvalidInput(gettext("a pull request's ref is not a branch: close the pull request instead"))
    if not lookup_ok(name):
        raise RevisionNotFound(gettext("Invalid rev id: %(revision)s") % {"revision": name})
    with transaction.atomic():
        old = Branch.objects.filter(repo=repo, name=name).values_list("head__oid", flat=True).first()
        deleted, _ = Branch.objects.filter(repo=repo, name=name).delete()
        if not deleted:
            raise RevisionNotFound(gettext("Invalid rev id: %(revision)s") % {"revision": name})
        audit_record(actor=actor, action="branch.delete", target=repo, ip=ip, metadata={"branch": name})
        hooks.ref_moved(repo_id=repo.pk, ref=f"refs/heads/{name}", old=old, new=None)


def tag_create(*, actor: Any, repo: ModelRepo, name: str, revision: str | None = None, message: str = "",
               api_key: ApiKey | None = None, ip: str | None = None) -> Tag:
    permissions.require_write_repo(actor, repo, api_key)
    check_ref_name(name)
    check_text(message, what="the tag message", max_length=10_000)
    commit = _start(repo, revision)
    if Branch.objects.filter(repo=repo, name=name).exists():
        raise Conflict(gettext("a branch named %(name)r already exists") % {"name": name})
    try:
        with transaction.atomic():
            tag = Tag.objects.create(
                repo=repo, name=name, commit=commit, message=message,
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
            audit_record(actor=actor, action="tag.create", target=repo, ip=ip,
                         metadata={"tag": name, "commit": commit.oid})
            hooks.ref_moved(repo_id=repo.pk, ref=f"refs/tags/{name}", old=None, new=commit.oid)
    except IntegrityError as exc:
        raise Conflict(gettext("Tag already exists: %(name)s") % {"name": name}) from exc
    return tag


def tag_delete(*, actor: Any, repo: ModelRepo, name: str, api_key: ApiKey | None = None,
               ip: str | None = None) -> None:
    permissions.require_write_repo(actor, repo, api_key)
    if not lookup_ok(name):
        raise RevisionNotFound(gettext("Invalid rev id: %(revision)s") % {"revision": name})
    with transaction.atomic():
        old = Tag.objects.filter(repo=repo, name=name).values_list("commit__oid", flat=True).first()
        deleted, _ = Tag.objects.filter(repo=repo, name=name).delete()
        if not deleted:
            raise RevisionNotFound(gettext("Invalid rev id: %(revision)s") % {"revision": name})
        audit_record(actor=actor, action="tag.delete", target=repo, ip=ip, metadata={"tag": name})
        hooks.ref_moved(repo_id=repo.pk, ref=f"refs/tags/{name}", old=old, new=None)
