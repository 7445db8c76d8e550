"""A rejected requester reads the reason the model's managers gave (portal queue or HF API), escaped, in both
languages, on the model page, the accept page and their access settings; a later decision clears it."""

from __future__ import annotations

import pytest

from registry.models import LicenseAcceptance
from registry.services.licenses import access_grant, access_request_set_status, license_accept

REASON = "<b>Not</b> a consortium project"
ESCAPED = "&lt;b&gt;Not&lt;/b&gt; a consortium project"


@pytest.fixture
def pending(personas, seed):
    return license_accept(user=personas.outsider, repo=seed.manual, answers={"company": "Beta Labs"})


def test_portal_rejection_reason_reaches_the_requester(as_user, personas, pending):
    response = as_user(personas.member).post("/acme/access-requests", {
        "request": pending.pk, "decision": "reject", "reason": f"  {REASON} "}, follow=True)
    assert response.status_code == 200
    pending.refresh_from_db()
    assert pending.status == LicenseAcceptance.Status.REJECTED and pending.rejection_reason == REASON

    client = as_user(personas.outsider)
    html = client.get("/acme/gated-manual").content.decode()
    assert "Reason given:" in html and ESCAPED in html and REASON not in html
    assert ESCAPED in client.get("/acme/gated-manual/accept").content.decode()
    assert ESCAPED in client.get("/settings/access").content.decode()
    korean = client.get("/acme/gated-manual", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "거절 사유:" in korean and ESCAPED in korean


def test_reason_from_the_api_is_shown_and_a_later_decision_clears_it(as_user, personas, pending):
    access_request_set_status(actor=personas.owner, acceptance=pending, status="rejected",
                              rejection_reason="Use the public model instead")
    client = as_user(personas.outsider)
    assert "Use the public model instead" in client.get("/acme/gated-manual").content.decode()
    # Other viewers never see it.
    assert "Use the public model instead" not in as_user(personas.reader).get("/acme/gated-manual").content.decode()

    access_request_set_status(actor=personas.owner, acceptance=pending, status="pending")
    pending.refresh_from_db()
    assert pending.rejection_reason == ""
    access_request_set_status(actor=personas.owner, acceptance=pending, status="rejected", rejection_reason="again")
    access_grant(actor=personas.owner, repo=pending.repo, user=personas.outsider)
    pending.refresh_from_db()
    assert pending.status == LicenseAcceptance.Status.ACCEPTED and pending.rejection_reason == ""
    html = as_user(personas.outsider).get("/acme/gated-manual").content.decode()
    assert "Reason given:" not in html and "again" not in html


def test_rejection_without_reason_shows_no_reason_line(as_user, personas, pending):
    as_user(personas.owner).post("/acme/access-requests", {"request": pending.pk, "decision": "reject"})
    pending.refresh_from_db()
    assert pending.status == LicenseAcceptance.Status.REJECTED and pending.rejection_reason == ""
    assert "Reason given:" not in as_user(personas.outsider).get("/acme/gated-manual").content.decode()


def test_too_long_reason_is_refused_in_korean(as_user, personas, pending):
    response = as_user(personas.owner).post("/acme/access-requests", {
        "request": pending.pk, "decision": "reject", "reason": "x" * 201}, HTTP_ACCEPT_LANGUAGE="ko", follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "거절 사유가 200자보다 깁니다" in html
    assert "longer than" not in html
    pending.refresh_from_db()
    assert pending.status == LicenseAcceptance.Status.PENDING
