"""The release happy path through a real Celery worker: request → approve (the approval queues the publishing
task on the broker) → a worker tags, signs and publishes → withdrawal → the worker mails the advisories.

Shares database, broker and blob store with the worker the way test_validation_worker does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from registry import signing
from registry.models import Release, ReleaseAdvisory, Tag
from registry.services.downloads import user_download_record
from registry.services.releases import release_approve, release_withdraw
from tests.fixtures.personas import make_user
from tests.fixtures.releases import request
from tests.registry.test_inference_worker import wait_until
from tests.registry.test_validation_worker import READY_TIMEOUT, database_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tmp_path, signing_key):
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "VAR_DIR": str(settings.VAR_DIR),
        "DATABASE_URL": database_url(),
        "BLOB_STORE": "local",
        "BLOB_LOCAL_ROOT": str(settings.BLOB_LOCAL_ROOT),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "RELEASE_SIGNING_KEY": settings.RELEASE_SIGNING_KEY,
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", "validation", "--pool", "solo",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO", "--purge",
             "--hostname", f"release-test-{os.getpid()}@%h"],
            cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while b"ready." not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the worker did not start:\n{log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.2)
        yield log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_worker_publishes_an_approved_release_and_mails_the_withdrawal(personas, ready, admins, worker):
    repo, commit = ready
    release = release_approve(actor=admins["telco"], release=request(personas, repo))
    assert release.state == Release.State.APPROVED  # publishing is the worker's job

    def published() -> Release | None:
        row = Release.objects.get(pk=release.pk)
        return row if row.state == Release.State.PUBLISHED else None

    release = wait_until(published, 60, "publishing", worker)
    assert Tag.objects.get(repo=repo, name="v1.0.0").commit_id == commit.pk
    assert signing.verify(bytes(release.manifest), release.signature, signing.signing_public_key_pem())

    user = make_user("downloader")
    user_download_record(repo_id=repo.pk, commit_id=commit.pk, user_id=user.pk, api_key_id=None, ip=None)
    release_withdraw(actor=admins["chips"], release=release, reason="Recalled")
    wait_until(lambda: ReleaseAdvisory.objects.filter(user=user, sent_at__isnull=False).exists(), 60,
               "the advisory email", worker)
    log = Path(worker).read_text(errors="replace")
    assert "Advisory: release 1.0.0 was withdrawn" in log and "downloader@example.com" in log
