"""Safetensors metadata with the stock client (HF_COMMUNITY.md §3): `get_safetensors_metadata` (HEAD, then GET
with Range on /resolve; single file and sharded; local disk and S3), gated and private repos, and
`model_info(expand=["safetensors"])` after an upload, at main and at an older revision."""

from __future__ import annotations

import json

import numpy as np
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import GatedRepoError, NotASafetensorsRepoError, RepositoryNotFoundError
from safetensors.numpy import save as st_save

from registry import tasks
from registry.models import ValidationRun
from registry.services.licenses import license_accept

pytestmark = pytest.mark.live

SINGLE = {"model.embed_tokens.weight": np.zeros((16, 4), np.float32), "model.norm.weight": np.ones(4, np.float16),
          "scale": np.array(2.0, np.float32)}  # a scalar counts 1
FIRST = {"a": np.zeros((3, 5), np.float32)}
SECOND = {"b": np.zeros((7,), np.float16), "c": np.zeros((2, 2), np.float32)}
S1, S2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"


def index_bytes() -> bytes:
    total = sum(t.nbytes for t in (*FIRST.values(), *SECOND.values()))
    return json.dumps({"metadata": {"total_size": total},
                       "weight_map": {"a": S1, "b": S2, "c": S2}}).encode()


@pytest.mark.parametrize("sharded", [False, True], ids=["single", "sharded"])
def test_get_safetensors_metadata_reads_headers_over_resolve(hub, make_repo, blob_store, sharded):
    repo = make_repo("st")
    if sharded:
        hub.seed(repo, inline={"model.safetensors.index.json": index_bytes()},
                 blobs={S1: st_save(FIRST), S2: st_save(SECOND)})
    else:
        hub.seed(repo, blobs={"model.safetensors": st_save(SINGLE, metadata={"format": "pt"})})

    meta = hub.api("anonymous").get_safetensors_metadata("acme/st")

    if sharded:
        assert meta.sharded and set(meta.files_metadata) == {S1, S2}
        assert meta.weight_map == {"a": S1, "b": S2, "c": S2}
        assert meta.parameter_count == {"F32": 15 + 4, "F16": 7}
        assert meta.files_metadata[S2].tensors["b"].shape == [7]
    else:
        assert not meta.sharded
        file = meta.files_metadata["model.safetensors"]
        assert file.metadata == {"format": "pt"}
        assert file.tensors["model.embed_tokens.weight"].dtype == "F32"
        assert file.tensors["model.embed_tokens.weight"].shape == [16, 4]
        assert file.tensors["scale"].shape == []
        assert meta.parameter_count == {"F32": 64 + 1, "F16": 4}


def test_a_repo_without_safetensors_is_not_a_safetensors_repo(hub, make_repo):
    hub.seed(make_repo("plain"), inline={"README.md": b"# plain\n"})
    with pytest.raises(NotASafetensorsRepoError):
        hub.api("anonymous").get_safetensors_metadata("acme/plain")


def test_gated_repo_metadata_needs_the_accepted_license(hub, make_repo, blob_store):
    repo = make_repo("gated", gating="auto")
    hub.seed(repo, blobs={"model.safetensors": st_save(SINGLE)})
    for persona in ("anonymous", "outsider"):
        with pytest.raises(GatedRepoError):
            hub.api(persona).get_safetensors_metadata("acme/gated")
    license_accept(user=hub.p.outsider, repo=repo)
    assert hub.api("outsider").get_safetensors_metadata("acme/gated").parameter_count == {"F32": 65, "F16": 4}


def test_private_repo_metadata_is_hidden_from_outsiders(hub, make_repo):
    repo = make_repo("hidden", private=True)
    hub.seed(repo, blobs={"model.safetensors": st_save(SINGLE)})
    with pytest.raises(NotASafetensorsRepoError):  # the client reads RepositoryNotFound (404) as "no such file"
        hub.api("outsider").get_safetensors_metadata("acme/hidden")
    with pytest.raises(RepositoryNotFoundError):
        hub.api("outsider").model_info("acme/hidden")
    assert hub.api("member").get_safetensors_metadata("acme/hidden").parameter_count == {"F32": 65, "F16": 4}


@pytest.mark.django_db(transaction=True)
def test_model_info_expand_safetensors_after_upload_at_main_and_at_a_revision(hub, make_repo, monkeypatch,
                                                                             tmp_path, client_env):
    """upload_folder, then upload_file of a second weights set: the worker (run here in queue order, as the
    embedded worker would) counts each commit; model_info reports main's and the older revision's own."""
    queued: list[int] = []
    monkeypatch.setattr(tasks.validate_commit, "apply_async", lambda args, **kw: queued.append(args[0]))
    make_repo("up")
    api: HfApi = hub.api("owner")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(st_save(SINGLE))
    (folder / "README.md").write_text("# up\n")
    first = api.upload_folder(repo_id="acme/up", folder_path=str(folder)).oid
    api.upload_file(repo_id="acme/up", path_or_fileobj=st_save({"w": np.zeros((10, 10), np.float16)}),
                    path_in_repo="model.safetensors")
    for run_id in dict.fromkeys(queued):
        tasks.validate_commit.apply(args=(run_id,))
    assert not ValidationRun.objects.exclude(status__in=("passed", "warning")).exists()

    info = api.model_info("acme/up", expand=["safetensors"])
    assert info.safetensors is not None
    assert (info.safetensors.parameters, info.safetensors.total) == ({"F16": 100}, 100)
    old = api.model_info("acme/up", revision=first)
    assert (old.safetensors.parameters, old.safetensors.total) == ({"F32": 65, "F16": 4}, 69)


def test_get_sharded_safetensors_metadata_in_one_request(hub, make_repo, blob_store):
    hub.seed(make_repo("st"), inline={"model.safetensors.index.json": index_bytes()},
             blobs={S1: st_save(FIRST, metadata={"format": "pt"}), S2: st_save(SECOND)})
    meta = hub.api("anonymous").get_sharded_safetensors_metadata("acme/st")
    assert meta.sharded and meta.metadata == {"total_size": 15 * 4 + 7 * 2 + 4 * 4}
    assert meta.weight_map == {"a": S1, "b": S2, "c": S2}
    assert meta.parameter_count == {"F32": 19, "F16": 7}
    assert meta.files_metadata[S1].metadata == {"format": "pt"}
    start, end = meta.files_metadata[S2].tensors["c"].data_offsets  # as stored in the header
    assert end - start == 16
    same = hub.api("anonymous").get_safetensors_metadata("acme/st")
    assert {s: f.tensors for s, f in same.files_metadata.items()} == {s: f.tensors for s, f in
                                                                      meta.files_metadata.items()}


def test_sharded_metadata_follows_download_rules(hub, make_repo, blob_store):
    from huggingface_hub.errors import EntryNotFoundError

    repo = make_repo("gated", gating="auto")
    hub.seed(repo, inline={"model.safetensors.index.json": index_bytes()}, blobs={S1: st_save(FIRST)})
    with pytest.raises(GatedRepoError):
        hub.api("outsider").get_sharded_safetensors_metadata("acme/gated")
    with pytest.raises(EntryNotFoundError):  # S2 is named by the index but not in the commit
        hub.api("member").get_sharded_safetensors_metadata("acme/gated")
    with pytest.raises(EntryNotFoundError):
        hub.api("member").get_sharded_safetensors_metadata("acme/gated", filename="other.safetensors.index.json")
    hidden = make_repo("hidden", private=True)
    hub.seed(hidden, inline={"model.safetensors.index.json": index_bytes()})
    with pytest.raises(RepositoryNotFoundError):
        hub.api("outsider").get_sharded_safetensors_metadata("acme/hidden")


@pytest.mark.parametrize(("index", "status"), [
    (b"{not json", 400),
    (b'{"weight_map": {"a": "s"}, "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400),  # too deep
    (b'{"weight_map": {"a": "s", "a": "t"}}', 400),  # a duplicate key: parsed as validation parses it
    (json.dumps({"weight_map": {"a": 3}}).encode(), 400),
    (json.dumps({"weight_map": {"a": "../../etc/passwd"}}).encode(), 404),
])
def test_a_bad_index_is_a_clear_client_error(hub, make_repo, client, index, status):
    hub.seed(make_repo("bad"), inline={"model.safetensors.index.json": index})
    response = client.get("/api/models/acme/bad/safetensors-metadata/model.safetensors.index.json")
    assert response.status_code == status
    assert response.headers["X-Error-Message"]
