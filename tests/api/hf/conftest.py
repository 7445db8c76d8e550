"""Fixtures for the HF-compatible API: the real huggingface_hub client against pytest-django's live server.

`hub` bundles the live endpoint, the personas, an API key per signed-in persona and helpers to seed
repos with inline files and with blobs in the configured store (`blob_store` switches local / S3).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import HfApi, constants, lfs

from registry.models import ModelRepo
from registry.services.blobs import blob_ingest_stream
from registry.services.commits import AddBlob, AddInline, commit_create
from tests.fixtures.personas import Personas, make_key


@dataclass
class Hub:
    url: str
    p: Personas
    cache: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, persona: str) -> str | bool:
        """The persona's API key; False (send none) for anonymous."""
        return self.tokens.get(persona, False)

    def api(self, persona: str = "owner") -> HfApi:
        return HfApi(endpoint=self.url, token=self.token(persona))

    def seed(self, repo: ModelRepo, *, inline: dict[str, bytes] | None = None,
             blobs: dict[str, bytes] | None = None, branch: str = "main", title: str = "seed") -> Any:
        """Commit inline files and blob-store files (ingested into the configured store) on `branch`."""
        operations: list[Any] = [AddInline(path, content) for path, content in (inline or {}).items()]
        for path, content in (blobs or {}).items():
            blob = blob_ingest_stream(stream=io.BytesIO(content), repo=repo)
            operations.append(AddBlob(path, blob.sha256, blob.size))
        return commit_create(actor=self.p.owner, repo=repo, operations=operations, title=title, branch=branch)


@pytest.fixture
def hub(live_server, personas, tmp_path, monkeypatch) -> Hub:  # noqa: ANN001
    # huggingface_hub reads its environment at import time: patch the constant (no agent-harnesses call).
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    tokens = {name: make_key(getattr(personas, name)) for name in ("owner", "member", "reader", "outsider")}
    return Hub(url=live_server.url, p=personas, cache=tmp_path / "hf-cache", tokens=tokens)


@pytest.fixture
def worker(monkeypatch):  # noqa: ANN001, ANN201
    """The Xet materialisation queue, captured: `run()` works through it as a Celery worker would, returning the
    blob states (like verify_blob's tests, which capture `apply_async`)."""
    from registry import tasks
    from registry.services import xet_hub

    class Worker:
        def __init__(self) -> None:
            self.queued: list[int] = []

        def run(self) -> list[str]:
            states = []
            while self.queued:
                states.append(tasks.materialise_xet_blob.apply(args=(self.queued.pop(0),)).get())
            return states

    w = Worker()
    monkeypatch.setattr(tasks.materialise_xet_blob, "apply_async", lambda args, **kw: w.queued.append(args[0]))
    # Every file goes to the worker, as files above SYNC_VERIFY_MAX_SIZE do (small ones are otherwise
    # materialised during the commit request: test_read_after_write.py).
    monkeypatch.setattr(xet_hub, "xet_materialise_small", lambda blob_ids: list(blob_ids))
    return w


# --- the stock client, as a user runs it (test_upload.py, test_blob_authority.py) ---------------------------


@pytest.fixture
def client_env(monkeypatch, tmp_path):
    """The stock client, isolated: no telemetry, no cached token, its own cache dir."""
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(constants, "HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))


@pytest.fixture
def stock_xet(monkeypatch, client_env):
    """The client as installed: hf_xet present and not disabled (whatever the test environment says), with a
    fresh hf_xet session whose shard cache lives in this test's HF_HOME (hf_xet reads the environment)."""
    from huggingface_hub.utils import _xet

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    monkeypatch.setenv("HF_HOME", constants.HF_HOME)
    monkeypatch.delenv("HF_XET_CACHE", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(_xet, "_GLOBAL_XET_HOLDER", _xet.XetSessionHolder())


@pytest.fixture
def no_xet(monkeypatch, client_env):
    """HF_HUB_DISABLE_XET=1 as a user would set it (read into constants at import time)."""
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)


@pytest.fixture
def transfers(monkeypatch):
    """Counts the client's LFS transfers (basic PUTs and multipart uploads)."""
    seen = {"basic": 0, "multipart": 0}
    single, multi = lfs._upload_single_part, lfs._upload_multi_part

    def count_single(**kwargs):
        seen["basic"] += 1
        return single(**kwargs)

    def count_multi(**kwargs):
        seen["multipart"] += 1
        return multi(**kwargs)

    monkeypatch.setattr(lfs, "_upload_single_part", count_single)
    monkeypatch.setattr(lfs, "_upload_multi_part", count_multi)
    return seen
