"""The API docs in a real browser: Swagger UI renders the operations with nothing from another host."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_api_docs_list_the_operations_offline(page, console, screenshot, live_server):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/api/docs/")
    # Swagger UI fetched the schema and drew one block per operation.
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any(p.strip().startswith("/api/v1/models") for p in paths), paths
    assert page.locator(".opblock-summary-method").count() >= 10
    assert page.locator(".info .title").first.inner_text().startswith("Consortium Model Hub API")
    screenshot(page, "api-docs")
    # Expanding an operation works (the UI's own scripts run under the page's CSP).
    page.locator(".opblock-summary").first.click()
    page.wait_for_selector(".opblock-body", timeout=10_000)

    hub = urlsplit(live_server.url).netloc
    elsewhere = [u for u in requested if urlsplit(u).scheme in {"http", "https"} and urlsplit(u).netloc != hub]
    assert not elsewhere, f"the docs asked another host: {elsewhere}"
    assert not console.csp_violations(), console
