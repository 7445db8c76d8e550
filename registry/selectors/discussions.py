"""Reading discussions and pull requests. Callers have already checked the viewer can read the repo.

The list is paged by index (`p`), as the HF client pages it: `count` is the total after filters and `start` the index
of the page's first item. Each page is one indexed range on (repo, status|kind, num) plus one count.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils.translation import gettext

from registry.exceptions import DiscussionNotFound, InvalidInput
from registry.models import Discussion, DiscussionEvent, ModelRepo

PAGE_SIZE = 50
MAX_PAGE = 10_000
EVENTS_MAX = 2_000
TYPES = {"all", "discussion", "pull_request"}
STATUSES = {"all", "open", "closed"}
OPEN_STATUSES = (Discussion.Status.OPEN, Discussion.Status.DRAFT)
CLOSED_STATUSES = (Discussion.Status.CLOSED, Discussion.Status.MERGED)


@dataclass(frozen=True)
class DiscussionPage:
    items: list[Discussion]
    count: int
    start: int
    page: int
    page_size: int

    @property
    def has_next(self) -> bool:
        return self.start + len(self.items) < self.count


def discussion_filtered(*, repo: ModelRepo, kind: str = "all", status: str = "all",
                        author: str | None = None) -> QuerySet[Discussion]:
    if kind not in TYPES:
        raise InvalidInput(gettext("type must be one of: all, discussion, pull_request"))
    if status not in STATUSES:
        raise InvalidInput(gettext("status must be one of: all, open, closed"))
    qs = Discussion.objects.filter(repo=repo)
    if kind != "all":
        qs = qs.filter(is_pull_request=kind == "pull_request")
    if status == "open":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif status == "closed":
        qs = qs.filter(status__in=CLOSED_STATUSES)
    if author:
        user = get_user_model().objects.filter(username__iexact=author).only("pk").first()
        qs = qs.filter(author_id=user.pk if user else -1)
    return qs


def discussion_page(*, repo: ModelRepo, page: object = 0, kind: str = "all", status: str = "all",
                    author: str | None = None, page_size: int = PAGE_SIZE) -> DiscussionPage:
    """Newest first; `status=open` includes drafts and `closed` includes merged."""
    try:
        index = int(page)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(gettext("p must be a page number (0, 1, 2, ...)")) from None
    if not 0 <= index <= MAX_PAGE:
        raise InvalidInput(gettext("p must be between 0 and %(max)d") % {"max": MAX_PAGE})
    qs = discussion_filtered(repo=repo, kind=kind, status=status, author=author)
    start = index * page_size
    items = list(qs.select_related("author").order_by("-num")[start:start + page_size])
    count = start + len(items) if 0 < len(items) < page_size or (not items and index == 0) else qs.count()
    return DiscussionPage(items=items, count=count, start=start, page=index, page_size=page_size)


def discussion_get(*, repo: ModelRepo, num: object) -> Discussion:
    try:
        number = int(num)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DiscussionNotFound(gettext("Discussion not found")) from None
    if not 0 < number < 2**31:  # no thread has it, and PostgreSQL can't even compare an integer column with it
        raise DiscussionNotFound(gettext("Discussion not found"))
    discussion = Discussion.objects.select_related("author", "repo").filter(repo=repo, num=number).first()
    if discussion is None:
        raise DiscussionNotFound(gettext("Discussion not found"))
    return discussion


def discussion_events(*, discussion: Discussion) -> list[DiscussionEvent]:
    """The thread in order (the first event is the description). Bounded: the newest EVENTS_MAX are kept, with the
    opening comment always first."""
    qs = DiscussionEvent.objects.filter(discussion=discussion).select_related("author")
    events = list(qs.order_by("created_at", "id")[:EVENTS_MAX + 1])
    if len(events) > EVENTS_MAX:
        tail = list(qs.order_by("-created_at", "-id")[:EVENTS_MAX - 1])
        events = [events[0], *reversed(tail)]
    return events


def open_count(*, repo: ModelRepo) -> int:
    """Open threads and PRs (drafts included): the number on the model page's Community tab."""
    return Discussion.objects.filter(repo=repo, status__in=OPEN_STATUSES).count()


def comment_get(*, discussion: Discussion, comment_id: str) -> DiscussionEvent:
    event = (DiscussionEvent.objects.select_related("discussion__repo", "author")
             .filter(discussion=discussion, eid=str(comment_id).lower()).first())
    if event is None:
        raise DiscussionNotFound(gettext("Comment not found"))
    return event
