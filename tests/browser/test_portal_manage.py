"""Browser flows of accounts, organisations and writers: sign up with a confirmed email, then accept a gated
model's license and download; an org admin adds a member and changes a role; a writer edits the model card.

The gated-model seed and its weights come from test_portal_flows (the sign-in variant of the same flow)."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlparse

import pytest
from django.core import mail

from registry.models import Branch, Membership, OrgInvitation
from tests.browser.test_portal_flows import WEIGHTS, _seed_gated

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """allauth rate-limits sign-ups and confirmation emails in the cache; each test starts afresh."""
    from django.core.cache import cache

    cache.clear()


def test_sign_up_confirm_email_accept_license_and_download(page, console, screenshot, sign_in, personas, make_repo,
                                                           local_store):
    _seed_gated(personas, make_repo)
    page.goto("/")
    page.click(".mainnav a[data-nav=signup]")
    page.fill("input[name=email]", "dev@lab.example")
    page.fill("input[name=username]", "newdev")
    page.fill("input[name=password1]", "a-long-Passphrase-42")
    page.fill("input[name=password2]", "a-long-Passphrase-42")
    screenshot(page, "sign-up")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert "/accounts/confirm-email/" in page.url
    screenshot(page, "sign-up-verify-sent")
    assert page.locator(".mainnav .who").count() == 0  # not signed in before confirming

    message = mail.outbox[-1]
    assert message.to == ["dev@lab.example"]
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", message.body).group(0)
    page.goto(urlparse(link).path)
    screenshot(page, "confirm-email")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    if page.locator(".mainnav .who").count() == 0:  # confirmed; sign in if allauth did not already
        page.goto("/accounts/login/")
        page.fill("input[name=login]", "newdev")
        page.fill("input[name=password]", "a-long-Passphrase-42")
        with page.expect_navigation():
            page.click("main form button[type=submit]")
    assert page.locator(".mainnav .who").inner_text() == "newdev"

    page.goto("/models?gated=gated")
    with page.expect_navigation():
        page.click("a.model-id:text('acme/ko-llm-gated')")
    assert "Be nice." in page.locator("#license").inner_text()
    with page.expect_navigation():
        page.click("#access a:text('Read and accept the license')")
    page.check("input[name=consent]")
    with page.expect_navigation():
        page.click("form.accept-form button[type=submit]")
    assert page.locator("#access [data-status=accepted]").is_visible()

    page.click("nav.tabs a:text('Files and versions')")
    with page.expect_download() as info:
        page.click("tr.file:has-text('model.safetensors') a.download")
    data = open(info.value.path(), "rb").read()
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(WEIGHTS).hexdigest()

    assert page.request.get("/acme/ko-llm-gated/resolve/main/config.json").ok  # the file a snapshot counts by

    page.goto("/settings/access")
    assert "acme/ko-llm-gated" in page.locator("table.acceptances").inner_text()
    screenshot(page, "settings-access")
    page.goto("/acme/ko-llm-gated")
    assert "1 download in the last 30 days" in page.locator(".downloads-chart desc").text_content()
    screenshot(page, "model-downloads-chart")

    # The owning organisation's admin sees who downloaded, with the license acceptance.
    with page.expect_navigation():
        page.click(".mainnav button:text('Sign out')")
    sign_in(page, personas.owner)
    page.goto("/acme/ko-llm-gated/settings/downloads")
    row = page.locator("table.user-downloads tr[data-user=newdev]")
    assert "dev@lab.example" in row.inner_text() and "Accepted" in row.inner_text()
    screenshot(page, "repo-download-records")
    assert console.csp_violations() == []


def test_org_admin_adds_invites_and_changes_a_role(page, console, screenshot, sign_in, personas):
    sign_in(page, personas.owner)
    page.goto("/acme")
    with page.expect_navigation():
        page.click("a:text('Manage members')")
    assert page.url.endswith("/organizations/acme/members")
    page.fill("#id_who", "oscar")
    page.select_option("#id_role", "read")
    with page.expect_navigation():
        page.click(".member-form button[type=submit]")
    assert "oscar joined acme." in page.locator(".messages").inner_text()
    row = page.locator("tr[data-member=oscar]")
    row.locator("select[name=role]").select_option("write")
    with page.expect_navigation():
        row.locator("button:text('Change role')").click()
    assert Membership.objects.get(user=personas.outsider, organization=personas.org).role == "write"
    assert page.locator("tr[data-member=oscar] select[name=role]").input_value() == "write"

    page.fill("#id_who", "partner@lab.example")
    with page.expect_navigation():
        page.click(".member-form button[type=submit]")
    assert page.locator("tr[data-invitation='partner@lab.example']").is_visible()
    assert OrgInvitation.objects.filter(email="partner@lab.example", accepted_at__isnull=True).exists()
    screenshot(page, "org-members")
    assert console.csp_violations() == []


def test_writer_edits_the_model_card_and_sees_it(page, console, screenshot, sign_in, personas, make_repo):
    make_repo("tiny")
    sign_in(page, personas.member)
    page.goto("/acme/tiny")
    with page.expect_navigation():
        page.click("nav.tabs a:text('Settings')")
    screenshot(page, "repo-settings")
    with page.expect_navigation():
        page.click("a:text('Edit model card')")
    page.fill("textarea[name=content]", "# Tiny, edited\n\nWritten **in the browser**.\n")
    page.fill("input[name=summary]", "Card from the browser")
    screenshot(page, "card-edit")
    with page.expect_navigation():
        page.click(".card-edit-form button[type=submit]")
    assert page.url.endswith("/acme/tiny")
    card = page.locator("article.card")
    assert "Tiny, edited" in card.inner_text()
    assert card.locator("strong").inner_text() == "in the browser"
    head = Branch.objects.get(repo__name="tiny", name="main").head
    assert head.title == "Card from the browser" and head.author == personas.member
    screenshot(page, "card-edited")
    assert console.csp_violations() == []
