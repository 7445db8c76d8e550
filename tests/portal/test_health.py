"""/healthz (liveness: needs nothing) and /readyz (database, cache, broker and blob store, each named when it
fails, all within about two seconds whatever is down)."""

from __future__ import annotations

import time

import pytest
from kombu import Connection

from portal.celery import app as celery_app
from registry.selectors import health
from registry.storage import StorageError


class BrokenStore:
    name = "broken"

    def head(self, key: str):  # noqa: ANN201
        raise StorageError("the blob store is unreachable")


def test_healthz_answers_without_any_dependency(client, monkeypatch):
    # No database access allowed here (no `db` fixture): liveness needs none, nor the store, broker or cache.
    monkeypatch.setattr(health, "get_store", lambda: BrokenStore())
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_readyz_reports_every_part_ok(client, db, blob_store):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True
    assert set(body["checks"]) == {"database", "cache", "broker", "blob_store"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["database"]["detail"] in {"sqlite", "postgresql"}
    assert all(isinstance(check["ms"], float | int) for check in body["checks"].values())


def test_readyz_is_503_naming_a_broken_blob_store(client, db, monkeypatch):
    monkeypatch.setattr(health, "get_store", lambda: BrokenStore())
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["checks"]["blob_store"]["ok"] is False
    assert "unreachable" in body["checks"]["blob_store"]["error"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True


def test_readyz_is_503_naming_a_broken_broker(client, db, monkeypatch, local_store):
    # Nothing listens on port 1: the connection is refused at once. Only the check's connection is redirected;
    # the app's configuration (and its cached producer pool) stay as they are for later tests.
    monkeypatch.setattr(celery_app, "connection_for_write", lambda: Connection("redis://127.0.0.1:1/0"))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["broker"]["ok"] is False
    assert "error" in body["checks"]["broker"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["blob_store"]["ok"] is True


def test_readyz_is_503_naming_a_broken_database(client, db, monkeypatch, local_store):
    def broken() -> str:
        raise RuntimeError("connection refused")

    monkeypatch.setattr(health, "_database", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"ok": False, "error": "RuntimeError: connection refused",
                                                     "ms": pytest.approx(0, abs=1000)}


def test_readyz_answers_within_its_deadline_when_a_dependency_hangs(client, db, monkeypatch, local_store):
    def hangs() -> str:
        time.sleep(30)
        return "never"

    monkeypatch.setattr(health, "_cache", hangs)
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 2.5
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["cache"] == {"ok": False, "error": "no answer within 1.5 s", "ms": 1500.0}
    assert checks["database"]["ok"] is True


def test_readyz_needs_no_login_and_leaks_no_secrets(client, db, monkeypatch):
    monkeypatch.setattr(health, "get_store", lambda: BrokenStore())
    text = client.get("/readyz").content.decode()
    from django.conf import settings

    assert settings.SECRET_KEY not in text


@pytest.mark.parametrize("configured, published", [
    ("", "mailto:hub@localhost"),
    ("security@acme.example", "mailto:security@acme.example"),
    ("https://acme.example/security", "https://acme.example/security"),
])
def test_security_txt_says_where_to_report(client, settings, configured, published):
    settings.SECURITY_CONTACT = configured
    settings.DEFAULT_FROM_EMAIL = "Consortium Model Hub <hub@localhost>"
    response = client.get("/.well-known/security.txt")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    lines = dict(line.split(": ", 1) for line in response.content.decode().splitlines())
    assert lines["Contact"] == published
    from datetime import UTC, datetime

    assert datetime.fromisoformat(lines["Expires"].replace("Z", "+00:00")) > datetime.now(UTC)
