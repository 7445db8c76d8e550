"""Issue 19's release walk-through, end to end against a live hub on a non-default port, with no GPU worker:

a member uploads a tiny real model with the stock client (card: `license: apache-2.0`, no license set in the
repository's settings) → the hub's license follows the card → the member requests a release over the API → the
checklist blocks on the inference check that never ran → a consortium admin waives it with a reason → another
approves → the signed manifest names the address the hub is served on, the license and the waiver → the stock
client downloads the tag and `manage.py verify_release` (production settings: DEBUG off, a SECRET_KEY) says OK.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.utils import get_session

from registry import tasks
from registry.models import AuditEvent, InferenceCheck, Release
from tests.fixtures.personas import make_key

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[3]
CARD = "---\nlicense: apache-2.0\nlanguage: [ko, en]\npipeline_tag: text-generation\n---\n# Tiny\nA tiny Llama.\n"


def test_member_to_verified_release_with_a_waived_inference_check(hub, client_env, tiny_model, admins,
                                                                  signing_key, settings, monkeypatch, tmp_path):
    from portal.celery import app

    settings.SITE_URL_CONFIGURED = False  # SITE_URL's default (port 8000) is not where this hub is served
    queued: list[int] = []
    monkeypatch.setattr(tasks.validate_commit, "apply_async", lambda args, **kw: queued.append(args[0]))

    # 1. The member uploads with the stock client; the card names apache-2.0, the settings name nothing.
    member_key = make_key(hub.p.member)
    api = HfApi(endpoint=hub.url, token=member_key)
    api.create_repo("acme/tiny", private=True)
    folder = tmp_path / "upload"
    folder.mkdir()
    for path in tiny_model.path.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "README.md").write_text(CARD)
    api.upload_folder(repo_id="acme/tiny", folder_path=str(folder))
    for run_id in dict.fromkeys(queued):
        tasks.validate_commit.apply(args=(run_id,))
    assert not InferenceCheck.objects.filter(status="passed").exists()  # no GPU worker here

    # 2. A release over the API: blocked by the inference check that never ran, and the checklist says why.
    session = get_session()
    base = f"{hub.url}/api/v1/models/acme/tiny/releases"

    def post(url: str, body: dict, key: str) -> dict:
        response = session.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        assert response.status_code in (200, 201), response.text
        return response.json()

    body = post(base, {"version": "1.0.0", "title": "First"}, member_key)
    unmet = {item["key"]: item["detail"] for item in body["checklist"] if not item["ok"]}
    assert set(unmet) == {"inference"}, body["checklist"]  # the license came from the card
    assert "not run" in unmet["inference"] and "waive" in unmet["inference"]

    # 3. An approver waives it (audited), 4. another approves: published at once (eager task).
    waived = post(f"{base}/1.0.0/waive-inference", {"reason": "this hub has no GPU workers"},
                  make_key(admins["telco"], scopes="read,write,admin"))
    assert waived["state"] == "pending" and waived["blocked"] is False
    assert AuditEvent.objects.filter(action="release.waive_inference").count() == 1
    monkeypatch.setitem(app.conf, "task_always_eager", True)  # the publish task runs in the approving request
    post(f"{base}/1.0.0/approve", {"reason": "ok"}, make_key(admins["chips"], scopes="read,write,admin"))
    assert Release.objects.get().state == Release.State.PUBLISHED

    # 5. The signed manifest: this hub's address, the card's license, the waiver.
    owner_key = make_key(hub.p.owner)
    auth = {"Authorization": f"Bearer {owner_key}"}
    manifest = session.get(f"{base}/1.0.0/manifest", headers=auth, timeout=60)
    signature = session.get(f"{base}/1.0.0/manifest.sig", headers=auth, timeout=60)
    assert manifest.status_code == signature.status_code == 200
    data = json.loads(manifest.content)
    assert data["hub"] == hub.url
    assert data["license"]["slug"] == "apache-2.0"
    assert data["inference"]["waiver"] == {"reason": "this hub has no GPU workers", "by": "telco-admin"}

    # 6. Download the tag with the stock client and verify it under production settings (DEBUG off).
    snap = Path(snapshot_download("acme/tiny", revision="v1.0.0", endpoint=hub.url, token=owner_key,
                                  local_dir=tmp_path / "tiny-1.0.0"))
    (tmp_path / "m.json").write_bytes(manifest.content)
    (tmp_path / "m.sig").write_bytes(signature.content)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "DEBUG": "false", "SECRET_KEY": "production-secret-key-for-the-walk-through-" + "x" * 20,
           "DJANGO_SETTINGS_MODULE": "portal.settings", "VAR_DIR": str(tmp_path / "var"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), "verify_release", str(snap), "--manifest",
                           str(tmp_path / "m.json"), "--signature", str(tmp_path / "m.sig"), "--hub", hub.url],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: signature valid" in done.stdout
