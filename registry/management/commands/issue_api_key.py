"""Create an API key without a browser. The secret is the LAST line of the output (for scripts)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from registry.exceptions import HubError
from registry.models import Organization
from registry.services.keys import api_key_create


class Command(BaseCommand):
    help = "Issue an API key for USERNAME and print the secret (shown only this once) as the last line."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("username")
        parser.add_argument("--scopes", default="read", help="comma-separated: read,write,admin")
        parser.add_argument("--name", default="cli")
        parser.add_argument("--expires-days", type=int, default=None)
        parser.add_argument("--org", default=None, help="restrict writes to this organisation")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        org = None
        if options["org"]:
            org = Organization.objects.filter(slug=options["org"]).first()
            if org is None:
                raise CommandError(f"no organisation named {options['org']!r}")
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        try:
            key, secret = api_key_create(user=user, name=options["name"], scopes=scopes, organization=org,
                                         expires_days=options["expires_days"])
        except HubError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Created key {key.prefix}… ({', '.join(key.scopes)}) for {user.get_username()}. "
                          "Store it now; it is not shown again:")
        self.stdout.write(secret)
