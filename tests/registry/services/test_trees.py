"""Folder rows (CommitDir): written with every commit in its transaction, in bulk; rebuilt for files inserted some
other way (commit_dirs_rebuild); a commit's queries grow with bulk batches, not with its files."""

from __future__ import annotations

import pytest
from django.db import connection

from registry.models import Commit, CommitDir, CommitFile
from registry.services.commits import AddInline, Delete, commit_create
from registry.services.trees import commit_dirs_rebuild
from registry.tree_index import directory_oid, parent_of
from tests.trees_support import seed_files, wide_tree

pytestmark = pytest.mark.django_db


def folder_rows(commit: Commit) -> dict[str, tuple[str, str, int, int]]:
    return {d.path: (d.parent, d.oid, d.files, d.size) for d in CommitDir.objects.filter(commit=commit)}


def expected_rows(commit: Commit) -> dict[str, tuple[str, str, int, int]]:
    files = list(CommitFile.objects.filter(commit=commit).values_list("path", "git_oid", "size"))
    folders = {""} | {p.rsplit("/", 1)[0] for p, _o, _s in files if "/" in p}
    folders |= {f.rsplit("/", n)[0] for f in list(folders) for n in range(1, f.count("/") + 1)}
    result = {}
    for folder in folders:
        below = [(p, o, s) for p, o, s in files if not folder or p.startswith(folder + "/")]
        result[folder] = (parent_of(folder), directory_oid([(p, o) for p, o, _s in below], folder), len(below),
                          sum(s for _p, _o, s in below))
    return result


def test_a_commit_writes_its_folders_and_each_file_its_folder(personas, make_repo):
    repo = make_repo("tiny")
    first = seed_files(personas.owner, repo, wide_tree(120, 4))
    assert folder_rows(first) == expected_rows(first)
    assert len(folder_rows(first)) == 1 + 4 + 12
    assert all(parent == parent_of(path) for path, parent in CommitFile.objects.values_list("path", "parent"))
    second = commit_create(actor=personas.owner, repo=repo, title="drop one",
                           operations=[Delete("d002/s1/f000006.txt"), AddInline("new/deep/file.txt", b"n")])
    rows = folder_rows(second)
    assert rows == expected_rows(second)
    assert rows["d001"] == folder_rows(first)["d001"] and rows["d002"] != folder_rows(first)["d002"]
    assert folder_rows(first) == expected_rows(first)  # a commit's rows never change


def test_rebuild_restores_the_folders_of_bulk_inserted_files(personas, make_repo):
    commit = seed_files(personas.owner, make_repo("tiny"), wide_tree(60, 3))
    good = folder_rows(commit)
    CommitDir.objects.filter(commit=commit).delete()
    CommitFile.objects.filter(commit=commit).update(parent="")  # as a bulk insert that knows nothing of folders
    CommitFile.objects.bulk_create([CommitFile(commit=commit, path="extra/one.txt", content=b"1", size=1,
                                               git_oid="1" * 40)])
    assert commit_dirs_rebuild(commit=commit) == len(good) + 1
    assert folder_rows(commit) == expected_rows(commit) and set(folder_rows(commit)) == {*good, "extra"}
    assert commit_dirs_rebuild(commit=commit) == len(good) + 1  # idempotent
    assert dict(CommitFile.objects.filter(path__startswith="extra").values_list("path", "parent")) == {
        "extra/one.txt": "extra"}


def test_a_commit_of_5000_files_writes_in_bulk(personas, make_repo, django_assert_max_num_queries):
    """Guard: queries grow with bulk batches (1,000 rows on PostgreSQL; SQLite's 999-parameter limit: 142 rows),
    never with files: a 5,000-file commit stays within a fixed budget."""
    repo = make_repo("tiny")
    counts = []
    for n in (50, 5000):
        with django_assert_max_num_queries(100) as queries:
            seed_files(personas.owner, repo, {f"n{n}/d{i % 40}/f{i}.txt": b"%d" % i for i in range(n)})
        counts.append(len(queries.captured_queries))
    batch = 142 if connection.vendor == "sqlite" else 1000
    assert counts[1] - counts[0] <= 2 * (5000 + 50) // batch + 2, counts


def size(value: object) -> int:
    """Bytes of the strings and binaries in a statement's parameters (PostgreSQL's bulk inserts send arrays)."""
    if isinstance(value, bytes | str | memoryview):
        return len(value)
    if isinstance(value, list | tuple):
        return sum(size(v) for v in value)
    return 0


def test_a_small_commit_to_a_large_repo_sends_only_its_changes(personas, make_repo):
    """The kept files' rows are copied inside the database: queries and bytes sent don't grow with the repo."""
    costs = []
    for name, count in (("small", 200), ("large", 2000)):
        repo = make_repo(name)
        seed_files(personas.owner, repo, {f"d{i % 20}/f{i}.bin": bytes([i % 256]) * 1024 for i in range(count)})
        sent = {"queries": 0, "bytes": 0}

        def measure(execute, sql, params, many, context):  # noqa: ANN001, ANN202
            sent["queries"] += 1
            sent["bytes"] += size(params)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(measure):
            commit = commit_create(actor=personas.owner, repo=repo, title="one more",
                                   operations=[AddInline("d3/new.txt", b"new"), Delete("d4/f4.bin")])
        costs.append(sent)
        files = dict(CommitFile.objects.filter(commit=commit).values_list("path", "content"))
        assert len(files) == count + 1 and bytes(files["d5/f5.bin"]) == b"\x05" * 1024 and "d4/f4.bin" not in files
        assert folder_rows(commit) == expected_rows(commit)
    assert costs[0]["queries"] == costs[1]["queries"], costs
    assert costs[1]["bytes"] < 64 * 1024, costs  # the changes and the folder rows, not 2 MB of kept contents
