"""The stock `hf` CLI's community commands against the hub, as a member of the consortium types them:
`hf discussions create/list/comment --attach/info/close/reopen/rename/diff/merge`, `hf upload --create-pr` and
`hf webhooks create/list/disable/delete`. Each runs the real binary in a subprocess (HF_ENDPOINT = the live server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from registry.models import Attachment, Branch, Discussion, DiscussionEvent, Webhook

pytestmark = pytest.mark.django_db(transaction=True)

HF = Path(sys.executable).with_name("hf")
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x1f\x15\xc4\x89" + bytes(64)


@pytest.fixture
def hf(hub, tmp_path):  # noqa: ANN001, ANN201
    if not HF.exists():
        pytest.skip("the hf CLI is not installed next to this interpreter")

    def run(persona: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": hub.token(persona), "HF_HOME": str(tmp_path / "home"),
               "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1", "NO_COLOR": "1"}
        done = subprocess.run([str(HF), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        if ok:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    return run


def test_discussions_and_a_pull_request_through_the_cli(hub, hf, make_repo, tmp_path):  # noqa: ANN001
    repo = make_repo("tiny")
    hub.seed(repo, inline={"config.json": b'{"hidden_size": 8}\n'})

    created = hf("outsider", "discussions", "create", "acme/tiny", "--title", "Tokenizer question",
                 "--body", "Why byte-level?")
    assert "/acme/tiny/discussions/1" in created.stdout
    (tmp_path / "plot.png").write_bytes(PNG)
    hf("reader", "discussions", "comment", "acme/tiny", "1", "--body", "Here: ![plot](./plot.png)",
       "--attach", "./plot.png")
    comment = DiscussionEvent.objects.filter(discussion__num=1, type="comment").order_by("-pk").first()
    attachment = Attachment.objects.get()
    assert f"/uploads/{attachment.uid}" in comment.content and "./plot.png" not in comment.content

    listed = json.loads(hf("outsider", "discussions", "list", "acme/tiny", "--format", "json").stdout)
    assert [(d["num"], d["title"], d["status"]) for d in listed] == [(1, "Tokenizer question", "open")]
    info = json.loads(hf("outsider", "discussions", "info", "acme/tiny", "1", "--format", "json").stdout)
    assert info["num"] == 1 and len(info["events"]) == 2

    hf("outsider", "discussions", "rename", "acme/tiny", "1", "Byte-level tokenizer question")
    hf("member", "discussions", "close", "acme/tiny", "1", "--comment", "Answered in the card", "--yes")
    assert Discussion.objects.get(num=1).status == "closed"
    refused = hf("reader", "discussions", "reopen", "acme/tiny", "1", "--yes", ok=False)  # not the author, not a writer
    assert refused.returncode != 0 and Discussion.objects.get(num=1).status == "closed"
    hf("outsider", "discussions", "reopen", "acme/tiny", "1", "--yes")
    assert Discussion.objects.get(num=1).title == "Byte-level tokenizer question"

    # An outsider proposes a change with `hf upload --create-pr`; a writer reads the diff and merges it.
    (tmp_path / "config.json").write_text('{"hidden_size": 16}\n')
    hf("outsider", "upload", "acme/tiny", "./config.json", "config.json", "--create-pr")
    pr = Discussion.objects.get(num=2)
    assert pr.is_pull_request and Branch.objects.get(repo=repo, name="main").head.files.get(
        path="config.json").content == b'{"hidden_size": 8}\n'
    diff = hf("member", "discussions", "diff", "acme/tiny", "2").stdout
    assert '-{"hidden_size": 8}' in diff and '+{"hidden_size": 16}' in diff
    refused = hf("outsider", "discussions", "merge", "acme/tiny", "2", "--yes", ok=False)
    assert refused.returncode != 0  # readers do not merge
    hf("member", "discussions", "merge", "acme/tiny", "2", "--comment", "Thanks!", "--yes")
    pr.refresh_from_db()
    main = Branch.objects.get(repo=repo, name="main").head
    assert pr.status == "merged" and pr.merge_commit_oid == main.oid
    assert bytes(main.files.get(path="config.json").content) == b'{"hidden_size": 16}\n'


def test_webhooks_through_the_cli(hub, hf, make_repo):  # noqa: ANN001
    make_repo("tiny")
    created = json.loads(hf("member", "webhooks", "create", "--watch", "model:acme/tiny", "--url",
                            "https://hooks.example.org/hub", "--domain", "repo", "--secret", "s3cret",
                            "--format", "json").stdout)
    hook = Webhook.objects.get()
    assert created["id"] == hook.uid and hook.url == "https://hooks.example.org/hub" and hook.domains == ["repo"]
    listed = json.loads(hf("member", "webhooks", "list", "--format", "json").stdout)
    assert [w["id"] for w in listed] == [hook.uid]
    assert json.loads(hf("owner", "webhooks", "list", "--format", "json").stdout) == []  # only the caller's
    hf("member", "webhooks", "disable", hook.uid)
    hook.refresh_from_db()
    assert hook.disabled
    assert hf("owner", "webhooks", "delete", hook.uid, "--yes", ok=False).returncode != 0  # not theirs
    hf("member", "webhooks", "delete", hook.uid, "--yes")
    assert not Webhook.objects.exists()
