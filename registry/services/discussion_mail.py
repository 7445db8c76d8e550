"""E-mail about discussions: a new thread or comment goes to the repo's followers and the thread's participants.

Listens to hub events (registry.hooks.on_hub_event), which fire after the transaction commits, and queues a job
(registry.notify_discussion, keyed by the comment) per new thread or comment: a worker sends the mail, never the
request. (The job row is written just after the thread's commit, not in it: a crash in between loses one
notification, never a comment.) Nobody is told of their own message; a follower or participant who can no longer
read the repo (a private repo they left) gets nothing; and anyone can stop a thread's mail with the unsubscribe link
every message carries (a signed token, no sign-in needed) or the button on the thread's page (DiscussionMute).
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMessage, get_connection
from django.db.models import Q
from django.utils.translation import gettext

from registry import permissions
from registry.exceptions import InvalidInput
from registry.hooks import on_hub_event
from registry.models import Discussion, DiscussionEvent, DiscussionMute, RepoFollow
from registry.services.follows import row_present
from registry.services.jobs import job_enqueue
from registry.site import site_name, site_url

logger = logging.getLogger(__name__)

NOTIFY_TASK = "registry.notify_discussion"
UNSUBSCRIBE_SALT = "registry.discussion-unsubscribe"
EXCERPT_MAX = 2_000
SMTP_TIMEOUT = 10  # seconds per mail-server operation
RECIPIENTS_MAX = 5_000  # a thread on a hugely followed repo is mailed to the first RECIPIENTS_MAX


def unsubscribe_token(*, user_id: int, discussion_id: int) -> str:
    return signing.dumps({"u": user_id, "d": discussion_id}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_read(token: str) -> tuple[int, int]:
    """(user id, discussion id) of a token from an e-mail; InvalidInput when it was not made here."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        return int(data["u"]), int(data["d"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise InvalidInput(gettext("this unsubscribe link is not valid")) from None


def thread_mute_set(*, user: Any, discussion: Discussion, muted: bool) -> bool:
    """Stop (or resume) a thread's e-mail for a user; idempotent."""
    return row_present(DiscussionMute, muted, user=user, discussion=discussion)


def is_muted(*, user: Any, discussion: Discussion) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return DiscussionMute.objects.filter(user=user, discussion=discussion).exists()


def recipients(discussion: Discussion, *, exclude_user_id: int | None) -> list[Any]:
    """Followers of the repo and everyone who wrote in the thread, less the muted, the author of the message, the
    inactive, those without an address and those who can't read the repo."""
    follower_ids = RepoFollow.objects.filter(repo_id=discussion.repo_id).values_list("user_id", flat=True)
    participant_ids = (DiscussionEvent.objects.filter(discussion=discussion, author__isnull=False)
                       .values_list("author_id", flat=True))
    muted_ids = DiscussionMute.objects.filter(discussion=discussion).values_list("user_id", flat=True)
    users = (get_user_model().objects.filter(is_active=True)
             .filter(Q(pk__in=follower_ids) | Q(pk__in=participant_ids))
             .exclude(email="").exclude(pk__in=muted_ids).order_by("pk"))
    if exclude_user_id is not None:
        users = users.exclude(pk=exclude_user_id)
    return list(users.filter(permissions.repo_readers(discussion.repo))[:RECIPIENTS_MAX])


def _thread_url(discussion: Discussion) -> str:
    return f"{site_url()}/{discussion.repo.repo_id}/discussions/{discussion.num}"


def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= EXCERPT_MAX else text[:EXCERPT_MAX - 1] + "…"


def notify(*, event_id: int) -> int:
    """Mail one new thread (its opening comment) or comment; returns how many messages went out. The job of
    (NOTIFY_TASK, event id) runs it once."""
    event = DiscussionEvent.objects.select_related("discussion__repo").filter(pk=event_id).first()
    if event is None or event.type != DiscussionEvent.Type.COMMENT or event.hidden:
        return 0
    discussion = event.discussion
    if discussion.repo.disabled:
        return 0
    new_thread = not DiscussionEvent.objects.filter(discussion=discussion, pk__lt=event.pk).exists()
    name = site_name(translated=False)
    repo_id = discussion.repo.repo_id
    kind = "pull request" if discussion.is_pull_request else "discussion"
    who = event.author_name or "deleted"
    if new_thread:
        subject = f"[{name}] {repo_id}: new {kind} #{discussion.num}: {discussion.title}"
        lead = f"{who} opened {kind} #{discussion.num} on {repo_id}: {discussion.title}"
    else:
        subject = f"[{name}] {repo_id} #{discussion.num}: {discussion.title}"
        lead = f"{who} commented on {kind} #{discussion.num} of {repo_id}: {discussion.title}"
    url = _thread_url(discussion)
    sent = 0
    users = recipients(discussion, exclude_user_id=event.author_id)
    if not users:
        return 0
    # One connection for the lot, with a timeout: a mail server that hangs must not hold the worker.
    with get_connection(timeout=SMTP_TIMEOUT) as connection:
        for user in users:
            token = unsubscribe_token(user_id=user.pk, discussion_id=discussion.pk)
            body = (f"{lead}\n\n{_excerpt(event.content)}\n\n{url}\n\n"
                    f"You receive this because you follow {repo_id} or took part in this thread on {name}.\n"
                    f"Stop e-mail about this thread: {url}/unsubscribe?token={token}\n\n-- \n{name}\n{site_url()}\n")
            try:
                sent += connection.send_messages([EmailMessage(subject, body, None, [user.email])]) or 0
            except Exception:  # noqa: BLE001 - one bad address must not stop the others
                logger.exception("could not email %s about discussion %s", user.pk, discussion.pk)
    return sent


@on_hub_event
def _on_hub_event(event: dict) -> None:
    """After the commit of a new thread or comment: a job (registry.models.Job, then a Celery task) mails it, so the
    request never waits on a mail server and a lost message is sent again by the job sweep."""
    scope, action = event.get("scope"), event.get("action")
    if action != "create" or scope not in ("discussion", "discussion.comment") or not event.get("comment_id"):
        return
    try:
        job_enqueue(task=NOTIFY_TASK, key=int(event["comment_id"]))
    except Exception:  # noqa: BLE001 - mail never breaks the request that made the event
        logger.exception("could not queue the discussion notification for %s", event)
