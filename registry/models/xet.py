"""Xet storage (content-defined chunks packed into xorbs, files described by shards).

Xorbs and files are content-addressed (the §3.1 hex form of their Merkle hashes), but access is per repo: a repo may
reference a xorb or read a file only when it is linked to it here (it uploaded it, or proved it has the bytes).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from registry.models.core import ModelRepo


class Xorb(models.Model):
    """A verified xorb body in the blob store (serialized chunks, no footer)."""

    hash = models.CharField(max_length=64, primary_key=True)
    storage_key = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(help_text="Serialized bytes stored.")
    unpacked_size = models.PositiveBigIntegerField()
    n_chunks = models.PositiveIntegerField()
    chunk_meta = models.BinaryField(help_text="40 B per chunk: hash, u32 size, u32 byte end (registry.xet.xorb).")
    created_at = models.DateTimeField(default=timezone.now)
    dropped_at = models.DateTimeField(
        null=True, blank=True,
        help_text="Bytes deleted after the retention period: files stay downloadable as whole blobs, dedup is lost.",
    )

    def __str__(self) -> str:
        return self.hash


class XorbRepo(models.Model):
    """The repo may reference this xorb in its shards and read its bytes."""

    xorb = models.ForeignKey(Xorb, on_delete=models.CASCADE, related_name="repo_links")
    repo = models.ForeignKey(ModelRepo, on_delete=models.CASCADE, related_name="xorb_links")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["xorb", "repo"], name="xorbrepo_uniq")]

    def __str__(self) -> str:
        return f"{self.xorb_id} @ {self.repo_id}"


class XorbUploader(models.Model):
    """This user sent this xorb's bytes (verified against its hash): they may reference it in any repo they write,
    even after the repo it went to is deleted (hf_xet's local cache then sends only the shard). It lends nothing to
    anyone else."""

    xorb = models.ForeignKey(Xorb, on_delete=models.CASCADE, related_name="uploaders")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["xorb", "user"], name="xorbuploader_uniq")]

    def __str__(self) -> str:
        return f"{self.xorb_id} by {self.user_id}"


class XetFile(models.Model):
    """A file registered by a verified shard: its Xet hash, size, sha256 and reconstruction terms."""

    hash = models.CharField(max_length=64, primary_key=True)
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.PositiveBigIntegerField()
    terms = models.BinaryField(help_text="44 B per term: xorb hash, u32 unpacked bytes, u32 start, u32 end.")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.hash


class XetFileRepo(models.Model):
    """The repo registered (or may reconstruct) this file."""

    file = models.ForeignKey(XetFile, on_delete=models.CASCADE, related_name="repo_links")
    repo = models.ForeignKey(ModelRepo, on_delete=models.CASCADE, related_name="xet_file_links")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["file", "repo"], name="xetfilerepo_uniq")]

    def __str__(self) -> str:
        return f"{self.file_id} @ {self.repo_id}"


class XetShard(models.Model):
    """An uploaded shard, kept as received (audit, re-verification); keyed by the sha256 of its bytes."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    storage_key = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    repo = models.ForeignKey(ModelRepo, null=True, on_delete=models.SET_NULL, related_name="xet_shards")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.sha256


class XorbGrant(models.Model):
    """A presigned upload grant: the client PUTs a xorb straight to `staging_key`, then commits the grant."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    xorb_hash = models.CharField(max_length=64, db_index=True)
    repo = models.ForeignKey(ModelRepo, on_delete=models.CASCADE, related_name="xorb_grants")
    staging_key = models.CharField(max_length=255)
    length = models.PositiveBigIntegerField()
    expires_at = models.DateTimeField()
    committed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"grant {self.id} for {self.xorb_hash}"


class DedupChunk(models.Model):
    """A global-dedup-eligible chunk (first chunk of a file, or hash % 1024 == 0) and the xorb holding it."""

    chunk_hash = models.CharField(max_length=64)
    xorb = models.ForeignKey(Xorb, on_delete=models.CASCADE, related_name="dedup_chunks")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chunk_hash", "xorb"], name="dedupchunk_uniq")]
        indexes = [models.Index(fields=["chunk_hash"], name="dedupchunk_hash")]

    def __str__(self) -> str:
        return f"{self.chunk_hash} in {self.xorb_id}"
