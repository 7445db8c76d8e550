"""Crafted repos through the worker: each gets the right verdict, the tensor tables are stored once per content,
the commit's parameter counts are kept on its run, and a commit that carries over files another run is still
reading waits for their verdicts instead of judging its index without its shards."""

from __future__ import annotations

import json

import numpy as np
import pytest

from registry.models import ContentTensor, ModelRepo, ValidationRun
from tests.registry.services.test_validation_pipeline import (
    LLAMA,
    README,
    TOKENIZER,
    llama_tensors,
    repo_checks,
    safetensors_bytes,
    sha,
)

pytestmark = pytest.mark.django_db

S1, S2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
BASE = {"README.md": README, "tokenizer.json": TOKENIZER}


def sharded(weight_map: dict[str, str], total: int) -> bytes:
    return json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}).encode()


def failures(run: ValidationRun, name: str) -> list[str]:
    return [c["message"] for c in run.summary["checks"] if c["name"] == name and c["status"] == "failed"]


def test_index_naming_the_wrong_shard_fails(validator, make_repo):
    a, b = safetensors_bytes({"a": np.zeros(4, np.float32)}), safetensors_bytes({"b": np.zeros(2, np.float32)})
    run = validator.commit_and_run(make_repo(), inline={**BASE, "model.safetensors.index.json": sharded(
        {"a": S2, "b": S2}, 24)}, blobs={S1: a, S2: b})
    assert run.status == "failed"
    assert any(f"'a' is in '{S1}', not '{S2}'" in m for m in failures(run, "safetensors_index"))


def test_index_pointing_at_a_shard_not_in_the_commit_fails(validator, make_repo):
    a = safetensors_bytes({"a": np.zeros(4, np.float32)})
    run = validator.commit_and_run(make_repo(), inline={**BASE, "model.safetensors.index.json": sharded(
        {"a": S1, "b": S2}, 24)}, blobs={S1: a})
    assert run.status == "failed"
    assert any(f"'{S2}' is not in this commit" in m for m in failures(run, "safetensors_index"))


def test_config_with_more_layers_than_the_weights_fails(validator, make_repo):
    tensors = {k: v for k, v in llama_tensors().items() if ".layers.1." not in k}
    run = validator.commit_and_run(make_repo(), inline={**BASE, "config.json": json.dumps(LLAMA).encode()},
                                   blobs={"model.safetensors": safetensors_bytes(tensors)})
    assert run.status == "failed"
    [message] = failures(run, "layers")
    assert "num_hidden_layers=2" in message and "1 layer" in message


def test_a_dtype_only_difference_warns(validator, make_repo):
    config = {**LLAMA, "torch_dtype": "bfloat16"}
    run = validator.commit_and_run(make_repo(), inline={**BASE, "config.json": json.dumps(config).encode()},
                                   blobs={"model.safetensors": safetensors_bytes(llama_tensors())})
    checks = repo_checks(run)
    assert run.status == "warning", run.summary
    assert checks["dtype"]["status"] == "warning" and "F32" in checks["dtype"]["message"]
    assert {checks[n]["status"] for n in ("layers", "shapes", "tied_embeddings")} == {"passed"}


def test_tensor_tables_are_stored_once_per_content(validator, make_repo):
    weights = safetensors_bytes(llama_tensors())
    files = {"inline": {**BASE, "config.json": json.dumps(LLAMA).encode()}, "blobs": {"model.safetensors": weights}}
    validator.commit_and_run(make_repo("one"), **files)
    rows = list(ContentTensor.objects.filter(sha256=sha(weights)).values_list("ordinal", "name", "dtype", "shape",
                                                                             "nbytes"))
    assert [r[1] for r in rows] == sorted(llama_tensors())
    assert rows[0] == (0, "lm_head.weight", "F32", [32, 8], 32 * 8 * 4)
    run = validator.commit_and_run(make_repo("two"), **files)  # same content elsewhere: reused, not re-read
    assert ContentTensor.objects.filter(sha256=sha(weights)).count() == len(rows)
    assert repo_checks(run)["layers"]["status"] == "passed"  # the checks read the stored table


def test_the_run_keeps_the_commits_parameters(validator, make_repo):
    repo = make_repo()
    tensors = llama_tensors()
    run = validator.commit_and_run(repo, inline=BASE, blobs={"model.safetensors": safetensors_bytes(tensors)})
    total = sum(t.size for t in tensors.values())
    assert (run.parameter_count, run.parameter_dtypes) == (total, {"F32": total})
    assert ModelRepo.objects.get(pk=repo.pk).parameter_count == total


def test_a_commit_waits_for_the_shards_an_earlier_run_is_still_reading(validator, make_repo):
    repo = make_repo()
    a, b = safetensors_bytes({"a": np.zeros(4, np.float32)}), safetensors_bytes({"b": np.zeros(2, np.float16)})
    first = validator.commit(repo, blobs={S1: a, S2: b})
    second = validator.commit(repo, inline={**BASE, "model.safetensors.index.json": sharded({"a": S1, "b": S2},
                                                                                             20)})
    validator.queued.clear()
    second = validator.run(second)  # the upload_file after upload_folder finishes first in a busy worker …
    assert second.status == "pending"
    assert second.error.startswith("waiting for another run to check ") and S1 in second.error
    assert second.parameter_count is None

    with validator.capture(execute=True):
        first = validator.run(first)  # … and the shards' run queues it again when it is done
    assert first.status == "warning"  # no card or tokenizer yet
    assert validator.queued == [second.pk]
    second = validator.run(second)
    assert second.status == "warning", second.summary  # no config.json: the only finding
    assert {c["status"] for c in second.summary["checks"] if c["name"] == "safetensors_index"} == {"passed"}
    assert (second.parameter_count, second.parameter_dtypes) == (6, {"F16": 2, "F32": 4})
    repo.refresh_from_db()
    assert (repo.parameter_count, repo.parameter_dtypes) == (6, {"F16": 2, "F32": 4})


def test_the_verdicts_reach_the_checks_tab_and_the_release_checklist(validator, make_repo, personas, client,
                                                                    signing_key):
    from tests.fixtures.releases import CARD, request

    repo = make_repo("rel")
    repo.license = personas.license
    repo.save()
    tensors = {k: v for k, v in llama_tensors().items() if ".layers.1." not in k}
    validator.commit_and_run(repo, inline={"README.md": CARD, "tokenizer.json": TOKENIZER,
                                           "config.json": json.dumps(LLAMA).encode()},
                             blobs={"model.safetensors": safetensors_bytes(tensors)})
    html = client.get("/acme/rel/checks").content.decode()
    assert "config.json says num_hidden_layers=2 but the weights hold model.layers.0 (1 layer)" in html
    release = request(personas, repo)
    [item] = [i for i in release.checklist if i["key"] == "validation"]
    assert not item["ok"]
    assert "layers: config.json says num_hidden_layers=2" in item["detail"]


def test_gguf_metadata_disagreeing_with_its_tensors_fails_the_run_not_the_download(validator, make_repo, client):
    from tests.registry.validation.test_anatomy import _gguf

    run = validator.commit_and_run(make_repo("gg"), inline={"README.md": README},
                                   blobs={"model.Q8_0.gguf": _gguf(block_count=3, blocks=2)})
    assert run.status == "failed"
    [message] = failures(run, "gguf_metadata")
    assert message == "model.Q8_0.gguf: llama.block_count is 3 but the tensors hold blk.0–1"
    assert {f.status for f in run.files.all()} == {"passed"}  # the file itself is sound: not quarantined
    assert ContentTensor.objects.filter(name="token_embd.weight", dtype="F32", shape=[4, 8]).exists()


def test_counts_appear_once_the_headers_are_read_before_the_slow_files(validator, make_repo, monkeypatch, client):
    """A checkpoint with a large pickle beside its safetensors: the counts don't wait for the pickle scan."""
    from registry.services.validation import validation_run_execute
    from registry.storage import StorageError, get_store

    repo = make_repo("early")
    tensors = llama_tensors()
    big = b"\x80\x02}q\x00." + bytes(64)  # stands for a 10 GB pytorch_model.bin that is still being scanned
    run = validator.commit(repo, inline=BASE, blobs={"model.safetensors": safetensors_bytes(tensors),
                                                     "pytorch_model.bin": big})
    store = get_store()
    original = store.iter_bytes
    slow_key = next(f.blob.storage_key for f in run.commit.files.select_related("blob") if f.path.endswith(".bin"))

    def stuck(key: str, **kwargs):  # noqa: ANN202 - the pickle's read fails: the run is handed back for a retry
        if key == slow_key:
            raise StorageError("still reading")
        return original(key, **kwargs)

    monkeypatch.setattr(store, "iter_bytes", stuck)
    with pytest.raises(StorageError):
        validation_run_execute(run_id=run.pk)
    run.refresh_from_db()
    total = sum(t.size for t in tensors.values())
    assert run.status == "pending" and (run.parameter_count, run.parameter_dtypes) == (total, {"F32": total})
    assert ModelRepo.objects.get(pk=repo.pk).parameter_count == total
    assert client.get("/api/models/acme/early").json()["safetensors"] == {"parameters": {"F32": total},
                                                                          "total": total}
    monkeypatch.setattr(store, "iter_bytes", original)
    assert validator.run(run).parameter_count == total


def test_the_anatomy_checks_read_no_weight_bytes(validator, make_repo, monkeypatch):
    from tests.registry.services.test_validation_pipeline import ReadSpy

    repo = make_repo()
    weights = safetensors_bytes(llama_tensors())
    validator.commit_and_run(repo, inline={**BASE, "config.json": json.dumps(LLAMA).encode()},
                             blobs={"model.safetensors": weights})
    spy = ReadSpy(monkeypatch)
    run = validator.commit_and_run(repo, inline={"config.json": json.dumps({**LLAMA, "vocab_size": 64}).encode()})
    assert spy.keys == []  # the new config against the stored table: not one byte of the weights read again
    assert any("vocab_size=64 but model.embed_tokens.weight has 32 rows" in m for m in failures(run, "shapes"))
