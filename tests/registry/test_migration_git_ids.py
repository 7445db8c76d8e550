"""Migrations 0031–0032: commits made before commit ids were git ids get their git commit object and id, parents
before children, folders their git tree ids; the old id stays a repo alias that still resolves, and pull requests'
base, merge and commit-event ids follow."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from registry.git_objects import commit_header, object_id
from registry.hashing import git_blob_sha1
from registry.tree_index import folders_of

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("registry", "0030_attachments")]
AFTER = [("registry", "0032_backfill_git_commit_ids")]


def test_old_commits_get_git_ids_and_keep_their_old_ids_as_aliases(monkeypatch):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    user = apps.get_model("auth", "User").objects.create(username="u")
    repos = [apps.get_model("registry", "ModelRepo").objects.create(namespace="u", name=n, owner_user=user)
             for n in ("r", "s")]
    commit_model = apps.get_model("registry", "Commit")
    file_model = apps.get_model("registry", "CommitFile")
    when = datetime(2026, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
    trees = [["README.md"], ["README.md", "a/b.txt"], ["a/b.txt", "c/d/e.json"]]
    old: list[str] = []
    parent = None
    for n, paths in enumerate(trees):
        commit = commit_model.objects.create(oid=f"{n + 1:040x}", repo=repos[0], parent=parent, author_name="u",
                                             title=f"step {n}", message="why" if n == 1 else "", created_at=when)
        for path in paths:
            content = f"{path} at {n}".encode()
            file_model.objects.create(commit=commit, path=path, parent=path.rpartition("/")[0], content=content,
                                      size=len(content), git_oid=git_blob_sha1(content))
        old.append(commit.oid)
        parent = commit
    # The same change in another repo, same second: the same git object, and that's fine (ids are per repo).
    twin = commit_model.objects.create(oid=f"{99:040x}", repo=repos[1], author_name="u", title="step 0",
                                       created_at=when)
    file_model.objects.create(commit=twin, path="README.md", content=b"README.md at 0", size=14,
                              git_oid=git_blob_sha1(b"README.md at 0"))
    discussion = apps.get_model("registry", "Discussion").objects.create(
        repo=repos[0], num=1, is_pull_request=True, title="pr", status="merged", target_branch="main",
        base_oid=old[0], merge_commit_oid=old[2])
    apps.get_model("registry", "DiscussionEvent").objects.create(
        discussion=discussion, type="commit", data={"subject": "step 1", "oid": old[1]})

    backfill = importlib.import_module("registry.migrations.0032_backfill_git_commit_ids")
    monkeypatch.setattr(backfill, "COMMIT_BATCH", 2)  # several batches
    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps
    commits = apps.get_model("registry", "Commit").objects
    migrated = list(commits.filter(repo_id=repos[0].pk).order_by("pk"))
    parents: list[str] = []
    for commit, paths in zip(migrated, trees, strict=True):
        body = bytes(commit.raw)
        assert commit.oid == object_id("commit", body)
        files = [(p, git_blob_sha1(f"{p} at {trees.index(paths)}".encode()), 1) for p in paths]
        root = next(f.oid for f in folders_of(files) if f.path == "")
        assert commit_header(body) == (root, parents)
        assert f"author u <u@users.noreply.hub> {int(when.timestamp())} +0000".encode() in body
        dirs = dict(apps.get_model("registry", "CommitDir").objects.filter(commit=commit).values_list("path", "oid"))
        assert dirs == {f.path: f.oid for f in folders_of(files)}
        parents = [commit.oid]
    assert body.endswith(b"\n\nstep 2\n")
    assert b"\n\nstep 1\n\nwhy\n" in bytes(migrated[1].raw)
    aliases = apps.get_model("registry", "CommitAlias").objects
    assert {a.old_oid: a.commit_id for a in aliases.filter(repo_id=repos[0].pk)} == {
        o: c.pk for o, c in zip(old, migrated, strict=True)}
    twin = commits.get(repo_id=repos[1].pk)
    assert twin.oid == migrated[0].oid  # same files, author, second and message: one git object in two repos
    discussion = apps.get_model("registry", "Discussion").objects.get()
    assert (discussion.base_oid, discussion.merge_commit_oid) == (migrated[0].oid, migrated[2].oid)
    assert apps.get_model("registry", "DiscussionEvent").objects.get().data == {"subject": "step 1",
                                                                                "oid": migrated[1].oid}

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # back to the latest state for the next tests

    from registry.models import ModelRepo
    from registry.selectors.repos import revision_resolve

    repo = ModelRepo.objects.get(pk=repos[0].pk)
    assert revision_resolve(repo=repo, revision=old[1]).oid == migrated[1].oid  # a pinned old id still resolves
