"""Branches and tags: create, delete, names, tag immutability, the default branch."""

from __future__ import annotations

import pytest

from registry.exceptions import Conflict, InvalidInput, PermissionDenied, RepoNotFound, RevisionNotFound
from registry.models import AuditEvent, Branch, Tag
from registry.services.commits import AddInline, commit_create
from registry.services.keys import api_key_create
from registry.services.refs import branch_create, branch_delete, branch_fast_forward, tag_create, tag_delete


def main_head(repo):  # noqa: ANN001, ANN201
    return Branch.objects.get(repo=repo, name="main").head


def add(personas, repo, path="a.txt", branch="main"):  # noqa: ANN001, ANN201
    return commit_create(actor=personas.owner, repo=repo, title="add", branch=branch,
                         operations=[AddInline(path, b"x")])


# --- branches --------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["owner", "member"])
def test_writers_create_branch_at_main_head(personas, make_repo, who):
    repo = make_repo()
    branch = branch_create(actor=getattr(personas, who), repo=repo, name="feature/x", ip="10.0.0.1")
    assert branch.head == main_head(repo)
    event = AuditEvent.objects.get(action="branch.create")
    assert event.actor == getattr(personas, who)
    assert event.metadata == {"branch": "feature/x", "commit": branch.head.oid}


def test_branch_from_tag_and_from_commit_id(personas, make_repo):
    repo = make_repo()
    first = main_head(repo)
    tag_create(actor=personas.owner, repo=repo, name="v1")
    add(personas, repo)
    assert branch_create(actor=personas.owner, repo=repo, name="from-tag", start_revision="v1").head == first
    from_oid = branch_create(actor=personas.owner, repo=repo, name="from-oid", start_revision=first.oid)
    assert from_oid.head == first


def test_branch_from_unknown_revision_is_revision_not_found(personas, make_repo):
    repo = make_repo()
    with pytest.raises(RevisionNotFound):
        branch_create(actor=personas.owner, repo=repo, name="x", start_revision="nope")


def test_branch_moves_independently_of_main(personas, make_repo):
    repo = make_repo()
    branch_create(actor=personas.owner, repo=repo, name="dev")
    before = main_head(repo)
    c = add(personas, repo, branch="dev")
    assert Branch.objects.get(repo=repo, name="dev").head == c
    assert main_head(repo) == before


def test_existing_branch_is_conflict(personas, make_repo):
    repo = make_repo()
    branch_create(actor=personas.owner, repo=repo, name="dev")
    with pytest.raises(Conflict):
        branch_create(actor=personas.owner, repo=repo, name="dev")
    with pytest.raises(Conflict):
        branch_create(actor=personas.owner, repo=repo, name="main")


def test_branch_named_like_existing_tag_is_conflict(personas, make_repo):
    repo = make_repo()
    tag_create(actor=personas.owner, repo=repo, name="v1")
    with pytest.raises(Conflict):
        branch_create(actor=personas.owner, repo=repo, name="v1")


BAD_NAMES = ["", "/lead", "trail/", "a//b", "a..b", "a@{b", "has space", "tab\tname", "a~b", "a^b", "a:b",
             "a?b",
             "a*b", "a[b", "a\\b", "del\x7f", "name.lock", "refs/heads/x", "dot.", "a" * 201, "0" * 40,
             "0123456789abcdef0123456789abcdef01234567",
             # HEAD and confusables (ref names are printable ASCII): RTL override, fullwidth, Cyrillic, Hangul
             "HEAD", "-dash", "main\u202e", "ｍａｉｎ", "mаin", "한국어", "\udcff", "nul\x00"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_branch_names_are_refused(personas, make_repo, name):
    repo = make_repo()
    with pytest.raises(InvalidInput):
        branch_create(actor=personas.owner, repo=repo, name=name)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_tag_names_are_refused(personas, make_repo, name):
    repo = make_repo()
    with pytest.raises(InvalidInput):
        tag_create(actor=personas.owner, repo=repo, name=name)
    assert not Tag.objects.filter(repo=repo).exists()


@pytest.mark.parametrize("message", ["nul\x00", "\udcff"])
def test_tag_message_that_no_column_can_hold_is_refused(personas, make_repo, message):
    repo = make_repo()
    with pytest.raises(InvalidInput):
        tag_create(actor=personas.owner, repo=repo, name="v1", message=message)


@pytest.mark.parametrize("name", ["nul\x00", "\udcff", "x" * 5000])
def test_deleting_a_ref_no_name_can_hold_is_revision_not_found(personas, make_repo, name):
    repo = make_repo()
    with pytest.raises(RevisionNotFound):
        branch_delete(actor=personas.owner, repo=repo, name=name)
    with pytest.raises(RevisionNotFound):
        tag_delete(actor=personas.owner, repo=repo, name=name)


@pytest.mark.parametrize("start", [["main"], {"a": 1}, 3])
def test_a_starting_point_that_is_not_text_is_invalid_input(personas, make_repo, start):
    repo = make_repo()
    with pytest.raises(InvalidInput):
        branch_create(actor=personas.owner, repo=repo, name="dev", start_revision=start)


@pytest.mark.parametrize("name", ["dev", "feature/x", "v1.0", "release-2024_01", "user/feature/deep"])
def test_valid_ref_names_are_accepted(personas, make_repo, name):
    repo = make_repo()
    assert branch_create(actor=personas.owner, repo=repo, name=name).name == name


@pytest.mark.parametrize("who", ["reader", "outsider", "anonymous"])
def test_non_writers_cannot_create_or_delete_branches_on_public_repo(personas, make_repo, who):
    repo = make_repo()
    branch_create(actor=personas.owner, repo=repo, name="dev")
    with pytest.raises(PermissionDenied):
        branch_create(actor=getattr(personas, who), repo=repo, name="x")
    with pytest.raises(PermissionDenied):
        branch_delete(actor=getattr(personas, who), repo=repo, name="dev")
    assert set(Branch.objects.filter(repo=repo).values_list("name", flat=True)) == {"main", "dev"}


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_private_repo_refs_are_not_found_for_outsiders(personas, make_repo, who):
    repo = make_repo(private=True)
    actor = getattr(personas, who)
    for call in (lambda: branch_create(actor=actor, repo=repo, name="x"),
                 lambda: branch_delete(actor=actor, repo=repo, name="x"),
                 lambda: tag_create(actor=actor, repo=repo, name="x"),
                 lambda: tag_delete(actor=actor, repo=repo, name="x")):
        with pytest.raises(RepoNotFound):
            call()


def test_read_member_of_private_repo_is_permission_denied(personas, make_repo):
    repo = make_repo(private=True)
    with pytest.raises(PermissionDenied):
        branch_create(actor=personas.reader, repo=repo, name="x")
    with pytest.raises(PermissionDenied):
        tag_create(actor=personas.reader, repo=repo, name="x")


def test_read_scope_key_cannot_create_refs(personas, make_repo):
    repo = make_repo()
    key, _ = api_key_create(user=personas.owner, name="r", scopes=["read"])
    with pytest.raises(PermissionDenied):
        branch_create(actor=personas.owner, repo=repo, name="x", api_key=key)
    with pytest.raises(PermissionDenied):
        tag_create(actor=personas.owner, repo=repo, name="x", api_key=key)


def test_branch_delete_removes_branch_and_keeps_commits(personas, make_repo):
    repo = make_repo()
    branch_create(actor=personas.owner, repo=repo, name="dev")
    c = add(personas, repo, branch="dev")
    branch_delete(actor=personas.member, repo=repo, name="dev")
    assert not Branch.objects.filter(repo=repo, name="dev").exists()
    assert type(c).objects.filter(pk=c.pk).exists()
    assert AuditEvent.objects.get(action="branch.delete").metadata == {"branch": "dev"}


def test_main_cannot_be_deleted(personas, make_repo):
    repo = make_repo()
    with pytest.raises(InvalidInput):
        branch_delete(actor=personas.owner, repo=repo, name="main")
    assert Branch.objects.filter(repo=repo, name="main").exists()


def test_deleting_unknown_branch_is_revision_not_found(personas, make_repo):
    repo = make_repo()
    with pytest.raises(RevisionNotFound):
        branch_delete(actor=personas.owner, repo=repo, name="ghost")
    assert not AuditEvent.objects.filter(action="branch.delete").exists()


# --- tags ----------------------------------------------------------------------------------

def test_tag_points_at_the_revision_and_records_creator(personas, make_repo):
    repo = make_repo()
    first = main_head(repo)
    add(personas, repo)
    tag = tag_create(actor=personas.member, repo=repo, name="v0", revision=first.oid, message="first")
    assert (tag.commit, tag.created_by, tag.message) == (first, personas.member, "first")
    assert tag_create(actor=personas.member, repo=repo, name="v1").commit == main_head(repo)
    assert AuditEvent.objects.filter(action="tag.create").count() == 2


def test_tag_is_immutable_create_twice_is_conflict(personas, make_repo):
    repo = make_repo()
    first = main_head(repo)
    tag_create(actor=personas.owner, repo=repo, name="v1")
    add(personas, repo)
    with pytest.raises(Conflict):
        tag_create(actor=personas.owner, repo=repo, name="v1")
    assert Tag.objects.get(repo=repo, name="v1").commit == first


def test_tag_named_like_existing_branch_is_conflict(personas, make_repo):
    repo = make_repo()
    with pytest.raises(Conflict):
        tag_create(actor=personas.owner, repo=repo, name="main")


def test_same_tag_name_in_two_repos_is_fine(personas, make_repo):
    a, b = make_repo("a"), make_repo("b")
    tag_create(actor=personas.owner, repo=a, name="v1")
    tag_create(actor=personas.owner, repo=b, name="v1")
    assert Tag.objects.filter(name="v1").count() == 2


def test_tag_delete_and_unknown_tag(personas, make_repo):
    repo = make_repo()
    tag_create(actor=personas.owner, repo=repo, name="v1")
    tag_delete(actor=personas.member, repo=repo, name="v1")
    assert not Tag.objects.filter(repo=repo).exists()
    assert AuditEvent.objects.get(action="tag.delete").metadata == {"tag": "v1"}
    with pytest.raises(RevisionNotFound):
        tag_delete(actor=personas.member, repo=repo, name="v1")


@pytest.mark.parametrize("who", ["reader", "outsider", "anonymous"])
def test_non_writers_cannot_create_or_delete_tags(personas, make_repo, who):
    repo = make_repo()
    tag_create(actor=personas.owner, repo=repo, name="v1")
    with pytest.raises(PermissionDenied):
        tag_create(actor=getattr(personas, who), repo=repo, name="v2")
    with pytest.raises(PermissionDenied):
        tag_delete(actor=getattr(personas, who), repo=repo, name="v1")
    assert list(Tag.objects.filter(repo=repo).values_list("name", flat=True)) == ["v1"]


# --- fast-forward (git push of a branch onto commits the repo holds) ----------------------------------------


def test_fast_forward_moves_a_branch_only_forward_and_by_compare_and_set(personas, make_repo):
    repo = make_repo()
    base = main_head(repo)
    branch_create(actor=personas.owner, repo=repo, name="feature")
    one = add(personas, repo, "one.txt", branch="feature")
    two = add(personas, repo, "two.txt", branch="feature")
    with pytest.raises(Conflict, match="moved on the hub"):
        branch_fast_forward(actor=personas.member, repo=repo, name="main", to=two, expected_head=one.oid)
    moved = branch_fast_forward(actor=personas.member, repo=repo, name="main", to=two, expected_head=base.oid,
                                ip="10.0.0.2")
    assert moved.head == two == main_head(repo)
    event = AuditEvent.objects.get(action="branch.update")
    assert (event.metadata, event.ip) == ({"branch": "main", "from": base.oid, "to": two.oid}, "10.0.0.2")
    with pytest.raises(Conflict, match="non-fast-forward"):  # back to an ancestor
        branch_fast_forward(actor=personas.member, repo=repo, name="main", to=one, expected_head=two.oid)
    branch_create(actor=personas.owner, repo=repo, name="other", start_revision=base.oid)
    elsewhere = add(personas, repo, "else.txt", branch="other")
    with pytest.raises(Conflict, match="non-fast-forward"):  # a commit that doesn't contain main's head
        branch_fast_forward(actor=personas.member, repo=repo, name="main", to=elsewhere, expected_head=two.oid)
    with pytest.raises(PermissionDenied):
        branch_fast_forward(actor=personas.reader, repo=repo, name="main", to=two, expected_head=two.oid)
    foreign = add(personas, make_repo("other-repo"), "f.txt")
    with pytest.raises(RevisionNotFound):
        branch_fast_forward(actor=personas.owner, repo=repo, name="main", to=foreign, expected_head=two.oid)
    assert main_head(repo) == two
