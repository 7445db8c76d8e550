"""Uploaded html/svg/xhtml/js never runs on the hub's origin, in a real browser (issue 15, item 1).

Every uploaded payload reports its own execution by loading `/__pwned__/…` (an image request the site CSP allows,
seen by the browser context whether it succeeds or not), and evil.js also sets `window.__pwned`. The files are
opened as a person would (the portal's file page, its Raw and Download buttons) and as an attacker would (a link
straight to /resolve, and an attacker's page on the hub's origin pulling the upload in with `<script src>`,
`<link rel=stylesheet>` and `<iframe>`).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError

from registry.services.commits import AddInline, commit_create

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

MARK = "/__pwned__/"
EVIL_JS = b"window.__pwned = (window.__pwned || 0) + 1; new Image().src = '/__pwned__/js';\n"
PAGES = {
    "page.html": b"<!doctype html><title>x</title><script src='evil.js'></script>"
                 b"<img src='/none' onerror=\"new Image().src='/__pwned__/html'\">",
    "image.svg": b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
                 b'<script xlink:href="evil.js"/><script>new Image().src = "/__pwned__/svg";</script></svg>',
    "doc.xhtml": b'<html xmlns="http://www.w3.org/1999/xhtml"><head><script src="evil.js"></script></head>'
                 b'<body><img src="/none" onerror="new Image().src=\'/__pwned__/xhtml\'"/></body></html>',
}
STYLE = b"body { background-color: rgb(255, 0, 0) !important; }\n"


@pytest.fixture
def uploads(personas, make_repo):
    repo = make_repo("tiny")
    files = {**PAGES, "evil.js": EVIL_JS, "style.css": STYLE}
    commit_create(actor=personas.owner, repo=repo, title="a member's upload",
                  operations=[AddInline(path, content) for path, content in files.items()])
    return repo


@pytest.fixture
def executed(page) -> list[str]:
    """Every /__pwned__/ request any page, frame or worker of the browser context made."""
    seen: list[str] = []
    page.context.on("request", lambda request: seen.append(request.url) if MARK in request.url else None)
    return seen


@pytest.fixture
def downloads(page) -> list[str]:
    names: list[str] = []
    page.on("download", lambda download: names.append(download.suggested_filename))
    return names


def _open(page, url: str) -> None:
    """Navigate; a file served as an attachment aborts the navigation into a download, which is fine here."""
    try:
        page.goto(url)
    except PlaywrightError as exc:
        assert "Download is starting" in str(exc) or "net::ERR_ABORTED" in str(exc), exc
    page.wait_for_timeout(300)  # give anything that did load time to run and report


def test_active_uploads_opened_by_url_do_not_run(page, uploads, executed, downloads):
    for name in PAGES:
        _open(page, f"/acme/tiny/resolve/main/{name}")
    _open(page, "/acme/tiny/resolve/main/evil.js")
    assert executed == []
    assert sorted(downloads) == sorted([*PAGES, "evil.js"])  # every one became a download


def test_active_uploads_opened_from_the_portal_do_not_run(page, uploads, executed, downloads, screenshot):
    for name, content in PAGES.items():
        page.goto(f"/acme/tiny/blob/main/{name}")
        # The viewer shows the markup as text, escaped: the page holds the characters, not the elements.
        assert page.locator("pre.file-content code").inner_text() == content.decode()
        assert page.locator("pre.file-content script, pre.file-content svg").count() == 0
        screenshot(page, f"user-content-viewer-{name.replace('.', '-')}")
        try:
            page.click("a.button:text-is('Raw')")
        except PlaywrightError as exc:
            assert "Download is starting" in str(exc) or "net::ERR_ABORTED" in str(exc), exc
        page.wait_for_timeout(300)
        page.goto(f"/acme/tiny/blob/main/{name}")
        with page.expect_download():
            page.click("a.download")
    assert executed == []
    assert sorted(downloads) == sorted([*PAGES, *PAGES])  # Raw and Download both saved the file


ATTACKER = """<!doctype html><title>attacker</title>
<script>window.__refused = [];</script>
<script src="/acme/tiny/resolve/main/evil.js" onerror="window.__refused.push('script')"></script>
<script type="module" src="/acme/tiny/resolve/main/evil.js" onerror="window.__refused.push('module')"></script>
<link rel="stylesheet" href="/acme/tiny/resolve/main/style.css" onerror="window.__refused.push('style')">
<iframe src="/acme/tiny/resolve/main/page.html"></iframe>
<iframe src="/acme/tiny/resolve/main/image.svg"></iframe>
<object data="/acme/tiny/resolve/main/image.svg"></object>
<img src="/acme/tiny/resolve/main/image.svg" onload="window.__refused.push('img-loaded')">
"""


def test_a_page_on_the_hub_origin_cannot_include_an_uploaded_script(page, live_server, uploads, executed):
    """An attacker who gets any HTML onto the hub's origin (here: served by the test itself) still cannot make an
    upload run as script or style: the bytes come as application/octet-stream with nosniff."""
    page.route(f"{live_server.url}/attacker.html",
               lambda route: route.fulfill(status=200, content_type="text/html", body=ATTACKER))
    page.goto("/attacker.html")
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert executed == []
    assert sorted(page.evaluate("window.__refused")) == ["module", "script", "style"]  # refused, not just silent
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(255, 0, 0)"
