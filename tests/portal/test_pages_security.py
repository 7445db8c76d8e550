"""Cross-cutting page behaviour: CSP header, CSRF on forms, helpful error pages."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/", "/models", "/acme", "/acme/tiny", "/acme/tiny/tree/main",
                                  "/accounts/login/", "/nobody/nothing"])
def test_every_portal_page_has_a_strict_csp(client, seed, path):
    response = client.get(path)
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    # no inline script anywhere: every <script> has a src
    assert not re.search(rb"<script(?![^>]*\bsrc=)[^>]*>", response.content)
    assert b" onclick=" not in response.content and b" onchange=" not in response.content


def test_swagger_ui_keeps_its_own_policy(client, db):
    response = client.get("/api/docs/")
    assert "Content-Security-Policy" not in response


@pytest.mark.parametrize("path", ["/settings/tokens", "/acme/gated-auto/accept"])
def test_forms_carry_csrf_tokens(as_user, personas, seed, path):
    assert b"csrfmiddlewaretoken" in as_user(personas.outsider).get(path).content


@pytest.mark.parametrize("path, data", [
    ("/settings/tokens", {"name": "x", "scopes": ["read"]}),
    ("/acme/access-requests", {"request": "1", "decision": "approve"}),
    ("/i18n/setlang/", {"language": "ko"}),
])
def test_posts_without_csrf_token_are_refused(personas, seed, path, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.owner)
    assert client.post(path, data).status_code == 403


def test_403_page_explains(as_user, personas, seed):
    response = as_user(personas.member).get("/acme/access-requests")
    assert response.status_code == 403
    html = response.content.decode()
    assert "You don't have permission to do that" in html
    assert "only the organisation&#x27;s admins can review access requests" in html
    assert "signed in as mina" in html
