"""CSRF on the machine APIs (issue 15, item 4): a page on another site makes the victim's browser send requests with
the victim's session cookie, but it cannot read or set the CSRF token. So a write authenticated by the session
cookie must carry the token or be refused (403, and on the HF routes X-Error-Code/X-Error-Message); writes
authenticated by `Authorization: Bearer <API key>` — what huggingface_hub and scripts send — need no token.

`Client(enforce_csrf_checks=True)` runs Django's real CSRF check, as a browser request would meet it.
"""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client
from django.utils.crypto import get_random_string

from registry.models import Branch, Commit, ModelRepo, Tag
from registry.services.commits import AddInline, commit_create
from tests.fixtures.personas import make_key
from tests.fixtures.routes import UNSAFE, routes

pytestmark = pytest.mark.django_db


@pytest.fixture
def repo(personas, make_repo):
    repo = make_repo("tiny")
    commit_create(actor=personas.owner, repo=repo, title="seed", operations=[AddInline("README.md", b"# tiny\n")])
    return repo


@pytest.fixture
def browser(personas) -> Client:
    """The owner's signed-in browser, as a cross-site page drives it: the session cookie, no CSRF token."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.owner)
    return client


def with_token(client: Client) -> dict[str, str]:
    """What the hub's own pages send: the CSRF cookie and the same token in X-CSRFToken."""
    token = get_random_string(32)
    client.cookies["csrftoken"] = token
    return {"HTTP_X_CSRFTOKEN": token}


def bearer(user) -> dict[str, str]:  # noqa: ANN001
    return {"HTTP_AUTHORIZATION": f"Bearer {make_key(user)}"}


def assert_csrf_refused(response) -> None:
    assert response.status_code == 403, response.content
    assert response["X-Error-Code"] == "CsrfFailed"
    assert "CSRF" in response["X-Error-Message"] and "Authorization: Bearer" in response["X-Error-Message"]


def commit_body(path: str) -> str:
    lines = [{"key": "header", "value": {"summary": "from another site"}},
             {"key": "file", "value": {"path": path, "content": base64.b64encode(b"x").decode(),
                                       "encoding": "base64"}}]
    return "\n".join(json.dumps(line) for line in lines)


# --- the HF routes -------------------------------------------------------------------------------------------


def test_every_hf_route_refuses_a_session_write_without_the_csrf_token(browser, repo):
    """Walks every HF-compatible route (from the URL resolver: new routes are covered without being listed)."""
    walked = routes("api.hf.urls", namespace="acme", name="tiny", rest="main", token="t", write="/write",
                    status="pending", uid="0" * 32, switch="enable", num="1", comment_id="abc", username="olivia",
                    extension=".png")
    commits = Commit.objects.filter(repo=repo).count()
    for route in walked:
        for method in UNSAFE:
            response = browser.generic(method, route.url, data="{}", content_type="application/json")
            if response.status_code == 405:
                continue  # the route takes no such method: nothing ran
            assert response.status_code == 403, (method, route.name, response.status_code)
            assert response["X-Error-Code"] == "CsrfFailed", (method, route.name)
    assert Commit.objects.filter(repo=repo).count() == commits
    assert list(Branch.objects.filter(repo=repo).values_list("name", flat=True)) == ["main"]


@pytest.mark.parametrize(
    ("method", "path", "body", "changed"),
    [
        ("POST", "/api/repos/create", {"name": "planted", "organization": "acme"},
         lambda repo: ModelRepo.objects.filter(name="planted").exists()),
        ("PUT", "/api/models/acme/tiny/settings", {"private": True},
         lambda repo: ModelRepo.objects.get(pk=repo.pk).private),
        ("POST", "/api/models/acme/tiny/branch/planted", {},
         lambda repo: Branch.objects.filter(repo=repo, name="planted").exists()),
        ("POST", "/api/models/acme/tiny/tag/main", {"tag": "planted"},
         lambda repo: Tag.objects.filter(repo=repo, name="planted").exists()),
        ("POST", "/api/repos/move", {"fromRepo": "acme/tiny", "toRepo": "acme/moved"},
         lambda repo: ModelRepo.objects.get(pk=repo.pk).name == "moved"),
        ("DELETE", "/api/repos/delete", {"name": "tiny", "organization": "acme"},
         lambda repo: not ModelRepo.objects.filter(pk=repo.pk).exists()),
    ],
    ids=["create-repo", "settings", "branch", "tag", "move", "delete"],
)
def test_hf_writes_with_the_session_need_the_csrf_token(browser, repo, method, path, body, changed):
    refused = browser.generic(method, path, data=json.dumps(body), content_type="application/json")
    assert_csrf_refused(refused)
    assert not changed(repo)
    accepted = browser.generic(method, path, data=json.dumps(body), content_type="application/json",
                               **with_token(browser))
    assert accepted.status_code == 200, accepted.content
    assert changed(repo)


def test_a_cross_site_commit_is_refused_and_api_keys_commit_without_a_token(browser, personas, repo):
    url = "/api/models/acme/tiny/commit/main"
    commits = Commit.objects.filter(repo=repo).count()
    refused = browser.post(url, data=commit_body("planted.txt"), content_type="application/x-ndjson")
    assert_csrf_refused(refused)
    assert Commit.objects.filter(repo=repo).count() == commits
    # The stock client's way: a bearer key, no cookie, no token, through the same enforcing client.
    scripted = Client(enforce_csrf_checks=True).post(url, data=commit_body("by-key.txt"),
                                                      content_type="application/x-ndjson", **bearer(personas.member))
    assert scripted.status_code == 200, scripted.content
    # A bearer key wins over a session cookie sent alongside it: no token needed either.
    both = browser.post(url, data=commit_body("key-and-cookie.txt"), content_type="application/x-ndjson",
                        **bearer(personas.member))
    assert both.status_code == 200, both.content
    assert Commit.objects.filter(repo=repo).count() == commits + 2
    # No session, no authority to borrow: an anonymous write gets the usual refusal, not a CSRF error.
    anonymous = Client(enforce_csrf_checks=True).post(url, data=commit_body("anon.txt"),
                                                      content_type="application/x-ndjson")
    assert anonymous.status_code in (401, 403) and anonymous["X-Error-Code"] != "CsrfFailed"


# --- /api/v1 and the Xet CAS: already safe, kept so ---------------------------------------------------------------


def test_native_api_writes_with_the_session_need_the_csrf_token(browser, personas, repo):
    """DRF's SessionAuthentication already enforced CSRF on /api/v1 before this change: a guard, walking every
    route, that it stays so (and that a token or a bearer key still gets through)."""
    walked = routes("api.v1.urls", namespace="acme", name="tiny", version="1.0.0")
    for route in walked:
        for method in [m for m in UNSAFE if route.methods is None or m in route.methods]:
            response = browser.generic(method, route.url, data="{}", content_type="application/json")
            assert response.status_code == 403, (method, route.name, response.status_code)
            assert "CSRF" in response["X-Error-Message"], (method, route.name)
    url = "/api/v1/models/acme/tiny/validation/rerun"
    assert browser.post(url, **with_token(browser)).status_code != 403
    assert Client(enforce_csrf_checks=True).post(url, **bearer(personas.owner)).status_code != 403


def test_cas_writes_take_no_session_at_all(browser, repo):
    """The CAS trusts only its own Xet token in Authorization: a session cookie changes no answer (a guard: true
    before this change too)."""
    walked = routes("api.cas.urls", prefix="default", hash_hex="a" * 64, grant_id="g", file_hash="b" * 64,
                    chunk_hash="c" * 64)
    anonymous = Client(enforce_csrf_checks=True)
    for route in walked:
        for method in UNSAFE:
            with_cookie = browser.generic(method, route.url, data=b"x", content_type="application/octet-stream")
            without = anonymous.generic(method, route.url, data=b"x", content_type="application/octet-stream")
            assert with_cookie.status_code == without.status_code, (method, route.name)
            assert with_cookie.status_code in (204, 401, 404, 405), (method, route.name)  # 204: telemetry, dropped
