"""Release sign-off in Django admin: the same services, rules and reasons as the API."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from registry.models import Release, ReleaseDecision
from tests.fixtures.releases import model_commit, request


@pytest.fixture
def staff(db, client, signing_key):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def act(client, action, release, reason=""):
    return client.post(reverse("admin:registry_release_changelist"),
                       {"action": action, "_selected_action": [release.pk], "reason": reason}, follow=True)


def test_admins_approve_and_reject_with_reasons_through_the_services(staff, personas, ready):
    repo, _ = ready
    release = request(personas, repo)
    response = act(staff, "reject", release)
    assert "needs a reason" in response.content.decode()
    assert Release.objects.get(pk=release.pk).state == Release.State.PENDING
    act(staff, "approve", release, reason="fine")
    release.refresh_from_db()
    assert release.state == Release.State.APPROVED
    assert ReleaseDecision.objects.get(release=release).reason == "fine"
    page = staff.get(reverse("admin:registry_release_change", args=[release.pk])).content.decode()
    assert "✓ Validation passed with no failed file" in page


def test_a_blocked_release_is_not_approved_from_admin_either(staff, personas, make_repo):
    repo = make_repo("blocked")
    model_commit(personas, repo)
    release = request(personas, repo, version="0.1.0")
    response = act(staff, "approve", release)
    assert "blocked by its checklist" in response.content.decode()
    assert Release.objects.get(pk=release.pk).state == Release.State.DRAFT
