"""Commit and folder ids are git's (issue 21): the stock `git` binary, given the same files, author, time and
message, computes the very ids the hub stores and reports — for random trees (names that sort around '/', '.', '-',
' ' and non-ASCII), LFS files (their pointer blobs), nested folders, deletions and a chain of commits."""

from __future__ import annotations

import hashlib
import io
import os
import random
import subprocess
from pathlib import Path

import pytest

from registry.git_objects import EMPTY_TREE, commit_header, object_id
from registry.hashing import lfs_pointer
from registry.models import Commit, CommitAlias, CommitDir
from registry.selectors.repos import revision_resolve
from registry.services.blobs import blob_ingest_stream
from registry.services.commits import AddBlob, AddInline, Delete, commit_create
from registry.tree_index import ancestors_of, folders_of

ALPHABET = ["a", "b", "-", ".", "0", "é", "한", "Z", "~", " "]


def git(cwd: Path, *args: str, env: dict[str, str] | None = None, input: bytes | None = None) -> str:
    base = {"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}
    result = subprocess.run(["git", *args], cwd=cwd, env={**base, **(env or {})}, input=input,
                            capture_output=True, timeout=60, check=True)
    return result.stdout.decode().strip()


def write_tree(tmp: Path, files: dict[str, bytes]) -> str:
    """git's own tree id of `files` (a fresh repo, every file added)."""
    repo = tmp / "work"
    git(tmp, "init", "-q", str(repo))
    for path, content in files.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    git(repo, "add", "-A")
    return git(repo, "write-tree")


def random_files(rng: random.Random) -> dict[str, bytes]:
    paths: set[str] = set()
    for _ in range(rng.randint(1, 40)):
        parts = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 3))).strip(" .") or "x"
                 for _ in range(rng.randint(1, 4))]  # no '.' or '..' component, as the hub's paths
        paths.add("/".join(parts))
    folders = {a for p in paths for a in ancestors_of(p)}
    return {p: os.urandom(rng.randint(0, 40)) for p in sorted(paths - folders)}


@pytest.mark.parametrize("seed", range(12))
def test_every_folder_id_is_the_tree_id_git_computes(seed, tmp_path):
    files = random_files(random.Random(seed))
    folders = {f.path: f.oid for f in folders_of(
        (p, object_id("blob", c), len(c)) for p, c in files.items())}
    root = write_tree(tmp_path, files)
    assert folders[""] == root
    for path, oid in folders.items():
        if path:
            assert oid == git(tmp_path / "work", "rev-parse", f"{root}:{path}"), path


def test_an_empty_tree_is_gits_empty_tree():
    assert [f.oid for f in folders_of([])] == [EMPTY_TREE]


@pytest.mark.django_db
def test_a_chain_of_hub_commits_has_the_ids_git_computes_from_the_same_objects(personas, make_repo, tmp_path):
    """Three commits (inline files, an LFS file, a nested folder, a deletion, a description): each `Commit.oid` is
    what `git commit-tree` gives for its tree, parent, author, time and message, and its tree is git's tree of the
    files as a clone would hold them (LFS files as pointers)."""
    repo = make_repo("git-ids")
    weights = os.urandom(3000)
    blob = blob_ingest_stream(stream=io.BytesIO(weights), repo=repo)
    steps = [
        ([AddInline("config.json", b'{"a": 1}\n'), AddInline("deep/er/notes.txt", b"hello\n"),
          AddBlob("model.safetensors", blob.sha256, blob.size)], "Add weights", ""),
        ([AddInline("deep/er/notes.txt", b"changed\n"), AddInline("deep/x-y", b"")], "Edit notes",
         "A longer description.\n\nTwo paragraphs."),
        ([Delete("config.json")], "Drop config", ""),
    ]
    expected: dict[str, bytes] = {}
    head = repo.branches.get(name="main").head
    for operations, title, message in steps:
        commit = commit_create(actor=personas.owner, repo=repo, operations=operations, title=title, message=message)
        for op in operations:
            if isinstance(op, AddInline):
                expected[op.path] = op.content
            elif isinstance(op, AddBlob):
                expected[op.path] = lfs_pointer(op.sha256, op.size)
            else:
                expected.pop(op.path)
        expected[".gitattributes"] = bytes(repo.commits.get(pk=head.pk).files.get(path=".gitattributes").content)
        (tmp_path / commit.oid).mkdir()
        tree = write_tree(tmp_path / commit.oid, expected)
        assert CommitDir.objects.get(commit=commit, path="").oid == tree
        assert commit_header(bytes(commit.raw)) == (tree, [head.oid])
        when = str(int(commit.created_at.timestamp()))
        env = {"GIT_AUTHOR_NAME": personas.owner.username, "GIT_COMMITTER_NAME": personas.owner.username,
               "GIT_AUTHOR_EMAIL": f"{personas.owner.username}@users.noreply.hub",
               "GIT_COMMITTER_EMAIL": f"{personas.owner.username}@users.noreply.hub",
               "GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000"}
        text = f"{title}\n\n{message}\n" if message else f"{title}\n"
        work = tmp_path / commit.oid / "work"
        # git checks its input: the parent's stored body must be a valid commit object, and hash to its id.
        assert git(work, "hash-object", "-t", "commit", "-w", "--stdin", input=bytes(head.raw)) == head.oid
        assert git(work, "commit-tree", tree, "-p", head.oid, "-F", "-",
                   env=env, input=text.encode()) == commit.oid
        head = commit


@pytest.mark.django_db
def test_the_same_change_twice_in_one_second_gives_two_commits(personas, make_repo):
    """Two PRs opened from one base with the same file in the same second would be one git object; the hub's
    commits stay two (the committer time moves on), each id unique in its repo and git-valid."""
    repo = make_repo("twice")
    made = [commit_create(actor=personas.owner, repo=repo, operations=[AddInline("a.txt", b"same")], title="Same",
                          branch=branch, create_branch=True) for branch in ("one", "two")]
    assert made[0].oid != made[1].oid
    assert [object_id("commit", bytes(c.raw)) for c in made] == [c.oid for c in made]


@pytest.mark.django_db
def test_an_old_commit_id_still_resolves_through_its_alias(personas, make_repo):
    repo = make_repo("pinned")
    head = repo.branches.get(name="main").head
    old = hashlib.sha1(b"an id from before").hexdigest()
    CommitAlias.objects.create(repo=repo, old_oid=old, commit=head)
    assert revision_resolve(repo=repo, revision=old) == head
    other = make_repo("other")
    with pytest.raises(Exception, match="Invalid rev id"):
        revision_resolve(repo=other, revision=old)  # an alias belongs to its repo
    assert Commit.objects.filter(repo=repo, oid=old).count() == 0
