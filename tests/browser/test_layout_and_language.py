"""Issue 19's walk-through, in a real browser: the main pages fit a phone (390×844) and a laptop (1280×800) with no
horizontal scroll of the page, in English and in Korean, and the Korean pages show no English UI text from the
templates (what people typed — names, cards, file names, commit titles — aside). Screenshots of every page, language
and size go to test-output/screenshots/layout-*.jpg (kept as CI artifacts; small JPEGs of the first screen)."""

from __future__ import annotations

import re

import pytest

from registry.models import Organization, Release
from registry.services.commits import AddInline, commit_create
from registry.services.discussions import comment_add, discussion_create
from tests.browser.conftest import SCREENSHOTS
from tests.fixtures.releases import checked, model_commit, request

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

SIZES = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1280, "height": 800}}
LANGUAGES = {"en": "en-US", "ko": "ko-KR"}
LONG_NAME = "a-rather-long-folder-name-for-phones/" + "tokenizer_configuration_" * 3 + ".json"


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()


def _seed(personas, make_repo) -> dict[str, str]:
    Organization.objects.filter(pk=personas.org.pk).update(is_consortium_member=True)  # the owner signs off
    repo = make_repo("layout-llm")
    repo.license = personas.license
    repo.save()
    first = checked(model_commit(personas, repo))
    second = commit_create(actor=personas.owner, repo=repo, title="Add a tokenizer", operations=[
        AddInline(LONG_NAME, b'{"model_max_length": 2048, "padding_side": "left", "truncation_side": "right"}\n'),
    ])
    release = request(personas, repo, version="1.0.0", revision=first.oid)
    thread = discussion_create(actor=personas.reader, repo=repo, title="Does-the-tokenizer-handle-" * 4 + "Hangul?",
                               description="A long line: " + "tokenizer_configuration_" * 8 + "\n\n```\n"
                               + "x" * 300 + "\n```")
    comment_add(actor=personas.owner, discussion=thread, text="Yes, see the card.")
    discussion_create(actor=personas.member, repo=repo, title="Add a chat template", pull_request=True)
    assert Release.objects.filter(pk=release.pk).exists()
    base = f"/{repo.namespace}/{repo.name}"
    return {
        "home": "/", "list": "/models", "search": "/models?search=layout", "model": base,
        "files": f"{base}/tree/main", "commit": f"{base}/commit/{second.oid}", "history": f"{base}/commits/main",
        "settings": f"{base}/settings", "tokens": "/settings/tokens", "releases": f"{base}/releases",
        "release": f"{base}/releases/1.0.0", "pending": "/releases/pending", "org": f"/{repo.namespace}",
        "members": f"/organizations/{repo.namespace}/members", "access-requests": f"/{repo.namespace}/access-requests",
        "community": f"{base}/discussions", "thread": f"{base}/discussions/1", "pr": f"{base}/discussions/2",
        "new-discussion": f"{base}/discussions/new",
        "my-access": "/settings/access", "my-organizations": "/settings/organizations", "new": "/new",
    }


# What is user content on these pages: typed text, names and paths; the check for English skips it.
USER_CONTENT = ("pre, code, kbd, samp, .markdown-body, .commit-title, .commit-message, .commit-head h2, .commit-author,"
                " .who, .brand, .lang-switch, [data-path], .breadcrumbs, .repo-id, .tags, .tag, time, td:first-child,"
                " h1 a, h2 a, h3 a, .release-notes, .discussion-title, .comment-head strong")
# Text of the page, less user content, and the UI's placeholders and labels for assistive technology.
UI_TEXT = """(selector) => {
  const copy = document.body.cloneNode(true);
  copy.querySelectorAll(selector).forEach((el) => el.remove());
  copy.querySelectorAll('script, style, option').forEach((el) => el.remove());
  const attrs = [...copy.querySelectorAll('[placeholder], [aria-label]')]
    .map((el) => (el.getAttribute('placeholder') || '') + '\\n' + (el.getAttribute('aria-label') || ''));
  document.body.appendChild(copy); copy.style.display = 'block';
  const text = copy.innerText; copy.remove();
  return text + '\\n' + attrs.join('\\n');
}"""


# The UI's labels: each one's whole text is checked against every English message (single words included).
LABELS = (".badge, .status, .message, th, button, label, .mainnav a, summary, dt, .tabs a, legend, "
          "input[type=submit]")
LABEL_TEXTS = """(selector) => [...document.querySelectorAll(selector)]
  .map((el) => (el.value && el.tagName === 'INPUT' ? el.value : el.innerText).trim()).filter(Boolean)"""


# Badges that are names, not words to translate.
BADGE_NAMES = {"LFS", "Xet", "safetensors", "PyTorch", "GGUF", "ONNX"}
BADGES = """() => [...document.querySelectorAll('.badge, .status')].map((el) => el.innerText.trim()).filter(Boolean)"""


def _english_badges(page) -> list[str]:
    """Badges in Latin letters with no Hangul, which no catalogue entry may cover (a model field's choice label)."""
    return [t for t in page.evaluate(BADGES)
            if re.search(r"[A-Za-z]{3}", t) and not re.search(r"[가-힣]", t) and t not in BADGE_NAMES]


def _english_ui_labels() -> set[str]:
    from tests.portal.test_i18n import _catalogue, _po_path

    return {e["msgid"].strip().lower() for e in _catalogue(_po_path())
            if "%" not in e["msgid"] and e["msgid"] != (e.get("msgstr") or e.get("msgstr[0]", ""))}


def _english_ui_phrases() -> list[str]:
    """The catalogue's English messages that read as UI phrases: two words or more, no placeholder, and a Korean
    translation that differs (names such as "API" or "LFS" stay as they are)."""
    from tests.portal.test_i18n import _catalogue, _po_path

    phrases = set()
    for entry in _catalogue(_po_path()):
        msgid, msgstr = entry["msgid"], entry.get("msgstr") or entry.get("msgstr[0]", "")
        if "%" in msgid or "{" in msgid or "\n" in msgid or msgid == msgstr:
            continue
        if len(re.findall(r"[A-Za-z]{2,}", msgid)) >= 2 and len(msgid) >= 8:
            phrases.add(msgid.strip())
    return sorted(phrases, key=len, reverse=True)


def _no_horizontal_scroll(page, where: str, screen: int) -> None:
    """No sideways scroll: the page is no wider than the window, and a phone did not widen its layout viewport to
    fit something wide (then innerWidth grows past the screen's width)."""
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if width > inner or inner != screen:
        wide = page.evaluate("""(screen) => [...document.querySelectorAll('body *')]
            .filter((el) => el.getBoundingClientRect().right > screen + 1
                    && (el.parentElement.getBoundingClientRect().right <= screen + 1
                        || getComputedStyle(el).position === 'absolute'))
            .slice(0, 4)
            .map((el) => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right)
                 + ' in ' + el.parentElement.tagName + '.' + el.parentElement.className + ' '
                 + getComputedStyle(el.parentElement).display + '/' + getComputedStyle(el.parentElement).overflowX)""",
                             screen)
        raise AssertionError(f"{where}: the page scrolls sideways ({width}, window {inner}, screen {screen}): {wide}")


@pytest.fixture
def signed_in_state(browser, live_server, sign_in, personas):
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    try:
        page = context.new_page()
        sign_in(page, personas.owner)
        yield context.storage_state()
    finally:
        context.close()


def test_main_pages_fit_phone_and_laptop_in_both_languages(browser, live_server, personas, make_repo,
                                                           signed_in_state, console):
    urls = _seed(personas, make_repo)
    phrases = _english_ui_phrases()
    labels = _english_ui_labels()
    assert len(phrases) > 100 and {"models", "files", "download"} <= labels
    found_in_english: set[str] = set()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    for lang, locale in LANGUAGES.items():
        for size_name, viewport in SIZES.items():
            context = browser.new_context(base_url=live_server.url, locale=locale, viewport=viewport,
                                          storage_state=signed_in_state, is_mobile=size_name == "phone",
                                          has_touch=size_name == "phone")
            context.set_default_timeout(15_000)
            try:
                page = context.new_page()
                page.on("console", lambda m: console.append(m.text) if m.type in {"error", "warning"} else None)
                for name, url in urls.items():
                    where = f"{name} ({lang}, {size_name})"
                    response = page.goto(url)
                    assert response.status == 200, f"{where}: {response.status}"
                    assert page.evaluate("document.documentElement.lang") == lang, where
                    page.screenshot(path=str(SCREENSHOTS / f"layout-{name}-{lang}-{size_name}.jpg"), type="jpeg",
                                    quality=50)
                    try:
                        _no_horizontal_scroll(page, where, viewport["width"])
                    except AssertionError as exc:
                        problems.append(str(exc))
                    if size_name == "laptop":
                        text = page.evaluate(UI_TEXT, USER_CONTENT)
                        english = [p for p in phrases if re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", text)]
                        english += [t for t in page.evaluate(LABEL_TEXTS, LABELS) if t.lower() in labels]
                        if lang == "ko":
                            english += _english_badges(page)
                        if lang == "en":
                            found_in_english.update(english)
                        elif english:
                            problems.append(f"{where}: English UI text {english[:8]}")
            finally:
                context.close()
    assert len(found_in_english) > 30, found_in_english  # the check finds the English where it is expected
    assert not problems, "\n".join(problems)
    assert console.csp_violations() == []


def test_search_alias_in_the_browser(page, personas, make_repo):
    """A pasted Hugging Face link, /models?search=..., lists the matches and fills the search box."""
    _seed(personas, make_repo)
    make_repo("other-model")
    page.goto("/models?search=layout")
    rows = page.locator("main a[href='/acme/layout-llm']")
    assert rows.count() >= 1
    assert page.locator("main a[href='/acme/other-model']").count() == 0
