"""A dependency that fails inside a request is a 503 with Retry-After in the route's own format — the HF client's
headers, the /api/v1 envelope, a page in the portal — never a 500 (bounded waits, seen from outside)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import OperationalError, connection
from django.test import RequestFactory

from registry.storage import StorageError


@contextmanager
def database_down():
    """Every query fails as it does when PostgreSQL is gone ("server closed the connection unexpectedly")."""

    def refuse(execute, sql, params, many, context):  # noqa: ANN001, ANN202
        raise OperationalError("server closed the connection unexpectedly")

    with connection.execute_wrapper(refuse):
        yield


def assert_503(response, *, html: bool = False) -> None:  # noqa: ANN001
    assert response.status_code == 503, response.content[:500]
    assert response["Retry-After"] == "5"
    assert "database" in response["X-Error-Message"] or "blob store" in response["X-Error-Message"]
    if html:
        assert response["Content-Type"].startswith("text/html")
        assert "Temporarily unavailable" in response.content.decode()


@pytest.mark.parametrize("debug", [False, True])  # make run has DEBUG on: no technical 500 page either
def test_database_down_is_503_on_every_kind_of_route(client, seed, settings, debug):
    settings.DEBUG = debug
    with database_down():
        hf = client.get("/api/models/acme/tiny")
        head = client.head("/acme/tiny/resolve/main/config.json")
        native = client.get("/api/v1/models")
        page = client.get("/models")
    for response in (hf, head):
        assert_503(response)
        assert response["X-Error-Code"] == "ServiceUnavailable"
    assert head.content == b""
    assert_503(native)
    assert native.json() == {"error": native["X-Error-Message"], "code": "service_unavailable"}
    assert_503(page, html=True)


def test_blob_store_down_is_503_for_the_hf_client(client, seed, monkeypatch):
    from registry.storage.local import LocalBlobStore

    def unreachable(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise StorageError("connect timeout on endpoint URL")

    for method in ("head", "iter_bytes", "presigned_get_url"):
        monkeypatch.setattr(LocalBlobStore, method, unreachable)
    response = client.get("/acme/tiny/resolve/main/model.safetensors")
    assert_503(response)
    assert response["X-Error-Code"] == "ServiceUnavailable"


def test_other_errors_stay_500(client, seed, monkeypatch):
    from api.hf import common

    def bug(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise ZeroDivisionError("a bug, not an outage")

    monkeypatch.setattr(common, "repo_get", bug)
    client.raise_request_exception = False
    response = client.get("/api/models/acme/tiny")
    assert response.status_code == 500
    assert "Retry-After" not in response


def test_handler500_turns_a_middleware_s_dependency_failure_into_503(db):
    from portal.views.health import server_error

    request = RequestFactory().get("/api/models/acme/tiny")
    try:
        raise OperationalError("could not connect to server: Connection refused")
    except OperationalError:
        response = server_error(request)
    assert_503(response)
    try:
        raise KeyError("a bug")
    except KeyError:
        assert server_error(RequestFactory().get("/models")).status_code == 500
