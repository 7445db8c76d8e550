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
