"""Authority over content-addressed bytes: which repo may reference which blob, and LFS uploads in flight.

Bytes are stored once (a Blob per sha256), but authority never travels with a hash. A repo may reference a blob
only through a RepoBlob row: its bytes were uploaded into the repo by a writer (an LFS upload hashed here, a Xet
shard registered for the repo, a browser upload), or a committer brought them in from another repo whose history
holds them and that the committer may download. Downloads from a repo serve a blob only with its RepoBlob row.

An LFS upload lands at its own staging key (BlobUpload), never at the blob's key: another user's unfinished or
lying upload of the same oid can neither block nor overwrite yours. Bytes that hash to their oid are copied to the
blob's key (or dropped, when the blob is already stored) and grant the repo; any others are deleted.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from registry.models.core import Blob, ModelRepo


class RepoBlob(models.Model):
    """The repo may reference this blob in its commits, and serve it from them."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "Uploaded into the repo (LFS)"
        XET = "xet", "Registered for the repo by a Xet shard"
        INGEST = "ingest", "Stored by the hub for the repo (browser upload, seeding)"
        REUSE = "reuse", "Brought in from a repo the committer may download"
        BACKFILL = "backfill", "Referenced by the repo's commits before these records existed"

    repo = models.ForeignKey(ModelRepo, on_delete=models.CASCADE, related_name="blob_grants")
    blob = models.ForeignKey(Blob, on_delete=models.CASCADE, related_name="repo_grants")
    source = models.CharField(max_length=8, choices=Source.choices)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "blob"], name="repoblob_uniq")]

    def __str__(self) -> str:
        return f"{self.blob_id} @ {self.repo_id} ({self.source})"


class BlobUpload(models.Model):
    """One writer's LFS upload of one object into one repo, at a staging key of its own."""

    class State(models.TextChoices):
        OPEN = "open", "Waiting for the bytes"
        UPLOADED = "uploaded", "Bytes landed, being hashed"
        VERIFIED = "verified", "Verified"
        REJECTED = "rejected", "Rejected"

    repo = models.ForeignKey(ModelRepo, on_delete=models.CASCADE, related_name="blob_uploads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    staging_key = models.CharField(max_length=255, unique=True)
    multipart_upload_id = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    rejected_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # (repo, sha256) first: commits look up a repo's uploads by oid.
            models.UniqueConstraint(fields=["repo", "sha256", "user"], name="blobupload_uniq"),
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="blobupload_sha256_hex"),
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="blobupload_state_created")]

    def __str__(self) -> str:
        return f"{self.sha256[:12]}… → {self.repo_id} by {self.user_id} ({self.state})"
