"""Liveness of what the hub depends on: database, broker, blob store."""

from __future__ import annotations

import time
from typing import Any

from django.db import connection

from registry.storage import get_store


def _timed(check) -> dict[str, Any]:  # noqa: ANN001
    started = time.monotonic()
    try:
        detail = check()
        result: dict[str, Any] = {"ok": True}
        if detail:
            result["detail"] = detail
    except Exception as exc:  # noqa: BLE001 - a health check reports every failure, whatever it is
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _broker() -> str:
    from portal.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)
        return conn.transport_cls if isinstance(conn.transport_cls, str) else conn.info().get("transport", "")


def _blob_store() -> str:
    store = get_store()
    store.head("healthz/probe")
    return store.name


def health_report() -> dict[str, Any]:
    checks = {"database": _timed(_database), "broker": _timed(_broker), "blob_store": _timed(_blob_store)}
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}
