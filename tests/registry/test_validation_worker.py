"""End to end through a real Celery worker: a commit's run is queued on commit and a worker process checks it.

How the worker shares the test's data: the test uses pytest-django's transactional database (rows are really
committed) and hands the worker that very database — its name is read from the live connection, so this works
on PostgreSQL (pytest-django's `test_<name>` database, as in CI) and on SQLite, whose test database is a file
here (tests/settings.py), never the in-memory default a subprocess could not open. No second migrate runs, so
the worker sees exactly the schema the tests built. The broker is whatever the settings use: kombu's
filesystem transport under the test VAR_DIR by default, Redis when CELERY_BROKER_URL is set (CI). The blob
store is the test's local directory. The worker is started (and its queue purged) before the commit, and
terminated at the end.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from registry.models import ContentVerdict, ValidationRun
from registry.services.blobs import blob_ingest_stream
from registry.services.commits import AddBlob, AddInline, commit_create
from tests.fixtures.workers import celery_worker
from tests.registry.services.test_validation_pipeline import EVIL_PICKLE, README, safetensors_bytes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RUN_TIMEOUT = 120  # seconds; generous, CI machines are shared


@pytest.fixture
def worker(local_store, tmp_path) -> Iterator[Path]:  # noqa: ANN001
    with celery_worker("validation", tmp_path / "worker.log", name="validation-test") as log:
        yield log


def wait_for(run_id: int, log: Path) -> ValidationRun:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        run = ValidationRun.objects.get(pk=run_id)
        if run.is_finished:
            return run
        time.sleep(0.25)
    pytest.fail(f"run {run_id} did not finish in {RUN_TIMEOUT}s:\n{log.read_text(errors='replace')[-4000:]}")


def test_a_real_worker_validates_a_commit_queued_on_commit(worker, personas, make_repo):
    repo = make_repo("e2e")
    good = safetensors_bytes({"w": np.zeros((4, 4), np.float32)})
    ops = [AddInline("README.md", README)]
    for path, content in {"model.safetensors": good, "pytorch_model.bin": EVIL_PICKLE}.items():
        blob = blob_ingest_stream(stream=io.BytesIO(content), repo=repo)
        ops.append(AddBlob(path, blob.sha256, blob.size))
    # No outer transaction: the commit really commits and its on_commit hook really sends the task.
    commit = commit_create(actor=personas.owner, repo=repo, operations=ops, title="good and bad weights")
    run = ValidationRun.objects.get(commit=commit)

    run = wait_for(run.pk, worker)

    files = {f.path: f for f in run.files.all()}
    assert run.status == "failed", run.error
    assert files["model.safetensors"].status == "passed"
    assert files["pytorch_model.bin"].status == "failed"
    assert any("os.system" in c["message"] for c in files["pytorch_model.bin"].checks)
    assert ContentVerdict.objects.get(sha256=files["pytorch_model.bin"].sha256).status == "failed"
    assert ContentVerdict.objects.get(sha256=files["model.safetensors"].sha256).status == "passed"
    assert b"registry.validate_commit" in worker.read_bytes()
