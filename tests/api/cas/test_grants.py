"""Upload grants (§2.2): presigned PUT to a staging key, then a commit that verifies and moves the object."""

from __future__ import annotations

import json

from registry.models import Xorb, XorbGrant, XorbRepo
from registry.services import xet

from .conftest import make_xorb


def _grant(cas, x, token=None, length=None):  # noqa: ANN001, ANN202
    body = {"length": len(x.body) if length is None else length, "checksum": {"algo": "crc64nvme", "value": "1"}}
    return cas.client.post(f"/cas/v1/xorb-grants/default/{x.hex}", data=json.dumps(body),
                           content_type="application/json", **cas.auth(token))


def _commit(cas, x, grant_id, token=None):  # noqa: ANN001, ANN202
    return cas.client.post(f"/cas/v1/xorb-commits/default/{x.hex}/grant/{grant_id}", **cas.auth(token))


def test_grant_put_commit_stores_the_xorb(cas, blob_store) -> None:  # noqa: ANN001
    x = make_xorb()
    token = cas.token()
    response = _grant(cas, x, token)
    assert response.status_code == 201, response.content
    grant = response.json()
    assert grant["method"] == "PUT" and grant["headers"] == {} and grant["url"].startswith("http")
    assert cas.put(grant["url"], x.body, grant["headers"]) in (200, 201, 204)

    committed = _commit(cas, x, grant["id"], token)
    assert committed.status_code == 200, committed.content
    assert committed.json() == {"was_inserted": True}
    assert b"".join(blob_store.iter_bytes(xet.xorb_storage_key(x.hex))) == x.body
    assert XorbRepo.objects.filter(xorb_id=x.hex, repo=cas.repo).exists()
    staged = XorbGrant.objects.get(id=grant["id"])
    assert staged.committed_at is not None
    assert blob_store.head(staged.staging_key) is None  # staging object removed

    # Now linked to this repo: the next grant request answers "already stored".
    again = _grant(cas, x, token)
    assert again.status_code == 200


def test_commit_without_upload_is_404(cas, blob_store) -> None:  # noqa: ANN001
    x = make_xorb()
    grant = _grant(cas, x).json()
    response = _commit(cas, x, grant["id"])
    assert response.status_code == 404
    assert "no data" in response.json()["error"]
    assert not Xorb.objects.exists()


def test_commit_of_unknown_or_foreign_grant_is_404(cas, local_store) -> None:  # noqa: ANN001
    x = make_xorb()
    grant = _grant(cas, x).json()
    cas.put(grant["url"], x.body)
    assert _commit(cas, x, "not-a-uuid").status_code == 404
    assert _commit(cas, x, grant["id"], cas.token(repo=cas.other_repo)).status_code == 404
    assert not Xorb.objects.exists()


def test_bad_staged_bytes_are_400_and_deleted(cas, blob_store) -> None:  # noqa: ANN001
    x, y = make_xorb(), make_xorb()
    grant = _grant(cas, x, length=len(y.body)).json()
    cas.put(grant["url"], y.body)  # someone else's xorb under this name
    response = _commit(cas, x, grant["id"])
    assert response.status_code == 400
    assert "hash mismatch" in response.json()["error"]
    assert not Xorb.objects.exists()
    assert blob_store.head(XorbGrant.objects.get(id=grant["id"]).staging_key) is None
    assert blob_store.head(xet.xorb_storage_key(x.hex)) is None


def test_xorb_of_another_repo_gets_a_grant_not_200(cas, local_store) -> None:  # noqa: ANN001
    x = make_xorb()
    assert cas.post_xorb(x, repo=cas.other_repo).status_code == 200
    token = cas.token()
    response = _grant(cas, x, token)
    assert response.status_code == 201  # a 200 would let this repo reference bytes it never proved it has
    grant = response.json()
    cas.put(grant["url"], x.body)
    # new for this repo, whatever another repo stored: the answer is no existence oracle
    assert _commit(cas, x, grant["id"], token).json() == {"was_inserted": True}
    assert XorbRepo.objects.filter(xorb_id=x.hex, repo=cas.repo).exists()
    assert Xorb.objects.filter(hash=x.hex).count() == 1


def test_grant_needs_write_token_and_a_length(cas, local_store) -> None:  # noqa: ANN001
    x = make_xorb()
    assert _grant(cas, x, cas.token("read")).status_code == 403
    assert _grant(cas, x, length=0).status_code == 400
    assert not XorbGrant.objects.exists()
