"""Shared fixtures. Domain-specific fixture modules live in tests/fixtures/ and are loaded here."""

pytest_plugins = [
    "tests.fixtures.s3",
    "tests.fixtures.personas",
    "tests.fixtures.validation",
    "tests.fixtures.tiny_model",
    "tests.fixtures.releases",
    "tests.fixtures.inference",
]
