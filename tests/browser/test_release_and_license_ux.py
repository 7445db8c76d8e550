"""Release and settings UX a member meets in a browser: the requester re-runs a stale checklist item once the
license is set, and the owner sees (and clears) the warning when the card's `license:` disagrees with the setting."""

from __future__ import annotations

import pytest

from registry.models import Release
from registry.services.licenses import known_license
from registry.services.releases import release_request
from registry.services.repos import repo_update_settings
from tests.fixtures.releases import CARD, checked, model_commit

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

APACHE_CARD = CARD.replace(b"license: other", b"license: apache-2.0")


def _license_item(page):
    return page.locator("ul.checklist li", has_text="License set on the repository")


def test_requester_reruns_a_stale_license_item(page, console, screenshot, sign_in, personas, make_repo):
    repo = make_repo("tiny", private=True)
    checked(model_commit(personas, repo))  # card says `license: other`: no license the hub knows
    release = release_request(actor=personas.member, repo=repo, version="1.0.0", revision="main", title="One")
    assert release.state == Release.State.DRAFT
    repo_update_settings(actor=personas.owner, repo=repo, license=personas.license)  # fixed after the request

    sign_in(page, personas.member)
    page.goto("/acme/tiny/releases/1.0.0")
    assert "unmet" in _license_item(page).get_attribute("class")
    assert "no license is set" in _license_item(page).inner_text()
    screenshot(page, "release-stale-checklist")
    with page.expect_navigation():
        page.get_by_role("button", name="Re-run the checklist").click()
    assert "Checklist re-run." in page.locator(".messages").inner_text()
    assert "ok" in _license_item(page).get_attribute("class").split()
    assert "Acme Model License" in _license_item(page).inner_text()
    assert page.locator("ul.checklist li.unmet").count() == 0
    screenshot(page, "release-checklist-rerun")
    release.refresh_from_db()
    assert release.state == Release.State.PENDING
    assert console.csp_violations() == []


def test_owner_sees_and_clears_the_license_disagreement(browser, live_server, page, console, screenshot, sign_in,
                                                        personas, make_repo):
    repo = make_repo("tiny", private=True)
    known_license("apache-2.0")  # the shipped row, as migration 0022 makes it
    repo_update_settings(actor=personas.owner, repo=repo, license=personas.license)  # an explicit choice
    model_commit(personas, repo, card=APACHE_CARD)

    sign_in(page, personas.owner)
    page.goto("/acme/tiny/settings")
    warning = page.locator("#license-disagreement")
    assert warning.is_visible()
    assert "license: apache-2.0" in warning.inner_text() and "acme-license" in warning.inner_text()
    screenshot(page, "settings-license-disagreement")

    korean = browser.new_context(base_url=live_server.url, locale="ko-KR", storage_state=page.context.storage_state())
    try:
        ko = korean.new_page()
        ko.goto("/acme/tiny/settings")
        assert "모델 카드에는" in ko.locator("#license-disagreement").inner_text()
    finally:
        korean.close()

    page.select_option("select[name=license]", "apache-2.0")
    with page.expect_navigation():
        page.get_by_role("button", name="Save settings").click()
    page.goto("/acme/tiny/settings")
    assert page.locator("#license-disagreement").count() == 0
    repo.refresh_from_db()
    assert repo.license.slug == "apache-2.0"
    assert console.csp_violations() == []
