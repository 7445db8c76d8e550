"""Accounts: sign-up with mandatory email verification, invitations that apply on confirmation, and the optional
OpenID Connect single sign-on configured by settings."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail

from registry.models import Membership
from registry.services.orgs import org_member_add

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_rate_limits_across_tests():
    """allauth rate-limits confirmation emails per address in the cache; each test starts afresh."""
    from django.core.cache import cache

    cache.clear()

SIGNUP = {"email": "dev@lab.example", "username": "dev", "password1": "a-long-Passphrase-42",
          "password2": "a-long-Passphrase-42"}


def _confirmation_link(message) -> str:
    match = re.search(r"https?://[^\s]+/accounts/confirm-email/[^\s]+/", message.body)
    assert match, message.body
    return urlparse(match.group(0)).path


def test_sign_up_requires_email_confirmation(client, db):
    response = client.post("/accounts/signup/", SIGNUP)
    assert response.status_code == 302 and response["Location"] == "/accounts/confirm-email/"
    user = get_user_model().objects.get(username="dev")
    assert not EmailAddress.objects.get(user=user).verified
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["dev@lab.example"]
    # Not signed in, and signing in is refused until the address is confirmed.
    assert client.get("/settings/tokens").status_code == 302
    client.post("/accounts/login/", {"login": "dev", "password": SIGNUP["password1"]})
    assert client.get("/settings/tokens").status_code == 302
    link = _confirmation_link(mail.outbox[-1])
    assert client.get(link).status_code == 200  # a page with a confirm button (no state change on GET)
    assert not EmailAddress.objects.get(user=user).verified
    client.post(link)
    assert EmailAddress.objects.get(user=user).verified
    client.post("/accounts/login/", {"login": "dev", "password": SIGNUP["password1"]})
    assert client.get("/settings/tokens").status_code == 200


@pytest.mark.parametrize("username", ["admin", "API", "a--b", "-x", "x.", "José", "a b", "a@b", "acme", "ACME",
                                      "name.git", "x" * 97])
def test_usernames_follow_the_name_policy_of_namespaces(client, personas, username):
    """A username is a namespace (repo ids, URLs): the same rule as organisations, and not an organisation's."""
    response = client.post("/accounts/signup/", {**SIGNUP, "username": username})
    assert response.status_code == 200  # the form again, with the error
    assert not get_user_model().objects.filter(email=SIGNUP["email"]).exists()


@pytest.mark.parametrize(("texts", "expected"), [
    (["José Núñez"], "Jose-Nunez"), (["dev+ci@lab.example"], "dev-ci"), (["..--"], ""), (["a" * 200], "a" * 80),
])
def test_single_sign_on_usernames_are_made_valid(texts, expected):
    from registry.names import name_ok, name_suggestion

    assert name_suggestion(texts[0]) == expected
    assert expected == "" or name_ok(expected)


def test_invitation_becomes_membership_when_the_address_is_confirmed(client, personas):
    org_member_add(actor=personas.owner, org=personas.org, who="dev@lab.example", role="write")
    client.post("/accounts/signup/", SIGNUP)
    user = get_user_model().objects.get(username="dev")
    assert not Membership.objects.filter(user=user).exists()  # not before the address is proven
    client.post(_confirmation_link(mail.outbox[-1]))
    assert Membership.objects.get(user=user, organization=personas.org).role == "write"


def test_signup_page_is_translated(client, db):
    html = client.get("/accounts/signup/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "회원가입" in html or "가입" in html


# --- single sign-on ----------------------------------------------------------------------------------------------


class _Discovery(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path != "/.well-known/openid-configuration":
            self.send_error(404)
            return
        base = f"http://127.0.0.1:{self.server.server_port}"
        body = json.dumps({
            "issuer": base, "authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo", "jwks_uri": f"{base}/jwks",
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def oidc_server():
    server = HTTPServer(("127.0.0.1", 0), _Discovery)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sso(settings, oidc_server):
    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"OAUTH_PKCE_ENABLED": True, "APPS": [{
        "provider_id": "acme-sso", "name": "Acme SSO", "client_id": "hub-client", "secret": "s3cret",
        "settings": {"server_url": oidc_server},
    }]}}
    return oidc_server


def test_no_sso_button_without_settings(client, db):
    html = client.get("/accounts/login/").content.decode()
    assert "Sign in with" not in html and "/accounts/oidc/" not in html


def test_sso_button_with_settings(client, sso):
    html = client.get("/accounts/login/").content.decode()
    assert "Sign in with Acme SSO" in html
    assert 'action="/accounts/oidc/acme-sso/login/?process=login"' in html


def test_sso_login_redirects_to_the_providers_authorization_endpoint(client, sso):
    response = client.post("/accounts/oidc/acme-sso/login/?process=login")
    assert response.status_code == 302
    target = urlparse(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{sso}/authorize"
    query = parse_qs(target.query)
    assert query["client_id"] == ["hub-client"] and query["response_type"] == ["code"]
    assert "openid" in query["scope"][0] and query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"][0].endswith("/accounts/oidc/acme-sso/login/callback/")


def test_sso_login_get_does_not_redirect(client, sso):
    """A GET (a link someone sent) shows a confirmation form instead of starting the login."""
    response = client.get("/accounts/oidc/acme-sso/login/?process=login")
    assert response.status_code == 200


def test_invitation_applies_on_sign_in_once_the_address_is_confirmed_elsewhere(client, personas):
    """An existing account whose address was unconfirmed when invited (e.g. confirmed later by single sign-on)."""
    EmailAddress.objects.create(user=personas.outsider, email="oscar@example.com", verified=False, primary=True)
    org_member_add(actor=personas.owner, org=personas.org, who="oscar@example.com", role="read")
    assert not Membership.objects.filter(user=personas.outsider).exists()
    EmailAddress.objects.filter(user=personas.outsider).update(verified=True)
    client.post("/accounts/login/", {"login": "oscar", "password": "pw-oscar"})
    assert Membership.objects.get(user=personas.outsider, organization=personas.org).role == "read"
