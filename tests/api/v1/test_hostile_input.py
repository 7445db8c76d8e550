"""Hostile input on the native API (/api/v1): every write route, revisions with CR/LF, names the policy refuses.
A clear 4xx with X-Error-Code and a wire-safe X-Error-Message, never a 5xx."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.fixtures.fuzz import assert_error_contract
from tests.fixtures.personas import make_key

DEEP = "[" * 5000 + "]" * 5000
BASE = "/api/v1/models/acme/tiny"
WRITE_ROUTES = [f"{BASE}/license/accept", f"{BASE}/validation/rerun", f"{BASE}/inference-checks",
                f"{BASE}/releases", f"{BASE}/releases/1.0.0/approve", f"{BASE}/releases/1.0.0/reject",
                f"{BASE}/releases/1.0.0/withdraw", f"{BASE}/releases/1.0.0/waive-inference"]


@pytest.fixture
def owner(personas, make_repo):
    from tests.fixtures.releases import request

    request(personas, make_repo("tiny"))  # release 1.0.0, for the action routes
    return Client(raise_request_exception=False,
                  HTTP_AUTHORIZATION=f"Bearer {make_key(personas.owner, scopes='read,write,admin')}")


def check(response, status: int) -> None:  # noqa: ANN001
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert_error_contract(response)


@pytest.mark.parametrize("url", WRITE_ROUTES)
def test_deeply_nested_json_on_every_write_route_is_a_400(owner, url):
    check(owner.post(url, DEEP, content_type="application/json"), 400)


@pytest.mark.parametrize("body", ['{"revision": "\\udcff"}', '{"revision": "a\\u0000"}', '{"a": 1, "a": 2}',
                                  '{"version": NaN}', "\xff"])
@pytest.mark.parametrize("url", [f"{BASE}/releases", f"{BASE}/validation/rerun"])
def test_json_no_column_can_hold_is_a_400(owner, url, body):
    check(owner.post(url, body.encode("utf-8", "surrogatepass"), content_type="application/json"), 400)


@pytest.mark.parametrize("revision", ["a%0D%0Ab", "%0A", "x%01y", "main%E2%80%AE", "x" * 3000])
@pytest.mark.parametrize("route", ["validation", "inference-checks"])
def test_crlf_and_controls_in_the_revision_are_a_404_with_safe_headers(owner, route, revision):
    check(owner.get(f"{BASE}/{route}?revision={revision}"), 404)


@pytest.mark.parametrize("revision", [["main"], {"a": 1}, 5, "a\r\nb"])
def test_a_revision_in_the_body_that_names_nothing_is_a_4xx(owner, revision):
    response = owner.post(f"{BASE}/validation/rerun", json.dumps({"revision": revision}),
                          content_type="application/json")
    assert response.status_code in (400, 404)
    check(response, response.status_code)


@pytest.mark.parametrize("name", ["a--b", "-x", "a..b", "x" * 97, "%ED%95%9C"])
def test_names_the_policy_refuses_are_not_routed(owner, name):
    check(owner.get(f"/api/v1/models/acme/{name}"), 404)
    check(owner.get(f"/api/v1/models/{name}/tiny/releases"), 404)


@pytest.mark.parametrize("data", [{"version": "2.0.0", "title": "t" * 5000}, {"version": "1." * 60 + "0", "title": "t"},
                                  {"version": "2.0.0-" + "a" * 100, "title": "t"}])
def test_release_fields_longer_than_their_columns_are_a_400(owner, data):
    check(owner.post(f"{BASE}/releases", json.dumps(data), content_type="application/json"), 400)


def test_validation_errors_use_the_documented_envelope(owner):
    response = owner.post(f"{BASE}/releases", "{}", content_type="application/json")
    check(response, 400)
    body = response.json()
    assert body["code"] == "invalid" and "version: This field is required." in body["error"]
    assert body["fields"]["version"] == ["This field is required."]
    assert response["X-Error-Message"].startswith("version: This field is required.")


def test_the_schema_documents_every_error_status_with_the_envelope(client):
    schema = client.get("/api/schema/?format=json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert "400" in operation["responses"], (method, path)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)
    assert schema["components"]["schemas"]["ErrorEnvelope"]["required"] == ["error", "code"]
