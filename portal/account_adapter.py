"""allauth's account adapter, with one addition: confirmed email addresses pick up organisation invitations."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from django.http import HttpRequest

from registry.services.orgs import org_invitations_apply


class HubAccountAdapter(DefaultAccountAdapter):
    def confirm_email(self, request: HttpRequest, email_address: EmailAddress) -> bool:
        confirmed = super().confirm_email(request, email_address)
        if confirmed:
            org_invitations_apply(user=email_address.user, email=email_address.email)
        return confirmed

    def login(self, request: HttpRequest, user: Any) -> None:
        super().login(request, user)
        # Addresses confirmed another way (single sign-on, an admin) join their invitations on the next sign-in.
        for email in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True):
            org_invitations_apply(user=user, email=email)
