"""`git push` with the stock git and git-lfs against the live server (issue 21).

The local repo is never cloned (clone is served by api.git.upload_pack, written alongside): a test starts from
`git init` and either recreates the hub's history locally from its rows (`mirror`: the same blobs, trees and commit
bodies, so the same ids) or pushes into a fresh branch.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest
import requests
from huggingface_hub import hf_hub_download

from registry.hashing import lfs_pointer
from registry.models import AuditEvent, Blob, Branch, Commit, CommitFile, ModelRepo, Tag, ValidationRun
from tests.api.hf.conftest import Hub, hub  # noqa: F401 — the live server fixture, shared with the HF API tests

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

TIMEOUT = 120
ZERO = "0" * 40


class Git:
    """The stock `git` in a clean environment, in one working copy."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            "HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false",
            "GIT_AUTHOR_NAME": "Mina", "GIT_AUTHOR_EMAIL": "mina@example.com",
            "GIT_COMMITTER_NAME": "Mina", "GIT_COMMITTER_EMAIL": "mina@example.com", "NO_PROXY": "*",
        }

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["git", *args], cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    def pack(self, revs: str, *, thin: bool = False, objects: bool = False) -> bytes:
        """`git pack-objects` of `revs` (one rev per line, ^ to exclude), as a push sends it; `objects`: of exactly
        the object ids given."""
        args = ["git", "pack-objects", "--stdout"] + ([] if objects else ["--revs"]) + (["--thin"] if thin else [])
        done = subprocess.run(args, cwd=self.root, env=self.env, input=revs.encode(), capture_output=True,
                              timeout=TIMEOUT, check=True)
        return done.stdout

    def literally(self, kind: str, body: bytes) -> str:
        """Write an object git itself would refuse to make (`hash-object --literally`); its id."""
        done = subprocess.run(["git", "hash-object", "--literally", "-w", "--stdin", "-t", kind], cwd=self.root,
                              env=self.env, input=body, capture_output=True, timeout=TIMEOUT, check=True)
        return done.stdout.decode().strip()

    def write(self, path: str, content: bytes) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)

    def commit(self, message: str) -> str:
        self("add", "-A")
        self("commit", "-q", "-m", message)
        return self("rev-parse", "HEAD").stdout.strip()


def remote_url(hub: Hub, repo: ModelRepo, key: str | None = None) -> str:  # noqa: F811
    base = f"{hub.url}/{repo.repo_id}.git"
    if key is None:
        return base
    scheme, rest = base.split("://", 1)
    return f"{scheme}://user:{key}@{rest}"


def local(tmp_path: Path, hub: Hub, repo: ModelRepo, key: str | None, name: str = "work") -> Git:  # noqa: F811
    git = Git(tmp_path / name, tmp_path / "home")
    git.root.mkdir()
    git("init", "-q", "-b", "main")
    git("remote", "add", "origin", remote_url(hub, repo, key))
    return git


def mirror(git: Git, repo: ModelRepo, branch: str = "main") -> str:
    """Recreate the hub's history of `branch` in the local repo from the hub's rows (no clone): every commit's
    blobs and trees, and the commit bodies, then check it out. Returns the head id."""
    from dulwich.objects import Blob as GitBlob
    from dulwich.objects import ShaFile, Tree
    from dulwich.repo import Repo

    store = Repo(str(git.root)).object_store
    head = Branch.objects.get(repo=repo, name=branch).head
    chain = []
    commit: Commit | None = head
    while commit is not None:
        chain.append(commit)
        commit = commit.parent
    for commit in reversed(chain):
        folders: dict[str, Tree] = {"": Tree()}
        for row in CommitFile.objects.filter(commit=commit).select_related("blob"):
            body = lfs_pointer(row.blob.sha256, row.size) if row.blob else bytes(row.content)
            blob = GitBlob.from_string(body)
            assert blob.id.decode() == row.git_oid
            store.add_object(blob)
            parts = row.path.split("/")
            for depth in range(1, len(parts)):
                folders.setdefault("/".join(parts[:depth]), Tree())
            folders["/".join(parts[:-1])].add(parts[-1].encode(), 0o100644, blob.id)
        for path in sorted(folders, key=lambda p: -p.count("/") - (1 if p else 0)):
            tree = folders[path]
            store.add_object(tree)
            if path:
                parent, _, name = path.rpartition("/")
                folders[parent].add(name.encode(), 0o040000, tree.id)
        git_commit = ShaFile.from_raw_string(1, bytes(commit.raw))
        assert git_commit.id.decode() == commit.oid
        store.add_object(git_commit)
    git("update-ref", f"refs/heads/{branch}", head.oid)
    git("checkout", "-q", "-f", branch)
    return head.oid


@pytest.fixture
def repo(make_repo) -> ModelRepo:  # noqa: ANN001
    return make_repo("tiny")


def head_oid(repo: ModelRepo, branch: str = "main") -> str | None:
    return Branch.objects.filter(repo=repo, name=branch).values_list("head__oid", flat=True).first()


def test_a_member_pushes_a_commit_to_main_and_every_door_sees_it(hub, repo, tmp_path,  # noqa: F811
                                                                  django_capture_on_commit_callbacks):
    git = local(tmp_path, hub, repo, hub.tokens["member"])
    before = mirror(git, repo)
    git.write("config.json", b'{"hidden_size": 8}\n')
    git.write("docs/notes/readme.txt", b"notes\n")
    oid = git.commit("Add the config\n\nWith a description.")
    done = git("push", "origin", "main")
    assert f"{before[:7]}..{oid[:7]}" in done.stderr
    assert head_oid(repo) == oid

    api = hub.api("member")
    commits = api.list_repo_commits(repo.repo_id)
    assert [c.commit_id for c in commits][:2] == [oid, before]
    assert commits[0].title == "Add the config"
    assert set(api.list_repo_files(repo.repo_id)) >= {"config.json", "docs/notes/readme.txt", ".gitattributes"}
    path = hf_hub_download(repo.repo_id, "docs/notes/readme.txt", endpoint=hub.url, token=hub.token("member"),
                           cache_dir=hub.cache)
    assert Path(path).read_bytes() == b"notes\n"
    commit = Commit.objects.get(repo=repo, oid=oid)
    assert (commit.author_name, commit.message) == ("mina", "With a description.")
    assert ValidationRun.objects.filter(commit=commit).exists()


def test_several_commits_land_in_order_with_their_ids(hub, repo, tmp_path):  # noqa: F811
    git = local(tmp_path, hub, repo, hub.tokens["member"])
    mirror(git, repo)
    ids = []
    git.write("a.txt", b"one\n")
    ids.append(git.commit("first"))
    git.write("a.txt", b"two\n")
    git.write("b/c.txt", b"c\n")
    ids.append(git.commit("second"))
    (git.root / "a.txt").unlink()
    git.write("b/d.txt", b"d\n")
    ids.append(git.commit("third"))
    git("push", "origin", "main")
    chain = [c.commit_id for c in hub.api("member").list_repo_commits(repo.repo_id)]
    assert chain[:3] == ids[::-1]
    files = set(hub.api("member").list_repo_files(repo.repo_id))
    assert {"b/c.txt", "b/d.txt"} <= files and "a.txt" not in files
    # a renamed folder and a copied file: trees and blobs the hub already has, which git does not send again
    git("mv", "b", "renamed")
    shutil.copy(git.root / "renamed" / "c.txt", git.root / "copy.txt")
    renamed = git.commit("rename and copy")
    git("push", "origin", "main")
    assert head_oid(repo) == renamed
    files = set(hub.api("member").list_repo_files(repo.repo_id))
    assert {"renamed/c.txt", "renamed/d.txt", "copy.txt"} <= files and "b/c.txt" not in files


def test_a_push_from_an_empty_repo_creates_the_first_commit_of_a_new_branch(hub, repo, tmp_path):  # noqa: F811
    git = local(tmp_path, hub, repo, hub.tokens["member"])
    git.write("x.txt", b"x\n")
    oid = git.commit("an unrelated root")
    git("push", "origin", "main:fresh")
    assert head_oid(repo, "fresh") == oid
    # and a branch from the hub's main, then its deletion
    mirror(git, repo)
    git("checkout", "-q", "-b", "topic")
    git.write("topic.txt", b"t\n")
    topic = git.commit("on a topic")
    git("push", "origin", "topic")
    assert head_oid(repo, "topic") == topic
    assert Commit.objects.get(repo=repo, oid=topic).parent.oid == head_oid(repo)
    git("push", "origin", "--delete", "topic")
    assert head_oid(repo, "topic") is None
    refused = git("push", "origin", "--delete", "main", check=False)
    assert refused.returncode != 0 and "default branch" in refused.stderr


def test_lightweight_tags_are_pushed_and_annotated_ones_refused(hub, repo, tmp_path):  # noqa: F811
    git = local(tmp_path, hub, repo, hub.tokens["member"])
    head = mirror(git, repo)
    git("tag", "v1")
    git("push", "origin", "v1")
    assert Tag.objects.get(repo=repo, name="v1").commit.oid == head
    git("tag", "-a", "v2", "-m", "annotated")
    refused = git("push", "origin", "v2", check=False)
    assert refused.returncode != 0 and "annotated tags" in refused.stderr
    git("push", "origin", "--delete", "v1")
    assert not Tag.objects.filter(repo=repo, name="v1").exists()


def test_an_atomic_push_lands_all_its_refs_or_none(hub, repo, tmp_path):  # noqa: F811
    git = local(tmp_path, hub, repo, hub.tokens["member"])
    head = mirror(git, repo)
    git.write("ok.txt", b"fine\n")
    fine = git.commit("a fine commit")
    git("checkout", "-q", "-b", "bad", head)
    git.write("run.sh", b"#!/bin/sh\n")
    (git.root / "run.sh").chmod(0o755)
    git.commit("an executable")
    refused = git("push", "--atomic", "origin", "main", "bad", check=False)
    assert refused.returncode != 0 and "atomic push failed" in refused.stderr, refused.stderr
    assert head_oid(repo) == head and head_oid(repo, "bad") is None
    git("push", "--atomic", "origin", "main")
    assert head_oid(repo) == fine
    # a root commit may not start a branch named like a tag
    git("tag", "v1", "main")
    git("push", "origin", "v1")
    git("checkout", "-q", "--orphan", "root")
    git.write("root.txt", b"root\n")
    git.commit("a root")
    refused = git("push", "origin", "root:refs/heads/v1", check=False)
    assert refused.returncode != 0 and "a tag named 'v1' already exists" in refused.stderr, refused.stderr


def test_a_reader_an_outsider_and_anonymous_are_refused(hub, repo, make_repo, tmp_path):  # noqa: F811
    for persona, expected in (("reader", "don't have write access"), ("outsider", "don't have write access")):
        git = local(tmp_path, hub, repo, hub.tokens[persona], name=persona)
        mirror(git, repo)
        git.write("x.txt", b"x\n")
        git.commit("x")
        refused = git("push", "origin", "main", check=False)
        assert refused.returncode != 0 and expected in refused.stderr, refused.stderr
    git = local(tmp_path, hub, repo, None, name="anonymous")
    mirror(git, repo)
    refused = git("push", "origin", "main:other", check=False)
    assert refused.returncode != 0 and head_oid(repo, "other") is None
    private = make_repo("secret", private=True)
    response = requests.get(f"{hub.url}/{private.repo_id}.git/info/refs?service=git-receive-pack",
                            auth=("x", hub.tokens["outsider"]), timeout=30)
    assert response.status_code == 404
    response = requests.get(f"{hub.url}/{repo.repo_id}.git/info/refs?service=git-receive-pack",
                            auth=("x", hub.tokens["reader"]), timeout=30)
    assert response.status_code == 403 and "write access" in response.text
    response = requests.get(f"{hub.url}/{repo.repo_id}.git/info/refs?service=git-receive-pack", timeout=30)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic")
    assert head_oid(repo) == Branch.objects.get(repo=repo, name="main").head.oid


def test_non_fast_forward_merge_and_forced_pushes_are_refused(hub, repo, tmp_path):  # noqa: F811
    git = local(tmp_path, hub, repo, hub.tokens["member"])
    base = mirror(git, repo)
    hub.seed(repo, inline={"server.txt": b"moved on\n"}, title="a commit made on the hub")
    moved = head_oid(repo)
    git.write("mine.txt", b"mine\n")
    git.commit("mine")
    refused = git("push", "origin", "main", check=False)
    assert refused.returncode != 0 and head_oid(repo) == moved
    forced = git("push", "--force", "origin", "main", check=False)
    assert forced.returncode != 0 and ("non-fast-forward" in forced.stderr or "fetch first" in forced.stderr)
    assert head_oid(repo) == moved
    # a merge commit
    git("checkout", "-q", "-b", "side", base)
    git.write("side.txt", b"side\n")
    git.commit("side")
    git("checkout", "-q", "main")
    git("merge", "-q", "--no-ff", "-m", "merge", "side")
    refused = git("push", "origin", "main:merged", check=False)
    assert refused.returncode != 0 and "rebase" in refused.stderr, refused.stderr
    assert head_oid(repo, "merged") is None
    # moving a branch back to a commit the hub already has (an ancestor of its head): not a fast-forward
    refused = git("push", "--force", "origin", f"{base}:refs/heads/main", check=False)
    assert refused.returncode != 0 and "non-fast-forward" in refused.stderr, refused.stderr
    assert head_oid(repo) == moved


def test_a_reviewed_branch_fast_forwards_main_without_new_commits(hub, repo, tmp_path):  # noqa: F811
    """`git push origin HEAD:main` after review: main moves forward to the feature branch's commits (made and
    validated when they were pushed; nothing rewritten), then a local commit on top lands after them; pushing the
    feature branch afterwards is a plain fast-forward to a commit the hub has. A diverged branch can't move main."""
    git = local(tmp_path, hub, repo, hub.tokens["member"])
    base = mirror(git, repo)
    git("checkout", "-q", "-b", "feature")
    git.write("feature.txt", b"one\n")
    first = git.commit("feature one")
    git.write("feature.txt", b"two\n")
    second = git.commit("feature two")
    git("push", "origin", "feature")
    commits = Commit.objects.filter(repo=repo).count()
    git.write("feature.txt", b"three\n")
    third = git.commit("on top, after review")
    git("push", "origin", "HEAD:main")
    assert head_oid(repo) == third and Commit.objects.filter(repo=repo).count() == commits + 1
    assert AuditEvent.objects.filter(action="branch.update").latest("pk").metadata == {
        "branch": "main", "from": base, "to": second}
    git("push", "origin", "feature")  # feature: second → third, a commit main already holds
    assert head_oid(repo, "feature") == third and Commit.objects.filter(repo=repo).count() == commits + 1
    git("checkout", "-q", "-b", "stale", first)
    git.write("other.txt", b"x\n")
    git.commit("diverged")
    refused = git("push", "--force", "origin", "stale:main", check=False)  # the hub refuses, not only git
    assert refused.returncode != 0 and "non-fast-forward" in refused.stderr and head_oid(repo) == third



def test_executables_symlinks_and_large_plain_files_are_refused(hub, repo, tmp_path, settings):  # noqa: F811
    settings.INLINE_FILE_MAX_SIZE = 64 * 1024
    git = local(tmp_path, hub, repo, hub.tokens["member"])
    head = mirror(git, repo)
    git.write("fine.txt", b"fine\n")
    git.commit("a fine commit first")
    git.write("run.sh", b"#!/bin/sh\n")
    (git.root / "run.sh").chmod(0o755)
    git.commit("an executable")
    refused = git("push", "origin", "main", check=False)
    assert refused.returncode != 0 and "only plain files" in refused.stderr, refused.stderr
    assert head_oid(repo) == head  # the chain is one transaction: the fine commit before it did not land either
    git("reset", "-q", "--hard", head)
    git.write("weights.dat", os.urandom(100 * 1024))
    git.commit("a large plain file")
    refused = git("push", "origin", "main", check=False)
    assert refused.returncode != 0 and "git lfs track" in refused.stderr, refused.stderr
    assert head_oid(repo) == head


@pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is not installed (CI installs it)")
def test_an_lfs_file_is_uploaded_by_git_lfs_and_lands_as_its_blob(hub, repo, tmp_path):  # noqa: F811
    key = hub.tokens["member"]
    git = local(tmp_path, hub, repo, None)
    git("config", "http.extraHeader", f"Authorization: Bearer {key}")
    mirror(git, repo)
    git("lfs", "install", "--local")
    git("lfs", "track", "*.bin")
    content = os.urandom(300 * 1024)
    git.write("weights/model.bin", content)
    oid = git.commit("weights over git-lfs")
    git("push", "origin", "main")
    assert head_oid(repo) == oid
    row = CommitFile.objects.select_related("blob").get(commit__oid=oid, commit__repo=repo,
                                                        path="weights/model.bin")
    assert row.blob.sha256 == hashlib.sha256(content).hexdigest() and row.size == len(content)
    path = hf_hub_download(repo.repo_id, "weights/model.bin", endpoint=hub.url, token=key, cache_dir=hub.cache)
    assert Path(path).read_bytes() == content


def test_a_pointer_to_an_object_never_uploaded_is_refused_with_the_git_lfs_hint(hub, repo, tmp_path):  # noqa: F811
    git = local(tmp_path, hub, repo, hub.tokens["member"])
    head = mirror(git, repo)
    missing = hashlib.sha256(b"never uploaded").hexdigest()
    git.write("model.bin", lfs_pointer(missing, 14))
    git.commit("a dangling pointer")
    refused = git("push", "origin", "main", check=False)
    assert refused.returncode != 0 and "model.bin" in refused.stderr and "git lfs push" in refused.stderr
    assert head_oid(repo) == head
    assert not Blob.objects.filter(sha256=missing).exists()


def pkt(data: bytes) -> bytes:
    return f"{len(data) + 4:04x}".encode() + data


def pkt_lines(data: bytes) -> list[bytes]:
    lines, at = [], 0
    while at < len(data):
        length = int(data[at:at + 4], 16)
        lines.append(data[at + 4:at + length] if length else b"")
        at += length or 4
    return lines


def raw_push(hub: Hub, repo: ModelRepo, commands: list[tuple[str, str, str]], pack: bytes,  # noqa: F811
             *, gzipped: bool = False) -> list[bytes]:
    """POST a receive-pack request by hand; the report-status lines, out of side-band 1."""
    body = b"".join(pkt(f"{old} {new} {ref}".encode() + (b"\0report-status side-band-64k" if i == 0 else b"")
                        + b"\n") for i, (old, new, ref) in enumerate(commands)) + b"0000" + pack
    headers = {"Content-Type": "application/x-git-receive-pack-request"}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    response = requests.post(f"{hub.url}/{repo.repo_id}.git/git-receive-pack", data=body, headers=headers,
                             auth=("u", hub.tokens["member"]), timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/x-git-receive-pack-result"
    report = b"".join(line[1:] for line in pkt_lines(response.content) if line[:1] == b"\x01")
    return [line.rstrip(b"\n") for line in pkt_lines(report) if line]


def test_a_gzipped_push_by_hand_lands(hub, repo, tmp_path):  # noqa: F811
    git = local(tmp_path, hub, repo, hub.tokens["member"])
    head = mirror(git, repo)
    git.write("by-hand.txt", b"sent by hand\n")
    new = git.commit("by hand")
    report = raw_push(hub, repo, [(head, new, "refs/heads/main")], git.pack(f"{new}\n^{head}\n"), gzipped=True)
    assert report == [b"unpack ok", b"ok refs/heads/main"]
    assert head_oid(repo) == new


def test_a_thin_pack_is_resolved_against_the_repos_objects(hub, repo, tmp_path):  # noqa: F811
    text = "".join(f"line {n}: {os.urandom(24).hex()}\n" for n in range(400)).encode()  # barely compressible
    hub.seed(repo, inline={"big.txt": text}, title="a text file to delta against")
    git = local(tmp_path, hub, repo, hub.tokens["member"])
    head = mirror(git, repo)
    git.write("big.txt", text.replace(b"line 200:", b"line two hundred:"))
    new = git.commit("one line changed")
    pack = git.pack(f"{new}\n^{head}\n", thin=True)
    assert len(pack) < len(text) // 4  # the changed file travels as a delta on the hub's copy
    assert raw_push(hub, repo, [(head, new, "refs/heads/main")], pack) == [b"unpack ok", b"ok refs/heads/main"]
    assert head_oid(repo) == new


def test_a_pull_request_ref_takes_pushes_through_the_pr_rules(hub, repo, tmp_path):  # noqa: F811
    pr = hub.api("member").create_pull_request(repo.repo_id, title="a change over git")
    ref = f"refs/pr/{pr.num}"
    git = local(tmp_path, hub, repo, hub.tokens["member"])
    mirror(git, repo)
    git.write("pr.txt", b"proposed\n")
    new = git.commit("proposed over git")
    git("push", "origin", f"HEAD:{ref}")
    assert head_oid(repo, ref) == new
    refused = git("push", "origin", f":{ref}", check=False)
    assert refused.returncode != 0 and "close the pull request" in refused.stderr


@pytest.mark.parametrize("body", [
    b"zzzz", b"0003", b"00ff" + b"a" * 10, pkt(b"not a command\n") + b"0000",
    pkt(b"%s %s refs/heads/main\0report-status\n" % (b"0" * 40, b"0" * 40)) + b"0000",
    pkt(b"%s %s refs/heads/x\0report-status\n" % (b"0" * 40, b"1" * 40)),
    pkt(b"shallow " + b"1" * 40 + b"\n") + b"0000",
])
def test_malformed_receive_pack_bodies_get_a_4xx(hub, repo, body):  # noqa: F811
    response = requests.post(f"{hub.url}/{repo.repo_id}.git/git-receive-pack", data=body,
                             headers={"Content-Type": "application/x-git-receive-pack-request",
                                      "Authorization": "Basic " + base64.b64encode(
                                          f"u:{hub.tokens['member']}".encode()).decode()}, timeout=30)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)


def test_a_push_larger_than_the_post_buffer_is_probed_then_told_to_raise_it(hub, repo, tmp_path):  # noqa: F811
    """git probes with a bare flush before a chunked body (answered like git-http-backend: 200, nothing); the test
    server (wsgiref) can't read chunked bodies, so the push itself gets a 411 saying to raise http.postBuffer
    (gunicorn, in production, decodes them: wsgi.input_terminated)."""
    probe = requests.post(f"{hub.url}/{repo.repo_id}.git/git-receive-pack", data=b"0000",
                          headers={"Content-Type": "application/x-git-receive-pack-request"},
                          auth=("u", hub.tokens["member"]), timeout=30)
    assert (probe.status_code, probe.content) == (200, b"")
    git = local(tmp_path, hub, repo, hub.tokens["member"])
    head = mirror(git, repo)
    git.write("r.txt", os.urandom(200 * 1024).hex().encode())
    git.commit("more than the post buffer")
    refused = git("-c", "http.postBuffer=1024", "push", "origin", "main", check=False)
    assert refused.returncode != 0 and "411" in refused.stderr, refused.stderr  # git shows no body here
    assert head_oid(repo) == head
    git("-c", "http.postBuffer=104857600", "push", "origin", "main")
    assert head_oid(repo) != head


def test_a_garbage_pack_is_reported_as_an_unpack_error(hub, repo):  # noqa: F811
    body = pkt(b"%s %s refs/heads/x\0report-status\n" % (b"0" * 40, b"1" * 40)) + b"0000" + b"PACKgarbage"
    response = requests.post(f"{hub.url}/{repo.repo_id}.git/git-receive-pack", data=body,
                             headers={"Content-Type": "application/x-git-receive-pack-request"},
                             auth=("u", hub.tokens["member"]), timeout=30)
    assert response.status_code == 200
    assert b"unpack the pack could not be read" in response.content and b"ng refs/heads/x" in response.content
    gzipped = requests.post(f"{hub.url}/{repo.repo_id}.git/git-receive-pack", data=b"not gzip",
                            headers={"Content-Type": "application/x-git-receive-pack-request",
                                     "Content-Encoding": "gzip"},
                            auth=("u", hub.tokens["member"]), timeout=30)
    assert gzipped.status_code == 400


def test_a_pack_over_the_cap_is_refused(hub, repo, settings):  # noqa: F811
    settings.GIT_PUSH_MAX_PACK_SIZE = 1024
    body = pkt(b"%s %s refs/heads/x\0report-status\n" % (b"0" * 40, b"1" * 40)) + b"0000" + b"P" * 1024 * 1024
    response = requests.post(f"{hub.url}/{repo.repo_id}.git/git-receive-pack", data=body,
                             headers={"Content-Type": "application/x-git-receive-pack-request"},
                             auth=("u", hub.tokens["member"]), timeout=30)
    assert response.status_code == 413 and "GIT_PUSH_MAX_PACK_SIZE" in response.text
    bomb = requests.post(f"{hub.url}/{repo.repo_id}.git/git-receive-pack", data=gzip.compress(body * 8),
                         headers={"Content-Type": "application/x-git-receive-pack-request",
                                  "Content-Encoding": "gzip"},
                         auth=("u", hub.tokens["member"]), timeout=30)
    assert bomb.status_code == 413  # counted as it inflates, never inflated whole


@pytest.mark.parametrize("case", ["junk commit", "bad parent", "missing tree", "bad tree", "non-utf8 name", "tag"])
def test_hostile_objects_in_a_pack_are_refused_per_ref_never_a_5xx(hub, repo, tmp_path, case):  # noqa: F811
    git = local(tmp_path, hub, repo, hub.tokens["member"])
    head = mirror(git, repo)
    sig = b"author M <m@x> 1 +0000\ncommitter M <m@x> 1 +0000\n\nmsg\n"
    blob = git.literally("blob", b"x\n")
    extra: list[str] = []
    if case == "junk commit":
        body = b"this is not a commit"
    elif case == "bad parent":
        body = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nparent " + b"Z" * 40 + b"\n" + sig
    elif case == "missing tree":
        body = b"tree " + b"1" * 40 + b"\nparent " + head.encode() + b"\n" + sig
    else:
        name = {"bad tree": b"ok.txt\0" + b"short", "non-utf8 name": b"\xff.txt\0" + bytes.fromhex(blob),
                "tag": b"ok.txt\0" + bytes.fromhex(blob)}[case]
        tree = git.literally("tree", b"100644 " + name)
        extra = [tree]
        if case == "tag":
            tree = git.literally("tag", b"object " + blob.encode() + b"\ntype blob\ntag t\ntagger M <m@x> 1 +0000\n\n")
            extra.append(tree)
        body = b"tree " + tree.encode() + b"\nparent " + head.encode() + b"\n" + sig
    commit = git.literally("commit", body)
    pack = git.pack("\n".join([commit, blob, *extra]) + "\n", objects=True)
    report = raw_push(hub, repo, [(head, commit, "refs/heads/main")], pack)
    assert report[0] == b"unpack ok" and report[1].startswith(b"ng refs/heads/main "), report
    assert head_oid(repo) == head


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _entry(kind: int, size: int, payload: bytes, *, base: bytes = b"") -> bytes:
    """One pack entry: the type/size header as git writes it, a ref-delta's base id, the zlib stream."""
    first = (kind << 4) | (size & 15)
    rest = size >> 4
    header = bytearray([first | (0x80 if rest else 0)])
    while rest:
        byte, rest = rest & 0x7F, rest >> 7
        header.append(byte | (0x80 if rest else 0))
    return bytes(header) + base + zlib.compress(payload)


def _pack(*entries: bytes) -> bytes:
    body = b"PACK" + (2).to_bytes(4, "big") + len(entries).to_bytes(4, "big") + b"".join(entries)
    return body + hashlib.sha1(body).digest()


@pytest.mark.parametrize("case", ["declared", "lying", "delta"])
def test_an_object_that_would_inflate_to_gigabytes_is_refused_before_it_is_read(hub, repo, case):  # noqa: F811
    """A few KB of zlib may claim (or secretly hold) tens of MB, or a delta a 1 GiB result: refused from the
    object headers and a bounded inflate, with the git-lfs hint, before dulwich would inflate it in memory."""
    zeros = b"\0" * (40 * 1024 * 1024)
    entry = {
        "declared": lambda: _entry(3, len(zeros), zeros),
        "lying": lambda: _entry(3, 10, zeros),
        "delta": lambda: _entry(7, 8, _varint(10) + _varint(2**30), base=b"\x11" * 20),
    }[case]()
    pack = _pack(entry)
    assert len(pack) < 100_000
    head = head_oid(repo)
    report = raw_push(hub, repo, [(head, "1" * 40, "refs/heads/main")], pack)
    assert report[0].startswith(b"unpack an object in the pack is") and b"git lfs track" in report[0], report
    assert report[1].startswith(b"ng refs/heads/main")
    assert head_oid(repo) == head
