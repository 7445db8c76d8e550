"""End to end through real Celery workers: upload the tiny model → validation on the `validation` queue →
its inference check routed to the `gpu` queue → a worker consuming `gpu` runs it on CPU and stores metrics.

Shares the database, broker and blob store with the worker processes the way test_validation_worker does
(see its docstring): transactional test database handed over by name, the settings' broker (filesystem
transport under the test VAR_DIR, or Redis from CELERY_BROKER_URL in CI), the test's local blob store. The
validation-only worker is started first and alone, so the test can show it never takes the check.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from registry.models import InferenceCheck, ValidationRun
from registry.services.blobs import blob_ingest_stream
from registry.services.commits import AddBlob, AddInline, commit_create
from tests.fixtures.workers import celery_worker as shared_worker
from tests.fixtures.workers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHECK_TIMEOUT = 180  # seconds: importing torch in a fresh worker takes a while on a shared machine
ROUTING_WINDOW = 4  # seconds the check must stay pending while only the validation worker runs


@contextmanager
def celery_worker(queue: str, log: Path, cache: Path, *, purge: bool) -> Iterator[Path]:
    with shared_worker(queue, log, name=f"{queue}-inference-test", purge=purge,
                       env={"INFERENCE_CACHE_DIR": str(cache)}) as started:
        yield started


def test_upload_validate_and_check_on_the_gpu_queue(personas, make_repo, local_store, tiny_model, tmp_path):
    repo = make_repo("e2e-inference")
    ops = []
    for path in sorted(p for p in tiny_model.path.rglob("*") if p.is_file()):
        rel = path.relative_to(tiny_model.path).as_posix()
        if rel.endswith(".safetensors"):
            with path.open("rb") as stream:
                blob = blob_ingest_stream(stream=stream, repo=repo)
            ops.append(AddBlob(rel, blob.sha256, blob.size))
        else:
            ops.append(AddInline(rel, path.read_bytes()))
    ops.append(AddInline("README.md", b"---\nlicense: apache-2.0\n---\n# Tiny\n"))
    cache = tmp_path / "inference-cache"
    validation_log, gpu_log = tmp_path / "validation-worker.log", tmp_path / "gpu-worker.log"

    with celery_worker("validation", validation_log, cache, purge=True):
        # No outer transaction: the commit really commits, its on_commit hook really sends validation.
        commit = commit_create(actor=personas.owner, repo=repo, operations=ops, title="tiny llama")
        run = wait_until(lambda: ValidationRun.objects.filter(commit=commit).exclude(
            status__in=["pending", "running"]).first(), CHECK_TIMEOUT, "validation", validation_log)
        assert run.status in ("passed", "warning"), run.error
        check = wait_until(lambda: InferenceCheck.objects.filter(commit=commit).first(), 30,
                           "queueing the inference check", validation_log)

        time.sleep(ROUTING_WINDOW)  # the validation worker is idle and polling: it must not take the check
        check.refresh_from_db()
        assert check.status == "pending" and check.attempts == 0
        assert b"Task registry.inference.run_check[" not in validation_log.read_bytes()

        with celery_worker("gpu", gpu_log, cache, purge=False):
            check = wait_until(lambda: InferenceCheck.objects.filter(pk=check.pk, status__in=[
                "passed", "failed", "skipped"]).first(), CHECK_TIMEOUT, "the inference check", gpu_log,
                validation_log)

    assert check.status == "passed", check.reason
    m = check.metrics
    assert m["tokens_per_second"] > 0 and m["ttft_seconds"] > 0 and m["load_seconds"] > 0
    assert m["logits_finite"] is True and m["tokenizer_roundtrip"] is True and m["perplexity"] > 1
    assert check.device == "cpu" and check.attempts == 1 and check.samples
    assert b"Task registry.inference.run_check[" in gpu_log.read_bytes()
    assert b"Task registry.validate_commit[" not in gpu_log.read_bytes()
    assert b"Task registry.inference.run_check[" not in validation_log.read_bytes()
    assert InferenceCheck.objects.filter(commit=commit).count() == 1
    assert any(cache.joinpath("objects").rglob("*"))  # the worker's cache is where the setting says
