"""A release checklist's details read in the viewer's language on the portal (the API keeps the English)."""

from __future__ import annotations

import pytest

from registry.models import Release
from registry.services.releases import release_request
from tests.fixtures.releases import checked, model_commit


@pytest.fixture
def draft(personas, make_repo):
    repo = make_repo("tiny", private=True)
    checked(model_commit(personas, repo), inference=None)  # no license, no inference check has run
    release = release_request(actor=personas.member, repo=repo, version="1.0.0", revision="main", title="One")
    assert release.state == Release.State.DRAFT
    return release


def test_checklist_details_are_korean_on_a_korean_page(client, personas, draft):
    client.force_login(personas.member)
    korean = client.get("/acme/tiny/releases/1.0.0", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "저장소 설정에 라이선스가 없습니다" in korean
    assert "이 커밋에 대해 실행된 추론 검사가 없습니다" in korean
    assert "no license is set" not in korean and "no inference check has run" not in korean

    english = client.get("/acme/tiny/releases/1.0.0").content.decode()
    assert "no license is set in the repository settings" in english
    assert "no inference check has run for this commit" in english


def test_the_api_keeps_the_english_detail(client, personas, draft):
    client.force_login(personas.member)
    body = client.get("/api/v1/models/acme/tiny/releases/1.0.0", HTTP_ACCEPT_LANGUAGE="ko").json()
    license_item = next(item for item in body["checklist"] if item["key"] == "license")
    assert license_item["detail"].startswith("no license is set in the repository settings; the card's license")
    assert set(license_item) == {"key", "label", "ok", "detail"}


def test_a_stored_english_only_item_still_shows(client, personas, draft):
    draft.checklist = [{**item, "detail_msgid": ""} for item in draft.checklist]
    draft.save(update_fields=["checklist"])
    client.force_login(personas.member)
    korean = client.get("/acme/tiny/releases/1.0.0", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "no license is set in the repository settings" in korean
