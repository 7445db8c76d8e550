"""Authority never travels with a hash (DESIGN.md invariants; issue 15, items 2 and 5), against a live hub with
the stock huggingface_hub client and plain HTTP, on both blob stores.

A gated or private file's sha256 and size are no key to its bytes: an outsider who commits them into a repo of
their own is refused as for an oid nobody uploaded, and gets the bytes by no route. Someone who may download the
source repo references the bytes without sending them again. The LFS batch answer for bytes stored elsewhere is
the one for a never-seen oid, and nobody's unfinished or lying upload blocks anybody else's.
"""

from __future__ import annotations

import hashlib
import json
import re

import httpx2 as httpx
import pytest
from django.contrib.auth import get_user_model
from huggingface_hub import CommitOperationAdd, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, HfHubHTTPError, RepositoryNotFoundError
from huggingface_hub.lfs import UploadInfo

from registry.models import Blob, BlobUpload, Branch, CommitFile, ModelRepo, RepoBlob
from registry.services.licenses import license_accept
from registry.services.repos import repo_create
from registry.storage import get_store
from tests.fixtures.personas import make_key, make_user

pytestmark = pytest.mark.live
User = get_user_model()

WEIGHTS = hashlib.sha256(b"gated").digest() * 2048  # 64 KiB: an LFS file
OID = hashlib.sha256(WEIGHTS).hexdigest()
LFS = "application/vnd.git-lfs+json"


@pytest.fixture
def source(request, hub, make_repo, blob_store) -> ModelRepo:
    """acme/weights holding WEIGHTS: gated (license not accepted by the outsider) or private."""
    kind = getattr(request, "param", "gated")
    repo = make_repo("weights", gating="auto" if kind == "gated" else "none", private=kind == "private")
    hub.seed(repo, blobs={"model.safetensors": WEIGHTS})
    return repo


def own_repo(user, name: str = "mine", *, private: bool = False) -> ModelRepo:  # noqa: ANN001
    return repo_create(actor=user, namespace=user.get_username(), name=name, private=private)


def forged_lfs_add(path: str, oid: str, size: int) -> CommitOperationAdd:
    """What an attacker sends with the stock client: an `lfsFile` line naming an oid and size read from a tree,
    without ever having the bytes (the operation claims to be uploaded already, so no batch is asked)."""
    op = CommitOperationAdd(path_in_repo=path, path_or_fileobj=b"not the bytes")
    op.upload_info = UploadInfo(size=size, sample=b"", sha256=bytes.fromhex(oid))
    op._upload_mode = "lfs"
    op._is_uploaded = True
    return op


def http(hub, method: str, url: str, persona: str | None = None, *, follow: bool = False,  # noqa: ANN001
         **kwargs) -> httpx.Response:
    headers = kwargs.pop("headers", {})
    if persona:
        headers["authorization"] = f"Bearer {hub.token(persona)}"
    target = url if url.startswith("http") else f"{hub.url}{url}"
    return httpx.request(method, target, headers=headers, follow_redirects=follow, timeout=60, **kwargs)


def batch(hub, repo_id: str, persona: str, *objects: tuple[str, int]) -> list[dict]:  # noqa: ANN001
    body = {"operation": "upload", "transfers": ["basic", "multipart"], "hash_algo": "sha256",
            "objects": [{"oid": oid, "size": size} for oid, size in objects]}
    response = http(hub, "POST", f"/{repo_id}.git/info/lfs/objects/batch", persona, json=body,
                    headers={"Content-Type": LFS, "Accept": LFS})
    assert response.status_code == 200, response.text
    return response.json()["objects"]


def put(hub, action: dict, data: bytes) -> None:  # noqa: ANN001
    response = http(hub, "PUT", action["upload"]["href"], content=data,
                    headers={"Content-Type": "application/octet-stream"})
    assert response.status_code in (200, 201, 204), response.text


def verify(hub, action: dict, persona: str, oid: str, size: int) -> httpx.Response:  # noqa: ANN001
    return http(hub, "POST", action["verify"]["href"], persona, json={"oid": oid, "size": size})


def ndjson_commit(hub, repo_id: str, persona: str, oid: str, size: int, path: str = "w.safetensors"):  # noqa: ANN001, ANN201
    lines = [{"key": "header", "value": {"summary": "add"}},
             {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": oid, "size": size}}]
    return http(hub, "POST", f"/api/models/{repo_id}/commit/main", persona,
                content="\n".join(json.dumps(line) for line in lines).encode(),
                headers={"Content-Type": "application/x-ndjson"})


def head_of(repo: ModelRepo) -> int:
    return Branch.objects.get(repo=repo, name="main").head_id


# --- item 2: a commit may reference only bytes the committer may read --------------------------------------------


@pytest.mark.parametrize("source", ["gated", "private"], indirect=True)
def test_outsider_cannot_commit_a_known_oid_into_their_own_repo_nor_download_it(hub, source, no_xet, tmp_path):
    mine = own_repo(hub.p.outsider)
    before = head_of(mine)
    api = hub.api("outsider")
    with pytest.raises(HfHubHTTPError) as info:
        api.create_commit(repo_id="oscar/mine", commit_message="borrow",
                          operations=[forged_lfs_add("model.safetensors", OID, len(WEIGHTS))])
    response = info.value.response
    assert response.status_code == 422
    assert response.headers["X-Error-Code"] == "BlobMissing"
    assert "never uploaded to this repository" in response.headers["X-Error-Message"]
    # Nothing half-written: no commit, no file row, no grant, no new blob row.
    assert head_of(mine) == before
    assert not CommitFile.objects.filter(commit__repo=mine, blob__isnull=False).exists()
    assert not RepoBlob.objects.filter(repo=mine).exists()
    assert Blob.objects.count() == 1
    # Answered exactly as an oid nobody ever uploaded (same status, code and message, the oid aside).
    unknown = ndjson_commit(hub, "oscar/mine", "outsider", "ab" * 32, len(WEIGHTS))
    known = ndjson_commit(hub, "oscar/mine", "outsider", OID, len(WEIGHTS))
    assert (known.status_code, known.headers["X-Error-Code"]) == (unknown.status_code, unknown.headers["X-Error-Code"])
    assert known.headers["X-Error-Message"].replace(OID, "<oid>") == \
        unknown.headers["X-Error-Message"].replace("ab" * 32, "<oid>")
    # A wrong size changes nothing either (the stored size is never compared for an oid the repo may not use).
    assert ndjson_commit(hub, "oscar/mine", "outsider", OID, len(WEIGHTS) + 1).headers["X-Error-Code"] == "BlobMissing"
    # No route gives the bytes: the outsider's repo does not have them, the source refuses.
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("oscar/mine", "model.safetensors", endpoint=hub.url, token=hub.token("outsider"),
                        cache_dir=tmp_path / "c1")
    with pytest.raises((GatedRepoError, RepositoryNotFoundError)):
        hf_hub_download("acme/weights", "model.safetensors", endpoint=hub.url, token=hub.token("outsider"),
                        cache_dir=tmp_path / "c2")
    xet_token = http(hub, "GET", "/api/models/acme/weights/xet-read-token/main", "outsider")
    assert xet_token.status_code in (403, 404)


def test_member_who_can_read_the_source_references_its_bytes_without_sending_them(
        hub, make_repo, blob_store, no_xet, transfers, tmp_path):
    secret = make_repo("secret", private=True)
    hub.seed(secret, blobs={"model.safetensors": WEIGHTS})
    own_repo(hub.p.reader, "copy")  # the reader (read role in acme) writes only to their own repos
    hub.api("reader").upload_file(path_or_fileobj=WEIGHTS, path_in_repo="model.safetensors", repo_id="rae/copy")
    assert transfers == {"basic": 0, "multipart": 0}  # the batch answered "present": dedup across repos
    copy = ModelRepo.objects.get(namespace="rae", name="copy")
    assert RepoBlob.objects.get(repo=copy).source == RepoBlob.Source.REUSE
    assert Blob.objects.count() == 1
    path = hf_hub_download("rae/copy", "model.safetensors", endpoint=hub.url, token=hub.token("reader"),
                           cache_dir=tmp_path)
    assert open(path, "rb").read() == WEIGHTS  # noqa: PTH123


def test_accepting_the_license_lets_an_outsider_reference_the_gated_bytes(hub, source, no_xet, transfers):
    own_repo(hub.p.outsider)
    api = hub.api("outsider")
    license_accept(user=hub.p.outsider, repo=source)
    api.create_commit(repo_id="oscar/mine", commit_message="reuse",
                      operations=[forged_lfs_add("model.safetensors", OID, len(WEIGHTS))])
    assert RepoBlob.objects.filter(repo__name="mine", source=RepoBlob.Source.REUSE).exists()


def test_an_outsider_who_has_the_bytes_uploads_them_and_they_are_stored_once(hub, source, no_xet, transfers,
                                                                             tmp_path):
    own_repo(hub.p.outsider)
    hub.api("outsider").upload_file(path_or_fileobj=WEIGHTS, path_in_repo="model.safetensors", repo_id="oscar/mine")
    assert transfers["basic"] == 1  # no "present" answer for bytes only a gated repo holds
    assert Blob.objects.count() == 1  # deduplicated on store
    assert RepoBlob.objects.get(repo__name="mine").source == RepoBlob.Source.UPLOAD
    path = hf_hub_download("oscar/mine", "model.safetensors", endpoint=hub.url, token=hub.token("outsider"),
                           cache_dir=tmp_path)
    assert open(path, "rb").read() == WEIGHTS  # noqa: PTH123


def test_a_file_committed_while_its_upload_is_hashed_is_never_served_from_someone_elses_bytes(
        hub, source, settings, monkeypatch):
    """The large-file path: the commit lands before the worker hashes the upload. A lying upload under the gated
    oid gets its file committed, but the repo serves it only if *its own* upload verifies — never the gated bytes
    that are verified and stored for acme/weights."""
    from registry import tasks

    settings.SYNC_VERIFY_MAX_SIZE = 1024
    queued: list[int] = []
    monkeypatch.setattr(tasks.verify_upload, "apply_async", lambda args, **kw: queued.append(args[0]))
    own_repo(hub.p.outsider)
    [answer] = batch(hub, "oscar/mine", "outsider", (OID, len(WEIGHTS)))
    put(hub, answer["actions"], b"\0" * len(WEIGHTS))
    response = verify(hub, answer["actions"], "outsider", OID, len(WEIGHTS))
    assert (response.status_code, response.json()["state"]) == (200, "pending")
    assert ndjson_commit(hub, "oscar/mine", "outsider", OID, len(WEIGHTS)).status_code == 200
    resolve = http(hub, "GET", "/oscar/mine/resolve/main/w.safetensors", "outsider")
    # its own upload is still being hashed: come back in a moment (never the gated bytes, nor their size)
    assert (resolve.status_code, resolve.headers["X-Error-Code"]) == (503, "BlobPending")
    assert "X-Linked-Size" not in resolve.headers
    assert [tasks.verify_upload.apply(args=(pk,)).get() for pk in queued] == [BlobUpload.State.REJECTED]
    resolve = http(hub, "GET", "/oscar/mine/resolve/main/w.safetensors", "outsider")
    assert (resolve.status_code, resolve.headers["X-Error-Code"]) == (403, "BlobNotVerified")
    blob = Blob.objects.get(sha256=OID)  # the gated copy is untouched
    assert blob.state == Blob.State.VERIFIED
    assert b"".join(get_store().iter_bytes(blob.storage_key)) == WEIGHTS


# --- item 5: no existence or size oracle, no squatting ------------------------------------------------------------


def _shape(answer: dict) -> dict:
    """The batch answer with its opaque parts (signed URLs, the oid) blanked out."""
    text = json.dumps(answer, sort_keys=True)
    text = re.sub(r'"https?://[^"]*"', '"<url>"', text)
    return json.loads(text.replace(answer["oid"], "<oid>"))


@pytest.mark.parametrize("source", ["gated", "private"], indirect=True)
def test_batch_answer_for_an_oid_stored_elsewhere_is_the_one_for_a_never_seen_oid(hub, source):
    own_repo(hub.p.outsider)
    never_seen = hashlib.sha256(b"nobody has these").hexdigest()
    stored, new, wrong_size = batch(hub, "oscar/mine", "outsider", (OID, len(WEIGHTS)),
                                    (never_seen, len(WEIGHTS)), (OID, len(WEIGHTS) - 1))
    assert "actions" in stored and "error" not in stored
    assert _shape(stored) == _shape(new)
    assert _shape(wrong_size) == {**_shape(new), "size": len(WEIGHTS) - 1}
    assert Blob.objects.get(sha256=OID).size == len(WEIGHTS)  # a wrong size squats nothing
    assert not Blob.objects.filter(sha256=never_seen).exists()


def test_two_users_uploading_the_same_oid_at_once_both_succeed_and_a_liar_blocks_no_one(hub, make_repo, blob_store):
    data = hashlib.sha256(b"popular").digest() * 1024
    oid = hashlib.sha256(data).hexdigest()
    make_repo("one", private=True)
    own_repo(hub.p.outsider, "two", private=True)
    own_repo(make_user("mallory"), "lies")
    hub.tokens["mallory"] = make_key(User.objects.get(username="mallory"))
    # Everyone asks first, so every upload is in flight at once; the liar's is never finished, then lies.
    [liar] = batch(hub, "mallory/lies", "mallory", (oid, len(data)))
    [first] = batch(hub, "acme/one", "member", (oid, len(data)))
    [second] = batch(hub, "oscar/two", "outsider", (oid, len(data)))
    assert first["actions"]["upload"]["href"] != second["actions"]["upload"]["href"]
    put(hub, second["actions"], data)
    put(hub, first["actions"], data)
    put(hub, liar["actions"], b"\xff" * len(data))
    assert verify(hub, second["actions"], "outsider", oid, len(data)).json()["state"] == "verified"
    refused = verify(hub, liar["actions"], "mallory", oid, len(data))
    assert (refused.status_code, refused.headers["X-Error-Code"]) == (422, "ObjectRejected")
    assert verify(hub, first["actions"], "member", oid, len(data)).json()["state"] == "verified"
    for repo_id, persona in (("acme/one", "member"), ("oscar/two", "outsider")):
        assert ndjson_commit(hub, repo_id, persona, oid, len(data)).status_code == 200
        assert http(hub, "GET", f"/{repo_id}/resolve/main/w.safetensors", persona, follow=True).content == data
    assert ndjson_commit(hub, "mallory/lies", "mallory", oid, len(data)).status_code == 422
    assert Blob.objects.filter(sha256=oid).count() == 1
