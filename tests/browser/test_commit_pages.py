"""The commit page and the compare page in a real browser: from the history to a commit, its changed files and
line diffs, its parent, a compare between two revisions; and the same pages on a 390 px wide phone screen with no
horizontal scroll of the page (long paths and long diff lines scroll inside their own box)."""

from __future__ import annotations

import io

import pytest

from registry.services.blobs import blob_ingest_stream
from registry.services.commits import AddBlob, AddInline, Delete, commit_create
from registry.services.refs import tag_create

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

LONG_LINE = '{"architectures": ["' + "VeryLongArchitectureName" * 12 + '"], "hidden_size": 128}\n'


def _seed(personas, make_repo):
    repo = make_repo("diffs")
    blob = blob_ingest_stream(stream=io.BytesIO(bytes(range(256)) * 16), repo=repo)
    first = commit_create(actor=personas.owner, repo=repo, title="Add model", operations=[
        AddInline("README.md", b"# Diffs\n\nA model.\n"),
        AddInline("config.json", b'{"hidden_size": 64}\n'),
        AddInline("tokenizer/vocab.txt", b"a\nb\n"),
        AddBlob("model.safetensors", blob.sha256, blob.size),
    ])
    tag_create(actor=personas.owner, repo=repo, name="v1", revision=first.oid)
    second = commit_create(actor=personas.owner, repo=repo, title="Widen the model", message="Hidden size 128.",
                           operations=[
                               AddInline("config.json", LONG_LINE.encode()),
                               AddInline("deeply/nested/folder/with/a/rather/long/path/to/a/file_name.json",
                                         b"{}\n"),
                               Delete("tokenizer/vocab.txt"),
                           ])
    return repo, first, second


def _no_horizontal_scroll(page) -> None:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the page scrolls sideways: {width} > {inner}"


def test_from_history_to_a_commit_its_diff_parent_and_a_compare(page, console, screenshot, personas, make_repo,
                                                                 local_store):
    repo, first, second = _seed(personas, make_repo)
    page.goto("/acme/diffs/commits/main")
    with page.expect_navigation():
        page.click("ol.history a.commit-title:text('Widen the model')")
    assert page.url.endswith(f"/acme/diffs/commit/{second.oid}")
    assert page.locator(".commit-head h2").inner_text() == "Widen the model"
    assert "Hidden size 128." in page.locator(".commit-message").inner_text()
    assert page.locator(".commit-author").inner_text() == "olivia"
    assert page.locator("li.change[data-kind=modified]").get_attribute("data-path") == "config.json"
    assert page.locator("li.change[data-kind=removed]").get_attribute("data-path") == "tokenizer/vocab.txt"
    assert page.locator("li.change[data-kind=added]").count() == 1
    diff = page.locator("li.change[data-path='config.json'] pre.diff")
    assert diff.locator(".d-del").inner_text() == '-{"hidden_size": 64}'
    assert "VeryLongArchitectureName" in diff.locator(".d-add").inner_text()
    assert "3 files changed" in page.locator(".change-counts").inner_text()
    screenshot(page, "commit-page")

    with page.expect_navigation():
        page.click(".commit-parent a")
    assert page.url.endswith(f"/acme/diffs/commit/{first.oid}")
    assert page.locator("li.change[data-path='model.safetensors'] .badge.storage").inner_text() in {"LFS", "Xet"}
    assert "Large file: no line diff" in page.locator("li.change[data-path='model.safetensors']").inner_text()

    page.goto("/acme/diffs/compare/v1...main")
    assert page.locator("li.change").count() == 3
    assert "VeryLongArchitectureName" in page.locator("li.change[data-path='config.json'] .d-add").inner_text()
    screenshot(page, "compare-page")
    response = page.goto("/acme/diffs/compare/v1...nope")
    assert response.status == 404
    assert "nope is no branch, tag or commit of this model" in page.locator(".not-found-reason").inner_text()
    assert console.csp_violations() == []


def test_commit_and_compare_pages_fit_a_phone_screen(browser, live_server, screenshot, personas, make_repo,
                                                     local_store):
    repo, first, second = _seed(personas, make_repo)
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport={"width": 390, "height": 844},
                                  is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        for url, name in ((f"/acme/diffs/commit/{second.oid}", "commit-page-390"),
                          ("/acme/diffs/compare/v1...main", "compare-page-390"),
                          ("/acme/diffs/commits/main", "history-390")):
            page.goto(url)
            assert page.evaluate("window.innerWidth") == 390
            _no_horizontal_scroll(page)
            screenshot(page, name)
        page.goto(f"/acme/diffs/commit/{second.oid}")
        # The long diff line scrolls inside its own box, which stays within the screen.
        box = page.locator("li.change[data-path='config.json'] pre.diff").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        scrolls = page.evaluate("(() => { const p = document.querySelector(\"li.change[data-path='config.json'] "
                                "pre.diff\"); return p.scrollWidth > p.clientWidth; })()")
        assert scrolls
    finally:
        context.close()
