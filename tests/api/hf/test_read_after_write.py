"""Read-after-write with the stock client: once `upload_file` returns, every reader gets the file — at once, or after
a 503 with Retry-After that the client retries — never a 403 or 404 for a committed file (DESIGN: Invariants)."""

from __future__ import annotations

import threading
import time

import pytest
from huggingface_hub import HfApi

from registry import tasks
from registry.models import Blob, Job
from tests.api.hf.test_xet_client import Client, MiB, head_blob, sha256_of, write_random
from tests.fixtures.personas import make_key

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def hf(monkeypatch, tmp_path, live_server) -> Client:
    return Client(monkeypatch, tmp_path, live_server.url)


@pytest.fixture
def no_worker(monkeypatch):
    """No materialisation worker at all: the messages are captured and never run (unless a test runs them)."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.materialise_xet_blob, "apply_async", lambda args, **kw: sent.append(args[0]))
    return sent


def test_a_small_xet_upload_downloads_whole_the_moment_upload_returns(hf, no_worker, make_repo, personas,
                                                                      blob_store, tmp_path):
    repo = make_repo()
    key = make_key(personas.member)
    source = tmp_path / "weights.bin"
    write_random(source, 2 * MiB)  # binary and above the inline limit: uploaded over Xet
    HfApi(endpoint=hf.url, token=key).upload_file(path_or_fileobj=str(source), path_in_repo="weights.bin",
                                                  repo_id=repo.repo_id)
    blob = head_blob(repo, "weights.bin")
    assert blob.xet_hash and blob.state == Blob.State.VERIFIED  # written and checked during the commit request
    whole = hf.download(repo.repo_id, "weights.bin", key, xet=False, name="whole")  # no worker ever ran
    assert sha256_of(whole) == sha256_of(source)


@pytest.mark.parametrize("xet", [True, False], ids=["xet-client", "whole-file-client"])
def test_a_large_xet_upload_downloads_as_soon_as_the_worker_has_it(xet,
        hf, no_worker, make_repo, personas, blob_store, tmp_path, settings):
    settings.SYNC_VERIFY_MAX_SIZE = 1 * MiB  # "large": left to the worker
    repo = make_repo()
    key = make_key(personas.member)
    source = tmp_path / "big.bin"
    write_random(source, 3 * MiB)
    HfApi(endpoint=hf.url, token=key).upload_file(path_or_fileobj=str(source), path_in_repo="big.bin",
                                                  repo_id=repo.repo_id)
    blob = head_blob(repo, "big.bin")
    assert blob.state == Blob.State.PENDING and no_worker == [blob.pk]
    assert Job.objects.get(task="registry.materialise_xet_blob", key=blob.pk).state == Job.State.QUEUED

    # The client gets 503 + Retry-After and retries; the worker gets to it two seconds later.
    def worker_later() -> None:
        time.sleep(2)
        tasks.materialise_xet_blob.apply(args=(blob.pk,))

    thread = threading.Thread(target=worker_later)
    thread.start()
    started = time.monotonic()
    whole = hf.download(repo.repo_id, "big.bin", key, xet=xet, name="reader")
    thread.join()
    assert sha256_of(whole) == sha256_of(source)
    assert time.monotonic() - started >= 1.5  # it did wait for the worker (retries), it did not fail
    assert Blob.objects.get(pk=blob.pk).state == Blob.State.VERIFIED
