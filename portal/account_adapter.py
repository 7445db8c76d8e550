"""allauth's account adapter: confirmed email addresses pick up organisation invitations, and usernames follow the
hub's one name policy (a username is a namespace: it appears in repo ids and URLs)."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from django import forms
from django.http import HttpRequest

from registry.exceptions import InvalidInput
from registry.models import Organization
from registry.names import check_namespace, name_suggestion
from registry.services.orgs import org_invitations_apply
from registry.site import SettingsSite, site_name


class HubAccountAdapter(DefaultAccountAdapter):
    def clean_username(self, username: str, shallow: bool = False) -> str:
        try:
            check_namespace(username)
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from exc
        username = super().clean_username(username, shallow=shallow)
        if not shallow and Organization.objects.filter(slug__iexact=username).exists():
            raise self.validation_error("username_taken")
        return username

    def generate_unique_username(self, txts: list[Any], regex: str | None = None) -> str:
        """Usernames made up for single sign-on accounts: the same rule, from the name or email given."""
        return super().generate_unique_username([name_suggestion(t) for t in txts], regex=regex)

    def format_email_subject(self, subject: str) -> str:
        """"[<SITE_NAME>] subject": the name from settings, not Django's sites row (registry/site.py)."""
        return f"[{site_name()}] {subject}"

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        # allauth's templates say "Hello from {{ current_site.name }}" and sign with its domain.
        super().send_mail(template_prefix, email, {**context, "current_site": SettingsSite()})

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
