"""GET /cas/v1/chunks/{prefix}/{chunk}: per-repo global dedup with HMAC-keyed shards; telemetry; unknown routes."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from django.core.cache import cache

from registry.xet import hash_to_hex, keyed_hash, parse_full_shard

from .conftest import make_xorb, shard_for, whole_file


def _query(cas, chunk_hex, **kw):  # noqa: ANN001, ANN202
    return cas.client.get(f"/cas/v1/chunks/default/{chunk_hex}", **cas.auth(**kw))


def test_dedup_hit_returns_a_keyed_full_shard(cas, local_store) -> None:  # noqa: ANN001
    a = make_xorb()
    first = hash_to_hex(a.chunks[0].hash)
    assert _query(cas, first).status_code == 404
    cas.post_xorb(a)
    assert _query(cas, first).status_code == 404  # a xorb alone is not indexed: only registered files are
    cas.post_shard(shard_for([whole_file(a)[0]], [a]))

    response = _query(cas, first, scope="read")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    shard = parse_full_shard(response.content)
    key = shard.footer["chunk_hash_hmac_key"]
    assert key != bytes(32)
    assert shard.footer["key_expiry"] > time.time() + 3600
    (block,) = shard.xorbs
    assert block.xorb_hash == a.hash
    assert [c.hash for c in block.chunks] == [keyed_hash(key, c.hash) for c in a.chunks]
    assert all(c.hash != raw.hash for c, raw in zip(block.chunks, a.chunks, strict=True))  # raw hashes never leak
    assert parse_full_shard(_query(cas, first).content).footer["chunk_hash_hmac_key"] != key  # fresh key each time


def test_dedup_is_per_repo(cas, local_store) -> None:  # noqa: ANN001
    a = make_xorb()
    cas.post_xorb(a)
    cas.post_shard(shard_for([whole_file(a)[0]], [a]))
    assert _query(cas, hash_to_hex(a.chunks[0].hash), repo=cas.other_repo).status_code == 404
    assert _query(cas, "xyz").status_code == 400


def test_dedup_never_answers_with_a_gated_repos_chunks_for_an_outsiders_repo(cas, local_store, make_repo) -> None:  # noqa: ANN001
    from registry.services.repos import repo_create

    gated = make_repo("gated", gating="auto")
    a = make_xorb()
    cas.post_xorb(a, repo=gated, user=cas.personas.owner)
    cas.post_shard(shard_for([whole_file(a)[0]], [a]), repo=gated, user=cas.personas.owner)
    assert _query(cas, hash_to_hex(a.chunks[0].hash), repo=gated, user=cas.personas.owner).status_code == 200
    mine = repo_create(actor=cas.personas.outsider, namespace="oscar", name="mine")
    assert _query(cas, hash_to_hex(a.chunks[0].hash), repo=mine, user=cas.personas.outsider).status_code == 404


def test_dedup_rate_limit_answers_a_miss(cas, local_store, settings, monkeypatch) -> None:  # noqa: ANN001
    settings.RATE_LIMIT_API_PER_MINUTE = 2
    cache.clear()
    monkeypatch.setattr("api.ratelimit.time", SimpleNamespace(time=lambda: 1_000_000.0,  # one fixed window
                                                                     monotonic=time.monotonic))
    a = make_xorb()
    cas.post_xorb(a)
    cas.post_shard(shard_for([whole_file(a)[0]], [a]))
    token = cas.token()
    codes = [_query(cas, hash_to_hex(a.chunks[0].hash), token=token).status_code for _ in range(3)]
    assert codes == [200, 200, 404]


@pytest.mark.parametrize("path", ["/cas/v1/telemetry", "/v1/telemetry"])
def test_telemetry_is_accepted_and_dropped(client, db, path) -> None:  # noqa: ANN001
    response = client.post(path, data=b'{"event":"xet_upload_summary"}', content_type="application/json")
    assert response.status_code == 204


@pytest.mark.parametrize("method,path", [
    ("post", "/cas/v2/shards"),
    ("get", "/cas/v1/files/abc"),
    ("head", "/cas/v1/xorbs/default/abc"),
    ("get", "/cas/"),
])
def test_unknown_cas_routes_are_json_404(client, db, method, path) -> None:  # noqa: ANN001
    response = getattr(client, method)(path)
    assert response.status_code == 404
    if method != "head":
        assert "error" in response.json()
