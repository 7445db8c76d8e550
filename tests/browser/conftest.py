"""Playwright (sync API) driving Debian's chromium against pytest-django's live_server.

Never `playwright install`: the browser is /usr/bin/chromium (`apt-get install -y chromium`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# The live server runs in a thread while Playwright's sync API holds an event loop in this one.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason="Debian chromium is not installed at /usr/bin/chromium "
                                   "(apt-get install -y chromium); browser tests skipped")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


class ConsoleLog(list):
    def csp_violations(self) -> list[str]:
        return [m for m in self if "Content Security Policy" in m or "Content-Security-Policy" in m]


@pytest.fixture
def console() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def page(browser, live_server, console) -> Iterator[object]:
    context = browser.new_context(base_url=live_server.url, locale="en-US", accept_downloads=True)
    context.set_default_timeout(15_000)
    pg = context.new_page()
    pg.on("console", lambda msg: console.append(msg.text) if msg.type in {"error", "warning"} else None)
    yield pg
    context.close()


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _shot(pg, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        return path

    return _shot


@pytest.fixture
def sign_in(live_server, screenshot):
    """Sign in through allauth's form, as a person would."""

    def _sign_in(pg, user, password: str | None = None) -> None:
        from allauth.account.models import EmailAddress

        EmailAddress.objects.get_or_create(user=user, email=user.email,
                                           defaults={"verified": True, "primary": True})
        pg.goto("/accounts/login/")
        pg.fill("input[name=login]", user.username)
        pg.fill("input[name=password]", password or f"pw-{user.username}")
        screenshot(pg, "sign-in")
        with pg.expect_navigation():
            pg.click("main form button[type=submit]")
        assert pg.locator(".mainnav .who").inner_text() == user.username

    return _sign_in
