"""Pull requests in the domain: pushes to refs/pr/N, merges, conflicts, the validation gate, the diff."""

from __future__ import annotations

import hashlib

import pytest

from registry.exceptions import Conflict, InvalidInput, PermissionDenied
from registry.hashing import git_blob_sha1
from registry.models import Branch, CommitFile, ContentVerdict, Discussion, DiscussionEvent, pr_ref
from registry.selectors.pulls import pr_details_extra, pr_page_context
from registry.selectors.repos import repo_refs, revision_resolve
from registry.services.commits import AddInline, Delete, commit_create
from registry.services.discussions import discussion_create, status_change
from registry.services.pulls import pr_commit_open, pr_merge
from registry.services.refs import branch_create, branch_delete


@pytest.fixture
def repo(make_repo, personas):
    repo = make_repo()
    commit_create(actor=personas.owner, repo=repo, title="seed",
                  operations=[AddInline("config.json", b'{"a": 1}\n'), AddInline("notes.txt", b"one\ntwo\nthree\n"),
                              AddInline("old.txt", b"old\n")])
    return repo


def files(commit) -> dict[str, bytes]:
    return {f.path: bytes(f.content or b"") for f in CommitFile.objects.filter(commit=commit)
            if f.path != ".gitattributes"}


def head(repo, branch="main"):
    return Branch.objects.get(repo=repo, name=branch).head


def open_pr(repo, actor, ops, title="Fix the notes"):
    discussion, commit = pr_commit_open(actor=actor, repo=repo, operations=ops, title=title, message="Please merge")
    return discussion, commit


def test_a_reader_opens_a_pr_by_commit_and_main_does_not_move(repo, personas):
    main_before = head(repo)
    discussion, commit = open_pr(repo, personas.reader, [AddInline("notes.txt", b"one\n2\nthree\n")])
    assert discussion.is_pull_request and discussion.status == Discussion.Status.OPEN
    assert discussion.title == "Fix the notes" and discussion.base_oid == main_before.oid
    assert head(repo) == main_before
    assert head(repo, pr_ref(discussion.num)) == commit
    events = list(DiscussionEvent.objects.filter(discussion=discussion).values_list("type", "content", "data"))
    assert events[0][:2] == ("comment", "Please merge")
    assert events[1][0] == "commit" and events[1][2] == {"subject": "Fix the notes", "oid": commit.oid}
    # refs/pr/N is no branch in listings, but resolves like one.
    assert [b.name for b in repo_refs(repo=repo)[0]] == ["main"]
    assert revision_resolve(repo=repo, revision=pr_ref(discussion.num)) == commit


def test_short_commit_summary_still_gives_a_valid_title(repo, personas):
    discussion, _ = open_pr(repo, personas.reader, [AddInline("x.txt", b"x")], title="x")
    assert len(discussion.title) >= 3 and "x" in discussion.title


def test_a_refused_commit_leaves_no_empty_pr(repo, personas):
    with pytest.raises(InvalidInput):
        open_pr(repo, personas.reader, [AddInline("../escape", b"x")])
    assert not Discussion.objects.filter(repo=repo).exists()
    assert not Branch.objects.filter(repo=repo, name__startswith="refs/pr/").exists()


def test_only_the_author_or_a_writer_pushes_to_a_pr(repo, personas):
    discussion, _ = open_pr(repo, personas.reader, [AddInline("a.txt", b"a")])
    ref = pr_ref(discussion.num)
    commit_create(actor=personas.reader, repo=repo, branch=ref, title="more", operations=[AddInline("b.txt", b"b")])
    commit_create(actor=personas.member, repo=repo, branch=ref, title="writer fix",
                  operations=[AddInline("c.txt", b"c")])
    with pytest.raises(PermissionDenied):
        commit_create(actor=personas.outsider, repo=repo, branch=ref, title="hijack",
                      operations=[AddInline("evil.txt", b"e")])
    # A reader still can't write main, nor another branch.
    with pytest.raises(PermissionDenied):
        commit_create(actor=personas.reader, repo=repo, title="direct", operations=[AddInline("d.txt", b"d")])
    subjects = list(DiscussionEvent.objects.filter(discussion=discussion, type="commit")
                    .values_list("data__subject", flat=True))
    assert subjects == ["Fix the notes", "more", "writer fix"]
    assert set(files(head(repo, ref))) >= {"a.txt", "b.txt", "c.txt"}


def test_closed_prs_take_no_pushes(repo, personas):
    discussion, _ = open_pr(repo, personas.reader, [AddInline("a.txt", b"a")])
    status_change(actor=personas.reader, discussion=discussion, status="closed")
    with pytest.raises(Conflict):
        commit_create(actor=personas.reader, repo=repo, branch=pr_ref(discussion.num), title="late",
                      operations=[AddInline("b.txt", b"b")])
    assert Branch.objects.filter(repo=repo, name=pr_ref(discussion.num)).exists()  # closing leaves the ref


def test_merge_applies_the_pr_on_the_moved_target(repo, personas):
    discussion, _ = open_pr(repo, personas.reader,
                            [AddInline("notes.txt", b"one\n2\nthree\n"), Delete("old.txt"), AddInline("new.txt", b"n")])
    # main moves on (another file): no conflict.
    commit_create(actor=personas.member, repo=repo, title="config", operations=[AddInline("config.json", b"{}")])
    assert pr_details_extra(discussion)["filesWithConflicts"] == []
    with pytest.raises(PermissionDenied):
        pr_merge(actor=personas.reader, discussion=discussion)
    merged = pr_merge(actor=personas.member, discussion=discussion, comment="Thanks!")
    assert head(repo) == merged and merged.title.startswith("Merge pull request #1")
    assert files(merged) == {"config.json": b"{}", "notes.txt": b"one\n2\nthree\n", "new.txt": b"n"}
    discussion.refresh_from_db()
    assert discussion.status == "merged" and discussion.merge_commit_oid == merged.oid
    types = list(DiscussionEvent.objects.filter(discussion=discussion).values_list("type", "data", "content"))
    assert types[-2] == ("comment", {}, "Thanks!") and types[-1][:2] == ("status-change", {"status": "merged"})
    extra = pr_details_extra(discussion, with_diff=True)
    assert extra["changes"] == {"base": "refs/heads/main", "mergeCommitId": merged.oid}
    assert Branch.objects.filter(repo=repo, name=pr_ref(discussion.num)).exists()  # merged PRs keep their ref
    with pytest.raises(Conflict):
        pr_merge(actor=personas.member, discussion=discussion)


def test_conflicts_are_listed_and_refuse_the_merge(repo, personas):
    discussion, _ = open_pr(repo, personas.reader, [AddInline("notes.txt", b"mine\n"), AddInline("ok.txt", b"k")])
    commit_create(actor=personas.member, repo=repo, title="theirs", operations=[AddInline("notes.txt", b"theirs\n")])
    assert pr_details_extra(discussion)["filesWithConflicts"] == ["notes.txt"]
    with pytest.raises(Conflict) as caught:
        pr_merge(actor=personas.member, discussion=discussion)
    assert "notes.txt" in caught.value.message
    assert files(head(repo))["notes.txt"] == b"theirs\n"
    context = pr_page_context(discussion, viewer=personas.member)
    assert context["pr_conflicts"] == ["notes.txt"] and not context["pr_can_merge"]


def test_the_same_change_on_both_sides_is_no_conflict(repo, personas):
    discussion, _ = open_pr(repo, personas.reader, [AddInline("notes.txt", b"same\n")])
    commit_create(actor=personas.member, repo=repo, title="same", operations=[AddInline("notes.txt", b"same\n")])
    assert pr_details_extra(discussion)["filesWithConflicts"] == []


def test_drafts_are_published_before_merging(repo, personas):
    draft = discussion_create(actor=personas.reader, repo=repo, title="A draft", pull_request=True)
    commit_create(actor=personas.reader, repo=repo, branch=pr_ref(draft.num), title="work",
                  operations=[AddInline("w.txt", b"w")])
    with pytest.raises(Conflict) as caught:
        pr_merge(actor=personas.member, discussion=draft)
    assert "draft" in caught.value.message
    status_change(actor=personas.reader, discussion=draft, status="open")
    pr_merge(actor=personas.member, discussion=draft)
    assert files(head(repo))["w.txt"] == b"w"


def test_a_quarantined_file_blocks_the_merge(repo, personas):
    discussion, _ = open_pr(repo, personas.reader, [AddInline("bad.json", b'{"evil": true}')])
    ContentVerdict.objects.create(sha256=hashlib.sha256(b'{"evil": true}').hexdigest(),
                                  git_oid=git_blob_sha1(b'{"evil": true}'), size=14, status="failed",
                                  reason="hostile content")
    with pytest.raises(Conflict) as caught:
        pr_merge(actor=personas.member, discussion=discussion)
    assert "bad.json" in caught.value.message and "hostile content" in caught.value.message
    assert "bad.json" not in files(head(repo))
    assert pr_page_context(discussion, viewer=personas.member)["pr_failed"] == [("bad.json", "hostile content")]


def test_diff_is_git_style(repo, personas):
    discussion, _ = open_pr(repo, personas.reader, [AddInline("notes.txt", b"one\n2\nthree\n"), Delete("old.txt"),
                                                    AddInline("blob.bin", b"\x00\x01")])
    diff = pr_details_extra(discussion, with_diff=True)["diff"]
    assert "diff --git a/notes.txt b/notes.txt\n--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n" \
        in diff
    assert "diff --git a/old.txt b/old.txt\ndeleted file mode 100644\n--- a/old.txt\n+++ /dev/null\n" in diff
    assert "Binary files /dev/null and b/blob.bin differ" in diff


def test_gated_diff_text_needs_the_right_to_download(make_repo, personas):
    repo = make_repo("gated", gating="auto")
    commit_create(actor=personas.owner, repo=repo, title="seed", operations=[AddInline("secret.txt", b"s1\n")])
    discussion, _ = open_pr(repo, personas.member, [AddInline("secret.txt", b"s2\n")])
    assert "+s2" not in pr_details_extra(discussion, with_diff=True)["diff"]
    assert "+s2" in pr_details_extra(discussion, with_diff=True, viewer=personas.member)["diff"]


def test_pr_refs_are_not_branches(repo, personas):
    discussion, _ = open_pr(repo, personas.reader, [AddInline("a.txt", b"a")])
    with pytest.raises(InvalidInput):
        branch_create(actor=personas.member, repo=repo, name="refs/pr/7")
    with pytest.raises(InvalidInput):
        branch_delete(actor=personas.member, repo=repo, name=pr_ref(discussion.num))


def test_create_pr_from_an_older_parent_commit(repo, personas):
    first = head(repo)
    commit_create(actor=personas.member, repo=repo, title="later", operations=[AddInline("notes.txt", b"later\n")])
    discussion, commit = pr_commit_open(actor=personas.reader, repo=repo, title="From the first commit",
                                        operations=[AddInline("notes.txt", b"mine\n")], parent_oid=first.oid[:7])
    assert discussion.base_oid == first.oid and commit.parent == first
    # main changed notes.txt since that parent: a conflict.
    assert pr_details_extra(discussion)["filesWithConflicts"] == ["notes.txt"]


def test_a_pr_commit_is_validated_and_a_failed_run_blocks_the_merge(repo, personas, validator):
    """The PR's commit gets a validation run like every commit; its failed file is named at merge."""
    from registry import tasks
    from registry.models import ValidationRun

    with validator.capture(execute=True):
        discussion, commit = pr_commit_open(actor=personas.reader, repo=repo, title="Broken config",
                                            operations=[AddInline("config.json", b'{"model_type": ')])
    run = ValidationRun.objects.get(commit=commit)
    tasks.validate_commit(run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    with pytest.raises(Conflict) as caught:
        pr_merge(actor=personas.member, discussion=discussion)
    assert caught.value.code == "ValidationFailed" and "config.json" in caught.value.message


def test_a_target_that_moves_during_the_merge_is_a_409_not_an_overwrite(repo, personas, monkeypatch):
    from registry.selectors import pulls as pull_reads

    discussion, _ = open_pr(repo, personas.reader, [AddInline("notes.txt", b"mine\n")])
    seen = pull_reads.pr_heads(discussion)
    # Another commit lands on main after the conflict check read the heads.
    commit_create(actor=personas.member, repo=repo, title="racing", operations=[AddInline("notes.txt", b"race\n")])
    monkeypatch.setattr(pull_reads, "pr_heads", lambda d: seen)
    with pytest.raises(Conflict) as caught:
        pr_merge(actor=personas.member, discussion=discussion)
    assert caught.value.code == "MergeRetry"
    assert files(head(repo))["notes.txt"] == b"race\n"
    assert Discussion.objects.get(pk=discussion.pk).status == "open"
