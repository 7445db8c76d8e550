"""/api/v1/models/{ns}/{name}/inference-checks: list shape (newest first), visibility per persona, re-run
permissions (202 with the write scope)."""

from __future__ import annotations

import pytest

from registry.models import AuditEvent, InferenceCheck
from tests.api.v1.test_validation_api import PERSONAS, as_persona
from tests.fixtures.personas import make_key
from tests.registry.services.test_validation_pipeline import good_model


@pytest.fixture
def models(inspector, make_repo):  # noqa: ANN001, ANN201
    """acme/open and acme/secret (private), each with a finished check of main and a newer pending one."""
    found = {}
    for name, private in (("open", False), ("secret", True)):
        check = inspector.request(make_repo(name, private=private), **good_model())
        InferenceCheck.objects.filter(pk=check.pk).update(
            status="failed", reason="non-finite logits", metrics={"logits_finite": False},
            samples={"hello": "world"}, device="cpu", library_versions={"torch": "2"})
        newer = InferenceCheck.objects.create(repo=check.repo, commit=check.commit)
        found[name] = (check, newer)
    return found


def url(repo: str) -> str:
    return f"/api/v1/models/{repo}/inference-checks"


# --- GET --------------------------------------------------------------------------------------------


def test_list_is_newest_first_with_the_documented_shape(client, models):
    older, newer = models["open"]
    response = client.get(url("acme/open"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["revision"], body["commit"]) == ("main", older.commit.oid)
    assert [c["id"] for c in body["checks"]] == [newer.pk, older.pk]
    first = body["checks"][1]
    assert (first["status"], first["reason"]) == ("failed", "non-finite logits")
    assert first["metrics"] == {"logits_finite": False} and first["samples"] == {"hello": "world"}
    assert set(first) >= {"device", "library_versions", "worker_host", "duration_seconds", "created_at",
                          "started_at", "finished_at"}


def test_revision_by_commit_id_and_unknown_revision(client, models):
    older, _ = models["open"]
    assert client.get(url("acme/open"), {"revision": older.commit.oid}).json()["commit"] == older.commit.oid
    response = client.get(url("acme/open"), {"revision": "nope"})
    assert (response.status_code, response["X-Error-Code"]) == (404, "RevisionNotFound")


@pytest.mark.parametrize(("who", "status"), [
    ("owner", 200), ("member", 200), ("reader", 200), ("outsider", 404), ("anonymous", 404),
])
def test_private_repo_checks_follow_repo_visibility(client, personas, models, who, status):
    response = as_persona(client, personas, who).get(url("acme/secret"))
    assert response.status_code == status
    if status == 404:
        assert response["X-Error-Code"] == "RepoNotFound"


@pytest.mark.parametrize("who", PERSONAS)
def test_public_repo_checks_are_visible_to_everyone(client, personas, models, who):
    assert as_persona(client, personas, who).get(url("acme/open")).status_code == 200


def test_list_uses_a_fixed_number_of_queries(client, models, django_assert_max_num_queries):
    older, _ = models["open"]
    for _ in range(3):
        InferenceCheck.objects.create(repo=older.repo, commit=older.commit)
    with django_assert_max_num_queries(4):
        body = client.get(url("acme/open")).json()
    assert len(body["checks"]) == 5


# --- POST (re-run) ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [
    ("owner", 202), ("member", 202), ("reader", 403), ("outsider", 403), ("anonymous", 401),
])
def test_rerun_needs_write_access(client, personas, models, inspector, who, status):
    InferenceCheck.objects.filter(status="pending").delete()
    before = InferenceCheck.objects.count()
    inspector.checks.clear()
    with inspector.capture(execute=True):  # queued once the request's transaction commits
        response = as_persona(client, personas, who).post(url("acme/open"))
    assert response.status_code == status, response.content
    if status == 202:
        check = InferenceCheck.objects.order_by("-id").first()
        assert response.json() == {"revision": "main", "commit": check.commit.oid, "id": check.pk,
                                   "status": "pending"}
        assert inspector.checks[-1] == check.pk
        assert AuditEvent.objects.filter(action="inference.rerun").exists()
    else:
        assert InferenceCheck.objects.count() == before and not inspector.checks


@pytest.mark.parametrize(("who", "status"), [
    ("owner", 202), ("member", 202), ("reader", 403), ("outsider", 404), ("anonymous", 404),
])
def test_rerun_on_private_repo_hides_it_from_outsiders(client, personas, models, who, status):
    assert as_persona(client, personas, who).post(url("acme/secret")).status_code == status


@pytest.mark.parametrize(("scopes", "status"), [("read", 403), ("read,write", 202)])
def test_rerun_with_bearer_key_needs_the_write_scope(client, personas, models, scopes, status):
    secret = make_key(personas.member, scopes)
    response = client.post(url("acme/open"), HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == status


def test_openapi_schema_documents_the_inference_checks_endpoint():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    ops = schema["paths"]["/api/v1/models/{namespace}/{name}/inference-checks"]
    assert ops["get"]["operationId"] == "model_inference_checks"
    assert ops["post"]["operationId"] == "model_inference_checks_rerun"
