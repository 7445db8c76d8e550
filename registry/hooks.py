"""Follow-up work a state change triggers, queued only after the transaction commits.

Features that react to new commits (validation, inference checks) register here, so the commit
service stays ignorant of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import transaction

if TYPE_CHECKING:
    from registry.models import Commit

_commit_listeners: list[Callable[[int], None]] = []


def on_commit_created(listener: Callable[[int], None]) -> Callable[[int], None]:
    """Register `listener(commit_id)`, called after the commit's transaction has committed."""
    _commit_listeners.append(listener)
    return listener


def commit_created(commit: Commit) -> None:
    commit_id = commit.pk
    for listener in list(_commit_listeners):
        transaction.on_commit(lambda listener=listener: listener(commit_id))


# --- validation finished (inference checks listen) ---

_validation_listeners: list[Callable[[int, str], None]] = []


def on_validation_finished(listener: Callable[[int, str], None]) -> Callable[[int, str], None]:
    """Register `listener(run_id, status)`, called after a finished run's transaction has committed."""
    _validation_listeners.append(listener)
    return listener


def validation_finished(run_id: int, status: str) -> None:
    for listener in list(_validation_listeners):
        transaction.on_commit(lambda listener=listener: listener(run_id, status))


# --- community and webhooks: something a webhook may report happened ---

_event_listeners: list[Callable[[dict], None]] = []


def on_hub_event(listener: Callable[[dict], None]) -> Callable[[dict], None]:
    """Register `listener(event)`, called once the transaction that made the event has committed, inside a
    transaction of its own (rows and jobs it writes land together with the event's dispatch).

    `event` is a plain dict: {"scope": "repo" | "repo.content" | "repo.config" | "discussion" |
    "discussion.comment" | "release", "action": "create" | "update" | "delete" | "move" | ..., "repo_id": int,
    plus per scope "updated_refs": [{ref, oldSha, newSha}], "updated_config": {...}, "discussion_id": int,
    "comment_id": int (DiscussionEvent pk), "release_id": int, "moved_from": "ns/name"}; a repo "delete" adds
    "repo_snapshot": {namespace, name, private, owner_user_id, owner_org_id} (the row is gone when listeners run).
    Webhooks listen here (registry.services.webhooks); producers never import them.
    """
    _event_listeners.append(listener)
    return listener


def hub_event(**event) -> None:
    """Report an event. It is written as a row in the caller's transaction (registry.services.events) and handed to
    every listener once that commits: at once in this process, or by a worker when this process dies first."""
    if not _event_listeners:
        return
    from registry.services.events import event_record

    event_record(event)


def ref_moved(*, repo_id: int, ref: str, old: str | None, new: str | None) -> None:
    """A ref was created (old None), moved, or deleted (new None): the `repo.content` event webhooks report with
    `updatedRefs`. `ref` is full: refs/heads/…, refs/tags/…, refs/pr/N."""
    hub_event(scope="repo.content", action="update", repo_id=repo_id,
              updated_refs=[{"ref": ref, "oldSha": old, "newSha": new}])


def hub_event_listeners() -> list[Callable[[dict], None]]:
    return list(_event_listeners)
