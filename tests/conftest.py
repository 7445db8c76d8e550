"""Shared fixtures. Domain-specific fixture modules live in tests/fixtures/ and are loaded here."""

pytest_plugins = [
    "tests.fixtures.s3",
    "tests.fixtures.personas",
    "tests.fixtures.validation",
    "tests.fixtures.tiny_model",
    "tests.fixtures.releases",
    "tests.fixtures.inference",
]


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_download_memo():
    """Each test starts with an empty per-process memo of download-path reads (registry.generation): a test's
    rolled-back rows would otherwise linger in it until the next write. Rate-limit tallies likewise."""
    from api import ratelimit
    from registry import generation, shared_cache

    generation.forget()
    ratelimit.forget()
    shared_cache.reset()


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a Korean request activates Korean for the thread (LocaleMiddleware
    never deactivates), and domain errors are translated when raised, so a later test calling a service directly
    would otherwise read Korean messages."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)
