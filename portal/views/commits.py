"""A commit's page (its message, author, parent and the files it changed, with line diffs of small text files) and
the compare page between two revisions."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from portal.views.common import portal_view
from portal.views.models import _repo_context
from registry.exceptions import RevisionNotFound
from registry.names import lookup_ok
from registry.selectors.changes import change_page, commit_by_oid, commit_or_ref, commits_between
from registry.selectors.portal import access_status
from registry.selectors.repos import repo_get

CHANGES_PAGE_SIZE = 50
# A gated repo's card is readable by everyone (the file page shows it too): so is its diff.
OPEN_TEXT = frozenset({"README.md"})


def _not_found(request: HttpRequest, message: str) -> HttpResponse:
    """The portal's 404 page, saying what was not found (a revision the visitor typed: nothing to leak)."""
    return render(request, "404.html", {"message": message}, status=404)


def _changes(request: HttpRequest, repo, head, base, revision: str, tab: str) -> dict:  # noqa: ANN001
    access = access_status(viewer=request.user, repo=repo)
    after = request.GET.get("after") or ""
    after = after if lookup_ok(after) else ""
    page = change_page(head=head, base=base, after=after, limit=CHANGES_PAGE_SIZE, show_text=access.can_download,
                       allow_text=OPEN_TEXT, counts=not after)
    context = _repo_context(request, repo, revision=revision, tab=tab, commit=head, access=access)
    context.update({"page": page, "changes": page.changes, "counts": page.counts, "paged": bool(after),
                    "next_after": page.next_after, "base": base, "head": head})
    return context


@portal_view
def model_commit(request: HttpRequest, namespace: str, name: str, oid: str) -> HttpResponse:
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    try:
        commit = commit_by_oid(repo=repo, oid=oid)
    except RevisionNotFound as exc:
        return _not_found(request, exc.message)
    context = _changes(request, repo, commit, commit.parent, commit.oid, "commits")
    return render(request, "portal/model_commit.html", context)


@portal_view
def model_compare(request: HttpRequest, namespace: str, name: str, rest: str) -> HttpResponse:
    """`compare/<a>...<b>`: what changed from revision a to revision b (branches, tags, commit ids)."""
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    left, sep, right = rest.partition("...")
    if not sep or not left or not right:
        return _not_found(request, _("Compare two revisions as compare/<base>...<head> (branches, tags or commits)."))
    try:
        base = commit_or_ref(repo=repo, revision=left)
        head = commit_or_ref(repo=repo, revision=right)
    except RevisionNotFound as exc:
        return _not_found(request, exc.message)
    context = _changes(request, repo, head, base, right, "commits")
    context.update({"left": left, "right": right, "range": commits_between(base=base, head=head)})
    return render(request, "portal/model_compare.html", context)
