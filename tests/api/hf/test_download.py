"""Downloads through the HF-compatible API: trees, paths-info and /resolve, with the real client.

Tests that touch blob-store files run against both stores (`blob_store`: local disk served by the
hub, and S3 through a moto server, where /resolve redirects to a presigned URL).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx2 as httpx
import pytest
from django.utils import timezone
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, snapshot_download
from huggingface_hub.errors import (
    DisabledRepoError,
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from api.hf import files as hf_files
from registry.hashing import git_blob_sha1, lfs_pointer_sha1
from registry.models import Blob, ModelRepo
from registry.services.blobs import blob_register, repo_blob_grant
from registry.services.commits import AddBlob, commit_create
from registry.services.licenses import license_accept

pytestmark = pytest.mark.live

CONFIG = json.dumps({"model_type": "llama", "hidden_size": 8}).encode()
WEIGHTS = bytes(range(256)) * 1200  # 300 KiB, binary
SHARD = b"\x00shard-two" * 100


@pytest.fixture
def tiny(hub, make_repo, blob_store):
    """acme/tiny: inline config.json and README.md, a blob model.safetensors, and a nested folder."""
    repo = make_repo("tiny")
    commit = hub.seed(repo,
                      inline={"config.json": CONFIG, "README.md": b"# tiny\n", "sub/dir/notes.txt": b"n"},
                      blobs={"model.safetensors": WEIGHTS, "sub/shard.bin": SHARD})
    return repo, commit


def download(hub, persona: str = "anonymous", filename: str = "config.json", repo_id: str = "acme/tiny",
             **kwargs) -> Path:
    return Path(hf_hub_download(repo_id, filename, endpoint=hub.url, token=hub.token(persona),
                                cache_dir=hub.cache, **kwargs))


def raw(hub, method: str, path: str, persona: str = "anonymous", **kwargs) -> httpx.Response:
    headers = kwargs.pop("headers", {})
    token = hub.token(persona)
    if token:
        headers["authorization"] = f"Bearer {token}"
    return httpx.request(method, f"{hub.url}{path}", headers=headers, follow_redirects=False, **kwargs)


# --- trees and paths-info -----------------------------------------------------------------------


def test_list_repo_files_lists_every_file_recursively(hub, tiny):
    files = hub.api("anonymous").list_repo_files("acme/tiny")
    assert sorted(files) == [".gitattributes", "README.md", "config.json", "model.safetensors",
                             "sub/dir/notes.txt", "sub/shard.bin"]


def test_list_repo_tree_describes_files_blobs_and_folders(hub, tiny):
    entries = {e.path: e for e in hub.api("anonymous").list_repo_tree("acme/tiny")}
    assert sorted(entries) == [".gitattributes", "README.md", "config.json", "model.safetensors", "sub"]
    config = entries["config.json"]
    assert (config.size, config.blob_id, config.lfs) == (len(CONFIG), git_blob_sha1(CONFIG), None)
    weights = entries["model.safetensors"]
    assert weights.size == len(WEIGHTS)
    assert weights.blob_id == lfs_pointer_sha1(hashlib.sha256(WEIGHTS).hexdigest(), len(WEIGHTS))
    assert weights.lfs.sha256 == hashlib.sha256(WEIGHTS).hexdigest()
    assert weights.lfs.size == len(WEIGHTS) and weights.lfs.pointer_size > 100
    assert len(entries["sub"].tree_id) == 40
    assert not hasattr(weights, "xet_hash") or weights.xet_hash is None


def test_list_repo_tree_by_folder_and_recursive(hub, tiny):
    api = hub.api("anonymous")
    sub = {e.path: type(e).__name__ for e in api.list_repo_tree("acme/tiny", path_in_repo="sub")}
    assert sub == {"sub/dir": "RepoFolder", "sub/shard.bin": "RepoFile"}
    deep = [e.path for e in api.list_repo_tree("acme/tiny", path_in_repo="sub", recursive=True)]
    assert deep == ["sub/dir", "sub/dir/notes.txt", "sub/shard.bin"]


def test_folder_id_changes_only_when_its_content_does(hub, tiny):
    repo, _ = tiny
    api = hub.api("anonymous")
    before = {e.path: e.tree_id for e in api.list_repo_tree("acme/tiny") if e.path == "sub"}
    hub.seed(repo, inline={"top.txt": b"t"})
    assert {e.path: e.tree_id for e in api.list_repo_tree("acme/tiny") if e.path == "sub"} == before
    hub.seed(repo, inline={"sub/new.txt": b"t"})
    assert {e.path: e.tree_id for e in api.list_repo_tree("acme/tiny") if e.path == "sub"} != before


def test_list_repo_tree_of_a_missing_folder_is_entry_not_found(hub, tiny):
    with pytest.raises(EntryNotFoundError):
        list(hub.api("anonymous").list_repo_tree("acme/tiny", path_in_repo="nope"))


def test_list_repo_tree_at_unknown_revision_is_revision_not_found(hub, tiny):
    with pytest.raises(RevisionNotFoundError):
        list(hub.api("anonymous").list_repo_tree("acme/tiny", revision="nope"))


def test_list_repo_tree_paginates_with_absolute_links(hub, tiny, monkeypatch):
    monkeypatch.setattr(hf_files, "TREE_PAGE_SIZE", 2)
    first = raw(hub, "GET", "/api/models/acme/tiny/tree/main?recursive=true")
    assert len(first.json()) == 2
    next_url = first.links["next"]["url"]
    assert next_url.startswith(f"{hub.url}/api/models/acme/tiny/tree/main?recursive=true&cursor=")
    assert len(hub.api("anonymous").list_repo_files("acme/tiny")) == 6


def test_get_paths_info_for_files_and_folders(hub, tiny):
    infos = hub.api("anonymous").get_paths_info("acme/tiny", ["config.json", "sub", "missing.txt"])
    assert [(type(i).__name__, i.path) for i in infos] == [("RepoFile", "config.json"), ("RepoFolder", "sub")]


def test_tree_of_a_private_repo_is_not_found_for_outsiders(hub, make_repo):
    make_repo("hidden", private=True)
    with pytest.raises(RepositoryNotFoundError):
        hub.api("outsider").list_repo_files("acme/hidden")


# --- hf_hub_download ----------------------------------------------------------------------------


def test_download_inline_and_blob_files_by_branch_tag_and_commit(hub, tiny):
    _, commit = tiny
    hub.api("owner").create_tag("acme/tiny", tag="v1")
    for revision in ("main", "v1", commit.oid):
        assert download(hub, revision=revision).read_bytes() == CONFIG
        assert download(hub, filename="model.safetensors", revision=revision).read_bytes() == WEIGHTS
        assert download(hub, filename="sub/shard.bin", revision=revision).read_bytes() == SHARD
    # The snapshot folder is named after the commit, as on the public Hub.
    assert download(hub).parent.name == commit.oid


def test_download_from_a_branch_whose_name_has_a_slash(hub, tiny):
    repo, _ = tiny
    hub.api("owner").create_branch("acme/tiny", branch="dev/x")
    head = hub.seed(repo, inline={"config.json": b'{"dev": true}'}, branch="dev/x")
    path = download(hub, revision="dev/x")
    assert path.read_bytes() == b'{"dev": true}'
    assert path.parent.name == head.oid


def test_snapshot_download_fetches_every_file(hub, tiny):
    _, commit = tiny
    folder = Path(snapshot_download("acme/tiny", endpoint=hub.url, token=False, cache_dir=hub.cache))
    assert folder.name == commit.oid
    assert (folder / "config.json").read_bytes() == CONFIG
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    assert (folder / "sub" / "shard.bin").read_bytes() == SHARD
    assert (folder / "sub" / "dir" / "notes.txt").read_bytes() == b"n"


def test_resolve_headers_for_inline_and_blob_files(hub, tiny, blob_store):
    _, commit = tiny
    meta = get_hf_file_metadata(hf_hub_url("acme/tiny", "config.json", endpoint=hub.url), token=False)
    assert (meta.commit_hash, meta.etag, meta.size) == (commit.oid, git_blob_sha1(CONFIG), len(CONFIG))
    sha = hashlib.sha256(WEIGHTS).hexdigest()
    meta = get_hf_file_metadata(hf_hub_url("acme/tiny", "model.safetensors", endpoint=hub.url), token=False)
    assert (meta.commit_hash, meta.etag, meta.size) == (commit.oid, sha, len(WEIGHTS))
    assert meta.xet_file_data is None

    head = raw(hub, "HEAD", "/acme/tiny/resolve/main/model.safetensors")
    assert head.headers["ETag"] == f'"{lfs_pointer_sha1(sha, len(WEIGHTS))}"'
    assert head.headers["X-Linked-Etag"] == f'"{sha}"'
    assert "X-Xet-Hash" not in head.headers and "xet" not in head.headers.get("Link", "")
    if blob_store.name == "s3":
        assert head.status_code == 302
        location = httpx.URL(head.headers["Location"])
        assert location.is_absolute_url and location.port != httpx.URL(hub.url).port
        assert httpx.get(head.headers["Location"]).content == WEIGHTS  # self-authorising, no bearer
    else:
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(len(WEIGHTS))
        assert head.headers["Accept-Ranges"] == "bytes"
        assert 'filename="model.safetensors"' in head.headers["Content-Disposition"]


def test_local_store_serves_byte_ranges(hub, tiny, blob_store):
    if blob_store.name != "local":
        pytest.skip("S3 serves ranges itself; the hub only redirects")
    path = "/acme/tiny/resolve/main/model.safetensors"
    part = raw(hub, "GET", path, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == WEIGHTS[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(WEIGHTS)}"
    tail = raw(hub, "GET", path, headers={"Range": f"bytes={len(WEIGHTS) - 5}-"})
    assert (tail.status_code, tail.content) == (206, WEIGHTS[-5:])
    suffix = raw(hub, "GET", path, headers={"Range": "bytes=-3"})
    assert suffix.content == WEIGHTS[-3:]
    beyond = raw(hub, "GET", path, headers={"Range": f"bytes={len(WEIGHTS)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(WEIGHTS)}"


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["anonymous", "outsider"])
def test_private_repo_download_is_repository_not_found(hub, make_repo, persona):
    repo = make_repo("hidden", private=True)
    hub.seed(repo, inline={"config.json": CONFIG})
    with pytest.raises(RepositoryNotFoundError):
        download(hub, persona, repo_id="acme/hidden")


@pytest.mark.parametrize("persona", ["owner", "member", "reader"])
def test_private_repo_download_works_for_org_members(hub, make_repo, persona):
    repo = make_repo("hidden", private=True)
    hub.seed(repo, inline={"config.json": CONFIG})
    assert download(hub, persona, repo_id="acme/hidden").read_bytes() == CONFIG


@pytest.fixture
def gated(hub, make_repo, blob_store):
    repo = make_repo("gated", gating="auto")
    hub.seed(repo, inline={"config.json": CONFIG}, blobs={"model.safetensors": WEIGHTS})
    return repo


@pytest.mark.parametrize("persona", ["anonymous", "outsider"])
def test_gated_repo_download_is_gated_without_an_accepted_license(hub, gated, persona):
    with pytest.raises(GatedRepoError) as info:
        download(hub, persona, repo_id="acme/gated")
    assert f"{hub.url}/acme/gated" in str(info.value)
    assert info.value.response.status_code == (401 if persona == "anonymous" else 403)
    # The file list stays visible, as on the Hub.
    assert "config.json" in hub.api(persona).list_repo_files("acme/gated")


def test_gated_repo_download_works_after_accepting_the_license(hub, gated):
    with pytest.raises(GatedRepoError):
        download(hub, "outsider", repo_id="acme/gated", filename="model.safetensors")
    license_accept(user=hub.p.outsider, repo=gated)
    weights = download(hub, "outsider", repo_id="acme/gated", filename="model.safetensors")
    assert weights.read_bytes() == WEIGHTS
    assert download(hub, "member", repo_id="acme/gated").read_bytes() == CONFIG


def test_unknown_revision_is_revision_not_found(hub, tiny):
    with pytest.raises(RevisionNotFoundError):
        download(hub, revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        download(hub, revision="0" * 40)


def test_missing_file_is_entry_not_found_with_the_commit(hub, tiny):
    _, commit = tiny
    with pytest.raises(EntryNotFoundError):
        download(hub, filename="tokenizer.model")
    head = raw(hub, "HEAD", "/acme/tiny/resolve/main/tokenizer.model")
    assert head.status_code == 404
    assert head.headers["X-Error-Code"] == "EntryNotFound"
    assert head.headers["X-Repo-Commit"] == commit.oid
    # The client remembers the absence under the commit (transformers' optional-file probes rely on it).
    assert any(hub.cache.glob(f"**/.no_exist/{commit.oid}/tokenizer.model"))


def test_disabled_repo_answers_access_disabled(hub, tiny):
    repo, _ = tiny
    ModelRepo.objects.filter(pk=repo.pk).update(disabled=True)
    with pytest.raises(DisabledRepoError):
        get_hf_file_metadata(hf_hub_url("acme/tiny", "config.json", endpoint=hub.url), token=False)
    head = raw(hub, "HEAD", "/acme/tiny/resolve/main/config.json")
    assert head.status_code == 403
    assert head.headers["X-Error-Message"] == "Access to this resource is disabled."
    assert hub.api("anonymous").model_info("acme/tiny").disabled is True


def test_unverified_blob_is_not_downloadable(hub, make_repo, blob_store):
    repo = make_repo("fresh")
    blob = blob_register(sha256="a" * 64, size=10)
    Blob.objects.filter(pk=blob.pk).update(uploaded_at=timezone.now())
    repo_blob_grant(repo=repo, blobs=[blob], source="backfill")  # bytes at the blob's key, as before staging
    commit_create(actor=hub.p.owner, repo=repo, operations=[AddBlob("model.safetensors", "a" * 64, 10)],
                  title="pending")
    # Committed but still being checked: a 503 with Retry-After, which the stock client retries (read-after-write)
    for method in ("GET", "HEAD"):
        response = raw(hub, method, "/acme/fresh/resolve/main/model.safetensors")
        assert response.status_code == 503
        assert response.headers["X-Error-Code"] == "BlobPending"
        assert response.headers["Retry-After"] == "2"
        assert "still being checked" in response.headers["X-Error-Message"]
    Blob.objects.filter(pk=blob.pk).update(state=Blob.State.REJECTED)
    response = raw(hub, "HEAD", "/acme/fresh/resolve/main/model.safetensors")
    assert (response.status_code, response.headers["X-Error-Code"]) == (403, "BlobRejected")


def test_bad_token_is_refused(hub, tiny):
    with pytest.raises(HfHubHTTPError) as info:
        hf_hub_download("acme/tiny", "config.json", endpoint=hub.url, token="hub_nothere0_bad",
                        cache_dir=hub.cache)
    assert info.value.response.status_code == 401


# --- cost and download counting -----------------------------------------------------------------


def test_resolve_stays_within_four_queries(client, tiny, hub, django_assert_max_num_queries):
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {hub.token('member')}"}
    client.head("/acme/tiny/resolve/main/config.json", **bearer)  # records the key's last use once
    with django_assert_max_num_queries(4):
        assert client.get("/acme/tiny/resolve/main/config.json").status_code == 200
    # A signed-in GET also records who downloaded (one upsert): the per-licensee records and release recalls.
    with django_assert_max_num_queries(5):
        assert client.get("/acme/tiny/resolve/main/README.md", **bearer).status_code == 200
    with django_assert_max_num_queries(4):
        assert client.head("/acme/tiny/resolve/main/model.safetensors", **bearer).status_code in (200, 302)
    with django_assert_max_num_queries(4):
        assert client.head("/acme/tiny/resolve/main/missing.json", **bearer).status_code == 404


def downloads(repo) -> int:
    return ModelRepo.objects.get(pk=repo.pk).downloads


def test_a_snapshot_counts_one_download(hub, tiny):
    repo, _ = tiny
    snapshot_download("acme/tiny", endpoint=hub.url, token=False, cache_dir=hub.cache)
    assert downloads(repo) == 1
    raw(hub, "HEAD", "/acme/tiny/resolve/main/config.json")
    raw(hub, "GET", "/acme/tiny/resolve/main/README.md")
    assert downloads(repo) == 1
    raw(hub, "GET", "/acme/tiny/resolve/main/config.json")
    assert downloads(repo) == 2


def test_repo_without_config_counts_its_first_weight_file(hub, make_repo, blob_store):
    repo = make_repo("gguf-only")
    hub.seed(repo, blobs={"a-q4.gguf": b"GGUF" + b"\x00" * 20, "b-q8.gguf": b"GGUF" + b"\x01" * 20})
    raw(hub, "GET", "/acme/gguf-only/resolve/main/b-q8.gguf")
    assert downloads(repo) == 0
    raw(hub, "GET", "/acme/gguf-only/resolve/main/a-q4.gguf")
    assert downloads(repo) == 1


def test_resolve_splits_a_quoted_revision_from_the_raw_uri(client, hub, tiny):
    """Behind gunicorn (RAW_URI) `dev%2Fx` is the revision and the rest the path, without guessing."""
    repo, _ = tiny
    hub.api("owner").create_branch("acme/tiny", branch="dev/x")
    head = hub.seed(repo, inline={"x/config.json": b"{}"}, branch="dev/x")
    response = client.get("/acme/tiny/resolve/dev/x/x/config.json",
                          RAW_URI="/acme/tiny/resolve/dev%2Fx/x/config.json")
    assert response.status_code == 200
    assert response["X-Repo-Commit"] == head.oid
    assert response.content == b"{}"
