"""Background jobs as rows: the outbox that makes every queued job recoverable.

A job that matters (verify or materialise a blob, validate a commit, an inference check, publish a release, push a
mirror, send advisories) is a row written in the transaction of the state change that needs it, and sent to the
broker once that commits. The broker only carries a copy: a worker holds the row by a lease it renews while it runs,
and the sweeper (registry.sweep_jobs, every 30 s and when a worker starts) sends again every job that is due and
not held — one whose message was lost, whose send failed, or whose worker died. See registry/services/jobs.py.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Job(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "queued"  # waiting for a worker (sent, or due to be sent)
        RUNNING = "running", "running"  # held by a worker until lease_until, which it renews
        DONE = "done", "done"
        FAILED = "failed", "failed"  # gave up after MAX_ATTEMPTS starts

    task = models.CharField(max_length=100, help_text="Celery task name, e.g. registry.validate_commit")
    key = models.BigIntegerField(help_text="The task's argument: the id of the row it works on")
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveIntegerField(default=0, help_text="Times a worker started it")
    dispatches = models.PositiveIntegerField(default=0, help_text="Times it was sent to the broker")
    due_at = models.DateTimeField(null=True, blank=True,
                                  help_text="When the sweeper sends it (again) if no worker holds it; empty: now")
    lease_until = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="The worker holding (or last holding) it")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One open job per (task, object): enqueueing twice (a hook and a re-run, say) is one job.
            models.UniqueConstraint(fields=["task", "key"], condition=Q(state__in=["queued", "running"]),
                                    name="job_one_open_per_task_key"),
        ]
        indexes = [
            models.Index(fields=["state", "due_at"], name="job_state_due_idx"),
            models.Index(fields=["state", "lease_until"], name="job_state_lease_idx"),
            models.Index(fields=["task", "key"], name="job_task_key_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task}({self.key}) {self.state}"


class HubEvent(models.Model):
    """Something webhooks and notification e-mails react to (registry.hooks.hub_event), kept as a row written in the
    transaction of the change that made it, with a Job that hands it to the listeners (registry.services.events):
    a hub or worker that dies right after a commit delays the webhook, never loses it."""

    payload = models.JSONField(help_text="{scope, action, repo_id, ...}: see registry.hooks.on_hub_event")
    created_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True, help_text="When the listeners had it")

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="hubevent_created_idx")]

    def __str__(self) -> str:
        return f"{self.payload.get('scope')}.{self.payload.get('action')} #{self.pk}"
