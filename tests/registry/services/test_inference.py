"""Quick inference checks: queued after a commit's validation passes, executed by the gpu-queue task.

Like the validation pipeline tests, on_commit callbacks are captured and run by hand and the task bodies are
called directly: the real ordering (queue after commit) without a broker. The model is the tiny fixture
(a 2-layer Llama, made offline), committed the way a client would: weights as blobs, the rest inline.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from registry import tasks
from registry.inference import smoke
from registry.models import AuditEvent, InferenceCheck
from registry.services.inference import inference_check_rerun
from tests.registry.services.test_validation_pipeline import good_model


def test_task_name_routes_to_the_gpu_queue(settings):
    from celery import current_app

    assert tasks.inference_run_check.name.startswith("registry.inference.")
    route = current_app.amqp.router.route({}, tasks.inference_run_check.name)
    assert route["queue"].name == "gpu"
    assert tasks.inference_run_check.acks_late is True


def test_passed_validation_queues_a_check_that_passes(inspector, make_repo, tiny_model):
    repo = make_repo()
    run = inspector.validate(repo, tiny_model.path)
    assert run.status in ("passed", "warning"), run.summary
    check = InferenceCheck.objects.get(commit=run.commit)
    assert check.status == "pending" and inspector.checks == [check.pk]

    check = inspector.execute(check)

    assert check.status == "passed", check.reason
    m = check.metrics
    assert m["logits_finite"] is True and m["tokenizer_roundtrip"] is True
    assert m["tokens_per_second"] > 0 and m["ttft_seconds"] > 0 and m["load_seconds"] > 0
    assert m["perplexity"] > 1 and m["peak_memory_bytes"] > 0
    assert set(check.samples) == set(smoke.PROMPTS.values())
    assert all(isinstance(text, str) for text in check.samples.values())
    assert check.device == "cpu" and set(check.library_versions) >= {"torch", "transformers"}
    assert check.worker_host and check.duration_seconds > 0
    assert check.started_at and check.finished_at
    # the snapshot folder is removed; the sha256-keyed objects stay cached
    cache = Path(cache_root())
    assert list((cache / "snapshots").iterdir()) == []
    assert any((cache / "objects").rglob("*"))
    # executing again changes nothing
    assert inspector.execute(check).finished_at == check.finished_at


def cache_root() -> str:
    from django.conf import settings

    return str(settings.INFERENCE_CACHE_DIR)


def test_failed_validation_queues_no_check(inspector, make_repo):
    from tests.registry.services.test_validation_pipeline import EVIL_PICKLE

    model = good_model()
    model["blobs"]["pytorch_model.bin"] = EVIL_PICKLE
    run = inspector.validate(make_repo(), **model)
    assert run.status == "failed"
    assert not InferenceCheck.objects.exists() and inspector.checks == []


def test_commit_without_weights_gets_no_check(inspector, make_repo):
    run = inspector.validate(make_repo(), inline={"README.md": b"# hi\n"})
    assert run.status in ("passed", "warning")
    assert not InferenceCheck.objects.exists()


def test_nan_weights_fail_with_a_reason(inspector, make_repo, model_copy):
    import torch
    from safetensors.torch import load_file, save_file

    weights = model_copy / "model.safetensors"
    state = load_file(weights)
    state["lm_head.weight"] = torch.full_like(state["lm_head.weight"], float("nan"))
    save_file(state, weights, metadata={"format": "pt"})

    check = inspector.execute(inspector.request(make_repo(), model_copy))

    assert check.status == "failed"
    assert "non-finite logits" in check.reason
    assert check.metrics["logits_finite"] is False


def test_tokenizer_larger_than_the_embedding_fails(inspector, make_repo, model_copy, tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_copy)
    tokenizer.add_tokens([f"<extra_{n}>" for n in range(40)])
    tokenizer.save_pretrained(model_copy)

    check = inspector.execute(inspector.request(make_repo(), model_copy))

    assert check.status == "failed"
    assert f"{tiny_model.vocab_size} rows" in check.reason
    assert check.metrics["tokenizer_roundtrip"] is False


def test_tokenizer_that_does_not_round_trip_fails(inspector, make_repo, model_copy):
    data = json.loads((model_copy / "tokenizer.json").read_text())
    data["normalizer"] = {"type": "Lowercase"}  # "The" comes back as "the"
    (model_copy / "tokenizer.json").write_text(json.dumps(data))

    check = inspector.execute(inspector.request(make_repo(), model_copy))

    assert check.status == "failed" and "round trip" in check.reason


def test_unknown_architecture_is_skipped(inspector, make_repo, model_copy):
    config = json.loads((model_copy / "config.json").read_text())
    config["model_type"] = "definitely-not-a-model"
    (model_copy / "config.json").write_text(json.dumps(config))

    check = inspector.execute(inspector.request(make_repo(), model_copy))

    assert check.status == "skipped"
    assert "unknown architecture 'definitely-not-a-model'" in check.reason


def test_missing_runtime_skips_instead_of_staying_pending(inspector, make_repo, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    check = inspector.execute(inspector.request(make_repo(), **good_model()))
    assert check.status == "skipped"
    # Said plainly, with what to do about it; not a Python import error.
    assert "have no inference runtime" in check.reason and "WITH_INFERENCE=1" in check.reason
    assert "No module named" not in check.reason
    assert check.finished_at is not None


def test_unexpected_errors_fail_the_check_and_the_worker_survives(inspector, make_repo, monkeypatch):
    from registry.services import inference as service

    def boom(model_dir: Any, **options: Any) -> dict[str, Any]:
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(smoke, "run_smoke", boom)
    monkeypatch.setattr(service, "materialise_commit", lambda *, commit: Path(cache_root()))
    check = inspector.execute(inspector.request(make_repo(), **good_model()))
    assert check.status == "failed" and "driver exploded" in check.reason


def test_tampered_bytes_in_the_store_are_refused(inspector, make_repo):
    import io

    from registry.models import Blob
    from registry.storage import get_store

    check = inspector.request(make_repo(), **good_model())
    blob = Blob.objects.get(commit_files__commit=check.commit, commit_files__path="model.safetensors")
    get_store().put_stream(blob.storage_key, io.BytesIO(b"not the weights"), size=15)
    check = inspector.execute(check)
    assert check.status == "failed" and "hash to" in check.reason
    assert not any(Path(cache_root(), "objects").rglob(blob.sha256))


def test_no_pickles_reach_the_cache(inspector, make_repo, settings):
    from tests.registry.services.test_validation_pipeline import EVIL_PICKLE

    model = good_model()
    model["blobs"]["pytorch_model.bin"] = EVIL_PICKLE
    check = inspector.request(make_repo(), **model)
    from registry.services.inference import materialise_commit

    snapshot = materialise_commit(commit=check.commit)
    names = {p.name for p in snapshot.rglob("*")}
    assert "model.safetensors" in names and "config.json" in names
    assert "pytorch_model.bin" not in names


def test_rerun_adds_a_new_check_and_is_audited(inspector, make_repo, personas):
    check = inspector.request(make_repo(), **good_model())
    InferenceCheck.objects.filter(pk=check.pk).update(status="failed")
    with inspector.capture(execute=True):
        again = inference_check_rerun(actor=personas.member, repo=check.repo, commit=check.commit)
    assert again.pk != check.pk and again.status == "pending" and inspector.checks[-1] == again.pk
    assert AuditEvent.objects.filter(action="inference.rerun", actor=personas.member).exists()
    with inspector.capture(execute=True):  # a pending check is reused, not duplicated
        assert inference_check_rerun(actor=personas.owner, repo=check.repo, commit=check.commit).pk == again.pk
