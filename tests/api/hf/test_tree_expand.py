"""`list_repo_tree(expand=True)` and `get_paths_info(expand=True)` with the stock client: each entry's last commit
(for a folder, the newest change below it) and each file's validation status."""

from __future__ import annotations

import hashlib

import pytest

from registry.hashing import git_blob_sha1
from registry.models import ContentVerdict
from registry.services.commits import Delete, commit_create

pytestmark = pytest.mark.live


@pytest.fixture
def history(hub, make_repo):  # noqa: ANN001, ANN201
    repo = make_repo("tiny")
    first = hub.seed(repo, inline={"config.json": b"{}", "sub/a.txt": b"a", "sub/deep/b.txt": b"b"},
                     blobs={"model.safetensors": b"\x00weights" * 100}, title="first")
    second = hub.seed(repo, inline={"sub/deep/b.txt": b"b, edited"}, title="second")
    third = hub.seed(repo, inline={"README.md": b"# tiny\n"}, title="third")
    return repo, first, second, third


def test_tree_expand_gives_each_entry_its_last_commit(hub, history):  # noqa: ANN001
    repo, first, second, third = history
    api = hub.api("reader")
    entries = {e.path: e for e in api.list_repo_tree("acme/tiny", expand=True)}
    assert {p: e.last_commit.oid for p, e in entries.items()} == {
        ".gitattributes": first.parent.oid,  # the repo's initial commit
        "README.md": third.oid, "config.json": first.oid, "model.safetensors": first.oid, "sub": second.oid}
    assert entries["sub"].last_commit.title == "second"
    assert entries["README.md"].last_commit.date is not None
    deep = {e.path: e.last_commit.oid for e in api.list_repo_tree("acme/tiny", recursive=True, expand=True)}
    assert deep["sub/a.txt"] == first.oid and deep["sub/deep/b.txt"] == second.oid and deep["sub/deep"] == second.oid
    # At an older revision the answer is as of that revision.
    old = {e.path: e.last_commit.oid for e in api.list_repo_tree("acme/tiny", revision=first.oid, expand=True)}
    assert old["sub"] == first.oid and "README.md" not in old
    # A deletion below a folder is a change of the folder.
    fourth = commit_create(actor=hub.p.owner, repo=repo, operations=[Delete("sub/a.txt")], title="drop a")
    assert {e.path: e.last_commit.oid for e in api.list_repo_tree("acme/tiny", expand=True)}["sub"] == fourth.oid
    # Without expand the client gets no last commit (the cheap listing).
    assert all(e.last_commit is None for e in api.list_repo_tree("acme/tiny"))


def test_expand_reports_validation_status(hub, history):  # noqa: ANN001
    ContentVerdict.objects.create(sha256=hashlib.sha256(b"{}").hexdigest(), git_oid=git_blob_sha1(b"{}"), size=2,
                                  status="failed", reason="not a config")
    weights = hashlib.sha256(b"\x00weights" * 100).hexdigest()
    ContentVerdict.objects.create(sha256=weights, size=800, status="passed")
    api = hub.api("reader")
    security = {e.path: e.security for e in api.list_repo_tree("acme/tiny", expand=True) if hasattr(e, "security")}
    assert security["config.json"]["status"] == "unsafe" and not security["config.json"]["safe"]
    assert security["model.safetensors"]["status"] == "safe"
    assert security["README.md"]["status"] == "unscanned"
    info = {e.path: e for e in api.get_paths_info("acme/tiny", ["config.json", "sub"], expand=True)}
    assert info["config.json"].security["status"] == "unsafe"
    assert info["sub"].last_commit.title == "second"
