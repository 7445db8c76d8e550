"""`git lfs pull` after a clone: the LFS batch endpoint's download operation, with git-lfs's Basic credentials."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from django.test import Client

from registry.models import ModelRepo
from registry.services.licenses import license_accept

pytestmark = pytest.mark.django_db(transaction=True)

WEIGHTS = bytes(range(256)) * 4096  # 1 MiB
LFS_JSON = "application/vnd.git-lfs+json"


def _lfs_pull(git, remote: str, target) -> None:  # noqa: ANN001
    git.run("lfs", "install", "--skip-repo")
    git.run("clone", remote, str(target))
    assert (target / "model.bin").read_bytes().startswith(b"version https://git-lfs.github.com/spec/v1")
    git.run("lfs", "pull", cwd=target, env={"GIT_LFS_SKIP_SMUDGE": "0"})


def test_lfs_pull_fetches_the_real_bytes(hub, git, git_lfs, make_repo, blob_store, tmp_path):  # noqa: ANN001
    repo = make_repo("weights")
    hub.seed(repo, inline={"config.json": b"{}\n"}, blobs={"model.bin": WEIGHTS, "sub/more.safetensors": b"x" * 5000})
    target = tmp_path / "clone"
    _lfs_pull(git, git.remote(repo.repo_id), target)
    assert (target / "model.bin").read_bytes() == WEIGHTS
    assert (target / "sub" / "more.safetensors").read_bytes() == b"x" * 5000
    git.run("fsck", cwd=target)


def test_lfs_pull_of_a_private_repo_with_a_member_key(hub, git, git_lfs, make_repo, tmp_path, local_store):  # noqa: ANN001
    repo = make_repo("secret", private=True)
    hub.seed(repo, blobs={"model.bin": WEIGHTS})
    target = tmp_path / "clone"
    _lfs_pull(git, git.remote(repo.repo_id, hub.tokens["reader"]), target)
    assert (target / "model.bin").read_bytes() == WEIGHTS


# --- the batch endpoint itself -----------------------------------------------------------------------------


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"git:{key}".encode()).decode()


def _batch(repo: ModelRepo, objects: list[dict], key: str | None = None, content_type: str = LFS_JSON):  # noqa: ANN201
    headers = {"HTTP_AUTHORIZATION": _basic(key)} if key else {}
    return Client().post(f"/{repo.repo_id}.git/info/lfs/objects/batch", data=json.dumps(
        {"operation": "download", "objects": objects, "transfers": ["basic"]}), content_type=content_type, **headers)


def _obj(content: bytes) -> dict:
    return {"oid": hashlib.sha256(content).hexdigest(), "size": len(content)}


def test_download_batch_answers_per_object(hub, make_repo, local_store):  # noqa: ANN001
    repo = make_repo("weights")
    other = make_repo("other")
    hub.seed(repo, blobs={"model.bin": WEIGHTS})
    hub.seed(other, blobs={"theirs.bin": b"t" * 2000})
    response = _batch(repo, [_obj(WEIGHTS), _obj(b"t" * 2000), {**_obj(WEIGHTS), "size": 3}])
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith(LFS_JSON)
    first, theirs, wrong_size = response.json()["objects"]
    assert first["actions"]["download"]["href"].startswith("http")
    assert theirs["error"]["code"] == 404  # knowing another repo's sha256 grants nothing
    assert wrong_size["error"]["code"] == 422


def test_download_batch_of_a_gated_repo_needs_the_license(hub, make_repo, local_store):  # noqa: ANN001
    repo = make_repo("gated", gating="auto")
    hub.seed(repo, blobs={"model.bin": WEIGHTS})
    assert _batch(repo, [_obj(WEIGHTS)]).status_code == 401
    refused = _batch(repo, [_obj(WEIGHTS)], hub.tokens["outsider"])
    assert refused.status_code == 200
    error = refused.json()["objects"][0]["error"]
    assert error["code"] == 403 and "restricted" in error["message"]
    license_accept(user=hub.p.outsider, repo=repo)
    allowed = _batch(repo, [_obj(WEIGHTS)], hub.tokens["outsider"])
    assert "download" in allowed.json()["objects"][0]["actions"]


def test_download_batch_of_a_private_repo(hub, make_repo, local_store):  # noqa: ANN001
    repo = make_repo("secret", private=True)
    hub.seed(repo, blobs={"model.bin": WEIGHTS})
    assert _batch(repo, [_obj(WEIGHTS)]).status_code == 401
    assert _batch(repo, [_obj(WEIGHTS)], hub.tokens["outsider"]).status_code == 404
    assert "download" in _batch(repo, [_obj(WEIGHTS)], hub.tokens["reader"]).json()["objects"][0]["actions"]


def test_download_batch_of_a_disabled_repo_refuses_each_object(hub, make_repo, local_store):  # noqa: ANN001
    repo = make_repo("weights")
    hub.seed(repo, blobs={"model.bin": WEIGHTS})
    ModelRepo.objects.filter(pk=repo.pk).update(disabled=True)
    error = _batch(repo, [_obj(WEIGHTS)]).json()["objects"][0]["error"]
    assert error["code"] == 403 and "disabled" in error["message"]


def test_basic_credentials_need_the_git_lfs_content_type(hub, make_repo, local_store):  # noqa: ANN001
    repo = make_repo("weights")
    hub.seed(repo, blobs={"model.bin": WEIGHTS})
    refused = _batch(repo, [_obj(WEIGHTS)], hub.tokens["owner"], content_type="text/plain")
    assert refused.status_code == 415


def test_basic_credentials_are_for_the_git_routes_only(hub, make_repo):  # noqa: ANN001
    repo = make_repo("secret", private=True)
    response = Client().get(f"/api/models/{repo.repo_id}", HTTP_AUTHORIZATION=_basic(hub.tokens["owner"]))
    assert response.status_code == 401


@pytest.mark.parametrize("objects", [[{"oid": "nothex", "size": 1}], [{"oid": "a" * 64, "size": -1}],
                                     [{"oid": "a" * 64, "size": True}], "x"])
def test_malformed_download_batch_is_400(hub, make_repo, objects):  # noqa: ANN001
    repo = make_repo("weights")
    assert _batch(repo, objects).status_code == 400


def test_download_batch_refuses_a_quarantined_object(hub, make_repo, local_store):  # noqa: ANN001
    from registry.models import ContentVerdict

    repo = make_repo("weights")
    hub.seed(repo, blobs={"model.bin": WEIGHTS})
    ContentVerdict.objects.create(sha256=_obj(WEIGHTS)["oid"], size=len(WEIGHTS), status="failed",
                                  reason="pickle imports os.system")
    error = _batch(repo, [_obj(WEIGHTS)]).json()["objects"][0]["error"]
    assert error["code"] == 403 and "pickle imports os.system" in error["message"]
