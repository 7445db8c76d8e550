"""End-to-end flows in a real browser: sign in, accept a license, download; API keys; Korean."""

from __future__ import annotations

import hashlib
import io
import re

import pytest

from registry.models import ApiKey
from registry.services.blobs import blob_ingest_stream
from registry.services.commits import AddBlob, AddInline, commit_create
from registry.services.keys import api_key_authenticate

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

WEIGHTS = bytes(range(256)) * 64  # 16 KiB of non-text bytes


def _seed_gated(personas, make_repo):
    repo = make_repo("ko-llm-gated", gating="auto")
    blob = blob_ingest_stream(stream=io.BytesIO(WEIGHTS), repo=repo)
    card = ("---\nlanguage: [ko, en]\npipeline_tag: text-generation\ntags: [korean]\n---\n"
            "# Korean LLM\n\nA gated Korean foundation model.\n")
    commit_create(actor=personas.owner, repo=repo, title="weights", operations=[
        AddInline("README.md", card.encode()),
        AddInline("config.json", b'{"model_type": "llama"}\n'),
        AddBlob("model.safetensors", blob.sha256, blob.size),
    ])
    return repo


def test_sign_in_find_gated_model_accept_and_download(page, console, screenshot, sign_in, personas,
                                                        make_repo, local_store):
    _seed_gated(personas, make_repo)
    sign_in(page, personas.outsider)

    page.goto("/models")
    page.fill("#f-q", "korean")
    with page.expect_navigation():
        page.click("#model-filters button[type=submit]")
    screenshot(page, "models-search")
    with page.expect_navigation():
        page.click("a.model-id:text('acme/ko-llm-gated')")
    assert page.url.endswith("/acme/ko-llm-gated")
    assert "Be nice." in page.locator("#license").inner_text()  # the full license, before accepting
    assert "locked" in page.locator("#access").inner_text()
    screenshot(page, "model-gated-before")

    # Locked: the resolve link answers 403 to this user for now.
    page.click("nav.tabs a:text('Files and versions')")
    link = page.locator("tr.file:has-text('model.safetensors') a.download")
    href = link.get_attribute("href")
    assert href == "/acme/ko-llm-gated/resolve/main/model.safetensors?download=true"
    assert page.request.get(href).status in {401, 403}
    screenshot(page, "model-files-locked")

    page.goto("/acme/ko-llm-gated")
    with page.expect_navigation():
        page.click("#access a:text('Read and accept the license')")
    assert page.url.endswith("/acme/ko-llm-gated/accept")
    assert "Be nice." in page.locator(".license-text").inner_text()
    screenshot(page, "model-accept")
    page.check("input[name=consent]")
    with page.expect_navigation():
        page.click("form.accept-form button[type=submit]")
    assert page.locator("#access [data-status=accepted]").is_visible()
    screenshot(page, "model-gated-accepted")

    page.click("nav.tabs a:text('Files and versions')")
    with page.expect_download() as info:
        page.click("tr.file:has-text('model.safetensors') a.download")
    download = info.value
    data = open(download.path(), "rb").read()
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(WEIGHTS).hexdigest()
    assert data == WEIGHTS
    assert hashlib.sha256(WEIGHTS).hexdigest() in page.content()  # the sha256 column
    screenshot(page, "model-files")
    assert console.csp_violations() == []


def test_organisation_field_suggests_as_you_type_and_pages_follow(page, console, screenshot, personas, make_repo):
    """The organisation filter's suggestions come from static/js/hub.js (no inline script under the CSP), and the
    list pages with Next/Previous links."""
    from registry.models import Organization
    from registry.services.repos import repo_create

    for slug in ("kestrel-labs", "kestrel-ai", "falcon"):
        Organization.objects.create(slug=slug, name=slug)
        repo_create(actor=_admin_of(slug), namespace=slug, name="model")
    for i in range(30):
        make_repo(f"m{i:02d}")

    page.goto("/models")
    field = page.locator("#f-org")
    field.fill("kestrel")
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('#f-org-options option')).map(o => o.value).join(',')"
        " === 'kestrel-ai,kestrel-labs'")
    screenshot(page, "models-org-suggestions")
    field.fill("kestrel-ai")
    with page.expect_navigation():
        page.click("#model-filters button[type=submit]")
    assert page.locator("a.model-id").all_inner_texts() == ["kestrel-ai/model"]

    page.goto("/models?sort=name")
    first = page.locator("a.model-id").all_inner_texts()
    with page.expect_navigation():
        page.click("nav.pagination a[rel=next]")
    second = page.locator("a.model-id").all_inner_texts()
    assert len(first) == 24 and second and not set(first) & set(second)
    with page.expect_navigation():
        page.click("nav.pagination a[rel=prev]")
    assert page.locator("a.model-id").all_inner_texts() == first
    assert console.csp_violations() == []


def _admin_of(slug: str):  # noqa: ANN202
    from registry.models import Membership, Organization
    from tests.fixtures.personas import make_user

    user = make_user(f"{slug}-admin")
    Membership.objects.create(user=user, organization=Organization.objects.get(slug=slug), role="admin")
    return user


def test_create_api_key_and_see_it_exactly_once(page, console, screenshot, sign_in, personas):
    sign_in(page, personas.member)
    page.click(".mainnav a:text('Access tokens')")
    page.fill("#id_name", "training cluster")
    page.check("input[name=scopes][value=write]")
    page.select_option("#id_organization", "acme")
    with page.expect_navigation():
        page.click(".token-form button[type=submit]")
    secret = page.locator("[data-testid=new-secret]").input_value()
    assert re.fullmatch(r"hub_[a-z0-9]{8}_[A-Za-z0-9_-]+", secret)
    key = api_key_authenticate(secret=secret)
    assert key is not None and key.user == personas.member and key.organization == personas.org
    screenshot(page, "tokens-created")

    page.reload()  # re-sends the form: no second key, and the secret is not shown again
    assert secret not in page.content()
    assert page.locator("[data-testid=new-secret]").count() == 0
    assert "already sent" in page.content()
    assert key.prefix in page.locator("table.keys").inner_text()
    assert ApiKey.objects.filter(user=personas.member).count() == 1
    page.goto("/settings/tokens")
    assert secret not in page.content()
    screenshot(page, "tokens-list")
    assert console.csp_violations() == []


def test_switch_to_korean(page, console, screenshot, personas, make_repo):
    make_repo("tiny")
    page.goto("/models")
    assert page.locator(".mainnav").inner_text().startswith("Models")
    with page.expect_navigation():
        page.select_option("#lang-select", "ko")  # hub.js submits on change
    nav = page.locator(".mainnav").inner_text()
    assert "모델" in nav and "로그인" in nav
    assert page.locator("html").get_attribute("lang") == "ko"
    screenshot(page, "models-ko")
    page.goto("/acme/tiny")
    assert "파일 및 버전" in page.locator("nav.tabs").inner_text()
    screenshot(page, "model-ko")
    assert console.csp_violations() == []


def test_accept_language_korean_without_switching(browser, live_server, personas, make_repo, screenshot):
    make_repo("tiny")
    context = browser.new_context(base_url=live_server.url, locale="ko-KR")
    try:
        pg = context.new_page()
        pg.goto("/models")
        assert "모델" in pg.locator(".mainnav").inner_text()
    finally:
        context.close()


def test_pages_without_javascript(browser, live_server, personas, make_repo, screenshot):
    """Reading works with JavaScript off: card, files, org page, a helpful 404."""
    repo = make_repo("tiny")
    commit_create(actor=personas.owner, repo=repo, title="card",
                  operations=[AddInline("README.md", b"# Tiny\n\nHello.\n")])
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        pg = context.new_page()
        pg.goto("/acme/tiny")
        assert "Hello." in pg.locator("article.card").inner_text()
        assert pg.locator("#snip-cli").is_visible()  # every snippet shows without the tabs script
        screenshot(pg, "model-card-nojs")
        pg.goto("/acme/tiny/tree/main")
        assert ".gitattributes" in pg.locator("table.files").inner_text()
        pg.goto("/acme")
        assert "olivia" in pg.locator(".members").inner_text()
        screenshot(pg, "org")
        response = pg.goto("/acme/does-not-exist")
        assert response.status == 404
        assert "Browse all models" in pg.content()
        screenshot(pg, "not-found")
    finally:
        context.close()
