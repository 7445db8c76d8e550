"""A commit of 5,000 files in one request: the NDJSON body read line by line, the rows written in bulk, the queries
growing with bulk batches rather than with files — through the stock client, and with LFS references."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection
from django.utils import timezone
from huggingface_hub import CommitOperationAdd

from registry.models import Blob, CommitDir, CommitFile, RepoBlob
from registry.services import uploads
from registry.storage import blob_key
from tests.fixtures.personas import make_key

pytestmark = pytest.mark.django_db

# Bulk statements: 142 rows on SQLite (its 999-parameter limit), 1,000 on PostgreSQL; a few kinds of rows.
BATCH = 142 if connection.vendor == "sqlite" else 1000


@contextmanager
def commit_queries(monkeypatch) -> Iterator[list[int]]:  # noqa: ANN001
    """Queries of each commit the HF route makes (in whichever thread serves it), validation's follow-up included."""
    counts: list[int] = []
    original = uploads.commit_from_upload

    def counted(**kwargs):  # noqa: ANN003, ANN202
        seen = [0]

        def count(execute, sql, params, many, context):  # noqa: ANN001, ANN202
            seen[0] += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            result = original(**kwargs)
        counts.append(seen[0])
        return result

    monkeypatch.setattr(uploads, "commit_from_upload", counted)
    yield counts


@pytest.mark.live
def test_the_stock_client_commits_5000_files_in_one_request(hub, make_repo, client_env, monkeypatch):  # noqa: ANN001
    """Guard (today's hub accepts it too, more slowly): 5,000 small files in one create_commit, written in bulk."""
    make_repo("big")
    api = hub.api("owner")
    with commit_queries(monkeypatch) as counts:
        for n in (50, 5000):
            operations = [CommitOperationAdd(f"n{n}/d{i % 50:02d}/f{i:05d}.txt", f"file {i}\n".encode())
                          for i in range(n)]
            info = api.create_commit("acme/big", operations=operations, commit_message=f"{n} files")
    small, large = counts
    assert large - small <= 3 * 5000 // BATCH + 5, counts  # files, validation's file checks, their contents
    files = api.list_repo_files("acme/big", revision=info.oid)
    assert len(files) == 5050 + 1 and f"n5000/d07/f{4957:05d}.txt" in files
    head = CommitFile.objects.get(commit__oid=info.oid, path="n5000/d07/f04957.txt")
    assert head.parent == "n5000/d07" and bytes(head.content) == b"file 4957\n"
    assert CommitDir.objects.get(commit__oid=info.oid, path="n5000").files == 5000


def test_a_commit_of_5000_lfs_references_and_inline_files_is_written_in_bulk(client, personas, make_repo,
                                                                               monkeypatch):
    """Guard: LFS references are checked in one batch of queries whatever their number."""
    repo = make_repo("big")
    now = timezone.now()
    blobs = Blob.objects.bulk_create(
        Blob(sha256=hashlib.sha256(b"%d" % i).hexdigest(), size=len(b"%d" % i), storage_key=blob_key(
            hashlib.sha256(b"%d" % i).hexdigest()), state=Blob.State.VERIFIED, uploaded_at=now, verified_at=now)
        for i in range(2500))
    RepoBlob.objects.bulk_create(RepoBlob(repo=repo, blob=b, source=RepoBlob.Source.UPLOAD) for b in blobs)
    token = make_key(personas.owner)

    def body(n: int) -> bytes:
        lines = [{"key": "header", "value": {"summary": f"{n} files"}}]
        for i in range(n // 2):
            lines.append({"key": "file", "value": {"path": f"n{n}/t/{i}.txt", "encoding": "base64",
                                                   "content": "aGk="}})
            lines.append({"key": "lfsFile", "value": {"path": f"n{n}/w/{i}.bin", "algo": "sha256",
                                                      "oid": blobs[i].sha256, "size": blobs[i].size}})
        return "\n".join(json.dumps(line) for line in lines).encode()

    with commit_queries(monkeypatch) as counts:
        for n in (50, 5000):
            response = client.post("/api/models/acme/big/commit/main", body(n), content_type="application/x-ndjson",
                                   HTTP_AUTHORIZATION=f"Bearer {token}")
            assert response.status_code == 200, response.content
    small, large = counts
    assert large - small <= 3 * 5000 // BATCH + 5, counts
    oid = response.json()["commitOid"]
    assert CommitFile.objects.filter(commit__oid=oid, path__startswith="n5000/w/", blob__isnull=False).count() == 2500
