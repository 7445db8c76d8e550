"""/healthz: database, broker and blob store, each named when it fails."""

from __future__ import annotations

import pytest
from kombu import Connection

from portal.celery import app as celery_app
from registry.selectors import health
from registry.storage import StorageError


class BrokenStore:
    name = "broken"

    def head(self, key: str):  # noqa: ANN201
        raise StorageError("the blob store is unreachable")


def test_healthz_reports_every_part_ok(client, db, blob_store):
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True
    assert set(body["checks"]) == {"database", "broker", "blob_store"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["database"]["detail"] in {"sqlite", "postgresql"}
    assert all(isinstance(check["ms"], float | int) for check in body["checks"].values())


def test_healthz_is_503_naming_a_broken_blob_store(client, db, monkeypatch):
    monkeypatch.setattr(health, "get_store", lambda: BrokenStore())
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["checks"]["blob_store"]["ok"] is False
    assert "unreachable" in body["checks"]["blob_store"]["error"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True


def test_healthz_is_503_naming_a_broken_broker(client, db, monkeypatch, local_store):
    # Nothing listens on port 1: the connection is refused at once. Only the health check's connection is
    # redirected; the app's configuration (and its cached producer pool) stay as they are for later tests.
    monkeypatch.setattr(celery_app, "connection_for_write", lambda: Connection("redis://127.0.0.1:1/0"))
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["broker"]["ok"] is False
    assert "error" in body["checks"]["broker"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["blob_store"]["ok"] is True


def test_healthz_is_503_naming_a_broken_database(client, db, monkeypatch, local_store):
    def broken() -> str:
        raise RuntimeError("connection refused")

    monkeypatch.setattr(health, "_database", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"ok": False, "error": "RuntimeError: connection refused",
                                                     "ms": pytest.approx(0, abs=1000)}


def test_healthz_needs_no_login_and_leaks_no_secrets(client, db, monkeypatch):
    monkeypatch.setattr(health, "get_store", lambda: BrokenStore())
    text = client.get("/healthz").content.decode()
    from django.conf import settings

    assert settings.SECRET_KEY not in text
