"""Migration 0008: every (repo, blob) pair a commit already references gets its RepoBlob row, so nothing that
worked before the authority rule breaks (no download, no commit reusing those blobs in the same repo)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("registry", "0007_repo_blob_authority")]
AFTER = [("registry", "0008_backfill_repo_blobs")]


def test_backfill_grants_each_repo_the_blobs_its_commits_reference():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    user_model = apps.get_model("auth", "User")
    repo_model = apps.get_model("registry", "ModelRepo")
    blob_model = apps.get_model("registry", "Blob")
    commit_model = apps.get_model("registry", "Commit")
    file_model = apps.get_model("registry", "CommitFile")
    user = user_model.objects.create(username="u")
    repos = [repo_model.objects.create(namespace="u", name=name, owner_user=user) for name in ("a", "b", "c")]
    blobs = [blob_model.objects.create(sha256=f"{n}" * 64, size=1, storage_key=f"k{n}") for n in range(3)]
    # a: blobs 0 and 1 over two commits (blob 0 in both); b: blob 1; c: inline files only; blob 2: never committed
    layout = {repos[0]: [[0], [0, 1]], repos[1]: [[1]], repos[2]: [[]]}
    n = 0
    for repo, commits in layout.items():
        for held in commits:
            n += 1
            commit = commit_model.objects.create(oid=f"{n:040x}", repo=repo, author_name="u", title="t")
            file_model.objects.create(commit=commit, path="README.md", content=b"hi", size=2, git_oid="0" * 40)
            for i in held:
                file_model.objects.create(commit=commit, path=f"{i}.bin", blob=blobs[i], size=1, git_oid="1" * 40)

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps
    rows = apps.get_model("registry", "RepoBlob").objects.values_list("repo__name", "blob__sha256", "source")
    assert sorted(rows) == [("a", "0" * 64, "backfill"), ("a", "1" * 64, "backfill"), ("b", "1" * 64, "backfill")]

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # back to the latest state for the next tests
