"""The release happy path through a real Celery worker: request → approve (the approval queues the publishing
task on the broker) → a worker tags, signs and publishes → withdrawal → the worker mails the advisories.

Shares database, broker and blob store with the worker the way test_validation_worker does."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from registry import signing
from registry.models import Release, ReleaseAdvisory, Tag
from registry.services.downloads import user_download_record
from registry.services.releases import release_approve, release_withdraw
from tests.fixtures.personas import make_user
from tests.fixtures.releases import request
from tests.fixtures.workers import celery_worker, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tmp_path, signing_key):
    env = {"RELEASE_SIGNING_KEY": settings.RELEASE_SIGNING_KEY,
           "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    with celery_worker("validation", tmp_path / "worker.log", name="release-test", env=env) as log:
        yield log


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
    assert "has withdrawn this release" in log and "downloader@example.com" in log
