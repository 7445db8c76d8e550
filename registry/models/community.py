"""Community: discussions and pull requests on a repo (HF_COMMUNITY.md §1).

A pull request is a discussion with `is_pull_request` and a ref `refs/pr/{num}`: that ref is a `Branch` row named
`refs/pr/{num}` (so every revision route resolves it like any branch), which branch listings leave out and branch
creation refuses. Discussions and PRs share one number sequence per repo, from 1.

A thread is its ordered events: the first is a comment holding the description; later ones are comments, status
changes, title changes and (on PRs) commits. Event ids are lowercase hex (the client lowercases them in URLs).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

PR_REF_PREFIX = "refs/pr/"


def pr_ref(num: int) -> str:
    return f"{PR_REF_PREFIX}{num}"


def new_event_id() -> str:
    return secrets.token_hex(12)


class Discussion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "draft"
        OPEN = "open", "open"
        CLOSED = "closed", "closed"
        MERGED = "merged", "merged"

    repo = models.ForeignKey("registry.ModelRepo", on_delete=models.CASCADE, related_name="discussions")
    num = models.PositiveIntegerField(help_text="Per repo, shared by discussions and pull requests, from 1.")
    is_pull_request = models.BooleanField(default=False)
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="discussions")
    author_name = models.CharField(max_length=150, blank=True)
    target_branch = models.CharField(max_length=255, blank=True, help_text="Pull requests: the branch it merges into.")
    base_oid = models.CharField(max_length=40, blank=True,
                                help_text="Pull requests: the target's head when the PR was opened (the merge base).")
    merge_commit_oid = models.CharField(max_length=40, blank=True)
    locked = models.BooleanField(default=False, help_text="Locked by a moderator: no new comments.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "num"], name="uniq_discussion_num")]
        indexes = [
            models.Index(fields=["repo", "status", "num"], name="discussion_repo_status"),
            models.Index(fields=["repo", "is_pull_request", "num"], name="discussion_repo_kind"),
            models.Index(fields=["author", "created_at"], name="discussion_author"),
        ]
        ordering = ["repo", "-num"]

    def __str__(self) -> str:
        return f"{self.repo_id}#{self.num} {self.title}"

    @property
    def ref(self) -> str | None:
        return pr_ref(self.num) if self.is_pull_request else None


class DiscussionEvent(models.Model):
    class Type(models.TextChoices):
        COMMENT = "comment", "comment"
        STATUS_CHANGE = "status-change", "status change"
        COMMIT = "commit", "commit"
        TITLE_CHANGE = "title-change", "title change"

    eid = models.CharField(max_length=24, unique=True, default=new_event_id, help_text="Public id (lowercase hex).")
    discussion = models.ForeignKey(Discussion, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=16, choices=Type.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    author_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict, blank=True,
                            help_text="status-change {status}; commit {subject, oid}; title-change {from, to}.")
    # Comments only.
    content = models.TextField(blank=True, help_text="Markdown, as written (the latest edit).")
    edited = models.BooleanField(default=False)
    hidden = models.BooleanField(default=False, help_text="Hidden for good: its text is never shown again.")
    hidden_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    history = models.JSONField(default=list, blank=True, help_text="Earlier versions: [{raw, updatedAt, author}].")

    class Meta:
        indexes = [models.Index(fields=["discussion", "created_at", "id"], name="discussion_event_order")]
        ordering = ["discussion", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.type} {self.eid}"


class DiscussionMute(models.Model):
    """A user who asked for no more e-mail about a thread (the unsubscribe link of a notification, or the thread's
    page). Notifications skip them; subscribing again deletes the row."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    discussion = models.ForeignKey(Discussion, on_delete=models.CASCADE, related_name="mutes")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["discussion", "user"], name="uniq_discussion_mute")]

    def __str__(self) -> str:
        return f"{self.user_id} mutes {self.discussion_id}"
