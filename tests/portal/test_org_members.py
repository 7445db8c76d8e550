"""/organizations/{org}/members: admins add, invite, change roles and remove; everyone else is refused."""

from __future__ import annotations

import pytest
from django.core import mail

from registry.models import Membership, OrgInvitation
from tests.fixtures.personas import make_user

pytestmark = pytest.mark.django_db

URL = "/organizations/acme/members"


@pytest.mark.parametrize("who, status", [
    ("anonymous", 302), ("outsider", 403), ("reader", 403), ("member", 403), ("owner", 200),
])
def test_members_page_permissions(as_user, personas, who, status):
    response = as_user(getattr(personas, who)).get(URL)
    assert response.status_code == status
    if status == 302:
        assert "/accounts/login/" in response["Location"]
    if status == 200:
        html = response.content.decode()
        assert "olivia@example.com" in html and "mina" in html and "rae" in html


@pytest.mark.parametrize("who", ["anonymous", "outsider", "member"])
def test_non_admins_cannot_add(as_user, personas, who):
    as_user(getattr(personas, who)).post(URL, {"who": "oscar", "role": "admin"})
    assert not Membership.objects.filter(user=personas.outsider).exists()


def test_unknown_org_is_404(as_user, personas):
    assert as_user(personas.owner).get("/organizations/nope/members").status_code == 404


def test_admin_adds_by_username(as_user, personas):
    response = as_user(personas.owner).post(URL, {"who": "oscar", "role": "write"}, follow=True)
    assert response.status_code == 200
    assert "oscar joined acme." in response.content.decode()
    assert Membership.objects.get(user=personas.outsider, organization=personas.org).role == "write"


def test_admin_invites_unknown_email(as_user, personas, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(personas.owner).post(URL, {"who": "new@lab.example", "role": "read"}, follow=True)
    html = response.content.decode()
    assert "Invitation sent to new@lab.example" in html
    assert 'data-invitation="new@lab.example"' in html
    assert mail.outbox[0].to == ["new@lab.example"]


def test_bad_username_shows_the_error_and_changes_nothing(as_user, personas):
    response = as_user(personas.owner).post(URL, {"who": "ghost", "role": "read"})
    assert response.status_code == 400
    assert "no user named" in response.content.decode()
    assert Membership.objects.count() == 3


def test_change_role_and_remove(as_user, personas):
    client = as_user(personas.owner)
    rae = Membership.objects.get(user=personas.reader)
    client.post(f"{URL}/{rae.pk}/role", {"role": "write"})
    rae.refresh_from_db()
    assert rae.role == "write"
    response = client.post(f"{URL}/{rae.pk}/remove", follow=True)
    assert "rae was removed from acme." in response.content.decode()
    assert not Membership.objects.filter(pk=rae.pk).exists()


def test_last_admin_is_explained_not_demoted(as_user, personas):
    client = as_user(personas.owner)
    olivia = Membership.objects.get(user=personas.owner)
    response = client.post(f"{URL}/{olivia.pk}/role", {"role": "read"}, follow=True)
    assert "last admin" in response.content.decode()
    olivia.refresh_from_db()
    assert olivia.role == "admin"
    client.post(f"{URL}/{olivia.pk}/remove")
    assert Membership.objects.filter(pk=olivia.pk).exists()


def test_member_of_another_org_cannot_be_touched(as_user, personas):
    from registry.models import Organization

    other = Organization.objects.create(slug="beta", name="Beta")
    theirs = Membership.objects.create(user=personas.outsider, organization=other, role="admin")
    Membership.objects.create(user=personas.outsider, organization=personas.org, role="read")
    # acme's admin posts beta's membership id under acme: not found.
    assert as_user(personas.owner).post(f"{URL}/{theirs.pk}/remove").status_code == 404
    assert Membership.objects.filter(pk=theirs.pk).exists()


def test_cancel_invitation(as_user, personas):
    client = as_user(personas.owner)
    client.post(URL, {"who": "gone@example.com", "role": "read"})
    invitation = OrgInvitation.objects.get()
    assert as_user(personas.member).post(f"/organizations/acme/invitations/{invitation.pk}/cancel").status_code == 403
    as_user(personas.owner).post(f"/organizations/acme/invitations/{invitation.pk}/cancel")
    assert not OrgInvitation.objects.exists()


def test_org_page_links_admins_to_members(as_user, personas):
    assert URL.encode() in as_user(personas.owner).get("/acme").content
    assert URL.encode() not in as_user(personas.member).get("/acme").content


def test_members_page_query_count_is_constant(as_user, personas, django_assert_max_num_queries):
    client = as_user(personas.owner)
    for i in range(3):
        Membership.objects.create(user=make_user(f"m{i}"), organization=personas.org, role="read")
        OrgInvitation.objects.create(organization=personas.org, email=f"i{i}@example.com")
    with django_assert_max_num_queries(12) as few:
        client.get(URL)
    for i in range(3, 10):
        Membership.objects.create(user=make_user(f"m{i}"), organization=personas.org, role="read")
        OrgInvitation.objects.create(organization=personas.org, email=f"i{i}@example.com")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(URL)
    assert len(response.context["page"].memberships) == 13 and len(response.context["page"].invitations) == 10


def test_members_page_in_korean(as_user, personas):
    html = as_user(personas.owner).get(URL, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "구성원 추가" in html and "대기 중인 초대" in html and "역할 변경" in html


def test_admin_who_leaves_lands_on_the_org_page(as_user, personas):
    Membership.objects.filter(user=personas.member).update(role="admin")
    olivia = Membership.objects.get(user=personas.owner)
    response = as_user(personas.owner).post(f"{URL}/{olivia.pk}/remove")
    assert response.status_code == 302 and response["Location"] == "/acme"
    assert not Membership.objects.filter(pk=olivia.pk).exists()
