"""Migrations 0012–0014: existing commits get their folder rows (CommitDir) and each nested file its `parent`, with
the folder ids the tree API gave before, in batches (0013); then the CommitFile page indexes (0014)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from registry.tree_index import directory_oid

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("registry", "0011_name_policy")]
AFTER = [("registry", "0014_commitfile_page_indexes")]


def test_backfill_writes_each_commits_folders_and_files_parents(monkeypatch):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    user = apps.get_model("auth", "User").objects.create(username="u")
    repo = apps.get_model("registry", "ModelRepo").objects.create(namespace="u", name="r", owner_user=user)
    commit_model = apps.get_model("registry", "Commit")
    file_model = apps.get_model("registry", "CommitFile")
    trees = {
        1: ["README.md", "a/b/c.txt", "a/d.txt", "a b/e", "z/y/x/w.bin"],
        2: ["README.md"],
        3: [],
    }
    for n, paths in trees.items():
        commit = commit_model.objects.create(oid=f"{n:040x}", repo=repo, author_name="u", title="t")
        for i, path in enumerate(paths):
            file_model.objects.create(commit=commit, path=path, content=b"x" * i, size=i, git_oid=f"{i:040x}")

    import importlib

    backfill = importlib.import_module("registry.migrations.0013_backfill_commit_dirs")
    monkeypatch.setattr(backfill, "FILE_ID_BATCH", 2)  # several batches of each kind
    monkeypatch.setattr(backfill, "COMMIT_BATCH", 2)
    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps
    files = apps.get_model("registry", "CommitFile").objects
    dirs = apps.get_model("registry", "CommitDir").objects
    assert dict(files.filter(commit__oid=f"{1:040x}").values_list("path", "parent")) == {
        "README.md": "", "a/b/c.txt": "a/b", "a/d.txt": "a", "a b/e": "a b", "z/y/x/w.bin": "z/y/x"}
    one = list(files.filter(commit__oid=f"{1:040x}").values_list("path", "git_oid"))
    rows = {d.path: (d.parent, d.oid, d.files, d.size) for d in dirs.filter(commit__oid=f"{1:040x}")}
    assert rows == {
        "": ("", directory_oid(one, ""), 5, 10), "a": ("", directory_oid(one, "a"), 2, 3),
        "a/b": ("a", directory_oid(one, "a/b"), 1, 1), "a b": ("", directory_oid(one, "a b"), 1, 3),
        "z": ("", directory_oid(one, "z"), 1, 4), "z/y": ("z", directory_oid(one, "z/y"), 1, 4),
        "z/y/x": ("z/y", directory_oid(one, "z/y/x"), 1, 4)}
    assert list(dirs.filter(commit__oid=f"{2:040x}").values_list("path", "files")) == [("", 1)]
    assert list(dirs.filter(commit__oid=f"{3:040x}").values_list("path", "files")) == [("", 0)]

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # back to the latest state for the next tests
