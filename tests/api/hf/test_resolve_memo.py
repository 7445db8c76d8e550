"""The memoised download path (registry.generation): a warm HEAD /resolve reads no table, and every change that
decides the answer — made through services, `queryset.update()`, or another process — is seen on the next request.

The test settings use a per-process cache (LocMemCache), under which nothing is memoised; these tests switch to the
file cache, which every process on the machine shares (the embedded mode's default; Redis in deployments).
"""

from __future__ import annotations

import os
import subprocess
import sys

import httpx2 as httpx
import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry import generation
from registry.models import ApiKey, Blob, ContentVerdict, Membership, ModelRepo
from registry.services.keys import api_key_revoke
from registry.services.licenses import license_accept
from tests.fixtures.workers import database_url

pytestmark = pytest.mark.live

CONFIG = b'{"model_type": "llama"}'
VOCAB = b"".join(b"token-%d\n" % i for i in range(20000))  # an inline file above the memo's content limit
WEIGHTS = b"\x01weights" * 4000


@pytest.fixture
def shared_cache(settings, tmp_path):  # noqa: ANN001, ANN201
    location = tmp_path / "var" / "cache"  # where portal.settings puts the file cache for VAR_DIR=tmp_path/var
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                   "LOCATION": str(location)}}
    generation.forget()
    yield tmp_path / "var"
    generation.forget()


@pytest.fixture
def seeded(hub, make_repo, shared_cache):  # noqa: ANN001, ANN201
    repo = make_repo("tiny")
    commit = hub.seed(repo, inline={"config.json": CONFIG, "vocab.txt": VOCAB}, blobs={"model.safetensors": WEIGHTS})
    return repo, commit


def head(hub, persona: str, path: str = "model.safetensors", repo_id: str = "acme/tiny") -> httpx.Response:  # noqa: ANN001
    token = hub.token(persona)
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.head(f"{hub.url}/{repo_id}/resolve/main/{path}", headers=headers)


def error_code(response: httpx.Response) -> str | None:
    return response.headers.get("x-error-code")


def test_a_warm_head_reads_no_table(hub, seeded, client):  # noqa: ANN001
    headers = {"HTTP_AUTHORIZATION": f"Bearer {hub.token('reader')}"}
    first = client.head("/acme/tiny/resolve/main/model.safetensors", **headers)
    assert first.status_code == 200, first.headers
    with CaptureQueriesContext(connection) as queries:
        again = client.head("/acme/tiny/resolve/main/model.safetensors", **headers)
    assert again.status_code == 200
    assert again["X-Linked-Etag"] == first["X-Linked-Etag"]
    assert len(queries.captured_queries) == 0, [q["sql"] for q in queries.captured_queries]
    # A counted download (the repo's counter) and the key's last-used time are not decisions: still no query.
    client.get("/acme/tiny/resolve/main/model.safetensors", **headers)
    with CaptureQueriesContext(connection) as queries:
        assert client.head("/acme/tiny/resolve/main/config.json", **headers).status_code == 200
        assert client.head("/acme/tiny/resolve/main/config.json", **headers).status_code == 200
    assert len(queries.captured_queries) <= 1  # the first HEAD of config.json looks it up once


def test_a_large_inline_file_is_remembered_without_its_bytes(hub, seeded, client):  # noqa: ANN001
    headers = {"HTTP_AUTHORIZATION": f"Bearer {hub.token('reader')}"}
    assert len(VOCAB) > 100_000
    assert client.get("/acme/tiny/resolve/main/vocab.txt", **headers).content == VOCAB
    with CaptureQueriesContext(connection) as queries:
        assert client.head("/acme/tiny/resolve/main/vocab.txt", **headers)["Content-Length"] == str(len(VOCAB))
    assert len(queries.captured_queries) == 0
    assert "content" in remembered("vocab.txt").get_deferred_fields()
    assert client.get("/acme/tiny/resolve/main/vocab.txt", **headers).content == VOCAB  # loaded again
    client.head("/acme/tiny/resolve/main/config.json", **headers)
    assert remembered("config.json").content == CONFIG  # small files keep their bytes


def remembered(path: str):  # noqa: ANN201
    """The memoised CommitFile of `path` (this process's memo)."""
    (entry,) = [value[1] for key, (_gen, _at, value) in generation._memo.items()
                if key[0] == "file" and value[2] == path]
    return entry


def test_visibility_and_takedown_changes_are_seen_at_once(hub, seeded):  # noqa: ANN001
    repo, _ = seeded
    assert head(hub, "anonymous").status_code == 200
    ModelRepo.objects.filter(pk=repo.pk).update(private=True)  # no signal, no service: the SQL is watched
    assert error_code(head(hub, "anonymous")) == "RepoNotFound"
    assert error_code(head(hub, "outsider")) == "RepoNotFound"
    assert head(hub, "reader").status_code == 200
    ModelRepo.objects.filter(pk=repo.pk).update(private=False, disabled=True)
    assert head(hub, "anonymous").status_code == 403
    assert head(hub, "anonymous").headers.get("x-error-message") == "Access to this resource is disabled."


def test_a_revoked_key_or_deactivated_user_stops_working_on_the_next_request(hub, seeded):  # noqa: ANN001
    assert head(hub, "reader").status_code == 200
    key = ApiKey.objects.get(user=hub.p.reader)
    api_key_revoke(actor=hub.p.reader, key=key)
    assert head(hub, "reader").status_code == 401
    assert head(hub, "member").status_code == 200
    get_user_model().objects.filter(pk=hub.p.member.pk).update(is_active=False)
    assert head(hub, "member").status_code == 401


def test_leaving_the_organisation_hides_its_private_repo(hub, seeded):  # noqa: ANN001
    repo, _ = seeded
    ModelRepo.objects.filter(pk=repo.pk).update(private=True)
    assert head(hub, "reader").status_code == 200
    Membership.objects.filter(user=hub.p.reader).delete()
    assert error_code(head(hub, "reader")) == "RepoNotFound"


def test_gating_and_license_acceptance(hub, seeded):  # noqa: ANN001
    repo, _ = seeded
    assert head(hub, "outsider").status_code == 200
    ModelRepo.objects.filter(pk=repo.pk).update(gating=ModelRepo.Gating.AUTO)
    assert error_code(head(hub, "outsider")) == "GatedRepo"
    license_accept(user=hub.p.outsider, repo=ModelRepo.objects.get(pk=repo.pk))
    assert head(hub, "outsider").status_code == 200


def test_new_commits_quarantine_and_rejected_bytes(hub, seeded):  # noqa: ANN001
    repo, first = seeded
    assert head(hub, "reader", "config.json").headers["x-repo-commit"] == first.oid
    second = hub.seed(repo, inline={"config.json": b'{"model_type": "llama", "v": 2}'})
    assert head(hub, "reader", "config.json").headers["x-repo-commit"] == second.oid
    blob = Blob.objects.get(commit_files__commit=second, commit_files__path="model.safetensors")
    ContentVerdict.objects.create(sha256=blob.sha256, size=blob.size, status="failed", reason="bad header")
    response = head(hub, "reader")
    assert error_code(response) == "FileQuarantined", response.headers
    ContentVerdict.objects.filter(sha256=blob.sha256).delete()
    assert head(hub, "reader").status_code == 200
    Blob.objects.filter(pk=blob.pk).update(state=Blob.State.REJECTED)
    assert error_code(head(hub, "reader")) == "BlobRejected"


def test_a_write_in_another_process_is_seen_within_the_recheck_window(hub, seeded, shared_cache, settings,
                                                                      monkeypatch):  # noqa: ANN001
    """A worker (or a second web process) shares only the cache and the database with this one. This process
    trusts the number it read for MEMO_RECHECK_MS (here on a clock the test moves), then reads it again."""
    settings.MEMO_RECHECK_MS = 50
    clock = [1000.0]
    monkeypatch.setattr(generation, "_clock", lambda: clock[0])
    assert head(hub, "anonymous").status_code == 200
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "SECRET_KEY": django_settings.SECRET_KEY,
           "VAR_DIR": str(shared_cache), "DATABASE_URL": database_url(), "BLOB_STORE": "local",
           "BLOB_LOCAL_ROOT": str(django_settings.BLOB_LOCAL_ROOT)}
    env.pop("CACHE_URL", None)  # the file cache under VAR_DIR, the one this test process reads
    code = ("import django; django.setup(); from registry.models import ModelRepo; "
            "print(ModelRepo.objects.filter(namespace='acme', name='tiny').update(private=True))")
    done = subprocess.run([sys.executable, "-c", code], cwd=django_settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
    clock[0] += 0.049
    assert head(hub, "anonymous").status_code == 200  # within the window: not read again yet
    clock[0] += 0.002
    assert error_code(head(hub, "anonymous")) == "RepoNotFound"
