"""The Community tab: list with filters and pages, thread view, new thread, comment, edit/hide, close/reopen,
rename, e-mail subscription; private repos are 404s to outsiders; every form needs the CSRF token."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from registry.models import Discussion, DiscussionEvent, DiscussionMute, RepoFollow
from registry.services.discussions import comment_add, comment_hide, discussion_create
from tests.fixtures.personas import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def mail_worker(monkeypatch):  # noqa: ANN001, ANN201
    """The notification queue, worked through at once: each registry.notify_discussion message runs in-process, as
    a Celery worker would run it."""
    from registry import tasks

    monkeypatch.setattr(tasks.notify_discussion, "apply_async",
                        lambda args, **kw: tasks.notify_discussion.apply(args=args))


def test_the_tab_lists_threads_with_the_open_count_and_filters(as_user, seed, personas):  # noqa: ANN001
    repo = seed.public
    for i in range(3):
        discussion_create(actor=personas.reader, repo=repo, title=f"Question {i}")
    discussion_create(actor=personas.member, repo=repo, title="Fix the config", pull_request=True)
    closed = discussion_create(actor=personas.reader, repo=repo, title="Old question")
    Discussion.objects.filter(pk=closed.pk).update(status="closed")

    client = as_user(personas.anonymous)
    card = client.get("/acme/tiny").content.decode()
    assert re.search(r'href="/acme/tiny/discussions">Community <span class="count">4</span>', card)

    page = client.get("/acme/tiny/discussions").content.decode()
    assert "Question 2" in page and "Fix the config" in page and "Old question" not in page
    prs = client.get("/acme/tiny/discussions?type=pull_request").content.decode()
    assert "Fix the config" in prs and "Question 0" not in prs
    closed_page = client.get("/acme/tiny/discussions?status=closed").content.decode()
    assert "Old question" in closed_page and "Question 0" not in closed_page
    # Nonsense filters are the defaults, not errors.
    assert client.get("/acme/tiny/discussions?type=x&status=y&p=zz").status_code == 200


def test_the_list_pages(as_user, seed, personas, monkeypatch, django_assert_max_num_queries):  # noqa: ANN001
    from portal.views import community

    monkeypatch.setattr(community, "PAGE_SIZE", 3)
    for i in range(7):
        discussion_create(actor=personas.reader, repo=seed.public, title=f"Thread {i}")
    client = as_user(personas.reader)
    with django_assert_max_num_queries(30) as few:
        first = client.get("/acme/tiny/discussions").content.decode()
    assert "Thread 6" in first and "Thread 3" not in first and "p=1" in first
    monkeypatch.setattr(community, "PAGE_SIZE", 7)
    with django_assert_max_num_queries(len(few.captured_queries)):
        everything = client.get("/acme/tiny/discussions").content.decode()
    assert all(f"Thread {i}" in everything for i in range(7))
    monkeypatch.setattr(community, "PAGE_SIZE", 3)
    last = client.get("/acme/tiny/discussions?p=2").content.decode()
    assert "Thread 0" in last and "Thread 1" not in last


def test_a_thread_is_served_where_the_client_and_webhooks_link(as_user, seed, personas):  # noqa: ANN001
    discussion = discussion_create(actor=personas.reader, repo=seed.public, title="Broken link",
                                   description="See [here](javascript:alert(1)) **now**<script>x()</script>")
    gone = comment_add(actor=personas.member, discussion=discussion, text="secret words")
    comment_hide(actor=personas.owner, event=gone)
    page = as_user(personas.anonymous).get("/acme/tiny/discussions/1")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Broken link" in html and "<strong>now</strong>" in html
    assert "<script>x()" not in html and "javascript:alert" not in html
    assert "secret words" not in html and "This comment has been hidden." in html
    assert "Sign in to comment" in html
    assert as_user(personas.anonymous).get("/acme/tiny/discussions/2").status_code == 404


def test_a_private_repos_threads_are_404_to_outsiders(as_user, seed, personas):  # noqa: ANN001
    discussion_create(actor=personas.member, repo=seed.private, title="Internal")
    for persona in (personas.outsider, personas.anonymous):
        client = as_user(persona)
        for url in ("/acme/secret-model/discussions", "/acme/secret-model/discussions/1"):
            assert client.get(url).status_code == 404, (persona, url)
    outsider = as_user(personas.outsider)
    assert outsider.post("/acme/secret-model/discussions/1/comment", {"comment": "hi"}).status_code == 404
    assert outsider.post("/acme/secret-model/discussions/new", {"title": "Let me in"}).status_code == 404
    assert Discussion.objects.filter(repo=seed.private).count() == 1
    assert as_user(personas.reader).get("/acme/secret-model/discussions/1").status_code == 200


def test_open_comment_edit_hide_rename_close_reopen(as_user, seed, personas):  # noqa: ANN001
    reader = as_user(personas.reader)
    response = reader.post("/acme/tiny/discussions/new", {"title": "  Card typo  ", "description": "In *intro*"})
    assert response.status_code == 302 and response["Location"] == "/acme/tiny/discussions/1"
    discussion = Discussion.objects.get(repo=seed.public, num=1)
    assert discussion.title == "Card typo" and discussion.author == personas.reader

    reader.post("/acme/tiny/discussions/1/comment", {"comment": "more **detail**"})
    comment = DiscussionEvent.objects.filter(discussion=discussion).order_by("-id").first()
    assert comment.content == "more **detail**"
    assert "<strong>detail</strong>" in reader.get("/acme/tiny/discussions/1").content.decode()

    reader.post(f"/acme/tiny/discussions/1/comment/{comment.eid}/edit", {"content": "edited text"})
    comment.refresh_from_db()
    assert comment.content == "edited text" and comment.edited

    reader.post("/acme/tiny/discussions/1/title", {"title": "Card typo in the intro"})
    reader.post("/acme/tiny/discussions/1/status", {"status": "closed"})
    discussion.refresh_from_db()
    assert (discussion.title, discussion.status) == ("Card typo in the intro", "closed")
    page = reader.get("/acme/tiny/discussions/1").content.decode()
    assert "closed this discussion" in page and "Reopen" in page
    reader.post("/acme/tiny/discussions/1/status", {"status": "open"})
    discussion.refresh_from_db()
    assert discussion.status == "open"

    reader.post(f"/acme/tiny/discussions/1/comment/{comment.eid}/hide")
    comment.refresh_from_db()
    assert comment.hidden and comment.content == ""


def test_others_may_not_moderate_and_see_no_controls(as_user, seed, personas):  # noqa: ANN001
    discussion = discussion_create(actor=personas.member, repo=seed.public, title="Member's thread")
    first = DiscussionEvent.objects.get(discussion=discussion)
    outsider = as_user(personas.outsider)
    page = outsider.get("/acme/tiny/discussions/1").content.decode()
    assert "Edit or hide" not in page and "Rename" not in page and 'name="comment"' in page
    response = outsider.post("/acme/tiny/discussions/1/title", {"title": "Hijacked"}, follow=True)
    assert "only the discussion&#x27;s author or the repository&#x27;s writers" in response.content.decode()
    outsider.post(f"/acme/tiny/discussions/1/comment/{first.eid}/hide")
    outsider.post("/acme/tiny/discussions/1/status", {"status": "closed"})
    discussion.refresh_from_db()
    first.refresh_from_db()
    assert discussion.title == "Member's thread" and discussion.status == "open" and not first.hidden
    # A repo writer sees the controls on everyone's comments.
    owner_page = as_user(personas.owner).get("/acme/tiny/discussions/1").content.decode()
    assert "Edit or hide" in owner_page and "Rename" in owner_page
    # An empty comment is refused with a message, not an error page.
    refused = outsider.post("/acme/tiny/discussions/1/comment", {"comment": "  "}, follow=True)
    assert refused.status_code == 200 and "a comment can&#x27;t be empty" in refused.content.decode()


def test_every_form_needs_the_csrf_token(seed, personas):  # noqa: ANN001
    discussion_create(actor=personas.reader, repo=seed.public, title="A thread")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(personas.reader)
    for url, data in (("/acme/tiny/discussions/new", {"title": "Forged"}),
                      ("/acme/tiny/discussions/1/comment", {"comment": "forged"}),
                      ("/acme/tiny/discussions/1/status", {"status": "closed"})):
        assert browser.post(url, data).status_code == 403
    assert Discussion.objects.count() == 1 and DiscussionEvent.objects.count() == 1


def test_a_pr_thread_shows_its_state(as_user, seed, personas):  # noqa: ANN001
    discussion_create(actor=personas.reader, repo=seed.public, title="Add tokenizer", pull_request=True)
    page = as_user(personas.reader).get("/acme/tiny/discussions/1").content.decode()
    assert 'class="pull-request" data-status="draft"' in page and "<code>refs/pr/1</code>" in page
    # Its author publishes the draft.
    assert "Ready for review" in page
    assert "No description provided." in page  # not an empty comment box
    as_user(personas.reader).post("/acme/tiny/discussions/1/status", {"status": "open"})
    assert Discussion.objects.get(num=1).status == "open"
    assert "Ready for review" not in as_user(personas.reader).get("/acme/tiny/discussions/1").content.decode()


# --- notifications ---


def test_followers_and_participants_are_mailed_but_not_about_their_own_messages(
        seed, personas, django_capture_on_commit_callbacks, settings, mail_worker):  # noqa: ANN001
    settings.SITE_NAME, settings.SITE_URL = "Lab Models", "https://models.lab.example"
    fan = make_user("fan")
    RepoFollow.objects.create(user=fan, repo=seed.public)
    RepoFollow.objects.create(user=personas.reader, repo=seed.public)
    with django_capture_on_commit_callbacks(execute=True):
        discussion = discussion_create(actor=personas.reader, repo=seed.public, title="Weights look wrong",
                                       description="Layer 3 is all zeros")
    assert [m.to for m in mail.outbox] == [["fan@example.com"]]
    message = mail.outbox[0]
    assert message.subject == "[Lab Models] acme/tiny: new discussion #1: Weights look wrong"
    assert "Layer 3 is all zeros" in message.body
    assert "https://models.lab.example/acme/tiny/discussions/1" in message.body

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        comment_add(actor=personas.member, discussion=discussion, text="Looking into it")
    assert sorted(m.to[0] for m in mail.outbox) == ["fan@example.com", "rae@example.com"]

    # The unsubscribe link works without signing in; the fan gets nothing more about this thread.
    link = re.search(r"https://models\.lab\.example(/acme/tiny/discussions/1/unsubscribe\?token=\S+)",
                     next(m for m in mail.outbox if m.to == ["fan@example.com"]).body).group(1)
    anonymous = Client()
    assert "Stop e-mail about discussion #1" in anonymous.get(link).content.decode()
    assert not DiscussionMute.objects.exists()  # a GET (a mail scanner) changes nothing
    token = link.split("token=", 1)[1]
    assert anonymous.post(link.split("?")[0], {"token": token}).status_code == 200
    assert DiscussionMute.objects.filter(user=fan, discussion=discussion).exists()
    assert anonymous.post(link.split("?")[0], {"token": token + "x"}).status_code == 400

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        comment_add(actor=personas.member, discussion=discussion, text="Fixed")
    assert [m.to for m in mail.outbox] == [["rae@example.com"]]


def test_the_subscription_button_and_private_repos(as_user, seed, personas, mail_worker,
                                                   django_capture_on_commit_callbacks):  # noqa: ANN001
    RepoFollow.objects.create(user=personas.outsider, repo=seed.private)  # followed before it went private
    with django_capture_on_commit_callbacks(execute=True):
        discussion = discussion_create(actor=personas.member, repo=seed.private, title="Internal")
    assert mail.outbox == []  # the outsider can't read the repo: no mail
    reader = as_user(personas.reader)
    with django_capture_on_commit_callbacks(execute=True):
        comment_add(actor=personas.reader, discussion=discussion, text="me too")
    reader.post("/acme/secret-model/discussions/1/subscription", {"muted": "1"})
    assert DiscussionMute.objects.filter(user=personas.reader).exists()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        comment_add(actor=personas.member, discussion=discussion, text="update")
    assert mail.outbox == []
    assert "Get e-mail about this discussion" in reader.get("/acme/secret-model/discussions/1").content.decode()


def test_mail_goes_out_from_a_job_not_the_request(seed, personas, django_capture_on_commit_callbacks):  # noqa: ANN001
    from registry import tasks
    from registry.models import Job

    RepoFollow.objects.create(user=make_user("fan"), repo=seed.public)
    with django_capture_on_commit_callbacks(execute=True):
        discussion = discussion_create(actor=personas.reader, repo=seed.public, title="Queued")
    assert mail.outbox == []  # nothing sent in the request
    first = DiscussionEvent.objects.get(discussion=discussion)
    job = Job.objects.get(task="registry.notify_discussion", key=first.pk)
    assert job.state == Job.State.QUEUED
    assert tasks.notify_discussion.apply(args=(first.pk,)).get() == 1  # the worker sends it, once
    assert [m.to for m in mail.outbox] == [["fan@example.com"]]
    assert tasks.notify_discussion.apply(args=(first.pk,)).get() == 0  # a late copy of the done job
    assert len(mail.outbox) == 1
