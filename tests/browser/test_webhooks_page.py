"""The webhooks page in a real browser: a member creates a webhook watching the org, sees it listed, a commit is
delivered to a receiver on 127.0.0.1 and shows in the hook's delivery log, and a replay is delivered again."""

from __future__ import annotations

import pytest

from registry.services.commits import AddInline, commit_create
from tests.webhooks_support import deliveries, receiver  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_create_a_webhook_and_read_its_delivery_log(page, console, screenshot, sign_in, personas, make_repo,
                                                    receiver, deliveries):  # noqa: F811
    repo = make_repo("chat-llm")
    sign_in(page, personas.member)

    page.goto("/settings/webhooks")
    assert "No webhooks yet." in page.inner_text("main")
    page.fill("#id_url", receiver.url)
    page.fill("#id_watched", "org:acme")
    page.fill("#id_secret", "from-the-page")
    with page.expect_navigation():
        page.get_by_role("button", name="Create webhook").click()
    assert "Webhook created." in page.locator(".messages").inner_text()
    assert "Nothing delivered yet." in page.inner_text("main")
    detail = page.url

    page.goto("/settings/webhooks")
    row = page.locator("table.webhooks tbody tr")
    assert row.count() == 1
    assert row.locator("td").nth(0).inner_text() == receiver.url
    assert row.locator("td").nth(1).inner_text() == "org:acme"
    assert row.locator("td").nth(3).inner_text() == "active"

    # A commit on a watched model is delivered, and the log says so.
    commit_create(actor=personas.owner, repo=repo, title="seed", operations=[AddInline("notes.txt", b"hi\n")])
    assert deliveries.run() == ["delivered"]
    [request] = receiver.requests
    assert request.headers["X-Webhook-Secret"] == "from-the-page"
    page.goto(detail)
    log = page.locator("table.deliveries tbody tr")
    assert log.count() == 1
    cells = [log.locator("td").nth(i).inner_text().strip() for i in range(5)]
    assert cells[1:5] == ["repo.content.update", "acme/chat-llm", "delivered", "1"]
    assert log.locator("td").nth(5).inner_text().startswith("200")
    screenshot(page, "webhook-deliveries")

    # Replay: queued again, delivered again, a second row.
    with page.expect_navigation():
        log.get_by_role("button", name="Replay").click()
    assert "Delivery queued again." in page.locator(".messages").inner_text()
    assert deliveries.run() == ["delivered"]
    assert len(receiver.requests) == 2 and receiver.requests[1].body == request.body
    page.reload()
    assert page.locator("table.deliveries tbody tr.delivery-delivered").count() == 2
    assert not console.csp_violations(), console
