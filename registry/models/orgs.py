"""Organisation invitations: an admin invited an email address that belongs to no account yet.

The invitation is applied (a Membership with the invited role) when someone confirms that email address
on the hub; until then it is pending and the admins can cancel it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from registry.models.core import Membership, Organization


class OrgInvitation(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(help_text="Stored lower-case; matched against confirmed email addresses.")
    role = models.CharField(max_length=8, choices=Membership.Role.choices, default=Membership.Role.READ)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")

    class Meta:
        constraints = [
            # One open invitation per address and organisation; accepted ones stay as history.
            models.UniqueConstraint(fields=["organization", "email"], condition=Q(accepted_at__isnull=True),
                                    name="uniq_open_org_invitation"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.email} → {self.organization} ({self.role})"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None
