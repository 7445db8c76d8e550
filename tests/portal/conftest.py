"""Fixtures for the browser-page tests: a handful of repos covering open, gated and private."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
from django.utils import timezone

from registry.models import Blob, ModelRepo, RepoBlob
from registry.services.commits import AddBlob, AddInline, commit_create
from registry.services.refs import branch_create, tag_create
from registry.storage import blob_key

CARD = """---
license: apache-2.0
language:
- ko
- en
pipeline_tag: text-generation
tags:
- llama
- korean
---
# Tiny model

A tiny Korean and English model for tests.

| metric | value |
|---|---|
| ppl | 3.2 |
"""


def fake_blob(content: bytes) -> Blob:
    """A verified Blob row without bytes in a store: enough for pages that show metadata only."""
    sha = hashlib.sha256(content).hexdigest()
    now = timezone.now()
    blob, _ = Blob.objects.get_or_create(sha256=sha, defaults={
        "size": len(content), "storage_key": blob_key(sha), "state": Blob.State.VERIFIED,
        "uploaded_at": now, "verified_at": now,
    })
    return blob


def add_files(actor, repo: ModelRepo, *, card: str = CARD, weights: bytes = b"\x00weights" * 10,
              branch: str = "main") -> None:
    blob = fake_blob(weights)
    RepoBlob.objects.get_or_create(repo=repo, blob=blob, defaults={"source": RepoBlob.Source.UPLOAD})
    commit_create(actor=actor, repo=repo, title="Add model", branch=branch, operations=[
        AddInline("README.md", card.encode()),
        AddInline("config.json", b'{"model_type": "llama", "hidden_size": 64}\n'),
        AddInline("tokenizer/vocab.txt", "가\n나\nhello\n".encode()),
        AddBlob("model.safetensors", blob.sha256, blob.size),
    ])


@dataclass
class Seed:
    public: ModelRepo
    auto: ModelRepo
    manual: ModelRepo
    private: ModelRepo


@pytest.fixture
def seed(personas, make_repo) -> Seed:
    public = make_repo("tiny")
    add_files(personas.owner, public)
    public.refresh_from_db()
    auto = make_repo("gated-auto", gating="auto")
    add_files(personas.owner, auto, card=CARD.replace("Tiny model", "Gated auto model"), weights=b"auto" * 20)
    manual = make_repo("gated-manual", gating="manual")
    manual.gating_fields = [
        {"name": "company", "label": "Company", "type": "text", "required": True},
        {"name": "research", "label": "Research use only", "type": "checkbox", "required": False},
    ]
    manual.save(update_fields=["gating_fields"])
    add_files(personas.owner, manual, card="# Manual\n\nReviewed by hand.\n", weights=b"manual" * 20)
    private = make_repo("secret-model", private=True)
    add_files(personas.owner, private, card="# Secret\n\nOnly for acme.\n", weights=b"secret" * 20)
    branch_create(actor=personas.owner, repo=public, name="feature/x")
    tag_create(actor=personas.owner, repo=public, name="v1.0")
    for repo in (public, auto, manual, private):
        repo.refresh_from_db()
    return Seed(public, auto, manual, private)


@pytest.fixture
def as_user(client):
    def _login(user):
        if getattr(user, "is_authenticated", False):
            client.force_login(user)
        else:
            client.logout()
        return client

    return _login
