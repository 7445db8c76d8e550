"""Who downloaded what: a daily counter per repo (the model page's 30-day chart) and, for signed-in users, one
row per (repo, commit, user) — the per-licensee records an organisation's admins see for gated models, and the
list a release recall writes to."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from registry.models.core import Commit, ModelRepo


class DownloadDay(models.Model):
    """Counted downloads (one per snapshot, the Hub's rule) of a repo on one UTC day."""

    repo = models.ForeignKey(ModelRepo, on_delete=models.CASCADE, related_name="download_days")
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "day"], name="downloadday_repo_day_uniq")]
        ordering = ["repo", "day"]

    def __str__(self) -> str:
        return f"{self.repo_id} {self.day}: {self.count}"


class UserDownload(models.Model):
    """A signed-in user (browser session or API key) downloaded files of this commit."""

    repo = models.ForeignKey(ModelRepo, on_delete=models.CASCADE, related_name="user_downloads")
    commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="user_downloads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="downloads")
    api_key = models.ForeignKey(
        "registry.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The key of the latest download, when it came over the API.",
    )
    files = models.PositiveIntegerField(default=0, help_text="File downloads (GETs) counted so far.")
    ip = models.GenericIPAddressField(null=True, blank=True, help_text="Address of the latest download.")
    first_at = models.DateTimeField(default=timezone.now)
    last_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repo", "commit", "user"], name="userdownload_repo_commit_user_uniq"),
        ]
        indexes = [models.Index(fields=["repo", "-last_at"], name="userdownload_repo_last")]
        ordering = ["-last_at"]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.repo_id}:{self.commit_id}"
