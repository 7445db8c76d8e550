"""Attachments: images, videos and sounds a signed-in user uploads to embed in a discussion (`upload_attachment`,
HF_COMMUNITY.md §6). The bytes live in the blob store under `attachments/<uid>`; the row says whose they are, how
big, and the type sniffed from their first bytes (registry.services.attachments), which is the only type they are
ever served as (registry.user_content)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def new_uid() -> str:
    return secrets.token_hex(16)


class Attachment(models.Model):
    uid = models.CharField(max_length=32, unique=True, default=new_uid)
    uploader = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                 related_name="attachments")
    storage_key = models.CharField(max_length=255)
    content_type = models.CharField(max_length=32, help_text="Sniffed from the bytes, never the uploader's word.")
    extension = models.CharField(max_length=8)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["uploader", "created_at"], name="attachment_uploader_created")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.uid}{self.extension} ({self.content_type})"

    @property
    def filename(self) -> str:
        return f"{self.uid}{self.extension}"
