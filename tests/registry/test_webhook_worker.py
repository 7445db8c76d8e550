"""A webhook delivered by a real Celery worker: a commit's event queues the delivery job on the broker, the worker
POSTs the payload to a receiver on 127.0.0.1 (WEBHOOKS_ALLOW_PRIVATE, as in the embedded hub) and logs it.

Shares database and broker with the worker the way test_release_worker does."""

from __future__ import annotations

import pytest
from huggingface_hub import WebhookPayload

from registry.models import Job, WebhookDelivery
from registry.services.commits import AddInline, commit_create
from registry.services.webhooks import webhook_create
from tests.fixtures.workers import celery_worker, wait_until
from tests.webhooks_support import receiver  # noqa: F401 - fixture

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tmp_path):  # noqa: ANN001, ANN201
    env = {"WEBHOOKS_ALLOW_PRIVATE": "true", "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    with celery_worker("validation", tmp_path / "worker.log", name="webhook-test", env=env) as log:
        yield log


def test_a_worker_delivers_a_commits_webhook(personas, make_repo, receiver, worker) -> None:  # noqa: ANN001, F811
    repo = make_repo("tiny")
    hook = webhook_create(actor=personas.owner, url=receiver.url, watched=[{"type": "model", "name": "acme/tiny"}],
                          secret="s3cret")
    commit = commit_create(actor=personas.owner, repo=repo, operations=[AddInline("a.txt", b"a")], title="add a")
    wait_until(lambda: receiver.requests, 60, "the delivery", worker)
    [request] = receiver.requests
    assert request.headers["X-Webhook-Secret"] == "s3cret"
    payload = WebhookPayload.model_validate_json(request.body)
    assert payload.webhook.id == hook.uid and payload.updatedRefs[0].newSha == commit.oid
    delivery = wait_until(lambda: WebhookDelivery.objects.filter(status="delivered").first(), 30,
                          "the delivery log", worker)
    assert delivery.response_status == 200 and delivery.latency_ms is not None
    wait_until(lambda: Job.objects.filter(task="registry.deliver_webhook", key=delivery.pk, state="done").exists(),
               30, "the job finishing", worker)
