"""A stalled Redis costs a process one socket timeout, not one per request: rate limits and the generation
number go on without the shared cache for a few seconds (registry.shared_cache), and a bump that could not be
written is written once the cache answers again."""

from __future__ import annotations

import socket
import time

import pytest

from registry import generation, shared_cache


@pytest.fixture
def stalled_redis():
    """A port that accepts connections (the kernel's backlog) and never answers, like a SIGSTOPped redis-server."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    server.close()


@pytest.fixture
def redis_cache(settings, stalled_redis):
    from portal.settings import CACHES as DEPLOYED  # noqa: N811 - the deployed options, whatever CACHE_URL is

    options = {"socket_connect_timeout": 1, "socket_timeout": 1, "retry_on_timeout": False}
    if "OPTIONS" in DEPLOYED["default"]:
        options = DEPLOYED["default"]["OPTIONS"]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": stalled_redis, "OPTIONS": options}}
    return settings


def test_the_deployed_redis_cache_has_socket_timeouts(tmp_path):
    import os
    import subprocess
    import sys

    env = {"PATH": os.environ["PATH"], "DEBUG": "true", "VAR_DIR": str(tmp_path), "CACHE_URL": "redis://x:6379/1",
           "DJANGO_SETTINGS_MODULE": "portal.settings"}
    code = "from django.conf import settings; import django; django.setup(); print(settings.CACHES['default'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60).stdout
    assert "'socket_timeout': 1" in out and "'socket_connect_timeout': 1" in out


def test_a_stalled_cache_costs_one_timeout_then_nothing(redis_cache, monkeypatch):
    monkeypatch.setattr(redis_cache, "MEMO_RECHECK_MS", 0)
    started = time.monotonic()
    assert generation.current() is None  # unknown: don't memoise
    first = time.monotonic() - started
    assert 0.5 < first < 3  # one socket timeout
    started = time.monotonic()
    for _ in range(50):
        assert generation.current() is None
        generation.bump()  # a write while the cache is down: remembered, not waited for
    assert time.monotonic() - started < 0.2
    assert not shared_cache.available()


def test_rate_limits_let_requests_through_without_waiting(redis_cache, client, personas, make_repo):
    make_repo("tiny")
    started = time.monotonic()
    statuses = [client.get("/api/models/acme/tiny").status_code for _ in range(10)]
    took = time.monotonic() - started
    assert set(statuses) == {200}
    assert took < 4, f"ten requests took {took:.1f} s with the cache stalled"


def test_a_bump_lost_while_the_cache_was_down_is_written_when_it_answers(settings, tmp_path, monkeypatch):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                   "LOCATION": str(tmp_path / "cache")}}
    settings.MEMO_RECHECK_MS = 0
    before = generation.current()
    assert isinstance(before, int)
    now = [1000.0]
    monkeypatch.setattr(shared_cache, "_clock", lambda: now[0])
    shared_cache.failed("test", ConnectionError("redis paused"))
    generation.bump()  # not written: the breaker is open
    assert generation.current() is None
    now[0] += shared_cache.BREAK_SECONDS + 0.1  # the cache answers again
    after = generation.current()
    assert isinstance(after, int) and after != before  # every other process's memo is now stale too
