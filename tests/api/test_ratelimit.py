"""Rate limits on the HF API: per key (or IP), fixed one-minute windows, 429 with the Hub's headers."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.http import HttpResponse
from django.urls import path

from api.hf.common import hf_view
from api.ratelimit import rate_limit_hit
from tests.fixtures.personas import make_key


@hf_view
def ping(request, principal):
    return HttpResponse("pong")


@hf_view
def resolve(request, principal):
    return HttpResponse("bytes")


urlpatterns = [path("ping", ping, name="ping"), path("resolve", resolve, name="hf-resolve")]

pytestmark = pytest.mark.urls("tests.api.test_ratelimit")


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def test_fixed_window_counts_down_and_resets_with_the_next_window():
    start = 1_000_040.0  # 20 s into a window (1_000_020 is a multiple of 60)
    decisions = [rate_limit_hit(bucket="api", identity="k", limit=2, now=start + i) for i in range(3)]
    assert [d.remaining for d in decisions] == [1, 0, -1]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert decisions[0].reset_in == 40
    assert rate_limit_hit(bucket="api", identity="k", limit=2, now=start + 60).allowed


def test_over_the_limit_answers_429_with_ratelimit_headers(client, settings, db):
    settings.RATE_LIMIT_API_PER_MINUTE = 2
    assert client.get("/ping").status_code == 200
    ok = client.get("/ping")
    assert ok.status_code == 200
    assert ok["RateLimit-Policy"] == '"fixed window";"api";q=2;w=60'
    limited = client.get("/ping")
    assert limited.status_code == 429
    assert limited["X-Error-Code"] == "RateLimited"
    assert limited["RateLimit"].startswith('"api";r=0;t=')
    assert limited["RateLimit-Policy"] == '"fixed window";"api";q=2;w=60'
    seconds = int(limited["Retry-After"])
    assert 1 <= seconds <= 60
    assert limited["RateLimit"] == f'"api";r=0;t={seconds}'


def test_the_client_library_reads_our_headers(client, settings, db):
    from huggingface_hub.utils import parse_ratelimit_headers

    settings.RATE_LIMIT_API_PER_MINUTE = 1
    client.get("/ping")
    info = parse_ratelimit_headers(client.get("/ping").headers)
    assert info.resource_type == "api"
    assert info.remaining == 0
    assert info.limit == 1 and info.window_seconds == 60


def test_each_api_key_has_its_own_budget(client, settings, personas):
    settings.RATE_LIMIT_API_PER_MINUTE = 1
    first, second = make_key(personas.member), make_key(personas.member)
    assert client.get("/ping", HTTP_AUTHORIZATION=f"Bearer {first}").status_code == 200
    assert client.get("/ping", HTTP_AUTHORIZATION=f"Bearer {first}").status_code == 429
    assert client.get("/ping", HTTP_AUTHORIZATION=f"Bearer {second}").status_code == 200
    assert client.get("/ping").status_code == 200  # anonymous: counted per IP


def test_anonymous_callers_and_bad_tokens_share_their_ips_budget(client, settings, db):
    settings.RATE_LIMIT_API_PER_MINUTE = 2
    assert client.get("/ping", REMOTE_ADDR="10.0.0.1").status_code == 200
    assert (
        client.get("/ping", REMOTE_ADDR="10.0.0.1", HTTP_AUTHORIZATION="Bearer hub_nope_x").status_code == 401
    )
    assert client.get("/ping", REMOTE_ADDR="10.0.0.1").status_code == 429
    assert client.get("/ping", REMOTE_ADDR="10.0.0.2").status_code == 200


def test_downloads_have_a_separate_budget(client, settings, db):
    settings.RATE_LIMIT_API_PER_MINUTE = 1
    settings.RATE_LIMIT_RESOLVE_PER_MINUTE = 3
    assert client.get("/ping").status_code == 200
    assert client.get("/ping").status_code == 429
    responses = [client.get("/resolve") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[-1]["RateLimit"].startswith('"resolvers";r=0;')


def test_head_requests_get_the_error_in_headers(client, settings, db):
    settings.RATE_LIMIT_RESOLVE_PER_MINUTE = 1
    client.head("/resolve")
    limited = client.head("/resolve")
    assert limited.status_code == 429
    assert limited["X-Error-Code"] == "RateLimited"
    assert limited.content == b""


def test_a_zero_limit_turns_the_limit_off(client, settings, db):
    settings.RATE_LIMIT_API_PER_MINUTE = 0
    assert all(client.get("/ping").status_code == 200 for _ in range(5))
    assert "RateLimit" not in client.get("/ping")


# --- several web processes share one budget ------------------------------------------------------------------


def test_processes_share_the_budget_and_the_429_lands_where_it_should():
    """Two web processes (two tallies over one cache): together they get the limit, give or take what one of them
    counted in its last batch while far from the limit — and near it, every request is counted at once."""
    from api.ratelimit import SYNC_SHARE, LocalTallies

    limit = 100
    a, b = LocalTallies(), LocalTallies()
    start = 2_000_040.0
    allowed = [p.hit(bucket="api", identity="shared", limit=limit, now=start).allowed
               for _ in range(75) for p in (a, b)]
    assert limit <= sum(allowed) <= limit + 2 * (limit // SYNC_SHARE)
    assert not any(allowed[-20:])  # the end of the run is refused
    sequential = LocalTallies()
    assert not sequential.hit(bucket="api", identity="shared", limit=limit, now=start).allowed  # a third process too


def test_far_from_the_limit_a_process_syncs_in_batches(monkeypatch):
    from api import ratelimit

    calls = []
    real_incr = ratelimit.cache.incr
    monkeypatch.setattr(ratelimit.cache, "incr", lambda *a, **k: calls.append(a) or real_incr(*a, **k))
    tallies = ratelimit.LocalTallies()
    decisions = [tallies.hit(bucket="resolvers", identity="busy", limit=100_000, now=3_000_010.0)
                 for _ in range(2000)]
    assert all(d.allowed for d in decisions)
    assert decisions[-1].remaining == 100_000 - 2000  # the local count is exact for the process itself
    assert len(calls) < 20
