"""Checkpoint validation of commits: runs, verdicts, reuse, repo-level checks, stale runs.

The commit's on_commit callbacks are captured (not executed by the test transaction), run by hand, and the
task body is then called directly: the real ordering (queue after commit) without a broker.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.utils import timezone
from safetensors.numpy import save as st_save

from registry import tasks
from registry.models import (
    AuditEvent,
    Blob,
    ContentVerdict,
    FileCheck,
    ModelRepo,
    ValidationRun,
)
from registry.services.blobs import blob_ingest_stream, blob_register, repo_blob_grant
from registry.services.commits import AddBlob, AddInline, Delete, commit_create
from registry.services.validation import (
    validation_run_execute,
    validation_run_rerun,
    validation_runs_requeue_stale,
)
from registry.storage import StorageError, get_store
from registry.validation_repo import estimate_parameters
from tests.registry.validation.corpus import PROTO2, STOP, call, glob, su

# --- builders -------------------------------------------------------------------------------------

LLAMA = {"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 2, "intermediate_size": 16,
         "vocab_size": 32, "num_attention_heads": 2, "num_key_value_heads": 1, "tie_word_embeddings": False}
TOKENIZER = json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": {}}}).encode()
README = b"---\nlicense: apache-2.0\n---\n# tiny\n"
EVIL_PICKLE = PROTO2 + call(glob("os", "system"), su("echo pwned")) + STOP


def llama_tensors(config: dict[str, Any] = LLAMA) -> dict[str, np.ndarray]:
    h, i, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    kv = h // config["num_attention_heads"] * config["num_key_value_heads"]
    tensors = {"model.embed_tokens.weight": np.zeros((v, h), np.float32),
               "model.norm.weight": np.ones(h, np.float32), "lm_head.weight": np.zeros((v, h), np.float32)}
    for n in range(config["num_hidden_layers"]):
        p = f"model.layers.{n}."
        tensors |= {p + "self_attn.q_proj.weight": np.zeros((h, h), np.float32),
                    p + "self_attn.k_proj.weight": np.zeros((kv, h), np.float32),
                    p + "self_attn.v_proj.weight": np.zeros((kv, h), np.float32),
                    p + "self_attn.o_proj.weight": np.zeros((h, h), np.float32),
                    p + "mlp.gate_proj.weight": np.zeros((i, h), np.float32),
                    p + "mlp.up_proj.weight": np.zeros((i, h), np.float32),
                    p + "mlp.down_proj.weight": np.zeros((h, i), np.float32),
                    p + "input_layernorm.weight": np.ones(h, np.float32),
                    p + "post_attention_layernorm.weight": np.ones(h, np.float32)}
    return tensors


def safetensors_bytes(tensors: dict[str, np.ndarray]) -> bytes:
    return st_save(tensors)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def good_model() -> dict[str, dict[str, bytes]]:
    return {
        "inline": {"config.json": json.dumps(LLAMA).encode(), "README.md": README,
                   "tokenizer.json": TOKENIZER},
        "blobs": {"model.safetensors": safetensors_bytes(llama_tensors())},
    }


class Validator:
    """Commits like a client would, then plays the worker: listener callbacks by hand, task body directly."""

    def __init__(self, capture, actor) -> None:  # noqa: ANN001
        self.capture = capture
        self.actor = actor
        self.queued: list[int] = []

    def commit(self, repo: ModelRepo, *, inline: dict[str, bytes] | None = None,
               blobs: dict[str, bytes] | None = None, delete: tuple[str, ...] = (), pending: bool = False,
               ) -> ValidationRun:
        ops: list[Any] = [AddInline(p, c) for p, c in (inline or {}).items()]
        for path, content in (blobs or {}).items():
            if pending:  # uploaded, not yet verified: bytes at the blob's key, as LFS uploads were before staging
                blob = blob_register(sha256=sha(content), size=len(content))
                get_store().put_stream(blob.storage_key, io.BytesIO(content), size=len(content))
                Blob.objects.filter(pk=blob.pk).update(uploaded_at=timezone.now())
                repo_blob_grant(repo=repo, blobs=[blob], source="backfill")  # what the 0008 migration gave them
            else:
                blob = blob_ingest_stream(stream=io.BytesIO(content), repo=repo)
            ops.append(AddBlob(path, blob.sha256, blob.size))
        ops += [Delete(p) for p in delete]
        with self.capture(execute=False) as after_commit:
            commit = commit_create(actor=self.actor, repo=repo, operations=ops, title="update")
        with self.capture(execute=True):  # the hook listeners: create the run, queue the task
            for callback in after_commit:
                callback()
        run = ValidationRun.objects.get(commit=commit)
        assert run.pk in self.queued
        return run

    def run(self, run: ValidationRun) -> ValidationRun:
        tasks.validate_commit(run.pk)
        return ValidationRun.objects.get(pk=run.pk)

    def commit_and_run(self, repo: ModelRepo, **kwargs: Any) -> ValidationRun:
        return self.run(self.commit(repo, **kwargs))


def files_of(run: ValidationRun) -> dict[str, FileCheck]:
    return {f.path: f for f in run.files.all()}


def repo_checks(run: ValidationRun) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in run.summary["checks"]}


class ReadSpy:
    """Counts store reads per key, without changing them."""

    def __init__(self, monkeypatch) -> None:  # noqa: ANN001
        self.keys: list[str] = []
        store = get_store()
        original = store.iter_bytes

        def spy(key: str, **kwargs: Any):  # noqa: ANN202
            self.keys.append(key)
            return original(key, **kwargs)

        monkeypatch.setattr(store, "iter_bytes", spy)


# --- runs are created for commits -----------------------------------------------------------------


def test_every_commit_queues_a_run_after_its_transaction(validator, make_repo):
    repo = make_repo()
    run = validator.commit(repo, inline={"README.md": README})
    assert run.status == ValidationRun.Status.PENDING
    assert validator.queued == [run.pk]


def test_only_added_or_changed_paths_get_file_checks(validator, make_repo):
    repo = make_repo()
    first = validator.commit_and_run(repo, **good_model())
    assert set(files_of(first)) == {"config.json", "README.md", "tokenizer.json", "model.safetensors"}
    second = validator.commit(repo, inline={"README.md": README + b"More.\n",
                                            "config.json": json.dumps(LLAMA).encode()})
    assert set(files_of(second)) == {"README.md"}  # config.json is byte-identical: same git oid
    assert second.bytes_total == len(README) + len(b"More.\n")


# --- file verdicts --------------------------------------------------------------------------------


def test_good_safetensors_model_passes_and_caches_its_parameter_count(validator, make_repo):
    repo = make_repo()
    run = validator.commit_and_run(repo, **good_model())
    assert run.status == "passed", run.summary
    weights = files_of(run)["model.safetensors"]
    assert weights.status == "passed"
    params = sum(t.size for t in llama_tensors().values())
    assert weights.summary["parameter_count"] == params
    assert run.bytes_checked == run.bytes_total > 0
    assert run.started_at is not None and run.finished_at is not None
    assert repo_checks(run)["parameters"]["status"] == "passed"
    assert ModelRepo.objects.get(pk=repo.pk).parameter_count == params
    assert ContentVerdict.objects.get(sha256=weights.sha256).status == "passed"
    assert AuditEvent.objects.filter(action="validation.finish", target_id=str(repo.pk)).exists()


def test_a_pending_blob_becomes_verified_when_its_bytes_check_out(validator, make_repo):
    repo = make_repo()
    data = safetensors_bytes({"w": np.zeros((4, 4), np.float32)})
    run = validator.commit_and_run(repo, blobs={"model.safetensors": data}, pending=True)
    assert files_of(run)["model.safetensors"].status == "passed"
    assert Blob.objects.get(sha256=sha(data)).state == Blob.State.VERIFIED


def test_a_file_committed_on_an_upload_being_hashed_waits_for_it_and_fails_if_it_lied(
        validator, make_repo, personas, settings, monkeypatch):
    """A repo's file is validated on the repo's own bytes: never on a copy stored for another repo, never with the
    verdict made for it there (that would describe gated content to someone who never had it)."""
    from registry.models import BlobUpload
    from registry.services.repos import repo_create
    from registry.services.uploads import lfs_batch_plan, lfs_upload_verify

    data = safetensors_bytes({"w": np.zeros((4, 4), np.float32)})
    validator.commit_and_run(make_repo("source", gating="auto"), blobs={"model.safetensors": data})
    assert ContentVerdict.objects.filter(sha256=sha(data)).exists()
    settings.SYNC_VERIFY_MAX_SIZE = 1
    queued: list[int] = []
    monkeypatch.setattr(tasks.verify_upload, "apply_async", lambda args, **kw: queued.append(args[0]))
    mine = repo_create(actor=personas.outsider, namespace="oscar", name="mine")
    [plan] = lfs_batch_plan(actor=personas.outsider, repo=mine, objects=[{"oid": sha(data), "size": len(data)}])
    upload = BlobUpload.objects.get(pk=plan.upload_pk)
    get_store().put_stream(upload.staging_key, io.BytesIO(b"\0" * len(data)), size=len(data))
    with validator.capture(execute=True):
        lfs_upload_verify(actor=personas.outsider, repo=mine, oid=sha(data), size=len(data))
    with validator.capture(execute=False) as after_commit:
        commit = commit_create(actor=personas.outsider, repo=mine, title="w",
                               operations=[AddBlob("model.safetensors", sha(data), len(data))])
    with validator.capture(execute=True):
        for callback in after_commit:
            callback()
    run = validator.run(ValidationRun.objects.get(commit=commit))
    assert run.status == "pending" and "waiting" in run.error
    assert files_of(run)["model.safetensors"].status == "pending"
    validator.queued.clear()
    with validator.capture(execute=True):
        assert tasks.verify_upload.apply(args=(queued[0],)).get() == BlobUpload.State.REJECTED
    assert validator.queued == [run.pk]  # the rejected upload resumes the run
    run = validator.run(run)
    check = files_of(run)["model.safetensors"]
    assert (run.status, check.status) == ("failed", "failed")
    assert check.checks[0]["name"] == "integrity" and not check.summary
    assert Blob.objects.get(sha256=sha(data)).state == Blob.State.VERIFIED  # the source's copy is untouched


def test_corrupted_bytes_fail_the_file_and_reject_the_blob(validator, make_repo):
    repo = make_repo()
    data = safetensors_bytes({"w": np.zeros((4, 4), np.float32)})
    run = validator.commit(repo, blobs={"model.safetensors": data})
    blob = Blob.objects.get(sha256=sha(data))
    tampered = data[:-1] + b"\x01"
    get_store().put_stream(blob.storage_key, io.BytesIO(tampered), size=len(tampered))

    run = validator.run(run)

    check = files_of(run)["model.safetensors"]
    assert (run.status, check.status) == ("failed", "failed")
    assert any(c["name"] == "integrity" and c["status"] == "failed" for c in check.checks)
    blob.refresh_from_db()
    assert blob.state == Blob.State.REJECTED and sha(tampered) in blob.rejected_reason
    assert get_store().head(blob.storage_key) is None
    assert not ContentVerdict.objects.filter(sha256=sha(data)).exists()  # the content itself was never seen
    assert AuditEvent.objects.filter(action="blob.reject", target_label=sha(data)).exists()


def test_malicious_pickle_named_bin_fails_naming_the_global(validator, make_repo):
    repo = make_repo()
    run = validator.commit_and_run(repo, blobs={"pytorch_model.bin": EVIL_PICKLE})
    check = files_of(run)["pytorch_model.bin"]
    assert (run.status, check.status) == ("failed", "failed")
    failed = " ".join(c["message"] for c in check.checks if c["status"] == "failed")
    assert "os.system" in failed
    verdict = ContentVerdict.objects.get(sha256=sha(EVIL_PICKLE))
    assert verdict.status == "failed" and "os.system" in verdict.reason
    assert repo_checks(run)["safetensors_twin"]["status"] == "warning"


def test_verdicts_are_reused_across_repos_without_reading_again(validator, make_repo, monkeypatch):
    model = good_model()
    validator.commit_and_run(make_repo("first"), **model)
    spy = ReadSpy(monkeypatch)
    run = validator.commit_and_run(make_repo("second"), **model)
    weights = files_of(run)["model.safetensors"]
    assert weights.status == "passed" and weights.summary["reused"] is True
    assert Blob.objects.get(sha256=weights.sha256).storage_key not in spy.keys
    assert all(f.summary.get("reused") for f in files_of(run).values())  # inline contents too
    assert ContentVerdict.objects.count() == 4


def test_a_later_commit_keeps_failing_while_a_failed_file_stays(validator, make_repo):
    repo = make_repo()
    validator.commit_and_run(repo, blobs={"pytorch_model.bin": EVIL_PICKLE})
    run = validator.commit_and_run(repo, inline={"README.md": README})
    assert set(files_of(run)) == {"README.md"}
    assert run.status == "failed"
    assert "pytorch_model.bin" in repo_checks(run)["unchanged_files"]["message"]
    cleaned = validator.commit_and_run(repo, delete=("pytorch_model.bin",))
    assert "unchanged_files" not in repo_checks(cleaned)


# --- repo-level checks ----------------------------------------------------------------------------


def test_repo_level_checks_warn_about_missing_pieces_and_parameter_mismatch(validator, make_repo):
    repo = make_repo()
    config = {**LLAMA, "intermediate_size": 160}  # implies far more parameters than the weights hold
    run = validator.commit_and_run(repo, inline={"config.json": json.dumps(config).encode()},
                                   blobs={"model.safetensors": safetensors_bytes(llama_tensors())})
    checks = repo_checks(run)
    assert run.status == "warning"
    assert all(f.status == "passed" for f in files_of(run).values())
    assert {name for name, c in checks.items() if c["status"] == "warning"} == {
        "parameters", "tokenizer", "model_card"}
    assert "config.json implies" in checks["parameters"]["message"]


@pytest.mark.parametrize("files", [
    {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"},  # a new repo's first commit
    {"README.md": b"# Data notes\n", "notes.txt": b"no model here\n"},
])
def test_a_tree_without_a_model_gets_no_tokenizer_or_card_warning(files):
    from registry.validation_repo import TreeFile, check_repo

    report = check_repo([TreeFile(path=p, size=len(b)) for p, b in files.items()], read=files.get)
    assert report.status == "passed", report.checks
    assert "tokenizer" not in {c.name for c in report.checks}


def test_unparseable_config_fails_the_run(validator, make_repo):
    run = validator.commit_and_run(make_repo(), inline={"config.json": b"{\"model_type\": "})
    assert repo_checks(run)["config"]["status"] == "failed"
    assert run.status == "failed"


def test_sharded_index_that_misplaces_a_tensor_fails(validator, make_repo):
    shard1 = safetensors_bytes({"a": np.zeros(4, np.float32)})
    shard2 = safetensors_bytes({"b": np.zeros(4, np.float32)})
    index = {"metadata": {"total_size": 32},
             "weight_map": {"a": "model-00002-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    run = validator.commit_and_run(
        make_repo(), inline={"model.safetensors.index.json": json.dumps(index).encode(), "README.md": README},
        blobs={"model-00001-of-00002.safetensors": shard1, "model-00002-of-00002.safetensors": shard2})
    assert run.status == "failed"
    index_checks = [c for c in run.summary["checks"] if c["name"] == "safetensors_index"]
    assert index_checks
    assert all(c["message"].startswith("model.safetensors.index.json: ") for c in index_checks)
    assert any("'a'" in c["message"] and c["status"] == "failed" for c in index_checks)


def test_sharded_index_that_matches_passes_using_cached_shard_verdicts(validator, make_repo):
    shard1 = safetensors_bytes({"a": np.zeros(4, np.float32)})
    shard2 = safetensors_bytes({"b": np.zeros(4, np.float32)})
    index = {"metadata": {"total_size": 32},
             "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    repo = make_repo()
    validator.commit_and_run(repo, blobs={"model-00001-of-00002.safetensors": shard1,
                                          "model-00002-of-00002.safetensors": shard2})
    run = validator.commit_and_run(repo, inline={"model.safetensors.index.json": json.dumps(index).encode()})
    assert set(files_of(run)) == {"model.safetensors.index.json"}  # the shards come from earlier verdicts
    assert {c["status"] for c in run.summary["checks"] if c["name"] == "safetensors_index"} == {"passed"}
    assert run.summary["parameter_count"] == 8


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (LLAMA, [sum(t.size for t in llama_tensors().values())]),
        ({**LLAMA, "tie_word_embeddings": True}, [sum(t.size for t in llama_tensors().values()) - 32 * 8]),
        ({"model_type": "gpt2", "n_embd": 4, "n_layer": 1, "n_positions": 8, "vocab_size": 10},
         [10 * 4 + 8 * 4 + (2 * 4 + 4 * 12 + 12 + 16 + 4 + 2 * 4 + 4 * 16 + 16 + 16 * 4 + 4) + 2 * 4]),
        ({"model_type": "bert"}, []),
        ({"vocab_size": "many", "hidden_size": 8}, []),
    ],
)
def test_parameter_estimate_from_config(config, expected):
    assert estimate_parameters(config) == expected


# --- robustness -----------------------------------------------------------------------------------


def test_executing_a_finished_run_again_changes_nothing(validator, make_repo, monkeypatch):
    run = validator.commit_and_run(make_repo(), **good_model())
    events = AuditEvent.objects.count()
    spy = ReadSpy(monkeypatch)
    again = validation_run_execute(run_id=run.pk)
    assert (again.status, again.attempts, spy.keys, AuditEvent.objects.count()) == (run.status, 1, [], events)
    assert validation_run_execute(run_id=987654) is None


def test_storage_error_hands_the_run_back_for_a_retry(validator, make_repo, monkeypatch):
    model = good_model()
    model["blobs"]["training_args.bin"] = PROTO2 + b"}" + STOP  # read after the safetensors headers
    run = validator.commit(make_repo(), **model)
    store = get_store()
    original = store.iter_bytes
    unreachable = Blob.objects.get(sha256=sha(model["blobs"]["training_args.bin"])).storage_key

    def broken(key: str, **kwargs: Any):  # noqa: ANN202
        if key != unreachable:
            return original(key, **kwargs)
        raise StorageError("store unreachable")

    monkeypatch.setattr(store, "iter_bytes", broken)
    with pytest.raises(StorageError):
        validation_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("pending", 1) and "unreachable" in run.error
    assert files_of(run)["config.json"].status == "passed"  # finished files are kept
    assert files_of(run)["model.safetensors"].status == "passed"
    monkeypatch.setattr(store, "iter_bytes", original)
    run = validator.run(run)
    assert (run.status, run.attempts, run.error) == ("passed", 2, "")


def test_unexpected_errors_fail_the_run_instead_of_crashing_the_worker(validator, make_repo, monkeypatch):
    from registry.services import validation as service

    def boom(*args: Any, **kwargs: Any):  # noqa: ANN202
        raise RuntimeError("bug in a repo check")

    monkeypatch.setattr(service, "check_repo", boom)
    run = validator.commit_and_run(make_repo(), inline={"README.md": README})
    assert run.status == "failed" and "bug in a repo check" in run.error


def test_stale_runs_are_requeued_and_fresh_ones_left_alone(validator, make_repo, settings):
    settings.VALIDATION_STALE_MINUTES = 10
    repo = make_repo()
    old = timezone.now() - timedelta(minutes=30)
    dead = validator.commit(repo, inline={"a.txt": b"a"})
    ValidationRun.objects.filter(pk=dead.pk).update(status="running", heartbeat_at=old, started_at=old)
    never_started = validator.commit(repo, inline={"b.txt": b"b"})
    ValidationRun.objects.filter(pk=never_started.pk).update(created_at=old)
    busy = validator.commit(repo, inline={"c.txt": b"c"})
    ValidationRun.objects.filter(pk=busy.pk).update(status="running", heartbeat_at=timezone.now())
    just_queued = validator.commit(repo, inline={"d.txt": b"d"})
    done = validator.commit_and_run(repo, inline={"e.txt": b"e"})
    ValidationRun.objects.filter(pk=done.pk).update(created_at=old, heartbeat_at=old)
    validator.queued.clear()

    with validator.capture(execute=True):
        requeued = validation_runs_requeue_stale()

    assert sorted(requeued) == sorted([dead.pk, never_started.pk])
    assert sorted(validator.queued) == sorted(requeued)
    assert ValidationRun.objects.get(pk=dead.pk).status == "pending"
    assert validation_runs_requeue_stale() == []  # heartbeat moved: not re-sent every sweep
    # a busy run is not taken over; the dead one is resumed
    assert validation_run_execute(run_id=busy.pk).status == "running"
    assert validation_run_execute(run_id=dead.pk).status == "warning"  # no README: finished
    assert just_queued.pk not in requeued


def test_requeue_task_queues_stale_runs(validator, make_repo, settings):
    settings.VALIDATION_STALE_MINUTES = 1
    run = validator.commit(make_repo(), inline={"a.txt": b"a"})
    ValidationRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    validator.queued.clear()
    with validator.capture(execute=True):
        assert tasks.requeue_stale_validation() == 1
    assert validator.queued == [run.pk]


def test_a_run_that_keeps_failing_gives_up(validator, make_repo):
    from registry.services.validation import MAX_ATTEMPTS

    run = validator.commit(make_repo(), inline={"a.txt": b"a"})
    ValidationRun.objects.filter(pk=run.pk).update(attempts=MAX_ATTEMPTS, error="StorageError: down")
    run = validator.run(run)
    assert run.status == "failed" and "gave up" in run.error
    assert files_of(run)["a.txt"].status == "failed"


def test_rerun_drops_cached_verdicts_and_reads_again(validator, make_repo, personas, monkeypatch):
    repo = make_repo()
    run = validator.commit_and_run(repo, **good_model())
    with validator.capture(execute=True):
        again = validation_run_rerun(actor=personas.member, repo=repo, commit=run.commit)
    assert again.status == "pending" and validator.queued[-1] == run.pk
    assert set(ContentVerdict.objects.values_list("stale", flat=True)) == {True}
    spy = ReadSpy(monkeypatch)
    run = validator.run(run)
    assert run.status == "passed" and len(spy.keys) >= 1
    assert not any(f.summary.get("reused") for f in files_of(run).values())
    assert set(ContentVerdict.objects.values_list("stale", flat=True)) == {False}
    assert AuditEvent.objects.filter(action="validation.rerun", actor=personas.member).exists()


# --- Django admin ---------------------------------------------------------------------------------


def test_admin_lists_runs_with_their_files_and_reruns_them(validator, make_repo, admin_client,
                                                           django_assert_max_num_queries):
    for name in ("a", "b", "c"):
        run = validator.commit_and_run(make_repo(name), **good_model())
    with django_assert_max_num_queries(12):
        page = admin_client.get("/admin/registry/validationrun/")
    assert page.status_code == 200 and b"100% of" in page.content
    detail = admin_client.get(f"/admin/registry/validationrun/{run.pk}/change/")
    assert detail.status_code == 200 and b"model.safetensors" in detail.content
    with validator.capture(execute=True):
        response = admin_client.post("/admin/registry/validationrun/",
                                     {"action": "rerun", "_selected_action": [run.pk]})
    assert response.status_code == 302
    assert ValidationRun.objects.get(pk=run.pk).status == "pending" and validator.queued[-1] == run.pk
    assert admin_client.get("/admin/registry/contentverdict/").status_code == 200
