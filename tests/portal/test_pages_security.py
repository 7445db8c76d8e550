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


def test_api_docs_get_the_strict_policy_and_load_nothing_from_another_host(client, db):
    from django.contrib.staticfiles import finders

    response = client.get("/api/docs/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "cdn" not in policy
    html = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script on the docs page"
    assert "<style" not in html, "inline style on the docs page"
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls and not [u for u in urls if "//" in u], f"the docs page refers to another host: {urls}"
    # Swagger UI's bundle and stylesheet are the hub's own static files (drf-spectacular-sidecar) ...
    static = [u.removeprefix("/static/") for u in urls if u.startswith("/static/")]
    assert any(s.endswith("swagger-ui-bundle.js") for s in static)
    assert all(finders.find(s) for s in static), static
    # ... and the init script is served by the hub too, as JavaScript, with the schema's address in it.
    script = next(u for u in urls if "script" in u and not u.startswith("/static/"))
    init = client.get(script.replace("&amp;", "&"))
    assert init.status_code == 200 and init["Content-Type"].startswith("application/javascript")
    assert b"/api/schema/" in init.content


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
    response = as_user(personas.reader).get("/acme/access-requests")
    assert response.status_code == 403
    html = response.content.decode()
    assert "You don't have permission to do that" in html
    assert "Only the organisation&#x27;s members with the write or admin role review access requests." in html
    assert "signed in as rae" in html
