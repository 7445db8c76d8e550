"""The model tree in a real browser: a fine-tune names its base, the base's tree counts its children per relation,
and following a count lists exactly those children (what the viewer may see)."""

from __future__ import annotations

import pytest

from registry.services.commits import AddInline, commit_create

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _family(personas, make_repo) -> None:
    def made(name: str, files: dict[str, bytes], private: bool = False) -> None:
        repo = make_repo(name, private=private)
        commit_create(actor=personas.owner, repo=repo, title="card",
                      operations=[AddInline(p, c) for p, c in files.items()])

    def card(base: str) -> bytes:
        return (f"---\nlicense: mit\npipeline_tag: text-generation\nbase_model: {base}\n---\n"
                f"# {base} derivative\n\nTrained further.\n").encode()

    made("hanbit-7b", {"README.md": b"---\nlicense: mit\n---\n# Hanbit 7B\n\nThe base model.\n"})
    made("hanbit-7b-chat", {"README.md": card("acme/hanbit-7b")})
    made("hanbit-7b-code", {"README.md": card("acme/hanbit-7b")})
    made("hanbit-7b-lora", {"README.md": card("acme/hanbit-7b"), "adapter_config.json": b"{}"})
    made("hanbit-7b-internal", {"README.md": card("acme/hanbit-7b")}, private=True)


def test_model_tree_links_a_base_and_its_fine_tunes(page, console, screenshot, sign_in, personas, make_repo):
    _family(personas, make_repo)

    page.goto("/acme/hanbit-7b-chat")
    lineage = page.locator(".lineage")
    assert lineage.inner_text() == "Fine-tuned from acme/hanbit-7b"
    screenshot(page, "model-tree-child")
    with page.expect_navigation():
        lineage.locator("a").click()
    assert page.url.endswith("/acme/hanbit-7b")

    tree = page.locator(".model-tree")
    assert tree.is_visible()
    finetunes = tree.locator("li[data-relation=finetune]")
    assert finetunes.locator(".count").inner_text() == "2"  # the private fine-tune is not counted for strangers
    assert tree.locator("li[data-relation=adapter] .count").inner_text() == "1"
    screenshot(page, "model-tree-base")
    with page.expect_navigation():
        finetunes.locator("a").click()
    listed = sorted(page.locator("a.model-id").all_inner_texts())
    assert listed == ["acme/hanbit-7b-chat", "acme/hanbit-7b-code"]
    assert "Fine-tunes of acme/hanbit-7b" in page.locator(".applied-filters").inner_text()
    screenshot(page, "model-tree-finetunes")

    # Narrowing with the sidebar keeps the lineage filter; removing it keeps the rest of the query.
    page.fill("#f-q", "hanbit")
    with page.expect_navigation():
        page.click("#model-filters button[type=submit]")
    assert sorted(page.locator("a.model-id").all_inner_texts()) == ["acme/hanbit-7b-chat", "acme/hanbit-7b-code"]
    with page.expect_navigation():
        page.locator(".applied-filters a").click()
    assert page.locator(".applied-filters").count() == 0 and "q=hanbit" in page.url
    assert sorted(page.locator("a.model-id").all_inner_texts()) == [
        "acme/hanbit-7b", "acme/hanbit-7b-chat", "acme/hanbit-7b-code", "acme/hanbit-7b-lora"]

    # A member of the organisation sees its private fine-tune in the tree and the list.
    sign_in(page, personas.reader)
    page.goto("/acme/hanbit-7b")
    assert page.locator(".model-tree li[data-relation=finetune] .count").inner_text() == "3"
    assert not console.csp_violations()
