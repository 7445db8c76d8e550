"""Discussions: who may open, comment, edit, hide, rename and close; numbering; paging; the hub events they report."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections

from registry import hooks
from registry.exceptions import (
    Conflict,
    DiscussionNotFound,
    InvalidInput,
    NotAuthenticated,
    PermissionDenied,
    RepoNotFound,
)
from registry.models import ApiKey, AuditEvent, Branch, Discussion
from registry.selectors.discussions import comment_get, discussion_events, discussion_get, discussion_page
from registry.services import discussions as svc
from registry.services.commits import AddInline, commit_create
from tests.fixtures.personas import make_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(monkeypatch):
    seen: list[dict] = []
    monkeypatch.setattr(hooks, "_event_listeners", [seen.append])
    return seen


def test_anyone_who_reads_opens_and_comments_nobody_else_learns_it_exists(personas, make_repo):
    public = make_repo("open-model")
    private = make_repo("secret", private=True)
    d = svc.discussion_create(actor=personas.outsider, repo=public, title="  Typo in card  ", description="Hi")
    assert (d.num, d.title, d.status, d.is_pull_request) == (1, "Typo in card", "open", False)
    svc.comment_add(actor=personas.reader, discussion=d, text="+1")
    with pytest.raises(NotAuthenticated):
        svc.discussion_create(actor=personas.anonymous, repo=public, title="anon", description="x")
    with pytest.raises(RepoNotFound):
        svc.discussion_create(actor=personas.outsider, repo=private, title="peek", description="x")
    inside = svc.discussion_create(actor=personas.reader, repo=private, title="Members only", description="x")
    with pytest.raises(RepoNotFound):
        svc.comment_add(actor=personas.outsider, discussion=inside, text="hello")


def test_numbers_are_shared_by_discussions_and_prs_and_a_pr_ref_starts_at_the_base_head(personas, make_repo):
    repo = make_repo()
    commit_create(actor=personas.member, repo=repo, title="w", operations=[AddInline("a.txt", b"a")])
    head = Branch.objects.get(repo=repo, name="main").head
    first = svc.discussion_create(actor=personas.outsider, repo=repo, title="Question", description="?")
    pr = svc.discussion_create(actor=personas.outsider, repo=repo, title="Fix config", description="",
                               pull_request=True)
    assert (first.num, pr.num, pr.status, pr.base_oid) == (1, 2, "draft", head.oid)
    assert Branch.objects.get(repo=repo, name="refs/pr/2").head_id == head.pk
    with pytest.raises(InvalidInput):
        svc.discussion_create(actor=personas.outsider, repo=repo, title="To nowhere", pull_request=True,
                              target_branch="nope")


def test_concurrent_opens_get_distinct_numbers(personas, make_repo, transactional_db):
    repo = make_repo()
    nums: list[int] = []
    errors: list[Exception] = []

    def open_one(i: int) -> None:
        try:
            nums.append(svc.discussion_create(actor=personas.outsider, repo=repo, title=f"thread {i}").num)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(nums) == [1, 2, 3, 4, 5, 6]


def test_edit_and_hide_belong_to_the_author_and_writers(personas, make_repo):
    repo = make_repo()
    d = svc.discussion_create(actor=personas.outsider, repo=repo, title="Bug report", description="first")
    opening = discussion_events(discussion=d)[0]
    with pytest.raises(PermissionDenied):
        svc.comment_edit(actor=personas.reader, event=opening, text="vandal")
    edited = svc.comment_edit(actor=personas.outsider, event=opening, text="first, clearer")
    assert edited.edited and edited.content == "first, clearer"
    assert [h["raw"] for h in edited.history] == ["first"]
    hidden = svc.comment_hide(actor=personas.member, event=comment_get(discussion=d, comment_id=opening.eid.upper()))
    assert hidden.hidden and hidden.content == "" and hidden.history == []
    with pytest.raises(Conflict):
        svc.comment_edit(actor=personas.outsider, event=hidden, text="back")
    assert AuditEvent.objects.filter(action="discussion.comment.hide").count() == 1


def test_rename_and_status_belong_to_the_author_and_writers(personas, make_repo):
    repo = make_repo()
    d = svc.discussion_create(actor=personas.outsider, repo=repo, title="Old title", description="x")
    with pytest.raises(PermissionDenied):
        svc.title_change(actor=personas.reader, discussion=d, title="Hijacked")
    change = svc.title_change(actor=personas.outsider, discussion=d, title="New title")
    assert change.data == {"from": "Old title", "to": "New title"}
    with pytest.raises(PermissionDenied):
        svc.status_change(actor=personas.reader, discussion=d, status="closed")
    svc.status_change(actor=personas.member, discussion=d, status="closed", comment="Fixed in main")
    kinds = [(e.type, e.content or e.data.get("status")) for e in discussion_events(discussion=d)]
    assert kinds[-2:] == [("comment", "Fixed in main"), ("status-change", "closed")]
    with pytest.raises(Conflict):
        svc.status_change(actor=personas.member, discussion=d, status="closed")
    with pytest.raises(InvalidInput):
        svc.status_change(actor=personas.member, discussion=d, status="merged")
    for bad in ("", "ab", "x" * 201, "two\nlines"):
        with pytest.raises(InvalidInput):
            svc.title_change(actor=personas.outsider, discussion=d, title=bad)


def test_a_read_only_key_reads_but_does_not_write(personas, make_repo):
    repo = make_repo()
    make_key(personas.outsider, scopes="read")
    key = ApiKey.objects.get(user=personas.outsider)
    with pytest.raises(PermissionDenied):
        svc.discussion_create(actor=personas.outsider, repo=repo, title="With a read key", api_key=key)


def test_locked_threads_take_comments_from_writers_only(personas, make_repo):
    repo = make_repo()
    d = svc.discussion_create(actor=personas.outsider, repo=repo, title="Heated", description="x")
    svc.discussion_lock(actor=personas.owner, discussion=d, locked=True)
    with pytest.raises(PermissionDenied):
        svc.comment_add(actor=personas.outsider, discussion=d, text="more")
    svc.comment_add(actor=personas.member, discussion=d, text="Locked: see the FAQ")


def test_pages_count_after_filters_and_newest_first(personas, make_repo, django_assert_max_num_queries):
    repo = make_repo()
    for i in range(7):
        svc.discussion_create(actor=personas.outsider if i % 2 else personas.reader, repo=repo, title=f"thread {i}",
                              pull_request=i == 6)
    Discussion.objects.filter(repo=repo, num=1).update(status="closed")
    with django_assert_max_num_queries(3):
        page = discussion_page(repo=repo, page=0, page_size=3)
    assert ([d.num for d in page.items], page.count, page.start) == ([7, 6, 5], 7, 0)
    last = discussion_page(repo=repo, page=2, page_size=3)
    assert ([d.num for d in last.items], last.count, last.start, last.has_next) == ([1], 7, 6, False)
    assert discussion_page(repo=repo, status="open").count == 6  # the draft PR counts as open
    assert discussion_page(repo=repo, status="closed").count == 1
    assert discussion_page(repo=repo, kind="pull_request").count == 1
    assert discussion_page(repo=repo, author="RAE").count == 4
    assert discussion_page(repo=repo, author="nobody").count == 0
    for bad in ({"page": -1}, {"page": "x"}, {"kind": "issue"}, {"status": "merged"}):
        with pytest.raises(InvalidInput):
            discussion_page(repo=repo, **bad)
    with pytest.raises(DiscussionNotFound):
        discussion_get(repo=repo, num=99)


def test_changes_report_hub_events_after_commit(personas, make_repo, events, django_capture_on_commit_callbacks):
    repo = make_repo()
    with django_capture_on_commit_callbacks(execute=False) as pending:
        d = svc.discussion_create(actor=personas.outsider, repo=repo, title="Hello", description="x")
        c = svc.comment_add(actor=personas.member, discussion=d, text="hi")
    assert events == []  # nothing is reported before the transaction commits
    for callback in pending:
        callback()
    scopes = [(e["scope"], e["action"]) for e in events]
    assert scopes == [("discussion", "create"), ("discussion.comment", "create")]
    assert events[1]["comment_id"] == c.pk and events[1]["discussion_id"] == d.pk
