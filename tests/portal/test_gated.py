from __future__ import annotations

import pytest

from registry.models import AuditEvent, LicenseAcceptance
from registry.services.licenses import license_accept, license_decide, license_update_text
from tests.fixtures.personas import make_key

pytestmark = pytest.mark.django_db


def test_anyone_reads_card_files_and_full_license(client, personas, seed):
    personas.license.text = "# Terms\n\nClause one.\n\nClause **two**, the last one."
    personas.license.save()
    page = client.get("/acme/gated-auto")
    assert page.status_code == 200
    assert b"Gated auto model" in page.content
    assert b"Clause one." in page.content and b"<strong>two</strong>, the last one." in page.content
    assert b"sign in and accept the license" in page.content
    assert client.get("/acme/gated-auto/tree/main").status_code == 200


@pytest.mark.parametrize("who, expected", [
    ("outsider", "Downloads are locked until you accept the license"),
    ("reader", "member of the owning organisation"),
    ("member", "member of the owning organisation"),
    ("owner", "member of the owning organisation"),
])
def test_model_page_shows_access_state(as_user, personas, seed, who, expected):
    response = as_user(getattr(personas, who)).get("/acme/gated-manual")
    assert expected in response.content.decode()


@pytest.mark.parametrize("status, text", [
    ("accepted", "downloads are unlocked"),
    ("pending", "pending review"),
    ("rejected", "rejected by the model"),
])
def test_model_page_shows_the_users_request_status(as_user, personas, seed, status, text):
    acceptance = license_accept(user=personas.outsider, repo=seed.manual, answers={"company": "Beta"})
    if status != "pending":
        license_decide(actor=personas.owner, acceptance=acceptance, approve=status == "accepted")
    html = as_user(personas.outsider).get("/acme/gated-manual").content.decode()
    assert text in html
    assert f'data-status="{status}"' in html


def test_new_license_version_asks_again(as_user, personas, seed):
    license_accept(user=personas.outsider, repo=seed.auto)
    staff = personas.owner
    staff.is_staff = True
    staff.save()
    license_update_text(actor=staff, license=personas.license, text="# New terms")
    html = as_user(personas.outsider).get("/acme/gated-auto").content.decode()
    assert "Downloads are locked until you accept the license" in html


def test_accept_page_requires_login(client, seed):
    response = client.get("/acme/gated-auto/accept")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/acme/gated-auto/accept")


def test_accept_page_shows_license_questions_and_consent(as_user, personas, seed):
    response = as_user(personas.outsider).get("/acme/gated-manual/accept")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Be nice." in html
    assert 'name="q_company"' in html and 'name="q_research"' in html
    assert 'name="consent"' in html
    assert "csrfmiddlewaretoken" in html


def test_accept_needs_explicit_consent(as_user, personas, seed):
    response = as_user(personas.outsider).post("/acme/gated-auto/accept", {})
    assert response.status_code == 200
    assert b"You must agree to the license" in response.content
    assert not LicenseAcceptance.objects.filter(user=personas.outsider).exists()


def test_auto_gating_accepts_at_once(as_user, personas, seed):
    client = as_user(personas.outsider)
    response = client.post("/acme/gated-auto/accept", {"consent": "on"}, follow=True)
    assert response.redirect_chain[-1][0] == "/acme/gated-auto"
    acceptance = LicenseAcceptance.objects.get(user=personas.outsider, repo=seed.auto)
    assert acceptance.status == "accepted"
    assert acceptance.license_version == personas.license.version
    assert acceptance.ip == "127.0.0.1"
    assert AuditEvent.objects.filter(action="license.accept", actor=personas.outsider).exists()
    assert b"downloads are unlocked" in response.content


def test_manual_gating_needs_required_answers_then_pends(as_user, personas, seed):
    client = as_user(personas.outsider)
    response = client.post("/acme/gated-manual/accept", {"consent": "on"})
    assert response.status_code == 200
    assert b"This field is required" in response.content
    response = client.post("/acme/gated-manual/accept",
                           {"consent": "on", "q_company": "Beta Labs", "q_research": "on"}, follow=True)
    acceptance = LicenseAcceptance.objects.get(user=personas.outsider, repo=seed.manual)
    assert acceptance.status == "pending"
    assert acceptance.answers == {"company": "Beta Labs", "research": True}
    assert b"pending review" in response.content


def test_accept_on_open_model_redirects(as_user, personas, seed):
    response = as_user(personas.outsider).get("/acme/tiny/accept")
    assert response.status_code == 302 and response["Location"] == "/acme/tiny"


def test_accept_page_of_private_repo_is_404_for_outsider(as_user, personas, seed):
    seed.private.gating = "auto"
    seed.private.license = personas.license
    seed.private.save()
    assert as_user(personas.outsider).get("/acme/secret-model/accept").status_code == 404
    assert as_user(personas.outsider).post("/acme/secret-model/accept", {"consent": "on"}).status_code == 404


def test_accept_form_is_csrf_protected(personas, seed):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.outsider)
    assert client.post("/acme/gated-auto/accept", {"consent": "on"}).status_code == 403


# --- JSON API -----------------------------------------------------------------------------------------


URL = "/api/v1/models/acme/{}/license/accept"


def test_api_accept_with_bearer_key(client, personas, seed):
    key = make_key(personas.outsider, "read")
    response = client.post(URL.format("gated-auto"), {"answers": {}}, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "license_version": personas.license.version}


def test_api_manual_gating_pends_and_checks_answers(client, personas, seed):
    key = make_key(personas.outsider, "read")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    bad = client.post(URL.format("gated-manual"), {"answers": {}}, content_type="application/json", **headers)
    assert bad.status_code == 400
    assert "Company" in bad.json()["error"]
    ok = client.post(URL.format("gated-manual"), {"answers": {"company": "Beta"}},
                     content_type="application/json", **headers)
    assert ok.json()["status"] == "pending"


def test_api_requires_authentication(client, seed):
    response = client.post(URL.format("gated-auto"), {}, content_type="application/json")
    assert response.status_code == 401


def test_api_private_repo_is_404_and_open_repo_400(client, personas, seed):
    key = make_key(personas.outsider, "read")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    hidden = client.post(URL.format("secret-model"), {}, content_type="application/json", **headers)
    assert hidden.status_code == 404
    assert client.post(URL.format("tiny"), {}, content_type="application/json", **headers).status_code == 400


def test_api_accepts_session_auth(as_user, personas, seed):
    response = as_user(personas.outsider).post(URL.format("gated-auto"), {"answers": {}},
                                               content_type="application/json")
    assert response.status_code == 200


def test_api_documented_in_openapi_schema(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json() if response["Content-Type"].startswith("application/json") else None
    text = response.content.decode()
    assert "/api/v1/models/{namespace}/{name}/license/accept" in text
    assert "model_license_accept" in text
    if schema:
        op = schema["paths"]["/api/v1/models/{namespace}/{name}/license/accept"]["post"]
        assert "200" in op["responses"]


def test_download_link_from_files_tab_unlocks_after_acceptance(as_user, personas, make_repo, local_store):
    import io
    import re

    from registry.services.blobs import blob_ingest_stream
    from registry.services.commits import AddBlob, commit_create

    repo = make_repo("weights", gating="auto")
    payload = b"\x01\x02weights" * 1000
    blob = blob_ingest_stream(stream=io.BytesIO(payload), repo=repo)
    commit_create(actor=personas.owner, repo=repo, title="w",
                  operations=[AddBlob("model.safetensors", blob.sha256, blob.size)])
    client = as_user(personas.outsider)
    html = client.get("/acme/weights/tree/main").content.decode()
    href = re.search(r'href="([^"]+model\.safetensors\?download=true)"', html).group(1)
    assert client.get(href).status_code == 403
    client.post("/acme/weights/accept", {"consent": "on"})
    response = client.get(href, follow=True)
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body == payload
