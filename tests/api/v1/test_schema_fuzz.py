"""schemathesis over the hub's own OpenAPI schema (/api/schema/): every /api/v1 operation, as a signed-in
consortium admin with an admin-scope key (so write routes run past authentication) and anonymously. Fails on any
5xx, on a response that breaks its documented schema or content type, and on a 4xx without X-Error-Code and
X-Error-Message (the error contract of api/wire.py).

Bounded for CI: fixed max_examples per operation, derandomized, no example database. Path parameters are pointed at
a real repo and release most of the time, so the operations get past their 404s.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from registry import generation
from tests.fixtures.fuzz import assert_error_contract, fuzz_settings
from tests.fixtures.personas import make_key

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, status_code_conformance]


@pytest.fixture(autouse=True)
def _requests_keep_the_test_transaction():
    """Calls go through the hub's WSGI app into the test's database transaction: like Django's test client, a
    request must not close the connection at its end (that would end the transaction too)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(personas, ready, admins, signing_key, settings):
    """acme/tiny (licensed, validated) with a published release 0.9.0 (signed manifest) and a pending 1.0.0, and
    an admin of another consortium organisation holding an admin-scope key."""
    from registry.services.releases import release_approve, release_publish
    from tests.fixtures.releases import request

    settings.RATE_LIMIT_API_PER_MINUTE = 0
    repo, _ = ready
    release_publish(release_id=release_approve(actor=admins["telco"], release=request(personas, repo, "0.9.0")).pk)
    request(personas, repo)
    return {
        "admin": f"Bearer {make_key(admins['telco'], scopes='read,write,admin')}",
        "owner": f"Bearer {make_key(personas.owner, scopes='read,write,admin')}",
        "anonymous": None,
    }


# Loaded from the hub itself (no database needed to describe the API).
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@schema.parametrize()
@schema.given(data=st.data())
@fuzz_settings(60)
def test_every_v1_operation_keeps_its_schema_and_never_fails(case, data, world):
    generation.forget()
    if "namespace" in (case.path_parameters or {}) and data.draw(st.integers(0, 9), label="real repo") > 0:
        case.path_parameters["namespace"], case.path_parameters["name"] = "acme", "tiny"
        if "version" in case.path_parameters and data.draw(st.integers(0, 3), label="real release") > 0:
            case.path_parameters["version"] = data.draw(st.sampled_from(["0.9.0", "1.0.0"]), label="version")
    if case.query and "revision" in case.query and data.draw(st.booleans(), label="real revision"):
        case.query["revision"] = "main"
    who = data.draw(st.sampled_from(["owner"] * 3 + ["admin", "anonymous"]), label="caller")
    headers = {"Authorization": world[who]} if world[who] else {}
    response = case.call_and_validate(headers=headers, checks=CHECKS)
    assert_error_contract(_AsDjango(response), f"{case.method} {case.formatted_path}")


class _AsDjango:
    """A schemathesis response seen through the interface assert_error_contract reads."""

    streaming = False

    def __init__(self, response: schemathesis.Response) -> None:
        self.status_code = response.status_code
        self.content = response.content
        self.headers = {name: values[-1] for name, values in response.headers.items()}

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def has_header(self, name: str) -> bool:
        return self.get(name) is not None

    def __getitem__(self, name: str) -> str:
        return self.get(name) or ""
