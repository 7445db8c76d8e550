"""Organisation isolation on /api/v1 (issue 15, item 6): a private repo's releases, checklists, waivers, validation
and inference checks exist only for its organisation's members (by role) and site admins. An admin of *another*
organisation — a consortium member that signs releases off, or not — gets exactly what a repo that does not exist
gets, on every route, read or write (the routes come from the URL resolver: a new one is walked without being listed).
"""

from __future__ import annotations

import json

import pytest

from registry.models import (
    InferenceCheck,
    LicenseAcceptance,
    Membership,
    ModelRepo,
    Organization,
    Release,
    ReleaseDecision,
    ValidationRun,
)
from registry.services.releases import release_approve, release_publish
from tests.fixtures.personas import make_key, make_user
from tests.fixtures.releases import checked, model_commit, request
from tests.fixtures.routes import routes

pytestmark = pytest.mark.django_db

BODY = json.dumps({"reason": "looks fine to me", "version": "9.0.0", "title": "planted", "answers": {}})


@pytest.fixture
def secret(personas, make_repo, admins, signing_key):
    """acme/secret, private, with everything /api/v1 can show: a published release whose manifest is signed (the
    repo was made private again afterwards), an open request, a validation run and an inference check."""
    repo = make_repo("secret", gating="auto")
    checked(model_commit(personas, repo))
    release = request(personas, repo, version="1.0.0")
    release_publish(release_id=release_approve(actor=admins["telco"], release=release).pk)
    request(personas, repo, version="1.1.0", title="Second")
    ModelRepo.objects.filter(pk=repo.pk).update(private=True)
    return repo


def state(repo) -> tuple:
    return (sorted(Release.objects.filter(repo=repo).values_list("version", "state", "inference_waiver_reason")),
            ReleaseDecision.objects.filter(release__repo=repo).count(),
            ValidationRun.objects.filter(repo=repo).count(), InferenceCheck.objects.filter(repo=repo).count(),
            LicenseAcceptance.objects.filter(repo=repo).count(), ModelRepo.objects.get(pk=repo.pk).private)


def other_org_admin(consortium: bool):
    org = Organization.objects.create(slug="rival", name="Rival", is_consortium_member=consortium)
    user = make_user("rival-admin")
    Membership.objects.create(user=user, organization=org, role=Membership.Role.ADMIN)
    return user


def call(client, method: str, url: str, secret_key: str):
    return client.generic(method, url, data=BODY if method != "GET" else "", content_type="application/json",
                          HTTP_AUTHORIZATION=f"Bearer {secret_key}")


@pytest.mark.parametrize("consortium", [True, False], ids=["consortium-admin", "non-consortium-admin"])
def test_every_v1_route_hides_a_private_repo_from_another_organisations_admin(client, personas, secret, consortium):
    outsider_key = make_key(other_org_admin(consortium), scopes="read,write,admin")
    owner_key = make_key(personas.owner, scopes="read,write,admin")
    before = state(secret)
    walked = 0
    for version in ("1.0.0", "1.1.0"):
        for route in routes("api.v1.urls", namespace="acme", name="secret", version=version):
            if "secret" not in route.url:  # the catalogue: the private repo is simply not in it
                listing = call(client, "GET", route.url, outsider_key)
                assert listing.status_code == 200 and "secret" not in listing.content.decode(), route.name
                continue
            never_existed = route.url.replace("/secret", "/nothing-here")
            for method in route.methods:
                answer = call(client, method, route.url, outsider_key)
                assert answer.status_code == 404, (method, route.name, version, answer.status_code)
                baseline = call(client, method, never_existed, outsider_key)
                assert answer.content == baseline.content, (method, route.name, version)  # no existence oracle
                walked += 1
                # An open request has no manifest yet: 404 for everyone.
                unsigned = version == "1.1.0" and route.url.endswith(("/manifest", "/manifest.sig"))
                if method in ("GET", "HEAD") and not unsigned:
                    # The 404 is about who asks: the owning organisation's admin reads the same URL.
                    assert call(client, method, route.url, owner_key).status_code == 200, (route.name, version)
    assert walked > 20
    assert state(secret) == before  # nothing was approved, rejected, waived, withdrawn, re-run or accepted


def test_another_consortiums_admin_sees_no_private_request_in_the_portal(client, personas, secret):
    rival = other_org_admin(consortium=True)
    client.force_login(rival)
    assert client.get("/releases/pending").status_code == 200
    assert "acme/secret" not in client.get("/releases/pending").content.decode()
    for url in ("/acme/secret/releases", "/acme/secret/releases/1.1.0", "/acme/secret/releases/1.0.0"):
        assert client.get(url).status_code == 404, url
    before = state(secret)
    for action in ("approve", "reject", "waive-inference", "withdraw"):
        response = client.post(f"/acme/secret/releases/1.1.0/{action}", {"reason": "mine now"})
        assert response.status_code == 404, action
    assert state(secret) == before
