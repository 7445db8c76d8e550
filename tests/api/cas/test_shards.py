"""POST /cas/v1/shards: full verification (§2.5) against this repo's xorbs, then atomic registration."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from registry.models import DedupChunk, XetFile, XetFileRepo, XetShard, XorbRepo
from registry.services import xet
from registry.services.repos import repo_create
from registry.xet import FileTerm, hash_to_hex, make_shard_file

from .conftest import make_xorb, shard_for, whole_file


def _upload(cas, *xorbs, **kw):  # noqa: ANN001, ANN003, ANN202
    for x in xorbs:
        assert cas.post_xorb(x, **kw).status_code == 200


def _nothing_registered() -> None:
    assert not XetFile.objects.exists()
    assert not XetFileRepo.objects.exists()
    assert not XetShard.objects.exists()
    assert not DedupChunk.objects.exists()


def test_shard_registers_file_with_its_sha256(cas, blob_store) -> None:  # noqa: ANN001
    a, b = make_xorb(), make_xorb((7000, 100))
    _upload(cas, a, b)
    f, content = whole_file(a, b)
    shard = shard_for([f], [a, b])
    response = cas.post_shard(shard)
    assert response.status_code == 200, response.content
    assert response.json() == {"result": 1}

    row = XetFile.objects.get(hash=hash_to_hex(f.hash))
    assert row.sha256 == hashlib.sha256(content).hexdigest()
    assert row.size == len(content)
    assert XetFileRepo.objects.filter(file=row, repo=cas.repo).exists()
    stored_shard = XetShard.objects.get()
    assert stored_shard.repo == cas.repo and stored_shard.sha256 == hashlib.sha256(shard).hexdigest()
    assert b"".join(blob_store.iter_bytes(stored_shard.storage_key)) == shard
    # the first chunk of the file is always in the global-dedup index
    assert DedupChunk.objects.filter(chunk_hash=hash_to_hex(a.chunks[0].hash), xorb_id=a.hex).exists()

    # the hub side finds it by sha256 and streams its bytes back
    assert xet.file_for_sha256(repo=cas.repo, sha256=row.sha256) == row
    assert xet.file_for_sha256(repo=cas.other_repo, sha256=row.sha256) is None
    assert b"".join(xet.iter_file_bytes(row)) == content
    assert b"".join(xet.iter_file_bytes(row, 2990, 3010)) == content[2990:3011]

    assert cas.post_shard(shard).json() == {"result": 0}  # already registered


def test_shard_may_reference_xorbs_uploaded_earlier_by_the_repo(cas, local_store) -> None:  # noqa: ANN001
    a = make_xorb()
    _upload(cas, a)
    cas.post_shard(shard_for([whole_file(a)[0]], [a]))
    # an edited copy: one new xorb, the old one only referenced from the file section (dedup)
    b = make_xorb((2000,))
    _upload(cas, b)
    f, content = whole_file(a, b)
    assert cas.post_shard(shard_for([f], [b])).json() == {"result": 1}
    assert XetFile.objects.filter(sha256=hashlib.sha256(content).hexdigest()).exists()


def test_same_file_in_another_repo_after_proving_the_bytes(cas, local_store) -> None:  # noqa: ANN001
    a = make_xorb()
    _upload(cas, a)
    f, _ = whole_file(a)
    cas.post_shard(shard_for([f], [a]))
    _upload(cas, a, repo=cas.other_repo)  # the other repo sends the xorb bytes itself: linked
    assert cas.post_shard(shard_for([f], [a]), repo=cas.other_repo).json() == {"result": 1}
    assert XetFileRepo.objects.filter(file_id=hash_to_hex(f.hash)).count() == 2


def test_shard_naming_a_missing_xorb_is_400(cas, local_store) -> None:  # noqa: ANN001
    a, b = make_xorb(), make_xorb()
    _upload(cas, a)
    f, _ = whole_file(a, b)
    response = cas.post_shard(shard_for([f], [a]))
    assert response.status_code == 400
    assert f"unknown xorb {b.hex}" in response.json()["error"]
    _nothing_registered()


def test_shard_cas_block_of_missing_xorb_is_400(cas, local_store) -> None:  # noqa: ANN001
    a = make_xorb()
    response = cas.post_shard(shard_for([], [a]))
    assert response.status_code == 400
    assert "not stored" in response.json()["error"]


def test_xorb_of_a_repo_the_uploader_cannot_read_is_unknown(cas, local_store) -> None:  # noqa: ANN001
    hidden = repo_create(actor=cas.personas.outsider, namespace="oscar", name="hidden", private=True)
    a = make_xorb()
    _upload(cas, a, repo=hidden, user=cas.personas.outsider)
    f, _ = whole_file(a)
    for shard in (shard_for([f], [a]), shard_for([f], [])):
        response = cas.post_shard(shard)
        assert response.status_code == 400, response.content
        assert "not stored for this repository" in response.json()["error"] or "unknown xorb" in \
            response.json()["error"]
    _nothing_registered()
    assert not XorbRepo.objects.filter(repo=cas.repo).exists()


def test_xorb_of_a_gated_repo_without_accepted_license_is_unknown(cas, local_store, make_repo) -> None:  # noqa: ANN001
    gated = make_repo("gated", gating="manual")
    a = make_xorb()
    _upload(cas, a, repo=gated, user=cas.personas.owner)
    f, _ = whole_file(a)
    outsider_repo = repo_create(actor=cas.personas.outsider, namespace="oscar", name="mine")
    response = cas.post_shard(shard_for([f], []), repo=outsider_repo, user=cas.personas.outsider)
    assert response.status_code == 400
    _nothing_registered()


def test_xorb_of_a_taken_down_repo_is_unknown_even_to_its_readers(cas, local_store) -> None:  # noqa: ANN001
    from registry.models import ModelRepo

    a = make_xorb()
    _upload(cas, a, repo=cas.other_repo)
    ModelRepo.objects.filter(pk=cas.other_repo.pk).update(disabled=True)
    f, _ = whole_file(a)
    assert cas.post_shard(shard_for([f], [])).status_code == 400
    _nothing_registered()


def test_xorbs_of_a_deleted_repo_may_be_referenced_again_by_their_uploader_only(cas, local_store) -> None:  # noqa: ANN001
    """Repo deleted during (or after) an upload, the same file pushed to a new repo from the same machine: hf_xet's
    cache sends only the shard, naming xorbs whose repo is gone. Their uploader sent those bytes, so it works; for
    anyone else they stay unknown."""
    from registry.services.repos import repo_delete

    a = make_xorb()
    _upload(cas, a, repo=cas.other_repo)  # by the member
    repo_delete(actor=cas.personas.owner, repo=cas.other_repo)
    assert not XorbRepo.objects.filter(xorb_id=a.hex).exists()  # the links went with the repo, the xorb stays
    f, _content = whole_file(a)
    shard = shard_for([f], [])
    assert cas.post_shard(shard, user=cas.personas.owner).status_code == 400  # not the owner's bytes
    assert cas.post_shard(shard).json() == {"result": 1}  # the member's
    assert XorbRepo.objects.filter(xorb_id=a.hex, repo=cas.repo).exists()


def test_xorbs_the_uploader_can_download_elsewhere_may_be_referenced(cas, local_store) -> None:  # noqa: ANN001
    """hf_xet's shard cache makes a second push of the same file to another repo reference the first repo's xorbs."""
    a = make_xorb()
    _upload(cas, a, repo=cas.other_repo)
    f, content = whole_file(a)
    assert cas.post_shard(shard_for([f], [])).json() == {"result": 1}
    assert XorbRepo.objects.filter(xorb_id=a.hex, repo=cas.repo).exists()
    row = XetFile.objects.get()
    assert xet.file_for_sha256(repo=cas.repo, sha256=row.sha256) == row


def test_cas_block_not_matching_the_stored_xorb_is_400(cas, local_store) -> None:  # noqa: ANN001
    a = make_xorb()
    _upload(cas, a)
    lying = replace(a, chunks=(replace(a.chunks[0], size=a.chunks[0].size + 1), *a.chunks[1:]))
    response = cas.post_shard(shard_for([], [lying]))
    assert response.status_code == 400
    assert "chunk 0 size" in response.json()["error"]


def test_wrong_verification_hash_is_400(cas, local_store) -> None:  # noqa: ANN001
    a = make_xorb()
    _upload(cas, a)
    f, _ = whole_file(a)
    bad = replace(f, verification=(bytes(32),))
    response = cas.post_shard(shard_for([bad], [a]))
    assert response.status_code == 400
    assert "verification" in response.json()["error"]
    _nothing_registered()


def test_wrong_file_hash_is_400(cas, local_store) -> None:  # noqa: ANN001
    a = make_xorb()
    _upload(cas, a)
    f, _ = whole_file(a)
    response = cas.post_shard(shard_for([replace(f, hash=bytes(range(32)))], [a]))
    assert response.status_code == 400
    assert "hash to" in response.json()["error"]
    _nothing_registered()


def test_bad_term_range_is_400(cas, local_store) -> None:  # noqa: ANN001
    a = make_xorb()
    _upload(cas, a)
    term = FileTerm(a.hash, sum(c.size for c in a.chunks), 0, len(a.chunks) + 1)
    f = make_shard_file([FileTerm(a.hash, a.chunks[0].size, 0, 1)], {a.hash: a.chunks}.__getitem__, sha256="0" * 64)
    response = cas.post_shard(shard_for([replace(f, terms=(term,))], [a]))
    assert response.status_code == 400
    assert "bad chunk range" in response.json()["error"]


def test_sha256_not_matching_content_is_400_and_nothing_registered(cas, blob_store) -> None:  # noqa: ANN001
    a, b = make_xorb(), make_xorb()
    _upload(cas, a, b)
    good, _ = whole_file(b)
    lie, _ = whole_file(a, sha256=hashlib.sha256(b"something else").hexdigest())
    response = cas.post_shard(shard_for([good, lie], [a, b]))
    assert response.status_code == 400
    assert "does not match the content" in response.json()["error"]
    _nothing_registered()  # not even the good file of the same shard


def test_sha256_ext_is_required(cas, local_store) -> None:  # noqa: ANN001
    a = make_xorb()
    _upload(cas, a)
    f, _ = whole_file(a)
    response = cas.post_shard(shard_for([replace(f, sha256=None)], [a]))
    assert response.status_code == 400
    assert "sha256 metadata extension is required" in response.json()["error"]


@pytest.mark.parametrize("mutate", [
    lambda s: s[:-1],
    lambda s: s + b"\0",
    lambda s: b"X" + s[1:],
    lambda s: b"",
])
def test_malformed_shard_is_400(cas, local_store, mutate) -> None:  # noqa: ANN001
    a = make_xorb()
    _upload(cas, a)
    response = cas.post_shard(mutate(shard_for([whole_file(a)[0]], [a])))
    assert response.status_code == 400
    assert response.json()["error"].startswith("invalid shard")
    _nothing_registered()


def test_read_token_cannot_upload_a_shard(cas, local_store) -> None:  # noqa: ANN001
    a = make_xorb()
    _upload(cas, a)
    response = cas.post_shard(shard_for([whole_file(a)[0]], [a]), scope="read")
    assert response.status_code == 403
    _nothing_registered()
