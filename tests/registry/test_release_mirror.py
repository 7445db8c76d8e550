"""Mirroring a published release to another instance of the hub: a second server in a subprocess, with its own
database and blob store, receives the files with the stock huggingface_hub client and the v{version} tag."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download

from registry.exceptions import InvalidInput, PermissionDenied
from registry.models import MirrorTarget, ReleaseMirror
from registry.services.mirrors import mirror_enqueue, mirror_push, mirror_target_set, token_decrypt
from registry.services.releases import release_approve, release_publish
from tests.fixtures.releases import request, snapshot
from tests.test_ops import free_port, get

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _signing(signing_key):
    return signing_key


@pytest.fixture
def target_hub(tmp_path):
    """Another hub: its own SQLite database, local blob store and user `mirror-bot` with a write key."""
    var = tmp_path / "target-var"
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "VAR_DIR": str(var), "DEBUG": "true", "SECRET_KEY": "target-hub-secret-key-0123456789-abcdefghij",
           "CELERY_BROKER_URL": f"filesystem://{var}/broker", "ALLOWED_HOSTS": "127.0.0.1,localhost",
           "SITE_URL": f"http://127.0.0.1:{port}"}

    def manage(*args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    for sub in ("broker/queue", "broker/processed", "broker/control"):
        (var / sub).mkdir(parents=True)
    manage("migrate", "--noinput")
    manage("shell", "-c", "from django.contrib.auth import get_user_model; "
                          "get_user_model().objects.create_user('mirror-bot', 'bot@example.com', 'pw')")
    token = manage("issue_api_key", "mirror-bot", "--scopes", "read,write").strip().splitlines()[-1]
    log = (tmp_path / "target.log").open("wb")
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if get(f"{url}/healthz", timeout=2)[0] == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        server.kill()
        pytest.fail((tmp_path / "target.log").read_text())
    yield url, token
    server.terminate()
    server.wait(timeout=10)


@pytest.mark.live
def test_a_published_release_is_pushed_to_another_hub(personas, ready, admins, target_hub, tmp_path,
                                                        django_capture_on_commit_callbacks, monkeypatch):
    url, token = target_hub
    repo, commit = ready
    target = mirror_target_set(actor=personas.owner, repo=repo, endpoint=url, target_repo_id="mirror-bot/tiny",
                               token=token)
    assert token not in target.token_encrypted and token_decrypt(target.token_encrypted) == token
    pushed = []
    monkeypatch.setattr("registry.services.mirrors._queue", pushed.append)
    release = request(personas, repo, version="1.0.0")
    release = release_approve(actor=admins["telco"], release=release)
    with django_capture_on_commit_callbacks(execute=True):
        release_publish(release_id=release.pk)
    assert len(pushed) == 1  # publishing queued the push

    mirror = mirror_push(mirror_id=pushed[0])
    assert mirror.status == ReleaseMirror.Status.DONE, mirror.error
    api = HfApi(endpoint=url, token=token)
    assert [t.name for t in api.list_repo_refs("mirror-bot/tiny").tags] == ["v1.0.0"]
    for path, body in snapshot(commit).items():
        local = hf_hub_download("mirror-bot/tiny", path, revision="v1.0.0", endpoint=url, token=token,
                                cache_dir=tmp_path / "cache")
        assert Path(local).read_bytes() == body, path

    again = mirror_push(mirror_id=mirror.pk)  # idempotent: nothing new on the target
    assert again.attempts == 1 and len(api.list_repo_commits("mirror-bot/tiny")) == 2
    release.refresh_from_db()
    assert mirror_enqueue(release=release) == [mirror] and len(pushed) == 1  # a done push isn't queued again


@pytest.mark.live
def test_a_refused_push_is_recorded_visibly(personas, ready, admins, target_hub):
    url, _ = target_hub
    repo, _ = ready
    mirror_target_set(actor=personas.owner, repo=repo, endpoint=url, target_repo_id="mirror-bot/tiny",
                      token="hub_bad_token")
    release = release_publish(release_id=release_approve(actor=admins["telco"],
                                                         release=request(personas, repo)).pk)
    mirror = ReleaseMirror.objects.create(release=release, target=MirrorTarget.objects.get(repo=repo))
    mirror = mirror_push(mirror_id=mirror.pk)
    assert mirror.status == ReleaseMirror.Status.FAILED and mirror.error


def test_mirror_targets_are_for_repo_admins_and_validated(personas, ready):
    repo, _ = ready
    with pytest.raises(PermissionDenied):
        mirror_target_set(actor=personas.member, repo=repo, endpoint="https://huggingface.co",
                          target_repo_id="org/name", token="t")
    for endpoint, target_id, token in [("ftp://x", "a/b", "t"), ("https://hf.co", "no-slash", "t"),
                                       ("https://hf.co", "a/b", " "), ("https://hf.co", "a/b\n", "t"),
                                       ("https://hf.co", "a--b/c", "t"), ("https://hf.co", "a/b/c", "t"),
                                       ("https://hf.co", None, "t")]:
        with pytest.raises(InvalidInput):
            mirror_target_set(actor=personas.owner, repo=repo, endpoint=endpoint, target_repo_id=target_id,
                              token=token)
    assert not MirrorTarget.objects.exists()
