"""Open-source releases: a member proposes a validated commit, consortium admins sign off, the hub tags, signs and
publishes it — and can withdraw it later, with an advisory to everyone who downloaded it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import pgettext_lazy

from registry.models.core import Commit, License, ModelRepo, Organization


class Release(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", pgettext_lazy("release state", "Draft")
        PENDING = "pending", pgettext_lazy("release state", "Pending approval")
        APPROVED = "approved", pgettext_lazy("release state", "Approved")
        PUBLISHED = "published", pgettext_lazy("release state", "Published")
        REJECTED = "rejected", pgettext_lazy("release state", "Rejected")
        WITHDRAWN = "withdrawn", pgettext_lazy("release state", "Withdrawn")

    repo = models.ForeignKey(ModelRepo, on_delete=models.CASCADE, related_name="releases")
    version = models.CharField(max_length=64, help_text="Semantic version, e.g. 1.2.0")
    commit = models.ForeignKey(Commit, on_delete=models.PROTECT, related_name="releases")
    title = models.CharField(max_length=200)
    notes = models.TextField(blank=True, help_text="Markdown")
    license = models.ForeignKey(License, null=True, blank=True, on_delete=models.PROTECT, related_name="releases")
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT, db_index=True)
    checklist = models.JSONField(default=list, blank=True, help_text="The last computed checklist items.")

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    requested_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    rejected_reason = models.TextField(blank=True)

    inference_waived_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                            on_delete=models.SET_NULL, related_name="+")
    inference_waiver_reason = models.TextField(blank=True)
    hub_url = models.CharField(max_length=255, blank=True,
                               help_text="The address the release was requested/approved through (the manifest's "
                                         "`hub` when SITE_URL is not configured).")

    manifest = models.BinaryField(null=True, blank=True, help_text="The exact signed bytes (canonical JSON).")
    signature = models.TextField(blank=True, help_text="Ed25519 signature of the manifest, base64.")
    signing_key_id = models.CharField(max_length=64, blank=True, help_text="sha256 of the public key (hex).")
    publish_error = models.TextField(blank=True)

    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    withdrawn_reason = models.TextField(blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "version"], name="release_repo_version_uniq")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.repo_id} v{self.version} ({self.state})"

    @property
    def tag_name(self) -> str:
        return f"v{self.version}"


class ReleaseDecision(models.Model):
    """One consortium admin's sign-off or rejection, on behalf of their organisation."""

    class Decision(models.TextChoices):
        APPROVE = "approve", pgettext_lazy("release decision", "Approve")
        REJECT = "reject", pgettext_lazy("release decision", "Reject")

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="decisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="release_decisions")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["release", "user"], name="releasedecision_release_user_uniq")]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.decision} {self.release_id} by {self.user_id}"


class RepoFollow(models.Model):
    """A user follows a model: they are emailed when it publishes a release."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follows")
    repo = models.ForeignKey(ModelRepo, on_delete=models.CASCADE, related_name="followers")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "repo"], name="repofollow_uniq")]

    def __str__(self) -> str:
        return f"{self.user_id} follows {self.repo_id}"


class MirrorTarget(models.Model):
    """Where a repo's published releases are pushed: another Hugging Face-compatible hub."""

    repo = models.OneToOneField(ModelRepo, on_delete=models.CASCADE, related_name="mirror_target")
    endpoint = models.URLField(help_text="e.g. https://huggingface.co")
    target_repo_id = models.CharField(max_length=200, help_text="namespace/name on the target hub")
    token_encrypted = models.TextField(help_text="Fernet-encrypted token (registry.services.mirrors).")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.repo_id} -> {self.endpoint} {self.target_repo_id}"


class ReleaseMirror(models.Model):
    """One push of a published release to the repo's mirror target."""

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("mirror status", "Pending")
        RUNNING = "running", pgettext_lazy("mirror status", "Running")
        DONE = "done", pgettext_lazy("mirror status", "Done")
        FAILED = "failed", pgettext_lazy("mirror status", "Failed")

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="mirrors")
    target = models.ForeignKey(MirrorTarget, on_delete=models.CASCADE, related_name="pushes")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    remote_commit = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["release", "target"], name="releasemirror_uniq")]

    def __str__(self) -> str:
        return f"{self.release_id} -> {self.target_id}: {self.status}"


class ReleaseAdvisory(models.Model):
    """A withdrawal advisory emailed to one downloader of the release's commit."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="advisories")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    email = models.EmailField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["release", "user"], name="releaseadvisory_uniq")]
        verbose_name_plural = "release advisories"

    def __str__(self) -> str:
        return f"{self.release_id} -> {self.email}"
