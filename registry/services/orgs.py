"""Organisation members and roles: add, invite by email, change roles, remove. Org admins (and staff) only.

Adding someone by username, or by an email address a user has confirmed, makes them a member at once. An
email address that belongs to no confirmed account gets an invitation (an OrgInvitation row and an email with
a sign-up link); it becomes a membership when someone confirms that address on the hub
(`org_invitations_apply`, called from the account adapter). An organisation always keeps one admin: the last
admin can be neither demoted nor removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from registry import permissions
from registry.exceptions import Conflict, InvalidInput, PermissionDenied
from registry.models import Membership, Organization, OrgInvitation
from registry.services.audit import audit_record
from registry.site import site_name, site_url


@dataclass(frozen=True)
class MemberAddResult:
    membership: Membership | None = None
    invitation: OrgInvitation | None = None


def _require_admin(actor: Any, org: Organization) -> None:
    if not getattr(actor, "is_authenticated", False):
        raise PermissionDenied(gettext("sign in as an organisation admin"))
    if not (actor.is_superuser or permissions.org_role(actor, org) == Membership.Role.ADMIN):
        raise PermissionDenied(gettext("only the organisation's admins can manage its members"))


def _check_role(role: str) -> str:
    if role not in Membership.Role.values:
        raise InvalidInput(gettext("role must be one of %(join)s") % {"join": ', '.join(Membership.Role.values)})
    return role


def _user_with_confirmed_email(email: str) -> Any:
    from allauth.account.models import EmailAddress

    address = (EmailAddress.objects.filter(email__iexact=email, verified=True, user__is_active=True)
               .select_related("user").first())
    return address.user if address else None


def _admins_locked(org: Organization) -> list[Membership]:
    return list(Membership.objects.select_for_update().filter(organization=org, role=Membership.Role.ADMIN))


def org_member_add(*, actor: Any, org: Organization, who: str, role: str, ip: str | None = None) -> MemberAddResult:
    """Add a user (by username or confirmed email) with a role, or invite an unknown email address."""
    _require_admin(actor, org)
    role = _check_role(role)
    who = (who or "").strip()
    if not who:
        raise InvalidInput(gettext("enter a username or an email address"))
    user_model = get_user_model()
    if "@" in who:
        try:
            validate_email(who)
        except ValidationError as exc:
            raise InvalidInput(gettext("%(who)r is not a valid email address") % {"who": who}) from exc
        email = who.lower()
        user = _user_with_confirmed_email(email)
    else:
        email = ""
        user = user_model.objects.filter(username__iexact=who, is_active=True).first()
        if user is None:
            raise InvalidInput(gettext("no user named %(who)r; invite them by email instead") % {"who": who})
    if user is not None:
        try:
            with transaction.atomic():
                if Membership.objects.filter(organization=org, user=user).exists():
                    raise Conflict(gettext("%(username)s is already a member of %(slug)s")
                        % {"username": user.get_username(), "slug": org.slug})
                membership = Membership.objects.create(organization=org, user=user, role=role)
                audit_record(actor=actor, action="org.member_add", target=org, ip=ip,
                             metadata={"user": user.get_username(), "role": role})
        except IntegrityError as exc:
            raise Conflict(gettext("%(username)s is already a member of %(slug)s")
                % {"username": user.get_username(), "slug": org.slug}) from exc
        return MemberAddResult(membership=membership)
    try:
        with transaction.atomic():
            if OrgInvitation.objects.filter(organization=org, email=email, accepted_at__isnull=True).exists():
                raise Conflict(gettext("%(email)s has already been invited to %(slug)s")
                    % {"email": email, "slug": org.slug})
            invitation = OrgInvitation.objects.create(organization=org, email=email, role=role, invited_by=actor)
            audit_record(actor=actor, action="org.invite", target=org, ip=ip, metadata={"email": email, "role": role})
            transaction.on_commit(lambda: _send_invitation(invitation.pk))
    except IntegrityError as exc:
        raise Conflict(gettext("%(email)s has already been invited to %(slug)s")
            % {"email": email, "slug": org.slug}) from exc
    return MemberAddResult(invitation=invitation)


def _send_invitation(invitation_id: int) -> None:
    invitation = OrgInvitation.objects.select_related("organization", "invited_by").filter(pk=invitation_id).first()
    if invitation is None:
        return
    org = invitation.organization
    inviter = invitation.invited_by.get_username() if invitation.invited_by else "An administrator"
    link = f"{site_url()}{reverse('account_signup')}"
    send_mail(
        subject=f"You are invited to {org.name} on {site_name(translated=False)}",
        message=(
            f"{inviter} invited {invitation.email} to join the organisation {org.name} ({org.slug}) "
            f"with the role '{invitation.role}'.\n\n"
            f"Create an account with this email address and confirm it to join:\n{link}\n\n"
            "If you already have an account, add and confirm this address in your account's email settings.\n"
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )


def org_invitation_cancel(*, actor: Any, invitation: OrgInvitation, ip: str | None = None) -> None:
    _require_admin(actor, invitation.organization)
    if not invitation.is_pending:
        raise InvalidInput(gettext("this invitation was already accepted"))
    with transaction.atomic():
        audit_record(actor=actor, action="org.invite_cancel", target=invitation.organization, ip=ip,
                     metadata={"email": invitation.email})
        invitation.delete()


def org_member_set_role(*, actor: Any, membership: Membership, role: str, ip: str | None = None) -> Membership:
    org = membership.organization
    _require_admin(actor, org)
    role = _check_role(role)
    with transaction.atomic():
        admins = _admins_locked(org)
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        if locked.role == role:
            return locked
        if locked.role == Membership.Role.ADMIN and len(admins) <= 1:
            raise InvalidInput(gettext("%(username)s is the last admin of %(slug)s; make someone else an admin "
                                       "first")
                % {"username": locked.user.get_username(), "slug": org.slug})
        old = locked.role
        locked.role = role
        locked.save(update_fields=["role"])
        audit_record(actor=actor, action="org.member_role", target=org, ip=ip,
                     metadata={"user": locked.user.get_username(), "from": old, "to": role})
    return locked


def org_member_remove(*, actor: Any, membership: Membership, ip: str | None = None) -> None:
    org = membership.organization
    _require_admin(actor, org)
    with transaction.atomic():
        admins = _admins_locked(org)
        locked = Membership.objects.select_for_update().filter(pk=membership.pk).first()
        if locked is None:
            return
        if locked.role == Membership.Role.ADMIN and len(admins) <= 1:
            raise InvalidInput(gettext("%(username)s is the last admin of %(slug)s and can't be removed")
                % {"username": locked.user.get_username(), "slug": org.slug})
        username = locked.user.get_username()
        locked.delete()
        audit_record(actor=actor, action="org.member_remove", target=org, ip=ip, metadata={"user": username})


def org_invitations_apply(*, user: Any, email: str) -> list[Membership]:
    """Turn the open invitations for a just-confirmed email address into memberships (idempotent)."""
    email = (email or "").strip().lower()
    if not email or user is None or user.pk is None:
        return []
    created: list[Membership] = []
    with transaction.atomic():
        invitations = list(OrgInvitation.objects.select_for_update().select_related("organization")
                           .filter(email=email, accepted_at__isnull=True))
        now = timezone.now()
        for invitation in invitations:
            membership, made = Membership.objects.get_or_create(
                organization=invitation.organization, user=user, defaults={"role": invitation.role})
            invitation.accepted_at = now
            invitation.accepted_by = user
            invitation.save(update_fields=["accepted_at", "accepted_by"])
            if made:
                created.append(membership)
            audit_record(actor=user, action="org.invite_accept", target=invitation.organization,
                         metadata={"email": email, "role": membership.role, "joined": made})
    return created
