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
