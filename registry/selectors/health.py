"""Readiness of what the hub depends on: database, shared cache, broker, blob store.

Each check runs in a thread of its own with a deadline (CHECK_SECONDS), all at once, so the report comes back
within about two seconds whatever is down: a check that has not answered by then is reported as such and left
to finish (or time out) on its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection

from registry.storage import get_store
from registry.storage.base import request_scope

CHECK_SECONDS = 1.5


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return connection.vendor
    finally:
        connection.close()  # this thread's own connection


def _cache() -> str:
    backend = caches["default"]
    if isinstance(backend, LocMemCache | DummyCache):
        return "per-process"
    cache.set("readyz:probe", 1, timeout=10)
    if cache.get("readyz:probe") != 1:
        raise RuntimeError("the cache did not keep a value")
    return type(backend).__name__


def _broker() -> str:
    from portal.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_SECONDS)
        return conn.transport_cls if isinstance(conn.transport_cls, str) else conn.info().get("transport", "")


def _blob_store() -> str:
    store = get_store()
    with request_scope():  # the store's short timeouts
        store.head("readyz/probe")
    return store.name



def _checks() -> dict[str, Callable[[], str]]:
    # Looked up at call time, so tests can replace one check (monkeypatch this module's functions).
    return {"database": _database, "cache": _cache, "broker": _broker, "blob_store": _blob_store}


def readiness_report(*, deadline: float = CHECK_SECONDS) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    started = time.monotonic()

    def run(name: str, check: Callable[[], str]) -> None:
        t0 = time.monotonic()
        try:
            detail = check()
            result: dict[str, Any] = {"ok": True}
            if detail:
                result["detail"] = detail
        except Exception as exc:  # noqa: BLE001 - a readiness check reports every failure, whatever it is
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        result["ms"] = round((time.monotonic() - t0) * 1000, 1)
        with lock:
            results[name] = result

    threads = [threading.Thread(target=run, args=(name, check), daemon=True, name=f"readyz-{name}")
               for name, check in _checks().items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - (time.monotonic() - started)))
    with lock:
        report = dict(results)
    for name in _checks():
        report.setdefault(name, {"ok": False, "error": f"no answer within {deadline:g} s",
                                 "ms": round(deadline * 1000, 1)})
    return {"ok": all(c["ok"] for c in report.values()), "checks": report}
