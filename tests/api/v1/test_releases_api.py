"""Releases over the native API: request with the checklist, sign-off with admin keys, the signed manifest,
the public key at /.well-known, verify_release against a snapshot downloaded with huggingface_hub."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.management import CommandError, call_command

from registry import signing
from registry.models import Membership, Organization, Release, Tag
from tests.fixtures.personas import make_key, make_user
from tests.fixtures.releases import model_commit, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _signing(signing_key):
    return signing_key


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def eager_publish(monkeypatch):
    """Publishing runs in the request's on-commit hook, through the real Celery task (eagerly)."""
    from portal.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)


BASE = "/api/v1/models/acme/tiny/releases"


def post(client, url, body, secret):
    return client.post(url, data=json.dumps(body), content_type="application/json", **bearer(secret))


def test_request_approve_publish_and_fetch_the_signed_manifest(client, personas, ready, admins, eager_publish,
                                                               django_capture_on_commit_callbacks):
    repo, commit = ready
    writer = make_key(personas.member)
    response = post(client, BASE, {"version": "1.0.0", "title": "First", "notes": "**Hi**"}, writer)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["state"], body["blocked"], body["commit"]) == ("pending", False, commit.oid)
    assert [item["ok"] for item in body["checklist"]] == [True, True, True, True]
    assert body["manifest_url"] is None

    admin_key = make_key(admins["telco"], scopes="read,write,admin")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, f"{BASE}/1.0.0/approve", {"reason": "ok"}, admin_key)
    assert response.status_code == 200, response.content
    assert Release.objects.get().state == Release.State.PUBLISHED
    assert Tag.objects.filter(repo=repo, name="v1.0.0").exists()

    detail = client.get(f"{BASE}/1.0.0").json()  # the repo is public now: anonymous may read
    assert detail["state"] == "published" and detail["decisions"][0]["organization"] == "telco"
    manifest = client.get(detail["manifest_url"])
    signature = client.get(detail["signature_url"])
    assert manifest.status_code == signature.status_code == 200
    pem = client.get("/.well-known/release-signing-key")
    assert pem.status_code == 200 and pem.content.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert signing.verify(manifest.content, signature.content.decode(), pem.content)
    assert len(base64.b64decode(signature.content)) == 64
    assert json.loads(manifest.content)["files"][0]["path"] == ".gitattributes"
    assert [r["version"] for r in client.get(BASE).json()] == ["1.0.0"]


def test_a_blocked_request_says_why(client, personas, make_repo):
    repo = make_repo("tiny")
    model_commit(personas, repo)
    response = post(client, BASE, {"version": "0.1.0", "title": "Early"}, make_key(personas.member))
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "draft" and body["blocked"] is True
    assert {item["key"] for item in body["checklist"] if not item["ok"]} == {"validation", "inference", "license"}


@pytest.mark.parametrize(("who", "scopes", "status"), [
    ("anonymous", None, 401), ("reader", "read", 403), ("member", "read", 403), ("outsider", "read,write", 404),
])
def test_requests_need_write_access(client, personas, ready, who, scopes, status):
    headers = bearer(make_key(getattr(personas, who), scopes=scopes)) if scopes else {}
    response = client.post(BASE, data=json.dumps({"version": "1.0.0", "title": "x"}),
                           content_type="application/json", **headers)
    assert response.status_code == status
    assert not Release.objects.exists()


def test_sign_off_needs_an_admin_scope_key_of_a_consortium_admin(client, personas, ready, admins):
    repo, _ = ready
    post(client, BASE, {"version": "1.0.0", "title": "First"}, make_key(personas.member))
    telco = admins["telco"]
    assert post(client, f"{BASE}/1.0.0/approve", {}, make_key(telco, scopes="read,write")).status_code in (403, 404)
    outside = Organization.objects.create(slug="lab", name="Lab", is_consortium_member=False)
    lab_admin = make_user("lab-admin")
    Membership.objects.create(user=lab_admin, organization=outside, role=Membership.Role.ADMIN)
    assert post(client, f"{BASE}/1.0.0/approve", {}, make_key(lab_admin, scopes="read,admin")).status_code == 404
    response = post(client, f"{BASE}/1.0.0/reject", {"reason": ""}, make_key(telco, scopes="read,admin"))
    assert response.status_code in (400, 404)
    assert Release.objects.get().state == Release.State.PENDING


def test_open_requests_of_a_private_repo_are_hidden_from_outsiders(client, personas, ready):
    post(client, BASE, {"version": "1.0.0", "title": "First"}, make_key(personas.member))
    assert client.get(f"{BASE}/1.0.0", **bearer(make_key(personas.outsider))).status_code == 404
    assert client.get(f"{BASE}/1.0.0/manifest", **bearer(make_key(personas.member))).status_code == 404
    assert client.get(f"{BASE}/1.0.0", **bearer(make_key(personas.reader))).status_code == 404  # not published
    assert client.get(f"{BASE}/1.0.0", **bearer(make_key(personas.member))).json()["state"] == "pending"


def test_verify_release_command(personas, ready, admins, tmp_path, capsys):
    from registry.services.releases import release_approve, release_publish, release_request

    repo, commit = ready
    release = release_request(actor=personas.member, repo=repo, version="2.0.0", revision="main", title="Two")
    release = release_publish(release_id=release_approve(actor=admins["telco"], release=release).pk)
    snap = tmp_path / "snap"
    snap.mkdir()
    for name, body in snapshot(commit).items():
        (snap / name).write_bytes(body)
    (tmp_path / "m.json").write_bytes(bytes(release.manifest))
    (tmp_path / "m.sig").write_text(release.signature)
    (tmp_path / "key.pem").write_bytes(signing.signing_public_key_pem())
    args = [str(snap), "--manifest", str(tmp_path / "m.json"), "--signature", str(tmp_path / "m.sig"),
            "--public-key", str(tmp_path / "key.pem")]
    call_command("verify_release", *args)
    assert "OK: signature valid" in capsys.readouterr().out

    (snap / "README.md").write_bytes(b"tampered")
    with pytest.raises(CommandError, match="does not match"):
        call_command("verify_release", *args)
    assert "FAIL README.md: size" in capsys.readouterr().err
