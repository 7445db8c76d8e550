"""Issue 21's "done when", end to end with the stock git and git-lfs: a member clones a repo with an LFS file (the
key as the password), `git lfs pull` brings the weights, `git log` ids are the HF API's; the member edits the card,
adds weights tracked by the repo's .gitattributes and pushes — git-lfs uploads through the hub's LFS endpoint with
the same Basic credentials, the commit lands under the id git computed, as a normal validated commit every other
door sees; a reader's push of their own clone is refused with the hub's reason; a second clone gets the new head."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download

from registry.models import Branch, CommitFile, ValidationRun

pytestmark = pytest.mark.live


def test_clone_edit_push_and_clone_again(hub, git, git_lfs, make_repo, tmp_path):  # noqa: ANN001
    repo = make_repo("round-trip", private=True)
    weights = os.urandom(200 * 1024)
    hub.seed(repo, inline={"README.md": b"---\nlicense: apache-2.0\n---\n# round trip\n"},
             blobs={"model.safetensors": weights})
    member, reader = hub.tokens["member"], hub.tokens["reader"]
    git.run("lfs", "install", "--skip-smudge")

    work = tmp_path / "member"
    git.run("clone", "-q", git.remote(repo.repo_id, member), str(work))
    git.run("lfs", "pull", cwd=work)
    assert (work / "model.safetensors").read_bytes() == weights
    listed = git.run("log", "--format=%H", cwd=work).stdout.split()
    assert listed == [c.commit_id for c in hub.api("member").list_repo_commits(repo.repo_id)]

    (work / "README.md").write_text("---\nlicense: apache-2.0\n---\n# round trip\n\nNow with an adapter.\n")
    adapter = os.urandom(150 * 1024)
    (work / "adapter.bin").write_bytes(adapter)  # *.bin is LFS in the repo's .gitattributes
    git.run("add", "-A", cwd=work)
    git.run("-c", "user.name=Member", "-c", "user.email=member@example.org", "commit", "-q", "-m",
            "Add an adapter\n\nTrained for a day.", cwd=work)
    local_head = git.run("rev-parse", "HEAD", cwd=work).stdout.strip()
    pushed = git.run("push", "origin", "main", cwd=work, env={"GIT_LFS_SKIP_SMUDGE": "0"})
    assert "main -> main" in pushed.stderr

    head = Branch.objects.select_related("head").get(repo=repo, name="main").head
    assert head.oid == local_head and (head.title, head.message) == ("Add an adapter", "Trained for a day.")
    row = CommitFile.objects.select_related("blob").get(commit=head, path="adapter.bin")
    assert row.blob.sha256 == hashlib.sha256(adapter).hexdigest()  # git-lfs uploaded the bytes, not a pointer
    assert ValidationRun.objects.filter(commit=head).exists()  # validated like any other commit
    assert hub.api("member").model_info(repo.repo_id).sha == local_head
    got = hf_hub_download(repo.repo_id, "adapter.bin", endpoint=hub.url, token=member, cache_dir=hub.cache)
    assert Path(got).read_bytes() == adapter

    theirs = tmp_path / "reader"
    git.run("clone", "-q", git.remote(repo.repo_id, reader), str(theirs))
    assert git.run("rev-parse", "HEAD", cwd=theirs).stdout.strip() == local_head  # a second clone is current
    (theirs / "notes.txt").write_text("a reader's change\n")
    git.run("add", "-A", cwd=theirs)
    git.run("-c", "user.name=Reader", "-c", "user.email=reader@example.org", "commit", "-q", "-m", "Mine",
            cwd=theirs)
    refused = git.run("push", "origin", "main", cwd=theirs, check=False)
    assert refused.returncode != 0 and "write access" in refused.stderr
    assert Branch.objects.get(repo=repo, name="main").head_id == head.pk

    git.run("fetch", "-q", "origin", cwd=theirs)  # and fetching again is a no-op that still works
    assert git.run("rev-parse", "origin/main", cwd=theirs).stdout.strip() == local_head
