from __future__ import annotations

import pytest

from registry.models import ApiKey
from registry.services.keys import api_key_authenticate, api_key_create

pytestmark = pytest.mark.django_db

URL = "/settings/tokens"


def create(client, data):
    """POST the form the way a browser does: with the one-time id of a freshly rendered page."""
    nonce = client.get(URL).context["nonce"]
    return client.post(URL, {**data, "nonce": nonce})


def test_requires_login(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_create_shows_secret_exactly_once(as_user, personas):
    client = as_user(personas.member)
    response = create(client, {"name": "cluster", "scopes": ["read", "write"], "expires_days": "30"})
    assert response.status_code == 201
    secret = response.context["secret"]
    assert secret.startswith("hub_")
    assert secret.encode() in response.content
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(user=personas.member)
    assert key.name == "cluster" and key.scopes == ["read", "write"]
    assert api_key_authenticate(secret=secret) == key
    # Never kept anywhere the browser could get it back from.
    assert secret not in str(dict(client.session.items()))
    again = client.get(URL)
    assert secret.encode() not in again.content
    assert key.prefix.encode() in again.content


def test_resubmitting_the_form_creates_no_second_key(as_user, personas):
    client = as_user(personas.member)
    nonce = client.get(URL).context["nonce"]
    first = client.post(URL, {"name": "once", "scopes": ["read"], "nonce": nonce})
    assert first.status_code == 201
    replay = client.post(URL, {"name": "once", "scopes": ["read"], "nonce": nonce})  # browser reload
    assert replay.status_code == 200
    assert replay.context["secret"] is None
    assert first.context["secret"].encode() not in replay.content
    assert b"already sent" in replay.content
    assert ApiKey.objects.filter(user=personas.member).count() == 1
    assert client.post(URL, {"name": "no id", "scopes": ["read"]}).context["secret"] is None


def test_list_shows_prefix_scopes_last_used_and_only_own_keys(as_user, personas):
    mine, _ = api_key_create(user=personas.member, name="mine", scopes=["read"])
    theirs, _ = api_key_create(user=personas.outsider, name="theirs", scopes=["read"])
    html = as_user(personas.member).get(URL).content.decode()
    assert mine.prefix in html and "mine" in html
    assert theirs.prefix not in html
    assert "never" in html


def test_create_with_org_restriction(as_user, personas):
    client = as_user(personas.member)
    page = client.get(URL).content.decode()
    assert '<option value="acme">' in page
    create(client, {"name": "acme only", "scopes": ["write"], "organization": "acme"})
    assert ApiKey.objects.get(user=personas.member).organization == personas.org


def test_outsider_cannot_restrict_to_foreign_org(as_user, personas):
    data = {"name": "x", "scopes": ["write"], "organization": "acme"}
    response = create(as_user(personas.outsider), data)
    assert response.status_code == 200
    assert not ApiKey.objects.filter(user=personas.outsider).exists()


def test_admin_scope_refused_for_non_admins(as_user, personas):
    response = create(as_user(personas.outsider), {"name": "x", "scopes": ["admin"]})
    assert response.status_code == 200
    assert b"only organisation admins" in response.content
    assert not ApiKey.objects.filter(user=personas.outsider).exists()


def test_create_validates_input(as_user, personas):
    response = create(as_user(personas.member), {"name": "", "scopes": []})
    assert response.status_code == 200
    assert response.context["secret"] is None
    assert not ApiKey.objects.exists()


def test_revoke(as_user, personas):
    key, secret = api_key_create(user=personas.member, name="old", scopes=["read"])
    client = as_user(personas.member)
    assert client.get(f"/settings/tokens/{key.pk}/revoke").status_code == 405
    response = client.post(f"/settings/tokens/{key.pk}/revoke")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_authenticate(secret=secret) is None


def test_cannot_revoke_someone_elses_key(as_user, personas):
    key, _ = api_key_create(user=personas.member, name="old", scopes=["read"])
    assert as_user(personas.outsider).post(f"/settings/tokens/{key.pk}/revoke").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_list_query_count_is_constant(as_user, personas, django_assert_max_num_queries):
    for i in range(3):
        api_key_create(user=personas.owner, name=f"k{i}", scopes=["read"], organization=personas.org)
    client = as_user(personas.owner)
    with django_assert_max_num_queries(10) as few:
        client.get(URL)
    for i in range(3, 10):
        api_key_create(user=personas.owner, name=f"k{i}", scopes=["read"], organization=personas.org)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(URL)
