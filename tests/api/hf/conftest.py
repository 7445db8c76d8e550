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
from huggingface_hub import HfApi, constants

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
            blob = blob_ingest_stream(stream=io.BytesIO(content))
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
    blob states (like verify_blob's tests, which capture `delay`)."""
    from registry import tasks

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
    return w
