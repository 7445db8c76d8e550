"""GET /cas/v1/reconstructions/{file_hash}: §2.6 v1 answers whose presigned URLs rebuild exactly the asked bytes."""

from __future__ import annotations

import hashlib

import pytest

from registry.xet import decode_chunks, hash_to_hex

from .conftest import make_xorb, shard_for, whole_file


@pytest.fixture
def registered(cas):  # noqa: ANN001, ANN201
    a, b = make_xorb((4000, 6000, 5000)), make_xorb((3000, 2500))
    for x in (a, b):
        assert cas.post_xorb(x).status_code == 200
    f, content = whole_file(a, b)
    assert cas.post_shard(shard_for([f], [a, b])).json() == {"result": 1}
    return hash_to_hex(f.hash), content


def _get(cas, file_hash, range_header=None, token=None, **kw):  # noqa: ANN001, ANN202
    extra = {"HTTP_RANGE": range_header} if range_header else {}
    return cas.client.get(f"/cas/v1/reconstructions/{file_hash}", **extra, **cas.auth(token, **kw))


def _rebuild(cas, answer: dict) -> bytes:
    """What hf_xet does: one ranged GET per fetch entry, decode, cut each term, skip the offset."""
    out = b""
    for term in answer["terms"]:
        entry = next(e for e in answer["fetch_info"][term["hash"]]
                     if e["range"]["start"] <= term["range"]["start"] and term["range"]["end"] <= e["range"]["end"])
        rng = entry["url_range"]
        status, body = cas.fetch(entry["url"], {"Range": f"bytes={rng['start']}-{rng['end']}"})
        assert status == 206
        chunks = list(decode_chunks(body))
        first = term["range"]["start"] - entry["range"]["start"]
        data = b"".join(chunks[first:first + term["range"]["end"] - term["range"]["start"]])
        assert len(data) == term["unpacked_length"]
        out += data
    return out[answer["offset_into_first_range"]:]


def test_whole_file(cas, blob_store, registered) -> None:  # noqa: ANN001
    file_hash, content = registered
    response = _get(cas, file_hash, f"bytes=0-{len(content) - 1}", scope="read")
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["offset_into_first_range"] == 0
    assert [t["range"] for t in answer["terms"]] == [{"start": 0, "end": 3}, {"start": 0, "end": 2}]
    assert _rebuild(cas, answer) == content
    assert hashlib.sha256(_rebuild(cas, _get(cas, file_hash).json())).digest() == hashlib.sha256(content).digest()


@pytest.mark.parametrize("start,end", [(4500, 12000), (0, 0), (15000, 15000), (14999, 17000), (9999, 10000)])
def test_ranges(cas, blob_store, registered, start, end) -> None:  # noqa: ANN001
    file_hash, content = registered
    answer = _get(cas, file_hash, f"bytes={start}-{end}").json()
    rebuilt = _rebuild(cas, answer)
    assert rebuilt[: end - start + 1] == content[start:end + 1]


def test_range_cut_and_clamp(cas, local_store, registered) -> None:  # noqa: ANN001
    file_hash, content = registered
    answer = _get(cas, file_hash, "bytes=4500-999999").json()
    assert answer["offset_into_first_range"] == 500
    assert answer["terms"][0]["range"] == {"start": 1, "end": 3}
    assert _rebuild(cas, answer) == content[4500:]
    suffix = _get(cas, file_hash, "bytes=-100").json()
    assert _rebuild(cas, suffix)[-100:] == content[-100:]


def test_range_past_the_end_is_416(cas, local_store, registered) -> None:  # noqa: ANN001
    file_hash, content = registered
    assert _get(cas, file_hash, f"bytes={len(content)}-{len(content) + 10}").status_code == 416


def test_another_repos_file_is_404(cas, local_store, registered) -> None:  # noqa: ANN001
    file_hash, _ = registered
    response = _get(cas, file_hash, "bytes=0-10", repo=cas.other_repo, scope="read")
    assert response.status_code == 404
    assert _get(cas, "0" * 64, "bytes=0-10").status_code == 404
    assert _get(cas, "zz", "bytes=0-10").status_code == 400


def test_reconstruction_needs_a_token(cas, local_store, registered) -> None:  # noqa: ANN001
    file_hash, _ = registered
    assert cas.client.get(f"/cas/v1/reconstructions/{file_hash}").status_code == 401


def test_private_repo_reader_token(cas, local_store, make_repo) -> None:  # noqa: ANN001
    private = make_repo("secret", private=True)
    a = make_xorb()
    assert cas.post_xorb(a, repo=private).status_code == 200
    f, content = whole_file(a)
    assert cas.post_shard(shard_for([f], [a]), repo=private).status_code == 200
    token = cas.token("read", repo=private, user=cas.personas.reader)
    assert _rebuild(cas, _get(cas, hash_to_hex(f.hash), token=token).json()) == content
    # a token issued to someone who then loses access stops working
    outsider_token = cas.token("read", repo=private, user=cas.personas.outsider)
    assert _get(cas, hash_to_hex(f.hash), token=outsider_token).status_code == 401


def test_v2_reconstruction_is_404_so_the_client_falls_back(cas, local_store, registered) -> None:  # noqa: ANN001
    file_hash, _ = registered
    response = cas.client.get(f"/cas/v2/reconstructions/{file_hash}", **cas.auth())
    assert response.status_code == 404
    assert "error" in response.json()
