"""Likes: a signed-in user's mark on a model they can read (liked in the browser; HF's API can only unlike).

ModelRepo.likes is the maintained count (registry.services.likes changes it in the like's own transaction), so a
list sorted by likes is one index range (repo_likes_id) and never counts rows. A user's likes are listed newest
first and a repo's likers newest first, each by keyset pages over its own index.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class RepoLike(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="repo_likes")
    repo = models.ForeignKey("registry.ModelRepo", on_delete=models.CASCADE, related_name="like_rows")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "repo"], name="uniq_repo_like")]
        indexes = [
            models.Index(fields=["user", "created_at", "id"], name="repolike_user_created"),
            models.Index(fields=["repo", "created_at", "id"], name="repolike_repo_created"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.user_id} likes {self.repo_id}"
