"""Organisation members: add by username or confirmed email, invite unknown emails, roles, the last admin."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from registry.exceptions import Conflict, InvalidInput, PermissionDenied
from registry.models import AuditEvent, Membership, OrgInvitation
from registry.services.orgs import (
    org_invitation_cancel,
    org_invitations_apply,
    org_member_add,
    org_member_remove,
    org_member_set_role,
)
from tests.fixtures.personas import make_user

pytestmark = pytest.mark.django_db


def test_admin_adds_existing_user_by_username(personas):
    result = org_member_add(actor=personas.owner, org=personas.org, who="OSCAR", role="write")
    assert result.membership.user == personas.outsider and result.membership.role == "write"
    assert AuditEvent.objects.filter(action="org.member_add", metadata__user="oscar").exists()


def test_confirmed_email_adds_at_once(personas):
    EmailAddress.objects.create(user=personas.outsider, email="oscar@example.com", verified=True, primary=True)
    result = org_member_add(actor=personas.owner, org=personas.org, who="Oscar@Example.com", role="read")
    assert result.membership is not None and result.invitation is None
    assert mail.outbox == []


def test_unconfirmed_or_unknown_email_gets_an_invitation_email(personas, django_capture_on_commit_callbacks):
    # oscar's address is not confirmed: someone else may have typed it, so no one is added by it.
    with django_capture_on_commit_callbacks(execute=True):
        result = org_member_add(actor=personas.owner, org=personas.org, who="oscar@example.com", role="write")
    assert result.membership is None
    assert not Membership.objects.filter(user=personas.outsider, organization=personas.org).exists()
    invitation = result.invitation
    assert invitation.email == "oscar@example.com" and invitation.role == "write" and invitation.is_pending
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["oscar@example.com"]
    assert "Acme AI" in mail.outbox[0].subject and "/accounts/signup/" in mail.outbox[0].body


def test_second_invitation_to_the_same_address_conflicts(personas):
    org_member_add(actor=personas.owner, org=personas.org, who="new@example.com", role="read")
    with pytest.raises(Conflict):
        org_member_add(actor=personas.owner, org=personas.org, who="NEW@example.com", role="read")
    assert OrgInvitation.objects.count() == 1


@pytest.mark.parametrize("who", ["", "nobody-here", "not an email@", "a@b"])
def test_bad_input_is_refused(personas, who):
    with pytest.raises(InvalidInput):
        org_member_add(actor=personas.owner, org=personas.org, who=who, role="read")
    assert OrgInvitation.objects.count() == 0


def test_unknown_role_is_refused(personas):
    with pytest.raises(InvalidInput):
        org_member_add(actor=personas.owner, org=personas.org, who="oscar", role="owner")


def test_existing_member_conflicts(personas):
    with pytest.raises(Conflict):
        org_member_add(actor=personas.owner, org=personas.org, who="mina", role="read")


@pytest.mark.parametrize("who", ["member", "reader", "outsider"])
def test_only_admins_manage_members(personas, who):
    actor = getattr(personas, who)
    with pytest.raises(PermissionDenied):
        org_member_add(actor=actor, org=personas.org, who="oscar", role="admin")
    mina = Membership.objects.get(user=personas.member)
    with pytest.raises(PermissionDenied):
        org_member_set_role(actor=actor, membership=mina, role="admin")
    with pytest.raises(PermissionDenied):
        org_member_remove(actor=actor, membership=mina)
    mina.refresh_from_db()
    assert mina.role == "write"


def test_last_admin_can_be_neither_demoted_nor_removed(personas):
    olivia = Membership.objects.get(user=personas.owner)
    with pytest.raises(InvalidInput, match="last admin"):
        org_member_set_role(actor=personas.owner, membership=olivia, role="write")
    with pytest.raises(InvalidInput, match="last admin"):
        org_member_remove(actor=personas.owner, membership=olivia)
    olivia.refresh_from_db()
    assert olivia.role == "admin"
    # With a second admin, the first may step down.
    mina = Membership.objects.get(user=personas.member)
    org_member_set_role(actor=personas.owner, membership=mina, role="admin")
    org_member_set_role(actor=personas.owner, membership=olivia, role="read")
    olivia.refresh_from_db()
    assert olivia.role == "read"
    assert AuditEvent.objects.filter(action="org.member_role").count() == 2


def test_remove_member(personas):
    rae = Membership.objects.get(user=personas.reader)
    org_member_remove(actor=personas.owner, membership=rae)
    assert not Membership.objects.filter(pk=rae.pk).exists()
    assert AuditEvent.objects.filter(action="org.member_remove", metadata__user="rae").exists()


def test_invitation_applies_when_the_address_is_confirmed(personas):
    invitation = org_member_add(actor=personas.owner, org=personas.org, who="Neo@Example.com",
                                role="write").invitation
    newcomer = make_user("neo")
    assert org_invitations_apply(user=newcomer, email="NEO@example.com")[0].role == "write"
    invitation.refresh_from_db()
    assert invitation.accepted_by == newcomer and not invitation.is_pending
    assert org_invitations_apply(user=newcomer, email="neo@example.com") == []  # idempotent
    assert Membership.objects.filter(user=newcomer, organization=personas.org).count() == 1


def test_cancelled_invitation_is_never_applied(personas):
    invitation = org_member_add(actor=personas.owner, org=personas.org, who="x@example.com", role="read").invitation
    with pytest.raises(PermissionDenied):
        org_invitation_cancel(actor=personas.member, invitation=invitation)
    org_invitation_cancel(actor=personas.owner, invitation=invitation)
    assert org_invitations_apply(user=make_user("x"), email="x@example.com") == []
