"""`hf upload` prints the commit's URL (`CommitInfo.commit_url`, from the commit endpoint's `commitUrl`): that URL
is the commit's page, listing what the upload changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx
import pytest
from huggingface_hub import HfApi

from registry.models import Branch
from tests.fixtures.personas import make_key

pytestmark = pytest.mark.live


def test_the_commit_url_the_client_returns_is_the_commit_page(live_server, personas, make_repo, client_env):
    make_repo("tiny")
    api = HfApi(endpoint=live_server.url, token=make_key(personas.member))
    api.upload_file(path_or_fileobj=b'{"hidden_size": 64}\n', path_in_repo="config.json", repo_id="acme/tiny")
    info = api.upload_file(path_or_fileobj=b'{"hidden_size": 128}\n', path_in_repo="config.json",
                           repo_id="acme/tiny", commit_message="Wider")
    assert info.commit_url == f"{live_server.url}/acme/tiny/commit/{info.oid}"
    page = httpx.get(info.commit_url)
    assert page.status_code == 200
    assert "Wider" in page.text and 'data-path="config.json" data-kind="modified"' in page.text
    assert "+{&quot;hidden_size&quot;: 128}" in page.text


def test_hf_upload_prints_a_url_that_opens(live_server, personas, make_repo, tmp_path: Path):
    make_repo("tiny")
    card = tmp_path / "README.md"
    card.write_text("# Tiny\n")
    env = {**os.environ, "HF_ENDPOINT": live_server.url, "HF_TOKEN": make_key(personas.member),
           "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1", "NO_PROXY": "127.0.0.1,localhost"}
    hf = Path(sys.executable).with_name("hf")
    done = subprocess.run([str(hf), "upload", "acme/tiny", str(card), "README.md"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    head = Branch.objects.get(repo__name="tiny", name="main").head
    url = f"{live_server.url}/acme/tiny/commit/{head.oid}"
    assert url in done.stdout + done.stderr
    page = httpx.get(url)
    assert page.status_code == 200 and 'data-path="README.md" data-kind="added"' in page.text
