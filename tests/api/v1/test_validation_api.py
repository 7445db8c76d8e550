"""/api/v1/models/{ns}/{name}/validation: shape, visibility per persona, re-run permissions; quarantine in
/resolve (a failed file answers 403 FileQuarantined)."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from registry.models import AuditEvent, ValidationRun
from tests.fixtures.personas import make_key
from tests.registry.services.test_validation_pipeline import EVIL_PICKLE, README, good_model

PERSONAS = ["owner", "member", "reader", "outsider", "anonymous"]


@pytest.fixture
def models(validator, make_repo):  # noqa: ANN001, ANN201
    """acme/open (a good model, then a bad pickle on top) and acme/secret (private, good)."""
    open_repo = make_repo("open")
    first = validator.commit_and_run(open_repo, **good_model())
    bad = validator.commit_and_run(open_repo, blobs={"pytorch_model.bin": EVIL_PICKLE})
    secret = make_repo("secret", private=True)
    secret_run = validator.commit_and_run(secret, **good_model())
    return {"open": open_repo, "first": first, "bad": bad, "secret": secret, "secret_run": secret_run}


def as_persona(client, personas, who):  # noqa: ANN001, ANN201
    user = getattr(personas, who)
    if user.is_authenticated:
        client.force_login(user)
    return client


def url(repo: str, suffix: str = "") -> str:
    return f"/api/v1/models/{repo}/validation{suffix}"


# --- GET --------------------------------------------------------------------------------------------


def test_validation_of_main_has_the_documented_shape(client, models):
    response = client.get(url("acme/open"))
    assert response.status_code == 200, response.content
    body = response.json()
    bad = models["bad"]
    assert {k: body[k] for k in ("revision", "commit", "status")} == {
        "revision": "main", "commit": bad.commit.oid, "status": "failed"}
    assert body["progress"] == {"bytes_checked": len(EVIL_PICKLE), "bytes_total": len(EVIL_PICKLE)}
    assert [f["path"] for f in body["files"]] == ["pytorch_model.bin"]
    file = body["files"][0]
    assert file["sha256"] == hashlib.sha256(EVIL_PICKLE).hexdigest() and file["size"] == len(EVIL_PICKLE)
    assert file["status"] == "failed"
    assert all(set(c) == {"name", "status", "message"} for c in file["checks"])
    assert any("os.system" in c["message"] for c in file["checks"])
    # pytorch_model.bin has its safetensors twin (model.safetensors): no twin warning
    names = {c["name"] for c in body["summary"]["checks"]}
    assert names == {"config", "tokenizer", "model_card", "parameters", "layers", "shapes", "tied_embeddings"}
    assert body["summary"]["parameter_count"] > 0


def test_validation_of_an_older_revision_by_commit_id(client, models):
    first = models["first"]
    body = client.get(url("acme/open"), {"revision": first.commit.oid}).json()
    assert (body["commit"], body["status"]) == (first.commit.oid, "passed")
    assert {f["path"] for f in body["files"]} == {"config.json", "README.md", "tokenizer.json",
                                                  "model.safetensors"}


def test_unknown_revision_and_unvalidated_revision_are_404(client, models):
    response = client.get(url("acme/open"), {"revision": "nope"})
    assert (response.status_code, response["X-Error-Code"]) == (404, "RevisionNotFound")
    ValidationRun.objects.filter(pk=models["bad"].pk).delete()
    response = client.get(url("acme/open"))
    assert (response.status_code, response["X-Error-Code"]) == (404, "ValidationNotFound")


@pytest.mark.parametrize(("who", "status"), [
    ("owner", 200), ("member", 200), ("reader", 200), ("outsider", 404), ("anonymous", 404),
])
def test_private_repo_validation_follows_repo_visibility(client, personas, models, who, status):
    response = as_persona(client, personas, who).get(url("acme/secret"))
    assert response.status_code == status
    if status == 404:
        assert response["X-Error-Code"] == "RepoNotFound"


@pytest.mark.parametrize("who", PERSONAS)
def test_public_repo_validation_is_visible_to_everyone(client, personas, models, who):
    assert as_persona(client, personas, who).get(url("acme/open")).status_code == 200


def test_validation_read_uses_a_fixed_number_of_queries(client, models, validator,
                                                        django_assert_max_num_queries):
    validator.commit_and_run(models["open"], inline={f"notes/{i}.txt": b"n%d" % i for i in range(5)})
    with django_assert_max_num_queries(6):
        body = client.get(url("acme/open")).json()
    assert len(body["files"]) == 5


# --- rerun ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [
    ("owner", 202), ("member", 202), ("reader", 403), ("outsider", 403), ("anonymous", 401),
])
def test_rerun_needs_write_access(client, personas, models, validator, who, status):
    with validator.capture(execute=True):  # the task is queued once the request's transaction commits
        response = as_persona(client, personas, who).post(url("acme/open", "/rerun"))
    assert response.status_code == status, response.content
    run = ValidationRun.objects.get(pk=models["bad"].pk)
    if status == 202:
        assert response.json() == {"revision": "main", "commit": run.commit.oid, "status": "pending"}
        assert run.status == "pending" and validator.queued[-1] == run.pk
        assert AuditEvent.objects.filter(action="validation.rerun").exists()
    else:
        assert run.status == "failed"


@pytest.mark.parametrize(("who", "status"), [("owner", 202), ("reader", 403), ("outsider", 404),
                                             ("anonymous", 404)])
def test_rerun_on_private_repo_hides_it_from_outsiders(client, personas, models, who, status):
    assert as_persona(client, personas, who).post(url("acme/secret", "/rerun")).status_code == status


@pytest.mark.parametrize(("scopes", "status"), [("read", 403), ("read,write", 202)])
def test_rerun_with_bearer_key_needs_the_write_scope(client, personas, models, scopes, status):
    secret = make_key(personas.member, scopes)
    response = client.post(url("acme/open", "/rerun"), HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == status


def test_rerun_then_worker_recomputes_the_verdict(client, personas, models, validator):
    owner = as_persona(client, personas, "owner")
    owner.post(url("acme/open", "/rerun"), {"revision": models["first"].commit.oid})
    run = validator.run(ValidationRun.objects.get(pk=models["first"].pk))
    assert run.status == "passed"
    assert not any(f.summary.get("reused") for f in run.files.all())


def test_openapi_schema_documents_the_validation_endpoints():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    assert "/api/v1/models/{namespace}/{name}/validation" in paths
    get = paths["/api/v1/models/{namespace}/{name}/validation"]["get"]
    assert get["operationId"] == "model_validation"
    assert "/api/v1/models/{namespace}/{name}/validation/rerun" in paths
    assert yaml.safe_dump(schema)  # serialisable


# --- quarantine on /resolve -------------------------------------------------------------------------


def test_resolve_of_a_failed_file_is_403_file_quarantined(client, models):
    for method in (client.get, client.head):
        response = method("/acme/open/resolve/main/pytorch_model.bin")
        assert response.status_code == 403
        assert response["X-Error-Code"] == "FileQuarantined"
        assert "os.system" in response["X-Error-Message"]
    assert client.get("/acme/open/resolve/main/config.json").status_code == 200


def test_failed_inline_file_is_quarantined_too(client, models, validator):
    validator.commit_and_run(models["open"], inline={"extra.json": b'{"a": 1, "a": 2}'})
    response = client.get("/acme/open/resolve/main/extra.json")
    assert (response.status_code, response["X-Error-Code"]) == (403, "FileQuarantined")
    assert "duplicate key" in response["X-Error-Message"]


def test_quarantine_costs_no_extra_query_on_resolve(client, models, django_assert_max_num_queries):
    # repo, file lookup (quarantine annotated), download count, today's count for the 30-day chart
    with django_assert_max_num_queries(4):
        assert client.get("/acme/open/resolve/main/config.json").status_code == 200
    with django_assert_max_num_queries(2):
        assert client.head("/acme/open/resolve/main/pytorch_model.bin").status_code == 403


def test_identical_content_elsewhere_is_quarantined_as_well(client, models, validator, make_repo):
    other = make_repo("copy")
    validator.commit(other, blobs={"weights/model.bin": EVIL_PICKLE}, inline={"README.md": README})
    # not even validated for this commit yet: the content's verdict already quarantines it
    response = client.get("/acme/copy/resolve/main/weights/model.bin")
    assert (response.status_code, response["X-Error-Code"]) == (403, "FileQuarantined")
    assert json.loads(response.content)["error"].startswith("weights/model.bin failed validation")
