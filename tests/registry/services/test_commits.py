"""commit_create: operations, blob checks, paths, card cache, atomicity, concurrency; commit_history."""

from __future__ import annotations

import hashlib
import threading

import pytest
from django.db import connection
from django.utils import timezone

from registry.exceptions import (
    BlobMissing,
    Conflict,
    EntryNotFound,
    InvalidInput,
    PermissionDenied,
    RepoNotFound,
    RevisionNotFound,
    StaleParent,
)
from registry.hashing import git_blob_sha1, lfs_pointer_sha1
from registry.models import AuditEvent, Blob, BlobUpload, Branch, Commit, CommitFile, ModelRepo, RepoBlob
from registry.services.commits import (
    AddBlob,
    AddInline,
    Copy,
    Delete,
    DeleteFolder,
    commit_create,
    commit_history,
    normalize_path,
)
from registry.services.refs import branch_create, tag_create
from registry.services.repos import repo_create
from registry.storage import blob_key


def stored_blob(content: bytes, *, repo: ModelRepo | None = None, state: str = Blob.State.VERIFIED,
                uploaded: bool = True) -> Blob:
    """A Blob row as the upload flow leaves it (no bytes needed: commits only check the rows), uploaded into `repo`
    (which then holds it: a RepoBlob row) when given."""
    sha = hashlib.sha256(content).hexdigest()
    now = timezone.now()
    blob = Blob.objects.create(
        sha256=sha, size=len(content), storage_key=blob_key(sha), state=state,
        uploaded_at=now if uploaded else None, verified_at=now if state == Blob.State.VERIFIED else None,
        rejected_reason="bad bytes" if state == Blob.State.REJECTED else "",
    )
    if repo is not None:
        RepoBlob.objects.create(repo=repo, blob=blob, source=RepoBlob.Source.UPLOAD)
    return blob


def head(repo: ModelRepo, branch: str = "main") -> Commit:
    return Branch.objects.get(repo=repo, name=branch).head


def tree(commit: Commit) -> dict[str, CommitFile]:
    return {f.path: f for f in CommitFile.objects.filter(commit=commit)}


def commit(actor, repo, *ops, **kwargs) -> Commit:  # noqa: ANN001
    return commit_create(actor=actor, repo=repo, operations=list(ops), title=kwargs.pop("title", "change"),
                         **kwargs)


# --- permissions ------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["owner", "member"])
def test_owner_and_write_member_can_commit(personas, make_repo, who):
    repo = make_repo()
    c = commit(getattr(personas, who), repo, AddInline("a.txt", b"a"))
    assert head(repo) == c
    assert c.author == getattr(personas, who)
    assert c.author_name == getattr(personas, who).username


def test_read_member_is_refused_with_permission_denied(personas, make_repo):
    repo = make_repo(private=True)
    with pytest.raises(PermissionDenied):
        commit(personas.reader, repo, AddInline("a.txt", b"a"))


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_private_repo_is_not_found_for_outsider_and_anonymous(personas, make_repo, who):
    repo = make_repo(private=True)
    with pytest.raises(RepoNotFound):
        commit(getattr(personas, who), repo, AddInline("a.txt", b"a"))


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_public_repo_refuses_outsider_and_anonymous_writes(personas, make_repo, who):
    repo = make_repo()
    with pytest.raises(PermissionDenied):
        commit(getattr(personas, who), repo, AddInline("a.txt", b"a"))


def test_disabled_repo_refuses_commits(personas, make_repo):
    repo = make_repo()
    ModelRepo.objects.filter(pk=repo.pk).update(disabled=True)
    repo.refresh_from_db()
    with pytest.raises(PermissionDenied):
        commit(personas.owner, repo, AddInline("a.txt", b"a"))


def test_commit_needs_a_title(personas, make_repo):
    repo = make_repo()
    with pytest.raises(InvalidInput):
        commit(personas.owner, repo, AddInline("a.txt", b"a"), title="   ")


def test_unknown_branch_is_revision_not_found_unless_created(personas, make_repo):
    repo = make_repo()
    with pytest.raises(RevisionNotFound):
        commit(personas.owner, repo, AddInline("a.txt", b"a"), branch="nope")
    c = commit(personas.owner, repo, AddInline("a.txt", b"a"), branch="nope", create_branch=True)
    assert head(repo, "nope") == c
    assert c.parent is None
    assert set(tree(c)) == {"a.txt"}


# --- inline adds ----------------------------------------------------------------------------

def test_inline_add_keeps_full_tree_and_moves_branch(personas, make_repo):
    repo = make_repo()
    first = head(repo)
    c = commit(personas.member, repo, AddInline("a/b.txt", b"hi"), parent_oid=first.oid)
    files = tree(c)
    assert sorted(files) == [".gitattributes", "a/b.txt"]
    assert bytes(files["a/b.txt"].content) == b"hi"
    assert files["a/b.txt"].size == 2
    assert files["a/b.txt"].git_oid == git_blob_sha1(b"hi")
    assert files["a/b.txt"].blob_id is None
    assert c.parent == first
    assert head(repo) == c
    # The parent's tree is untouched: commits are immutable.
    assert sorted(tree(first)) == [".gitattributes"]


def test_inline_add_overwrites_existing_path(personas, make_repo):
    repo = make_repo()
    commit(personas.owner, repo, AddInline("a.txt", b"one"))
    c = commit(personas.owner, repo, AddInline("a.txt", b"two"))
    assert bytes(tree(c)["a.txt"].content) == b"two"


def test_commit_writes_audit_event(personas, make_repo):
    repo = make_repo()
    c = commit(personas.member, repo, AddInline("a.txt", b"a"), ip="10.0.0.1")
    event = AuditEvent.objects.filter(action="commit.create").latest("id")
    assert event.actor == personas.member
    assert event.metadata["commit"] == c.oid
    assert event.metadata["added"] == 1
    assert event.ip == "10.0.0.1"


def test_commit_oid_is_40_hex_and_unique(personas, make_repo):
    repo = make_repo()
    a = commit(personas.owner, repo, AddInline("a.txt", b"a"))
    b = commit(personas.owner, repo, AddInline("a.txt", b"a"))
    assert len(a.oid) == 40 and int(a.oid, 16) >= 0
    assert a.oid != b.oid


# --- blobs ----------------------------------------------------------------------------------

def test_add_blob_references_uploaded_blob(personas, make_repo):
    repo = make_repo()
    blob = stored_blob(b"weights" * 100, repo=repo)
    c = commit(personas.owner, repo, AddBlob("model.safetensors", blob.sha256.upper(), blob.size))
    entry = tree(c)["model.safetensors"]
    assert entry.blob == blob
    assert entry.content is None
    assert entry.size == blob.size
    assert entry.git_oid == lfs_pointer_sha1(blob.sha256, blob.size)


def test_add_blob_accepts_an_upload_into_the_repo_still_being_hashed(personas, make_repo):
    repo = make_repo()
    blob = stored_blob(b"pending", state=Blob.State.PENDING, uploaded=False)
    BlobUpload.objects.create(repo=repo, user=personas.member, sha256=blob.sha256, size=blob.size, staging_key="s/1",
                              state=BlobUpload.State.UPLOADED)
    c = commit(personas.owner, repo, AddBlob("w.bin", blob.sha256, blob.size))
    assert tree(c)["w.bin"].blob == blob
    assert not RepoBlob.objects.filter(repo=repo, blob=blob).exists()  # granted only once the upload verifies


def test_add_blob_refuses_unknown_blob(personas, make_repo):
    repo = make_repo()
    with pytest.raises(BlobMissing):
        commit(personas.owner, repo, AddBlob("w.bin", "a" * 64, 10))


def test_add_blob_refuses_registered_but_never_uploaded_blob(personas, make_repo):
    repo = make_repo()
    blob = stored_blob(b"never sent", state=Blob.State.PENDING, uploaded=False)
    with pytest.raises(BlobMissing):
        commit(personas.owner, repo, AddBlob("w.bin", blob.sha256, blob.size))


def test_add_blob_refuses_rejected_blob(personas, make_repo):
    repo = make_repo()
    blob = stored_blob(b"corrupt", repo=repo, state=Blob.State.REJECTED)
    with pytest.raises(BlobMissing, match="rejected"):
        commit(personas.owner, repo, AddBlob("w.bin", blob.sha256, blob.size))


def test_add_blob_refuses_size_mismatch(personas, make_repo):
    repo = make_repo()
    blob = stored_blob(b"12345", repo=repo)
    with pytest.raises(InvalidInput, match="size"):
        commit(personas.owner, repo, AddBlob("w.bin", blob.sha256, blob.size + 1))


@pytest.mark.parametrize("kind", ["private", "gated"])
def test_add_blob_refuses_bytes_only_a_repo_the_committer_cannot_download_holds(personas, make_repo, kind):
    """Authority never travels with a hash: refused exactly as an oid nobody uploaded, and nothing is written."""
    source = make_repo("source", private=kind == "private", gating="auto" if kind == "gated" else "none")
    blob = stored_blob(b"secret weights", repo=source)
    commit(personas.owner, source, AddBlob("w.bin", blob.sha256, blob.size))
    mine = repo_create(actor=personas.outsider, namespace="oscar", name="mine")
    before = head(mine)
    with pytest.raises(BlobMissing) as known:
        commit(personas.outsider, mine, AddBlob("w.bin", blob.sha256, blob.size + 1))
    with pytest.raises(BlobMissing) as unknown:
        commit(personas.outsider, mine, AddBlob("w.bin", "e" * 64, blob.size))
    assert known.value.message.replace(blob.sha256, "<oid>") == unknown.value.message.replace("e" * 64, "<oid>")
    assert head(mine) == before
    assert not RepoBlob.objects.filter(repo=mine).exists()


def test_add_blob_reuses_bytes_of_a_repo_the_committer_may_download_and_grants_them(personas, make_repo):
    source = make_repo("source", private=True)
    blob = stored_blob(b"shared weights", repo=source)
    commit(personas.owner, source, AddBlob("w.bin", blob.sha256, blob.size))
    mine = repo_create(actor=personas.reader, namespace="rae", name="mine")
    c = commit(personas.reader, mine, AddBlob("w.bin", blob.sha256, blob.size))
    assert tree(c)["w.bin"].blob == blob
    grant = RepoBlob.objects.get(repo=mine)
    assert (grant.blob, grant.source, grant.created_by) == (blob, RepoBlob.Source.REUSE, personas.reader)


@pytest.mark.parametrize("oid", ["", "abc", "g" * 64, "a" * 63, "a" * 65])
def test_add_blob_refuses_malformed_oid(personas, make_repo, oid):
    repo = make_repo()
    with pytest.raises(InvalidInput):
        commit(personas.owner, repo, AddBlob("w.bin", oid, 1))


# --- deletes and copies ----------------------------------------------------------------------

def test_delete_removes_file(personas, make_repo):
    repo = make_repo()
    commit(personas.owner, repo, AddInline("a.txt", b"a"), AddInline("b.txt", b"b"))
    c = commit(personas.owner, repo, Delete("a.txt"))
    assert sorted(tree(c)) == [".gitattributes", "b.txt"]


def test_delete_of_missing_file_is_entry_not_found(personas, make_repo):
    repo = make_repo()
    before = head(repo)
    with pytest.raises(EntryNotFound):
        commit(personas.owner, repo, Delete("missing.txt"))
    assert head(repo) == before


def test_delete_folder_removes_everything_under_it(personas, make_repo):
    repo = make_repo()
    commit(personas.owner, repo, AddInline("d/a.txt", b"a"), AddInline("d/e/b.txt", b"b"),
           AddInline("dd.txt", b"c"))
    c = commit(personas.owner, repo, DeleteFolder("d/"))
    assert sorted(tree(c)) == [".gitattributes", "dd.txt"]
    assert Commit.objects.get(pk=c.pk) is not None


def test_delete_of_missing_folder_is_entry_not_found(personas, make_repo):
    repo = make_repo()
    with pytest.raises(EntryNotFound):
        commit(personas.owner, repo, DeleteFolder("nothing"))


def test_copy_within_the_same_revision(personas, make_repo):
    repo = make_repo()
    blob = stored_blob(b"big weights", repo=repo)
    commit(personas.owner, repo, AddBlob("w.bin", blob.sha256, blob.size), AddInline("c.json", b"{}"))
    c = commit(personas.owner, repo, Copy("w.bin", "copy/w.bin"), Copy("c.json", "c2.json"))
    files = tree(c)
    assert files["copy/w.bin"].blob == blob
    assert files["w.bin"].blob == blob
    assert bytes(files["c2.json"].content) == b"{}"


def test_copy_from_another_revision(personas, make_repo):
    repo = make_repo()
    old = commit(personas.owner, repo, AddInline("a.txt", b"old"))
    tag_create(actor=personas.owner, repo=repo, name="v1")
    commit(personas.owner, repo, Delete("a.txt"))
    c = commit(personas.owner, repo, Copy("a.txt", "restored.txt", src_revision="v1"))
    assert bytes(tree(c)["restored.txt"].content) == b"old"
    c2 = commit(personas.owner, repo, Copy("a.txt", "again.txt", src_revision=old.oid))
    assert bytes(tree(c2)["again.txt"].content) == b"old"


def test_copy_of_missing_source_is_entry_not_found(personas, make_repo):
    repo = make_repo()
    with pytest.raises(EntryNotFound):
        commit(personas.owner, repo, Copy("missing", "dest"))


def test_copy_from_unknown_revision_is_revision_not_found(personas, make_repo):
    repo = make_repo()
    with pytest.raises(RevisionNotFound):
        commit(personas.owner, repo, Copy(".gitattributes", "x", src_revision="nope"))


def test_copy_refuses_another_repos_commit(personas, make_repo):
    repo = make_repo()
    other = make_repo("other")
    foreign = commit(personas.owner, other, AddInline("secret.txt", b"s"))
    with pytest.raises(RevisionNotFound):
        commit(personas.owner, repo, Copy("secret.txt", "x", src_revision=foreign.oid))


# --- stale parent and atomicity ------------------------------------------------------------------

def test_stale_parent_is_refused_and_branch_unchanged(personas, make_repo):
    repo = make_repo()
    first = head(repo)
    second = commit(personas.owner, repo, AddInline("a.txt", b"a"), parent_oid=first.oid)
    commits_before = Commit.objects.count()
    with pytest.raises(StaleParent):
        commit(personas.owner, repo, AddInline("b.txt", b"b"), parent_oid=first.oid)
    assert head(repo) == second
    assert Commit.objects.count() == commits_before


@pytest.mark.parametrize("parent", ["main", "abc", "G" * 40])
def test_parent_must_be_a_commit_id(personas, make_repo, parent):
    repo = make_repo()
    with pytest.raises(InvalidInput):
        commit(personas.owner, repo, AddInline("a.txt", b"a"), parent_oid=parent)


def test_failing_operation_leaves_no_commit_and_branch_in_place(personas, make_repo):
    repo = make_repo()
    before = head(repo)
    counts = (Commit.objects.count(), CommitFile.objects.count(), AuditEvent.objects.count())
    with pytest.raises(EntryNotFound):
        commit(personas.owner, repo, AddInline("a.txt", b"a"), AddInline("b.txt", b"b"), Delete("missing"))
    assert head(repo) == before
    assert (Commit.objects.count(), CommitFile.objects.count(), AuditEvent.objects.count()) == counts


def test_failing_operation_does_not_touch_the_card_cache(personas, make_repo):
    repo = make_repo()
    with pytest.raises(EntryNotFound):
        commit(personas.owner, repo, AddInline("README.md", b"---\ntags: [x]\n---\nHi\n"), Delete("missing"))
    repo.refresh_from_db()
    assert repo.tags == []


# --- paths ---------------------------------------------------------------------------------

BAD_PATHS = [
    "../x", "a/../../b", "a/..", "..", "/abs", "/etc/passwd", ".git/config", "a/.git/hooks", ".git",
    "a/./b", "./a", ".", "a//b", "a/", "", "a\x00b", "a\\b", "..\\x", "a\nb", "a\tb", "a\x1fb", "a\rb",
    "a\x7fb", "a\x85b", "a\x9bb", "a\u2028b", "a\u2029b", "x" * 1001, "\udcff", "a/\udcffb", "\ud800.bin",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_normalize_path_refuses(path):
    with pytest.raises(InvalidInput):
        normalize_path(path)


@pytest.mark.parametrize("path", ["a", "a/b.txt", ".gitattributes", "dir/.hidden", "a..b", "日本/モデル.bin",
                                  "a b/c d.txt", ".github/x", "x" * 1000, "한국어/가중치.bin", "x\u200cy"])
def test_normalize_path_accepts(path):
    assert normalize_path(path) == path


@pytest.mark.parametrize("path", ["../x", "/abs", ".git/config", "a/./b", "a\x00b", "a\\b", "a\x01b", "\udcff"])
@pytest.mark.parametrize("make_op", [
    lambda p: AddInline(p, b"x"),
    lambda p: Delete(p),
    lambda p: DeleteFolder(p),
    lambda p: Copy(".gitattributes", p),
    lambda p: Copy(p, "dest"),
], ids=["add", "delete", "delete-folder", "copy-dest", "copy-src"])
def test_every_operation_refuses_bad_paths(personas, make_repo, path, make_op):
    repo = make_repo()
    before = head(repo)
    with pytest.raises(InvalidInput):
        commit(personas.owner, repo, make_op(path))
    assert head(repo) == before


# A path can't be both a file and a folder: a checkout can't hold both, and snapshot_download drops one.
@pytest.mark.parametrize(("first", "second"), [
    ([AddInline("a", b"1"), AddInline("a/b", b"2")], None),
    ([AddInline("a/b", b"1"), AddInline("a", b"2")], None),
    ([AddInline("x/a", b"1"), AddInline("x/a/b/c", b"2")], None),
    ([AddInline("a", b"1")], [AddInline("a/b", b"2")]),
    ([AddInline("a/b", b"1")], [AddInline("a", b"2")]),
    ([AddInline("d/a", b"1")], [AddInline("d/a/deep/b", b"2")]),
    ([AddInline("a", b"1")], [Copy(".gitattributes", "a/b")]),
], ids=["file-then-child", "child-then-file", "deep", "across-commits", "folder-then-file", "deep-across",
        "copy"])
def test_a_path_that_is_both_file_and_folder_is_a_conflict(personas, make_repo, first, second):
    repo = make_repo()
    if second is None:
        before = head(repo)
        with pytest.raises(Conflict, match="both|is a file"):
            commit(personas.owner, repo, *first)
        assert head(repo) == before
        return
    commit(personas.owner, repo, *first)
    before = head(repo)
    with pytest.raises(Conflict) as info:
        commit(personas.owner, repo, *second)
    assert info.value.status == 409 and info.value.code == "PathConflict"
    assert head(repo) == before


def test_replacing_a_file_by_a_folder_in_one_commit_is_fine(personas, make_repo):
    repo = make_repo()
    commit(personas.owner, repo, AddInline("a", b"1"))
    new = commit(personas.owner, repo, Delete("a"), AddInline("a/b", b"2"))
    assert set(tree(new)) == {".gitattributes", "a/b"}


@pytest.mark.parametrize(("title", "message"), [("nul\x00", ""), ("\udcff", ""), ("ok", "nul\x00"),
                                                 ("ok", "\udcff")])
def test_summary_or_description_no_column_can_hold_is_refused(personas, make_repo, title, message):
    repo = make_repo()
    before = head(repo)
    with pytest.raises(InvalidInput):
        commit(personas.owner, repo, AddInline("a", b"1"), title=title, message=message)
    assert head(repo) == before


def test_add_blob_refuses_bad_path(personas, make_repo):
    repo = make_repo()
    blob = stored_blob(b"w")
    with pytest.raises(InvalidInput):
        commit(personas.owner, repo, AddBlob("../w.bin", blob.sha256, blob.size))


# --- model card cache -----------------------------------------------------------------------

CARD = b"""---
license: apache-2.0
language:
- ko
- en
pipeline_tag: text-generation
library_name: transformers
tags:
- llama
- korean
---
# Tiny

A tiny model for tests.

More text.
"""


def test_readme_front_matter_is_cached_on_the_repo(personas, make_repo):
    repo = make_repo()
    commit(personas.owner, repo, AddInline("README.md", CARD))
    repo.refresh_from_db()
    assert repo.tags == ["llama", "korean"]
    assert repo.pipeline_tag == "text-generation"
    assert repo.library_name == "transformers"
    assert repo.languages == ["ko", "en"]
    assert repo.card_license == "apache-2.0"
    assert repo.description == "A tiny model for tests."
    assert repo.card_data["license"] == "apache-2.0"


def test_crlf_readme_front_matter_is_cached(personas, make_repo):
    repo = make_repo()
    commit(personas.owner, repo, AddInline("README.md", CARD.replace(b"\n", b"\r\n")))
    repo.refresh_from_db()
    assert repo.tags == ["llama", "korean"]
    assert repo.description == "A tiny model for tests."


def test_readme_on_other_branch_does_not_change_the_cache(personas, make_repo):
    repo = make_repo()
    branch_create(actor=personas.owner, repo=repo, name="dev")
    commit(personas.owner, repo, AddInline("README.md", CARD), branch="dev")
    repo.refresh_from_db()
    assert repo.tags == []
    assert repo.pipeline_tag == ""


@pytest.mark.parametrize("card", [
    b"---\ntags: [unclosed\n---\nbody\n",
    b"---\nx: .nan\n---\n", b"---\nx: !!binary aGVsbG8=\n---\n", b"---\n- a list\n---\n",
    b"---\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n---\n",
])
@pytest.mark.parametrize("branch", ["main", "dev"])
def test_a_card_whose_metadata_cannot_be_stored_is_refused_and_keeps_the_cache(personas, make_repo, card, branch):
    """As the Hub does: the commit is a 400 with the reason, the branch and the listing fields stay as they were."""
    repo = make_repo()
    branch_create(actor=personas.owner, repo=repo, name="dev")
    commit(personas.owner, repo, AddInline("README.md", CARD))
    before = head(repo, branch)
    with pytest.raises(InvalidInput, match="Invalid metadata in README.md") as info:
        commit(personas.owner, repo, AddInline("README.md", card), branch=branch)
    assert info.value.status == 400 and info.value.code == "InvalidCard"
    assert head(repo, branch) == before
    repo.refresh_from_db()
    assert repo.tags == ["llama", "korean"]


def test_a_bad_card_copied_into_place_is_refused(personas, make_repo):
    repo = make_repo()
    commit(personas.owner, repo, AddInline("docs/card.md", b"---\nx: .inf\n---\n"))
    with pytest.raises(InvalidInput, match="non-finite"):
        commit(personas.owner, repo, Copy("docs/card.md", "README.md"))


def test_dates_in_a_card_are_stored_as_written(personas, make_repo):
    repo = make_repo()
    commit(personas.owner, repo, AddInline("README.md", b"---\ndate: 2024-01-01\ntags: [x]\n---\n# Hi\n"))
    repo.refresh_from_db()
    assert repo.card_data == {"date": "2024-01-01", "tags": ["x"]}


def test_commit_without_readme_change_keeps_the_cache(personas, make_repo):
    repo = make_repo()
    commit(personas.owner, repo, AddInline("README.md", CARD))
    commit(personas.owner, repo, AddInline("config.json", b"{}"))
    repo.refresh_from_db()
    assert repo.tags == ["llama", "korean"]


def test_deleting_the_readme_clears_the_cache(personas, make_repo):
    repo = make_repo()
    commit(personas.owner, repo, AddInline("README.md", CARD))
    commit(personas.owner, repo, Delete("README.md"))
    repo.refresh_from_db()
    assert (repo.tags, repo.pipeline_tag, repo.languages, repo.card_license, repo.description,
            repo.card_data) == ([], "", [], "", "", {})


def test_readme_without_front_matter_clears_tags_but_keeps_a_description(personas, make_repo):
    repo = make_repo()
    commit(personas.owner, repo, AddInline("README.md", CARD))
    commit(personas.owner, repo, AddInline("README.md", b"# Plain\n\nJust prose now.\n"))
    repo.refresh_from_db()
    assert repo.tags == [] and repo.pipeline_tag == ""
    assert repo.description == "Just prose now."


def test_readme_copied_into_place_updates_the_cache(personas, make_repo):
    repo = make_repo()
    commit(personas.owner, repo, AddInline("docs/card.md", CARD))
    commit(personas.owner, repo, Copy("docs/card.md", "README.md"))
    repo.refresh_from_db()
    assert repo.pipeline_tag == "text-generation"


def test_commit_bumps_repo_updated_at(personas, make_repo):
    repo = make_repo()
    before = ModelRepo.objects.get(pk=repo.pk).updated_at
    commit(personas.owner, repo, AddInline("a.txt", b"a"))
    assert ModelRepo.objects.get(pk=repo.pk).updated_at >= before
    assert repo.updated_at >= before


# --- history --------------------------------------------------------------------------------

def test_commit_history_walks_first_parents_newest_first(personas, make_repo):
    repo = make_repo()
    initial = head(repo)
    a = commit(personas.owner, repo, AddInline("a", b"a"), title="a")
    b = commit(personas.owner, repo, AddInline("b", b"b"), title="b")
    branch_create(actor=personas.owner, repo=repo, name="side", start_revision=a.oid)
    side = commit(personas.owner, repo, AddInline("s", b"s"), branch="side")
    assert commit_history(repo=repo, head=b) == [b, a, initial]
    assert commit_history(repo=repo, head=b, limit=2) == [b, a]
    assert commit_history(repo=repo, head=side) == [side, a, initial]


# --- concurrency (real transactions) ---------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_concurrent_commits_without_parent_all_land(personas, make_repo):
    """Commits without a parent serialise on the branch: none is lost, history is a straight line."""
    repo = make_repo()
    workers = 6
    errors: list[BaseException] = []
    barrier = threading.Barrier(workers)

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            commit(personas.member, repo, AddInline(f"f{i}.txt", str(i).encode()), title=f"c{i}")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    final = head(repo)
    assert set(tree(final)) == {".gitattributes", *(f"f{i}.txt" for i in range(workers))}
    history = commit_history(repo=repo, head=final)
    assert len(history) == workers + 1
    assert Commit.objects.filter(repo=repo).count() == workers + 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_commits_with_same_parent_one_wins(personas, make_repo):
    repo = make_repo()
    parent = head(repo)
    workers = 4
    outcomes: list[object] = []
    barrier = threading.Barrier(workers)

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            made = commit(personas.member, repo, AddInline(f"f{i}.txt", b"x"), parent_oid=parent.oid)
            outcomes.append(made)
        except BaseException as exc:  # noqa: BLE001
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    winners = [o for o in outcomes if isinstance(o, Commit)]
    losers = [o for o in outcomes if not isinstance(o, Commit)]
    assert len(winners) == 1
    assert all(isinstance(o, StaleParent) for o in losers), losers
    assert head(repo) == winners[0]
    assert Commit.objects.filter(repo=repo).count() == 2
