"""Discussions and pull requests through the stock huggingface_hub client (HF_COMMUNITY.md §1): list with paging
and filters, details, open, comment, edit, hide, rename, close/reopen, and who may do what."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from api.hf import discussions as hf_discussions
from registry.models import AuditEvent, DiscussionEvent
from registry.services.discussions import comment_add, discussion_create
from tests.fixtures.personas import make_key

pytestmark = pytest.mark.django_db

REPO = "acme/tiny"


@pytest.mark.live
def test_a_discussion_round_trip_through_the_stock_client(hub, make_repo):  # noqa: ANN001
    make_repo("tiny")
    reader, owner = hub.api("reader"), hub.api("owner")

    created = reader.create_discussion(REPO, title="  Typo in the card  ", description="The **card** says <b>x</b>"
                                       "<script>alert(1)</script>")
    assert created.num == 1 and created.title == "Typo in the card" and created.author == "rae"
    assert created.status == "open" and not created.is_pull_request
    assert created.url == f"{hub.url}/{REPO}/discussions/1"
    opening = created.events[0]
    assert opening.type == "comment" and opening.content.startswith("The **card**")
    assert "<strong>card</strong>" in opening.rendered and "<script" not in opening.rendered
    assert opening.id == opening.id.lower()

    said = owner.comment_discussion(REPO, 1, "Thanks, looking")
    assert said.content == "Thanks, looking" and said.author == "olivia" and not said.edited

    mine = reader.comment_discussion(REPO, 1, "first version")
    edited = reader.edit_discussion_comment(REPO, 1, mine.id, "second version")
    assert edited.edited and edited.content == "second version"
    assert [item["raw"] for item in edited.edit_history] == ["first version"]

    hidden = owner.hide_discussion_comment(REPO, 1, mine.id)
    assert hidden.hidden and hidden.content == "" and hidden.edit_history == []

    renamed = reader.rename_discussion(REPO, 1, "Typo in the model card")
    assert (renamed.old_title, renamed.new_title) == ("Typo in the card", "Typo in the model card")

    closed = reader.change_discussion_status(REPO, 1, "closed", comment="fixed in main")
    assert closed.new_status == "closed"
    reopened = owner.change_discussion_status(REPO, 1, "open")
    assert reopened.new_status == "open"

    details = reader.get_discussion_details(REPO, 1)
    assert details.title == "Typo in the model card" and details.status == "open"
    kinds = [(event.type, getattr(event, "content", None) or getattr(event, "new_status", None)
              or getattr(event, "new_title", None)) for event in details.events]
    assert kinds == [
        ("comment", "The **card** says <b>x</b><script>alert(1)</script>"),
        ("comment", "Thanks, looking"),
        ("comment", None),  # hidden: its text is gone for good
        ("title-change", "Typo in the model card"),
        ("comment", "fixed in main"),
        ("status-change", "closed"),
        ("status-change", "open"),
    ]
    assert "second version" not in json.dumps(
        reader.get_discussion_details(REPO, 1).__dict__, default=str)


@pytest.mark.live
def test_create_pull_request_is_a_draft_with_its_ref_at_the_base_head(hub, make_repo):  # noqa: ANN001
    repo = make_repo("tiny")
    hub.seed(repo, inline={"config.json": b"{}"})
    head = hub.api("owner").repo_info(REPO).sha

    pr = hub.api("reader").create_pull_request(REPO, title="Add a tokenizer", description="see files")
    assert pr.is_pull_request and pr.status == "draft" and pr.num == 1
    assert pr.git_reference == "refs/pr/1" and pr.target_branch == "refs/heads/main"
    assert pr.conflicting_files == [] and pr.merge_commit_oid is None
    assert hub.api("reader").repo_info(REPO, revision="refs/pr/1").sha == head

    # Discussions and PRs share one number sequence.
    assert hub.api("reader").create_discussion(REPO, title="A question").num == 2
    published = hub.api("reader").change_discussion_status(REPO, 1, "open")
    assert published.new_status == "open"


@pytest.mark.live
def test_listing_pages_across_more_than_a_page_with_filters(hub, make_repo, monkeypatch):  # noqa: ANN001
    monkeypatch.setattr(hf_discussions, "PAGE_SIZE", 5)
    repo = make_repo("tiny")
    hub.seed(repo, inline={"a.txt": b"a"})
    p = hub.p
    for i in range(12):
        discussion_create(actor=p.reader if i % 3 else p.member, repo=repo, title=f"thread {i:02d}",
                          pull_request=i % 4 == 0)
    api = hub.api("reader")
    api.change_discussion_status(REPO, 2, "closed")

    everything = list(api.get_repo_discussions(REPO))
    assert [d.num for d in everything] == list(range(12, 0, -1))  # newest first, across three pages
    assert [d.num for d in api.get_repo_discussions(REPO, discussion_type="pull_request")] == [9, 5, 1]
    assert [d.num for d in api.get_repo_discussions(REPO, discussion_type="discussion", discussion_status="closed")
            ] == [2]
    assert 2 not in [d.num for d in api.get_repo_discussions(REPO, discussion_status="open")]
    assert [d.num for d in api.get_repo_discussions(REPO, author="mina")] == [10, 7, 4, 1]
    assert list(api.get_repo_discussions(REPO, author="nobody-at-all")) == []


def test_the_list_costs_the_same_queries_whatever_the_page_size(client, make_repo, personas):  # noqa: ANN001
    repo = make_repo("tiny")
    token = make_key(personas.reader)
    for i in range(60):
        discussion_create(actor=personas.reader if i % 2 else personas.outsider, repo=repo, title=f"thread {i}")
    url = f"/api/models/{REPO}/discussions"

    def count(params: dict) -> tuple[int, dict]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, params, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200, response.content
        return len(queries), response.json()

    few, first = count({"p": 1, "status": "open"})
    many, second = count({"p": 0})
    assert (first["count"], first["start"], len(first["discussions"])) == (60, 50, 10)
    assert (second["count"], second["start"], len(second["discussions"])) == (60, 0, 50)
    assert many == few <= 6
    assert second["discussions"][0]["createdAt"].endswith("Z")


@pytest.mark.live
def test_who_may_do_what(hub, make_repo):  # noqa: ANN001
    make_repo("tiny")
    made = hub.api("member").create_discussion(REPO, title="Member's thread")
    first_comment = made.events[0].id

    # A reader can't rename or close someone else's thread, nor edit their comment.
    for call in (lambda api: api.rename_discussion(REPO, made.num, "Hijacked"),
                 lambda api: api.change_discussion_status(REPO, made.num, "closed"),
                 lambda api: api.edit_discussion_comment(REPO, made.num, first_comment, "x"),
                 lambda api: api.hide_discussion_comment(REPO, made.num, first_comment)):
        with pytest.raises(HfHubHTTPError) as refused:
            call(hub.api("reader"))
        assert refused.value.response.status_code == 403
    # The repo's writer may.
    assert hub.api("owner").rename_discussion(REPO, made.num, "Renamed by the owner").new_title == \
        "Renamed by the owner"

    # Anonymous callers read, and can't write.
    assert hub.api("anonymous").get_discussion_details(REPO, made.num).title == "Renamed by the owner"
    with pytest.raises(HfHubHTTPError) as anonymous:
        hub.api("anonymous").comment_discussion(REPO, made.num, "hi")
    assert anonymous.value.response.status_code == 401

    # A read-only API key reads, and can't write.
    read_key = make_key(hub.p.reader, scopes="read")
    from huggingface_hub import HfApi

    with pytest.raises(HfHubHTTPError) as read_only:
        HfApi(endpoint=hub.url, token=read_key).comment_discussion(REPO, made.num, "hi")
    assert read_only.value.response.status_code == 403

    # Unknown threads and comments are 404s.
    with pytest.raises(HfHubHTTPError) as missing:
        hub.api("reader").get_discussion_details(REPO, 99)
    assert missing.value.response.status_code == 404
    assert missing.value.response.headers["X-Error-Code"] == "DiscussionNotFound"
    with pytest.raises(HfHubHTTPError) as no_comment:
        hub.api("owner").hide_discussion_comment(REPO, made.num, "deadbeef")
    assert no_comment.value.response.status_code == 404

    # Hiding writes an audit row.
    hub.api("owner").hide_discussion_comment(REPO, made.num, first_comment)
    assert AuditEvent.objects.filter(action="discussion.comment.hide").count() == 1


@pytest.mark.live
def test_a_private_repo_is_not_found_to_outsiders(hub, make_repo):  # noqa: ANN001
    repo = make_repo("secret", private=True)
    discussion_create(actor=hub.p.member, repo=repo, title="Internal thread")
    for call in (lambda api: list(api.get_repo_discussions("acme/secret")),
                 lambda api: api.get_discussion_details("acme/secret", 1),
                 lambda api: api.create_discussion("acme/secret", title="Let me in"),
                 lambda api: api.comment_discussion("acme/secret", 1, "hello")):
        with pytest.raises(RepositoryNotFoundError):
            call(hub.api("outsider"))
    assert [d.title for d in hub.api("reader").get_repo_discussions("acme/secret")] == ["Internal thread"]


def test_bad_input_is_a_400_never_a_500(client, make_repo, personas):  # noqa: ANN001
    repo = make_repo("tiny")
    discussion = discussion_create(actor=personas.reader, repo=repo, title="A thread")
    comment = comment_add(actor=personas.reader, discussion=discussion, text="hello")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {make_key(personas.reader)}"}
    base = f"/api/models/{REPO}/discussions"
    cases = [
        ("post", base, b"{not json"),
        ("post", base, b"[1, 2]"),
        ("post", base, json.dumps({"title": "ab"}).encode()),
        ("post", base, json.dumps({"title": 5}).encode()),
        ("post", base, json.dumps({"title": "A fine title", "pullRequest": "yes"}).encode()),
        ("post", base, json.dumps({"title": "Bad\u0000title"}).encode()),
        ("post", f"{base}/1/comment", json.dumps({"comment": ""}).encode()),
        ("post", f"{base}/1/comment", json.dumps({}).encode()),
        ("post", f"{base}/1/comment/{comment.eid}/edit", json.dumps({"content": None}).encode()),
        ("post", f"{base}/1/title", json.dumps({"title": "x" * 500}).encode()),
        ("post", f"{base}/1/status", json.dumps({"status": "merged"}).encode()),
        ("get", f"{base}?p=-1", None),
        ("get", f"{base}?p=abc", None),
        ("get", f"{base}?type=issues", None),
        ("get", f"{base}?status=weird", None),
    ]
    for method, url, body in cases:
        if method == "post":
            response = client.post(url, body, content_type="application/json", **auth)
        else:
            response = client.get(url, **auth)
        assert response.status_code == 400, (url, body, response.status_code, response.content)
        assert response["X-Error-Message"]
    for url in (f"{base}/abc", f"{base}/0", f"{base}/99999999999999999999"):
        assert client.get(url, **auth).status_code == 404
    assert DiscussionEvent.objects.filter(discussion=discussion).count() == 2


def test_session_writes_need_the_csrf_token(make_repo, personas):  # noqa: ANN001
    from django.test import Client

    make_repo("tiny")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(personas.reader)
    response = browser.post(f"/api/models/{REPO}/discussions", json.dumps({"title": "Forged thread"}),
                            content_type="application/json")
    assert response.status_code == 403 and response["X-Error-Code"] == "CsrfFailed"
    assert not hf_discussions.Discussion.objects.exists()


@pytest.mark.live
def test_a_deleted_account_reads_as_deleted(hub, make_repo):  # noqa: ANN001
    from tests.fixtures.personas import make_user

    repo = make_repo("tiny")
    leaver = make_user("leaver")
    discussion = discussion_create(actor=leaver, repo=repo, title="From someone who left")
    comment_add(actor=leaver, discussion=discussion, text="bye")
    leaver.delete()
    listed = list(hub.api("reader").get_repo_discussions(REPO))
    assert [(d.num, d.author) for d in listed] == [(1, "deleted")]
    details = hub.api("reader").get_discussion_details(REPO, 1)
    assert details.author == "deleted" and [e.author for e in details.events] == ["deleted", "deleted"]
    assert details.events[1].content == "bye"


def test_hostile_urls_and_bodies_never_answer_5xx(client, make_repo, personas):  # noqa: ANN001
    repo = make_repo("tiny")
    discussion = discussion_create(actor=personas.reader, repo=repo, title="A thread")
    comment_add(actor=personas.reader, discussion=discussion, text="hello")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {make_key(personas.owner)}"}
    base = f"/api/models/{REPO}/discussions"
    weird = ["-1", "1.5", "٣", "1e3", "%20", "2147483648", "9" * 40, "x" * 300, "1;DROP", "0x1"]
    for num in weird:
        for suffix in ("", "/comment", "/title", "/status", "/comment/abc/edit", "/comment/" + "f" * 300 + "/hide"):
            url = f"{base}/{num}{suffix}"
            response = client.post(url, b"{}", content_type="application/json", **auth) if suffix else \
                client.get(url, **auth)
            assert response.status_code < 500 and response["X-Error-Code"], (url, response.status_code)
    bodies = [b"", b"null", b'"text"', b"{\"comment\": {\"a\": 1}}", b"{\"comment\": \"\\ud800\"}",
              b"{\"status\": [\"closed\"]}", b"{\"title\": \"" + b"\xff" * 3 + b"\"}", b"[" * 100 + b"]" * 100]
    for body in bodies:
        for suffix in ("", "/1/comment", "/1/title", "/1/status"):
            response = client.post(base + suffix, body, content_type="application/json", **auth)
            assert 400 <= response.status_code < 500, (suffix, body, response.status_code, response.content)
    for query in ("p=1e9", "p=", "type=", "author=" + "a" * 500, "status=open&type=pull_request&p=3"):
        assert client.get(f"{base}?{query}", **auth).status_code in (200, 400), query
