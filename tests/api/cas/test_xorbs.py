"""POST /cas/v1/xorbs/{prefix}/{hash}: streamed verification, storage, per-repo links, token checks."""

from __future__ import annotations

import io

import pytest
from django.core import signing

from registry.models import Membership, Xorb, XorbRepo
from registry.services import xet
from registry.services.keys import api_key_create, api_key_revoke

from .conftest import make_xorb


def _stored(store, x) -> bytes:  # noqa: ANN001
    return b"".join(store.iter_bytes(xet.xorb_storage_key(x.hex)))


def test_xorb_upload_stores_verified_bytes_and_links_repo(cas, blob_store) -> None:  # noqa: ANN001
    x = make_xorb()
    response = cas.post_xorb(x)
    assert response.status_code == 200, response.content
    assert response.json() == {"was_inserted": True}
    row = Xorb.objects.get(hash=x.hex)
    assert (row.size, row.n_chunks, row.unpacked_size) == (len(x.body), 3, 12000)
    assert _stored(blob_store, x) == x.body
    assert XorbRepo.objects.filter(xorb=row, repo=cas.repo).exists()

    again = cas.post_xorb(x)
    assert again.json() == {"was_inserted": False}
    # Another repo that sends the same bytes proves it has them: it gets linked, nothing is rewritten. For that repo
    # they are new (was_inserted): the answer never tells that someone else stored them.
    other = cas.post_xorb(x, repo=cas.other_repo)
    assert other.json() == {"was_inserted": True}
    assert cas.post_xorb(x, repo=cas.other_repo).json() == {"was_inserted": False}
    assert set(XorbRepo.objects.filter(xorb=row).values_list("repo__name", flat=True)) == {"tiny", "other"}


def test_upload_answer_for_a_xorb_stored_for_a_hidden_repo_is_the_one_for_a_new_xorb(cas, local_store) -> None:  # noqa: ANN001
    """No existence oracle: was_inserted says whether the xorb is new *for this repo*, not for the hub."""
    from registry.services.repos import repo_create

    hidden = repo_create(actor=cas.personas.owner, namespace="acme", name="hidden", private=True)
    mine = repo_create(actor=cas.personas.outsider, namespace="oscar", name="mine")
    stored, fresh = make_xorb(seed=b"s"), make_xorb(seed=b"f")
    assert cas.post_xorb(stored, repo=hidden, user=cas.personas.owner).json() == {"was_inserted": True}
    answers = [cas.post_xorb(x, repo=mine, user=cas.personas.outsider) for x in (stored, fresh)]
    assert [(r.status_code, r.json()) for r in answers] == [(200, {"was_inserted": True})] * 2
    assert Xorb.objects.filter(hash=stored.hex).count() == 1  # stored once all the same


def test_uppercase_hash_in_path_is_accepted(cas, local_store) -> None:  # noqa: ANN001
    x = make_xorb()
    assert cas.post_xorb(x, path_hash=x.hex.upper()).json() == {"was_inserted": True}
    assert Xorb.objects.filter(hash=x.hex).exists()


def _assert_rejected(response, fragment: str, store, x) -> None:  # noqa: ANN001
    assert response.status_code == 400, response.content
    assert fragment in response.json()["error"]
    assert not Xorb.objects.exists()
    assert store.head(xet.xorb_storage_key(x.hex)) is None


def test_hash_mismatch_is_400_and_stores_nothing(cas, blob_store) -> None:  # noqa: ANN001
    x, y = make_xorb(), make_xorb()
    response = cas.post_xorb(x, path_hash=y.hex)
    _assert_rejected(response, "hash mismatch", blob_store, y)
    assert blob_store.head(xet.xorb_storage_key(x.hex)) is None


def test_truncated_body_is_400(cas, local_store) -> None:  # noqa: ANN001
    x = make_xorb()
    _assert_rejected(cas.post_xorb(x, body=x.body[:-10]), "truncated", local_store, x)


def test_unknown_compression_scheme_is_400(cas, local_store) -> None:  # noqa: ANN001
    x = make_xorb(schemes=0)
    body = bytearray(x.body)
    body[4] = 3  # first chunk header: scheme byte
    _assert_rejected(cas.post_xorb(x, body=bytes(body)), "scheme 3", local_store, x)


def test_empty_body_is_400(cas, local_store) -> None:  # noqa: ANN001
    x = make_xorb()
    _assert_rejected(cas.post_xorb(x, body=b""), "empty", local_store, x)


def test_body_over_the_cap_is_refused(cas, local_store, settings) -> None:  # noqa: ANN001
    settings.XET_MAX_XORB_BYTES = 5000
    x = make_xorb()
    response = cas.post_xorb(x)
    assert response.status_code == 413
    assert not Xorb.objects.exists()


def test_bad_hash_in_path_is_400(cas, local_store) -> None:  # noqa: ANN001
    x = make_xorb()
    response = cas.post_xorb(x, path_hash="not-a-hash")
    assert response.status_code == 400
    assert "64 hex" in response.json()["error"]


def test_unknown_prefix_is_404(cas, local_store) -> None:  # noqa: ANN001
    x = make_xorb()
    response = cas.client.post(f"/cas/v1/xorbs/other/{x.hex}", data=x.body, content_type="application/octet-stream",
                               **cas.auth())
    assert response.status_code == 404
    response = cas.client.post(f"/cas/v1/xorbs/default-merkledb/{x.hex}", data=x.body,
                               content_type="application/octet-stream", **cas.auth())
    assert response.json() == {"was_inserted": True}


def test_read_token_on_post_is_403(cas, local_store) -> None:  # noqa: ANN001
    x = make_xorb()
    response = cas.post_xorb(x, scope="read")
    assert response.status_code == 403
    assert "read-only" in response.json()["error"]
    assert not Xorb.objects.exists()


def test_expired_token_is_401(cas, local_store, settings) -> None:  # noqa: ANN001
    settings.XET_TOKEN_TTL = -5
    token = cas.token()
    response = cas.post_xorb(make_xorb(), token=token)
    assert response.status_code == 401
    assert "expired" in response.json()["error"]


def test_revoked_api_key_kills_its_tokens(cas, local_store) -> None:  # noqa: ANN001
    key, _ = api_key_create(user=cas.personas.member, name="ci", scopes=["read", "write"])
    token = cas.token(key=key)
    assert cas.post_xorb(make_xorb(), token=token).status_code == 200
    api_key_revoke(actor=cas.personas.member, key=key)
    response = cas.post_xorb(make_xorb(), token=token)
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]


def test_member_demoted_to_reader_loses_write(cas, local_store) -> None:  # noqa: ANN001
    token = cas.token()
    Membership.objects.filter(user=cas.personas.member).update(role=Membership.Role.READ)
    assert cas.post_xorb(make_xorb(), token=token).status_code == 403


@pytest.mark.parametrize("header", ["", "Bearer", "Basic abc", "Bearer not-a-token"])
def test_missing_or_forged_token_is_401(cas, local_store, header) -> None:  # noqa: ANN001
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    x = make_xorb()
    response = cas.client.post(f"/cas/v1/xorbs/default/{x.hex}", data=x.body,
                               content_type="application/octet-stream", **extra)
    assert response.status_code == 401
    assert not Xorb.objects.exists()


def test_token_signed_for_something_else_is_401(cas, local_store) -> None:  # noqa: ANN001
    forged = signing.dumps({"s": "write", "r": cas.repo.pk, "u": cas.personas.member.pk, "k": None, "v": "main",
                            "e": 2**40})  # default salt: not a CAS token
    assert cas.post_xorb(make_xorb(), token=forged).status_code == 401


def test_failure_while_recording_deletes_the_stored_object(cas, blob_store, monkeypatch) -> None:  # noqa: ANN001
    x = make_xorb()

    def boom(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("database went away")

    monkeypatch.setattr(XorbRepo.objects, "get_or_create", boom)
    with pytest.raises(RuntimeError):
        xet.store_xorb(repo=cas.repo, hash_hex=x.hex, stream=io.BytesIO(x.body))
    assert not Xorb.objects.exists()
    assert blob_store.head(xet.xorb_storage_key(x.hex)) is None
