"""The Community tab in a real browser: a signed-in user opens a discussion from the model page, comments on it,
edits the comment and closes the thread; a follower of the model is e-mailed."""

from __future__ import annotations

import pytest
from django.core import mail

from registry.models import Discussion, DiscussionEvent, RepoFollow

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def mail_worker(monkeypatch):  # noqa: ANN001, ANN201
    """registry.notify_discussion run in-process when sent, as a Celery worker would."""
    from registry import tasks

    monkeypatch.setattr(tasks.notify_discussion, "apply_async",
                        lambda args, **kw: tasks.notify_discussion.apply(args=args))


def test_open_a_discussion_and_comment_on_it(page, console, screenshot, sign_in, personas, make_repo, mail_worker):
    repo = make_repo("chat-llm")
    RepoFollow.objects.create(user=personas.member, repo=repo)
    sign_in(page, personas.reader)

    page.goto("/acme/chat-llm")
    tab = page.locator(".tabs a", has_text="Community")
    assert tab.inner_text().strip() == "Community"  # no open threads yet: no count
    tab.click()
    page.wait_for_url("**/acme/chat-llm/discussions")
    assert "No discussions here yet." in page.inner_text("main")
    page.click("text=New discussion")
    page.fill("#discussion-title", "The tokenizer drops Hangul")
    page.fill("#discussion-description", "Try `가나다`: it comes back **empty**.")
    screenshot(page, "community-new")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert page.url.endswith("/acme/chat-llm/discussions/1")
    assert page.locator(".discussion-title").inner_text().startswith("The tokenizer drops Hangul")
    assert page.locator(".comment-body strong").first.inner_text() == "empty"

    page.fill("#new-comment", "Also with `나`.")
    with page.expect_navigation():
        page.click(".comment-form button[type=submit]")
    assert page.locator(".thread-event.comment").count() == 2
    assert page.locator(".thread-event.comment").nth(1).locator("code").inner_text() == "나"

    # Edit the new comment, then close the thread.
    comment = DiscussionEvent.objects.filter(type="comment").order_by("-id").first()
    page.locator(f"#c-{comment.eid} summary").click()
    page.fill(f"#edit-{comment.eid}", "Also with `나` and `다`.")
    with page.expect_navigation():
        page.locator(f"#c-{comment.eid} form").first.locator("button").click()
    assert "edited" in page.locator(f"#c-{comment.eid} .comment-head").inner_text()
    with page.expect_navigation():
        page.click(".thread-tools button:has-text('Close')")
    screenshot(page, "community-thread")
    assert "closed this discussion" in page.inner_text(".thread")
    assert Discussion.objects.get(repo=repo, num=1).status == "closed"

    page.goto("/acme/chat-llm/discussions?status=closed")
    assert page.locator(".discussions li").count() == 1
    assert not console.csp_violations(), console
    # The follower heard of the thread and the comment (the reader wrote both: they get nothing).
    assert sorted(m.to[0] for m in mail.outbox) == ["mina@example.com", "mina@example.com"]
