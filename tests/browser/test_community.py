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


def test_a_writer_merges_a_pull_request_and_a_reader_cannot(browser, live_server, page, console, screenshot, sign_in,
                                                            personas, make_repo):
    from registry.models import Branch
    from registry.services.commits import AddInline, commit_create
    from registry.services.pulls import pr_commit_open

    repo = make_repo("chat-llm")
    commit_create(actor=personas.owner, repo=repo, title="seed", operations=[AddInline("notes.txt", b"one\ntwo\n")])
    pr, _ = pr_commit_open(actor=personas.outsider, repo=repo, title="Add a generation config",
                           operations=[AddInline("generation_config.json", b'{\n  "temperature": 0.7\n}\n')])
    thread = f"/acme/chat-llm/discussions/{pr.num}"

    # A reader sees the PR and its diff, and no merge button.
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    context.set_default_timeout(15_000)
    try:
        reader = context.new_page()
        sign_in(reader, personas.reader)
        reader.goto(thread)
        assert reader.locator('.pull-request li.change[data-path="generation_config.json"]').count() == 1
        assert reader.locator(".pr-merge").count() == 0
        assert reader.get_by_role("button", name="Merge pull request").count() == 0
    finally:
        context.close()

    # A writer opens the thread, reads the diff and merges.
    sign_in(page, personas.member)
    page.goto(thread)
    change = page.locator('.pull-request li.change[data-path="generation_config.json"]')
    assert change.get_attribute("data-kind") == "added"
    assert '+  "temperature": 0.7' in change.locator("pre.diff").inner_text()
    assert page.locator(".pull-request").get_attribute("data-status") == "open"
    screenshot(page, "pull-request-open")
    page.fill("#pr-merge-comment", "Thanks, merging.")
    with page.expect_navigation():
        page.get_by_role("button", name="Merge pull request").click()
    assert page.url.endswith(thread)
    assert "is merged into main" in page.locator(".messages").inner_text()
    assert page.locator(".pull-request").get_attribute("data-status") == "merged"
    assert page.locator(".pull-request .badge.pr-merged").inner_text().strip() == "Merged"
    assert "merged this pull request" in page.inner_text(".thread")
    assert page.get_by_role("button", name="Merge pull request").count() == 0
    merge_commit = Branch.objects.get(repo=repo, name="main").head.oid
    assert page.locator(".pr-refs a code").inner_text() == merge_commit[:7]
    screenshot(page, "pull-request-merged")

    # main now holds the file: the model's files page lists it.
    page.goto("/acme/chat-llm/tree/main")
    assert "generation_config.json" in page.locator("table.files").inner_text()
    assert not console.csp_violations(), console
