"""`git clone` and `git fetch` over smart HTTP (upload-pack), protocol v0 and v2, with the real git binary."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.git import upload_pack
from registry.models import Branch, Commit, CommitDir, CommitFile, ModelRepo
from registry.selectors import git as git_selectors
from registry.services.licenses import license_accept

pytestmark = pytest.mark.django_db(transaction=True)

VERSIONS = ["0", "2"]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def _hub_files(commit: Commit) -> dict[str, bytes]:
    return {f.path: bytes(f.content) for f in CommitFile.objects.filter(commit=commit)}


def _head(repo: ModelRepo, branch: str = "main") -> Commit:
    return Branch.objects.get(repo=repo, name=branch).head


@pytest.fixture
def public(hub, make_repo):  # noqa: ANN001, ANN201
    repo = make_repo("tiny")
    hub.seed(repo, inline={"README.md": b"# tiny\n", "config.json": b'{"a": 1}\n',
                           "sub/dir/weights.txt": b"w" * 3000, "sub/a.txt": b"a\n", "sub-b.txt": b"b\n"},
             title="first")
    hub.seed(repo, inline={"sub/a.txt": b"changed\n", "z.txt": b"z\n"}, title="second")
    return repo


@pytest.fixture
def packed(monkeypatch):  # noqa: ANN001, ANN201
    """The object counts of the packs the server sends."""
    counts: list[int] = []
    plan = git_selectors.fetch_plan

    def counting(**kwargs):  # noqa: ANN003, ANN202
        found = plan(**kwargs)
        counts.append(found.count)
        return found

    monkeypatch.setattr(git_selectors, "fetch_plan", counting)
    return counts


@pytest.mark.parametrize("version", VERSIONS)
def test_clone_public_repo_matches_the_hub(hub, git, public, tmp_path, version):  # noqa: ANN001
    target = tmp_path / "clone"
    git.run("-c", f"protocol.version={version}", "clone", git.remote(public.repo_id), str(target))
    head = _head(public)
    assert _files(target) == _hub_files(head)
    log = git.run("log", "--format=%H", cwd=target).stdout.split()
    assert log == [c.commit_id for c in hub.api().list_repo_commits(public.repo_id)]
    assert log[0] == head.oid
    trees = git.run("ls-tree", "-r", "-d", "-t", "HEAD", cwd=target).stdout.splitlines()
    got = {line.split("\t")[1]: line.split()[2] for line in trees}
    got[""] = git.run("rev-parse", "HEAD^{tree}", cwd=target).stdout.strip()
    assert got == dict(CommitDir.objects.filter(commit=head).values_list("path", "oid"))
    git.run("fsck", "--strict", cwd=target)
    assert git.run("symbolic-ref", "HEAD", cwd=target).stdout.strip() == "refs/heads/main"


@pytest.mark.parametrize("version", VERSIONS)
def test_shallow_clone_then_unshallow(hub, git, public, tmp_path, version):  # noqa: ANN001
    target = tmp_path / "clone"
    git.run("-c", f"protocol.version={version}", "clone", "--depth", "1", git.remote(public.repo_id), str(target))
    head = _head(public)
    assert git.run("log", "--format=%H", cwd=target).stdout.split() == [head.oid]
    assert (target / ".git" / "shallow").read_text().split() == [head.oid]
    assert _files(target) == _hub_files(head)
    git.run("-c", f"protocol.version={version}", "fetch", "--unshallow", cwd=target)
    history = [c.commit_id for c in hub.api().list_repo_commits(public.repo_id)]
    assert git.run("log", "--format=%H", cwd=target).stdout.split() == history
    assert not (target / ".git" / "shallow").exists()
    git.run("fsck", "--strict", cwd=target)


@pytest.mark.parametrize("version", VERSIONS)
def test_fetch_after_a_new_commit_sends_only_new_objects(hub, git, public, tmp_path, packed, version):  # noqa: ANN001
    target = tmp_path / "clone"
    git.run("-c", f"protocol.version={version}", "clone", git.remote(public.repo_id), str(target))
    assert ModelRepo.objects.get(pk=public.pk).downloads == 1  # a clone counts as one download...
    old = _head(public)
    hub.seed(public, inline={"sub/dir/new.txt": b"new\n"}, title="third")
    new = _head(public)
    packed.clear()
    git.run("-c", f"protocol.version={version}", "fetch", "origin", cwd=target)
    # the commit, the root, sub and sub/dir trees, and one blob
    assert packed[-1] == 5
    assert ModelRepo.objects.get(pk=public.pk).downloads == 1  # ...a fetch doesn't
    log = git.run("log", "--format=%H", "origin/main", cwd=target).stdout.split()
    assert log == [c.commit_id for c in hub.api().list_repo_commits(public.repo_id)]
    assert log[:2] == [new.oid, old.oid]
    git.run("merge", "--ff-only", "origin/main", cwd=target)
    assert _files(target) == _hub_files(new)
    git.run("fsck", "--strict", cwd=target)


def test_shallow_clone_then_fetch_of_a_new_commit(hub, git, public, tmp_path, packed):  # noqa: ANN001
    target = tmp_path / "clone"
    git.run("clone", "--depth", "1", git.remote(public.repo_id), str(target))
    hub.seed(public, inline={"y.txt": b"y\n"}, title="third")
    packed.clear()
    git.run("fetch", "origin", cwd=target)
    assert packed[-1] == 3  # the commit, the root tree, one blob
    new = _head(public)
    assert git.run("log", "--format=%H", "origin/main", cwd=target).stdout.split() == [new.oid, new.parent.oid]


@pytest.mark.parametrize("version", VERSIONS)
def test_clone_of_a_branch_and_of_a_tag(hub, git, public, tmp_path, version):  # noqa: ANN001
    api = hub.api("owner")
    first = _head(public).parent
    api.create_branch(public.repo_id, branch="dev", revision=first.oid)
    hub.seed(public, inline={"dev.txt": b"dev\n"}, branch="dev", title="on dev")
    api.create_tag(public.repo_id, tag="v1.0", revision=first.oid)
    dev = _head(public, "dev")
    branch = tmp_path / "branch"
    git.run("-c", f"protocol.version={version}", "clone", "-b", "dev", git.remote(public.repo_id), str(branch))
    assert git.run("rev-parse", "HEAD", cwd=branch).stdout.strip() == dev.oid
    assert _files(branch) == _hub_files(dev)
    tag = tmp_path / "tag"
    git.run("-c", f"protocol.version={version}", "clone", "-b", "v1.0", git.remote(public.repo_id), str(tag))
    assert git.run("rev-parse", "HEAD", cwd=tag).stdout.strip() == first.oid
    assert _files(tag) == _hub_files(first)


@pytest.mark.parametrize("version", VERSIONS)
def test_fetch_of_a_pull_request_ref(hub, git, public, tmp_path, version):  # noqa: ANN001
    hub.api("outsider").upload_file(path_or_fileobj=b"pr\n", path_in_repo="pr.txt", repo_id=public.repo_id,
                                    commit_message="A proposal", create_pr=True)
    pr = _head(public, "refs/pr/1")
    target = tmp_path / "clone"
    git.run("-c", f"protocol.version={version}", "clone", git.remote(public.repo_id), str(target))
    git.run("-c", f"protocol.version={version}", "fetch", "origin", "refs/pr/1", cwd=target)
    assert git.run("rev-parse", "FETCH_HEAD", cwd=target).stdout.strip() == pr.oid
    git.run("checkout", "-q", "FETCH_HEAD", cwd=target)
    assert _files(target) == _hub_files(pr)
    refs = git.run("ls-remote", git.remote(public.repo_id)).stdout
    assert f"{pr.oid}\trefs/pr/1" in refs


@pytest.mark.parametrize("version", VERSIONS)
def test_private_repo_needs_a_member_key(hub, git, make_repo, tmp_path, version):  # noqa: ANN001
    repo = make_repo("secret", private=True)
    hub.seed(repo, inline={"a.txt": b"secret\n"})
    opts = ["-c", f"protocol.version={version}", "clone"]
    anonymous = git.run(*opts, git.remote(repo.repo_id), str(tmp_path / "anon"), check=False)
    assert anonymous.returncode != 0
    assert "could not read Username" in anonymous.stderr or "Authentication failed" in anonymous.stderr
    outsider = git.run(*opts, git.remote(repo.repo_id, hub.tokens["outsider"]), str(tmp_path / "out"), check=False)
    assert outsider.returncode != 0
    assert "Repository not found" in outsider.stderr
    bad = git.run(*opts, git.remote(repo.repo_id, "hub_notakey"), str(tmp_path / "bad"), check=False)
    assert bad.returncode != 0
    git.run(*opts, git.remote(repo.repo_id, hub.tokens["reader"]), str(tmp_path / "ok"))
    assert _files(tmp_path / "ok") == _hub_files(_head(repo))


@pytest.mark.parametrize("version", VERSIONS)
def test_gated_repo_needs_the_license_accepted(hub, git, make_repo, tmp_path, version):  # noqa: ANN001
    repo = make_repo("gated", gating="auto")
    hub.seed(repo, inline={"a.txt": b"terms apply\n"})
    remote = git.remote(repo.repo_id, hub.tokens["outsider"])
    opts = ["-c", f"protocol.version={version}", "clone"]
    refused = git.run(*opts, remote, str(tmp_path / "no"), check=False)
    assert refused.returncode != 0
    assert f"Access to model {repo.repo_id} is restricted" in refused.stderr
    assert f"/{repo.repo_id} to ask for access" in refused.stderr
    anonymous = git.run(*opts, git.remote(repo.repo_id), str(tmp_path / "anon"), check=False)
    assert anonymous.returncode != 0
    license_accept(user=hub.p.outsider, repo=repo)
    git.run(*opts, remote, str(tmp_path / "yes"))
    assert _files(tmp_path / "yes") == _hub_files(_head(repo))


def test_disabled_repo_is_refused(hub, git, public, tmp_path):  # noqa: ANN001
    ModelRepo.objects.filter(pk=public.pk).update(disabled=True)
    refused = git.run("clone", git.remote(public.repo_id, hub.tokens["owner"]), str(tmp_path / "no"), check=False)
    assert refused.returncode != 0
    assert "disabled" in refused.stderr


def test_ls_remote_lists_head_branches_and_tags(hub, git, public):  # noqa: ANN001
    hub.api("owner").create_tag(public.repo_id, tag="v1", revision="main")
    head = _head(public).oid
    for version in VERSIONS:
        refs = git.run("-c", f"protocol.version={version}", "ls-remote", "--symref", git.remote(public.repo_id)).stdout
        assert "ref: refs/heads/main\tHEAD" in refs
        assert f"{head}\tHEAD" in refs
        assert f"{head}\trefs/heads/main" in refs
        assert f"{head}\trefs/tags/v1" in refs


def test_pack_stream_is_a_valid_pack(public, tmp_path):  # noqa: ANN001
    """The pack alone, checked by `git index-pack` (the count in the header, the objects, the trailer)."""
    import subprocess

    history = git_selectors.History(public)
    plan = git_selectors.fetch_plan(history=history, wants=[_head(public).oid])
    pack = tmp_path / "p.pack"
    pack.write_bytes(b"".join(upload_pack.pack_stream(plan)))
    subprocess.run(["git", "init", "-q", str(tmp_path / "r")], check=True, timeout=30)
    subprocess.run(["git", "index-pack", "--strict", "-o", str(tmp_path / "p.idx"), str(pack)], check=True,
                   cwd=tmp_path / "r", timeout=30, capture_output=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_clone_holding_a_quarantined_small_file_is_refused(hub, git, public, tmp_path, version):  # noqa: ANN001
    import hashlib

    from registry.models import ContentVerdict

    entry = CommitFile.objects.get(commit=_head(public), path="config.json")
    ContentVerdict.objects.create(sha256=hashlib.sha256(bytes(entry.content)).hexdigest(), git_oid=entry.git_oid,
                                  size=entry.size, status="failed", reason="bad")
    refused = git.run("-c", f"protocol.version={version}", "clone", git.remote(public.repo_id), str(tmp_path / "no"),
                      check=False)
    assert refused.returncode != 0
    assert "remote error: This fetch includes a file that failed validation and is quarantined" in refused.stderr


@pytest.mark.parametrize("version", VERSIONS)
def test_fetch_negotiates_past_local_commits(hub, git, public, tmp_path, packed, version):  # noqa: ANN001
    """Local commits the hub has never seen come first among the haves: the negotiation goes on to a common one."""
    target = tmp_path / "clone"
    git.run("-c", f"protocol.version={version}", "clone", git.remote(public.repo_id), str(target))
    for n in range(40):  # more than one round of haves (git sends 16, then 32)
        (target / f"local-{n}.txt").write_text(f"{n}\n")
        git.run("add", ".", cwd=target)
        git.run("-c", "user.name=me", "-c", "user.email=me@example.com", "commit", "-qm", f"local {n}", cwd=target)
    hub.seed(public, inline={"remote.txt": b"remote\n"}, title="third")
    packed.clear()
    git.run("-c", f"protocol.version={version}", "fetch", "origin", cwd=target)
    assert packed[-1] == 3  # the commit, the root tree, one blob
    assert git.run("rev-parse", "origin/main", cwd=target).stdout.strip() == _head(public).oid
    git.run("fsck", "--strict", cwd=target)


@pytest.mark.parametrize("version", VERSIONS)
def test_shallow_since_is_refused_with_a_message(git, public, tmp_path, version):  # noqa: ANN001
    refused = git.run("-c", f"protocol.version={version}", "clone", "--shallow-since=2020-01-01",
                      git.remote(public.repo_id), str(tmp_path / "no"), check=False)
    assert refused.returncode != 0
    # v0: git reads the capabilities and stops itself; v2 asks, and prints the server's refusal
    expected = "Server does not support --shallow-since" if version == "0" else \
        "remote error: this server does not support deepen-since"
    assert expected in refused.stderr
