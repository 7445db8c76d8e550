"""Repo reads: visibility per viewer, revisions, files, refs, query counts (lists: test_catalogue.py)."""

from __future__ import annotations

import pytest

from registry.exceptions import EntryNotFound, RepoNotFound, RevisionNotFound
from registry.models import Branch
from registry.selectors.repos import (
    commit_file,
    commit_files,
    repo_get,
    repo_refs,
    repo_visible_queryset,
    revision_resolve,
)
from registry.services.commits import AddInline, commit_create
from registry.services.refs import branch_create, tag_create
from tests.fixtures.personas import make_user
from tests.registry.selectors.conftest import ids

PERSONAS = ["owner", "member", "reader", "outsider", "anonymous"]


# --- repo_get ------------------------------------------------------------------------------

@pytest.mark.parametrize("who", PERSONAS)
def test_public_repo_is_visible_to_everyone(personas, repos, who):
    assert repo_get(viewer=getattr(personas, who), namespace="acme", name="public-model") == repos["public"]


@pytest.mark.parametrize("who", ["owner", "member", "reader"])
def test_private_org_repo_exists_for_every_org_member(personas, repos, who):
    assert repo_get(viewer=getattr(personas, who), namespace="acme", name="private-model") == repos["private"]


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_private_repo_does_not_exist_for_outsider_and_anonymous(personas, repos, who):
    with pytest.raises(RepoNotFound) as private_error:
        repo_get(viewer=getattr(personas, who), namespace="acme", name="private-model")
    with pytest.raises(RepoNotFound) as missing_error:
        repo_get(viewer=getattr(personas, who), namespace="acme", name="no-such-model")
    # The same answer as for a repo that doesn't exist: nothing leaks.
    assert private_error.value.message == missing_error.value.message


def test_viewer_none_is_treated_as_anonymous(personas, repos):
    with pytest.raises(RepoNotFound):
        repo_get(viewer=None, namespace="acme", name="private-model")
    assert repo_get(viewer=None, namespace="acme", name="public-model")


def test_superuser_sees_every_private_repo(personas, repos):
    root = make_user("root", is_superuser=True, is_staff=True)
    assert repo_get(viewer=root, namespace="acme", name="private-model")
    assert repo_get(viewer=root, namespace="oscar", name="own-private")


@pytest.mark.parametrize(("who", "visible"), [("owner", False), ("member", False), ("reader", False),
                                              ("outsider", True), ("anonymous", False)])
def test_private_user_repo_exists_only_for_its_owner(personas, repos, who, visible):
    viewer = getattr(personas, who)
    if visible:
        assert repo_get(viewer=viewer, namespace="oscar", name="own-private") == repos["oscars"]
    else:
        with pytest.raises(RepoNotFound):
            repo_get(viewer=viewer, namespace="oscar", name="own-private")


def test_repo_get_is_case_insensitive(personas, repos):
    assert repo_get(viewer=personas.anonymous, namespace="ACME", name="Public-Model") == repos["public"]


def test_staff_without_superuser_sees_no_private_repos(personas, repos):
    staff = make_user("moderator", is_staff=True)
    with pytest.raises(RepoNotFound):
        repo_get(viewer=staff, namespace="acme", name="private-model")
    assert "acme/private-model" not in ids(repo_visible_queryset(viewer=staff))


# --- revisions, files, refs ------------------------------------------------------------------------

def test_revision_resolve_branch_tag_and_full_oid(personas, make_repo):
    repo = make_repo()
    first = Branch.objects.get(repo=repo, name="main").head
    tag_create(actor=personas.owner, repo=repo, name="v1")
    second = commit_create(actor=personas.owner, repo=repo, title="x", operations=[AddInline("a", b"a")])
    branch_create(actor=personas.owner, repo=repo, name="feature/x", start_revision="v1")
    assert revision_resolve(repo=repo, revision="main") == second
    assert revision_resolve(repo=repo, revision="v1") == first
    assert revision_resolve(repo=repo, revision="feature/x") == first
    assert revision_resolve(repo=repo, revision=first.oid) == first
    assert revision_resolve(repo=repo, revision=second.oid) == second


@pytest.mark.parametrize("revision", ["nope", "", "MAIN"])
def test_revision_resolve_unknown_names(personas, make_repo, revision):
    repo = make_repo()
    with pytest.raises(RevisionNotFound):
        revision_resolve(repo=repo, revision=revision)


def test_revision_resolve_refuses_short_and_uppercase_oids(personas, make_repo):
    repo = make_repo()
    oid = Branch.objects.get(repo=repo, name="main").head.oid
    for revision in (oid[:7], oid[:39], oid.upper() if oid.upper() != oid else oid + "0"):
        with pytest.raises(RevisionNotFound):
            revision_resolve(repo=repo, revision=revision)


def test_revision_resolve_refuses_another_repos_commit(personas, make_repo):
    repo = make_repo("a")
    other = make_repo("b")
    # (Both initial commits may be the same git object — same files, author, second and message — and then the id
    # is each repo's own; a commit only `other` holds is what must not resolve in `repo`.)
    foreign = commit_create(actor=personas.owner, repo=other, title="only in b",
                            operations=[AddInline("b.txt", b"b")])
    with pytest.raises(RevisionNotFound):
        revision_resolve(repo=repo, revision=foreign.oid)


def test_commit_files_lists_tree_and_prefix(personas, make_repo, django_assert_num_queries):
    repo = make_repo()
    c = commit_create(actor=personas.owner, repo=repo, title="x", operations=[
        AddInline("a/1.txt", b"1"), AddInline("a/b/2.txt", b"2"), AddInline("ab.txt", b"3")])
    assert [f.path for f in commit_files(commit=c)] == [".gitattributes", "a/1.txt", "a/b/2.txt", "ab.txt"]
    assert [f.path for f in commit_files(commit=c, prefix="a/")] == ["a/1.txt", "a/b/2.txt"]
    assert [f.path for f in commit_files(commit=c, prefix="a")] == ["a/1.txt", "a/b/2.txt"]
    with django_assert_num_queries(1):
        for f in commit_files(commit=c):
            f.blob  # noqa: B018


def test_commit_file_returns_entry_or_entry_not_found(personas, make_repo):
    repo = make_repo()
    c = commit_create(actor=personas.owner, repo=repo, title="x", operations=[AddInline("a.txt", b"hello")])
    assert bytes(commit_file(commit=c, path="a.txt").content) == b"hello"
    with pytest.raises(EntryNotFound):
        commit_file(commit=c, path="b.txt")


def test_repo_refs_lists_branches_and_tags_sorted(personas, make_repo):
    repo = make_repo()
    branch_create(actor=personas.owner, repo=repo, name="zeta")
    branch_create(actor=personas.owner, repo=repo, name="alpha")
    tag_create(actor=personas.owner, repo=repo, name="v2")
    tag_create(actor=personas.owner, repo=repo, name="v1")
    branches, tags = repo_refs(repo=repo)
    assert [b.name for b in branches] == ["alpha", "main", "zeta"]
    assert [t.name for t in tags] == ["v1", "v2"]
