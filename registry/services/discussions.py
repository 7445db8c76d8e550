"""Discussions and pull requests: open, comment, edit, hide, rename, close/reopen (HF_COMMUNITY.md §1).

Who may do what follows the repo's visibility and the HF Hub's rules:
- anyone who can read the repo reads its threads; nobody who can't read it learns it exists (RepoNotFound);
- a signed-in reader opens threads and PRs and comments (an API key needs the write scope: a read key only reads);
- a comment's author or a repo writer edits or hides it (hiding is for good, and clears the text);
- a thread's author or a repo writer renames it and changes its status;
- a locked thread takes comments from repo writers only.

Every change is one transaction with its audit row, and reports a hub event (registry.hooks.hub_event) that
webhooks and notification e-mails listen to. Pull request refs, pushes and merges are in registry.services.pulls.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext

from registry import permissions
from registry.exceptions import Conflict, InvalidInput, NotAuthenticated, PermissionDenied, RepoNotFound
from registry.hooks import hub_event, ref_moved
from registry.models import ApiKey, Branch, Discussion, DiscussionEvent, ModelRepo, pr_ref
from registry.names import check_text
from registry.services.audit import audit_record

TITLE_MIN = 3
TITLE_MAX = 200
COMMENT_MAX = 65_536
NUM_RETRIES = 5

Status = Discussion.Status
Type = DiscussionEvent.Type


# --- who may ---

def _signed_in(actor: Any, repo: ModelRepo, api_key: ApiKey | None) -> None:
    """A writer of community content: signed in, able to read the repo, with a key that may write."""
    if not permissions.can_read_repo(actor, repo):
        raise RepoNotFound(gettext("Repository not found"))
    if not getattr(actor, "is_authenticated", False):
        raise NotAuthenticated(gettext("sign in to take part in discussions"))
    if api_key is not None and not permissions.key_allows_write(api_key, repo.owner_org_id):
        raise PermissionDenied(gettext("this API key is read-only: discussions need a key with the write scope"))
    if repo.disabled:
        raise PermissionDenied(gettext("this repository has been disabled"))


def _is_author(actor: Any, user_id: int | None) -> bool:
    return user_id is not None and getattr(actor, "pk", None) == user_id


def can_moderate_thread(actor: Any, discussion: Discussion, api_key: ApiKey | None = None) -> bool:
    """Rename and change the status of a thread: its author or a repo writer."""
    return (_is_author(actor, discussion.author_id)
            or permissions.can_moderate_community(actor, discussion.repo, api_key))


def can_moderate_comment(actor: Any, event: DiscussionEvent, api_key: ApiKey | None = None) -> bool:
    """Edit or hide a comment: its author or a repo writer."""
    return (_is_author(actor, event.author_id)
            or permissions.can_moderate_community(actor, event.discussion.repo, api_key))


# --- checks ---

def _title(value: object) -> str:
    title = check_text(value if value is not None else "", what=gettext("the title"), single_line=True).strip()
    if not TITLE_MIN <= len(title) <= TITLE_MAX:
        raise InvalidInput(gettext("a title must be %(min)d to %(max)d characters long")
                           % {"min": TITLE_MIN, "max": TITLE_MAX})
    return title


def comment_text(value: object, *, allow_empty: bool = False) -> str:
    text = check_text(value if value is not None else "", what=gettext("the comment"))
    if not text.strip() and not allow_empty:
        raise InvalidInput(gettext("a comment can't be empty"))
    if len(text) > COMMENT_MAX:
        raise InvalidInput(gettext("a comment is at most %(max)d characters long") % {"max": COMMENT_MAX})
    return text


def _author_fields(actor: Any) -> dict[str, Any]:
    return {"author": actor, "author_name": actor.get_username()}


def _event(discussion: Discussion, actor: Any, type_: str, **fields: Any) -> DiscussionEvent:
    now = timezone.now()
    return DiscussionEvent.objects.create(discussion=discussion, type=type_, created_at=now, updated_at=now,
                                          **_author_fields(actor), **fields)


def _touch(discussion: Discussion, **fields: Any) -> None:
    fields["updated_at"] = timezone.now()
    Discussion.objects.filter(pk=discussion.pk).update(**fields)
    for key, value in fields.items():
        setattr(discussion, key, value)


def _locked_for(actor: Any, discussion: Discussion, api_key: ApiKey | None) -> bool:
    return discussion.locked and not permissions.can_moderate_community(actor, discussion.repo, api_key)


# --- operations ---

def discussion_create(
    *,
    actor: Any,
    repo: ModelRepo,
    title: object,
    description: object = "",
    pull_request: bool = False,
    target_branch: str = "main",
    status: str | None = None,
    api_key: ApiKey | None = None,
    ip: str | None = None,
) -> Discussion:
    """Open a discussion, or a pull request whose ref `refs/pr/N` starts at the target branch's head.

    A PR opened this way is a draft (HF's create_pull_request); `status="open"` is for PRs opened by a commit.
    """
    _signed_in(actor, repo, api_key)
    title = _title(title)
    description = comment_text(description, allow_empty=True)
    if status is None:
        status = Status.DRAFT if pull_request else Status.OPEN
    for _attempt in range(NUM_RETRIES):
        try:
            with transaction.atomic():
                # Numbers are taken one at a time per repo: the repo row is the lock (PostgreSQL; SQLite writers
                # are serialised anyway), the unique constraint the backstop.
                ModelRepo.objects.select_for_update().filter(pk=repo.pk).values_list("pk", flat=True).first()
                target = None
                if pull_request:
                    target = Branch.objects.select_related("head").filter(repo=repo, name=target_branch).first()
                    if target is None:
                        raise InvalidInput(gettext("the target branch %(branch)s does not exist")
                                           % {"branch": target_branch})
                num = (Discussion.objects.filter(repo=repo).aggregate(n=Max("num"))["n"] or 0) + 1
                now = timezone.now()
                discussion = Discussion.objects.create(
                    repo=repo, num=num, is_pull_request=pull_request, title=title, status=status,
                    target_branch=target_branch if pull_request else "",
                    base_oid=target.head.oid if target else "",
                    created_at=now, updated_at=now, **_author_fields(actor),
                )
                if target is not None:
                    Branch.objects.create(repo=repo, name=pr_ref(num), head=target.head, updated_at=now)
                first = _event(discussion, actor, Type.COMMENT, content=description)
                audit_record(actor=actor, action="discussion.create", target=repo, ip=ip,
                             metadata={"num": num, "pull_request": pull_request, "title": title})
                hub_event(scope="discussion", action="create", repo_id=repo.pk, discussion_id=discussion.pk,
                          comment_id=first.pk)
                if target is not None:
                    ref_moved(repo_id=repo.pk, ref=pr_ref(num), old=None, new=target.head.oid)
                return discussion
        except IntegrityError:
            # Two threads took the same number at once: take the next one.
            continue
    raise Conflict(gettext("too many discussions are being opened on this repository right now; retry"))


def comment_add(*, actor: Any, discussion: Discussion, text: object, api_key: ApiKey | None = None,
                ip: str | None = None) -> DiscussionEvent:
    _signed_in(actor, discussion.repo, api_key)
    if _locked_for(actor, discussion, api_key):
        raise PermissionDenied(gettext("this discussion is locked: only the repository's writers can comment"))
    text = comment_text(text)
    with transaction.atomic():
        event = _event(discussion, actor, Type.COMMENT, content=text)
        _touch(discussion)
        hub_event(scope="discussion.comment", action="create", repo_id=discussion.repo_id,
                  discussion_id=discussion.pk, comment_id=event.pk)
    return event


def comment_edit(*, actor: Any, event: DiscussionEvent, text: object, api_key: ApiKey | None = None,
                 ip: str | None = None) -> DiscussionEvent:
    discussion = event.discussion
    _signed_in(actor, discussion.repo, api_key)
    if event.type != Type.COMMENT:
        raise InvalidInput(gettext("only comments can be edited"))
    if not can_moderate_comment(actor, event, api_key):
        raise PermissionDenied(gettext("only the comment's author or the repository's writers can edit it"))
    if event.hidden:
        raise Conflict(gettext("this comment is hidden and can no longer be edited"))
    text = comment_text(text)
    with transaction.atomic():
        now = timezone.now()
        history = [*event.history, {"raw": event.content, "updatedAt": event.updated_at.isoformat(),
                                    "author": event.author_name}]
        DiscussionEvent.objects.filter(pk=event.pk).update(content=text, edited=True, history=history, updated_at=now)
        event.content, event.edited, event.history, event.updated_at = text, True, history, now
        _touch(discussion)
        if not _is_author(actor, event.author_id):
            audit_record(actor=actor, action="discussion.comment.edit", target=discussion.repo, ip=ip,
                         metadata={"num": discussion.num, "comment": event.eid})
        hub_event(scope="discussion.comment", action="update", repo_id=discussion.repo_id,
                  discussion_id=discussion.pk, comment_id=event.pk)
    return event


def comment_hide(*, actor: Any, event: DiscussionEvent, api_key: ApiKey | None = None,
                 ip: str | None = None) -> DiscussionEvent:
    """Hide a comment for good: its text and earlier versions are erased, the event stays in the thread."""
    discussion = event.discussion
    _signed_in(actor, discussion.repo, api_key)
    if event.type != Type.COMMENT:
        raise InvalidInput(gettext("only comments can be hidden"))
    if not can_moderate_comment(actor, event, api_key):
        raise PermissionDenied(gettext("only the comment's author or the repository's writers can hide it"))
    if event.hidden:
        return event
    with transaction.atomic():
        now = timezone.now()
        DiscussionEvent.objects.filter(pk=event.pk).update(hidden=True, hidden_by=actor, content="", history=[],
                                                           updated_at=now)
        event.hidden, event.hidden_by, event.content, event.history, event.updated_at = True, actor, "", [], now
        _touch(discussion)
        audit_record(actor=actor, action="discussion.comment.hide", target=discussion.repo, ip=ip,
                     metadata={"num": discussion.num, "comment": event.eid, "author": event.author_name})
        hub_event(scope="discussion.comment", action="update", repo_id=discussion.repo_id,
                  discussion_id=discussion.pk, comment_id=event.pk)
    return event


def title_change(*, actor: Any, discussion: Discussion, title: object, api_key: ApiKey | None = None,
                 ip: str | None = None) -> DiscussionEvent:
    _signed_in(actor, discussion.repo, api_key)
    if not can_moderate_thread(actor, discussion, api_key):
        raise PermissionDenied(gettext("only the discussion's author or the repository's writers can rename it"))
    title = _title(title)
    with transaction.atomic():
        event = _event(discussion, actor, Type.TITLE_CHANGE, data={"from": discussion.title, "to": title})
        _touch(discussion, title=title)
        hub_event(scope="discussion", action="update", repo_id=discussion.repo_id, discussion_id=discussion.pk)
    return event


def status_change(*, actor: Any, discussion: Discussion, status: object, comment: object = "",
                  api_key: ApiKey | None = None, ip: str | None = None) -> DiscussionEvent:
    """Close or (re)open a thread; opening a draft PR publishes it. A comment is placed before the change."""
    _signed_in(actor, discussion.repo, api_key)
    if status not in (Status.OPEN, Status.CLOSED):
        raise InvalidInput(gettext("status must be open or closed"))
    if not can_moderate_thread(actor, discussion, api_key):
        raise PermissionDenied(
            gettext("only the discussion's author or the repository's writers can change its status"))
    if discussion.status == Status.MERGED:
        raise Conflict(gettext("this pull request is merged; its status can no longer change"))
    if discussion.status == status:
        raise Conflict(gettext("this discussion is already %(status)s") % {"status": status})
    text = comment_text(comment, allow_empty=True) if comment else ""
    with transaction.atomic():
        if text.strip():
            note = _event(discussion, actor, Type.COMMENT, content=text)
            hub_event(scope="discussion.comment", action="create", repo_id=discussion.repo_id,
                      discussion_id=discussion.pk, comment_id=note.pk)
        event = _event(discussion, actor, Type.STATUS_CHANGE, data={"status": status})
        _touch(discussion, status=status)
        audit_record(actor=actor, action="discussion.status", target=discussion.repo, ip=ip,
                     metadata={"num": discussion.num, "status": status})
        hub_event(scope="discussion", action="update", repo_id=discussion.repo_id, discussion_id=discussion.pk)
    return event


def discussion_lock(*, actor: Any, discussion: Discussion, locked: bool, ip: str | None = None) -> None:
    """Moderators (staff, repo admins) lock a thread: only writers comment then."""
    if not (getattr(actor, "is_staff", False) or permissions.can_admin_repo(actor, discussion.repo)):
        raise PermissionDenied(gettext("only moderators can lock a discussion"))
    with transaction.atomic():
        _touch(discussion, locked=locked)
        audit_record(actor=actor, action="discussion.lock" if locked else "discussion.unlock",
                     target=discussion.repo, ip=ip, metadata={"num": discussion.num})


def discussion_delete(*, actor: Any, discussion: Discussion, ip: str | None = None) -> None:
    """Staff delete a thread (spam): its events go with it, a PR's ref too; the audit row keeps what it was."""
    if not getattr(actor, "is_staff", False):
        raise PermissionDenied(gettext("only staff can delete a discussion"))
    with transaction.atomic():
        if discussion.is_pull_request:
            Branch.objects.filter(repo_id=discussion.repo_id, name=pr_ref(discussion.num)).delete()
        audit_record(actor=actor, action="discussion.delete", target=discussion.repo, ip=ip,
                     metadata={"num": discussion.num, "title": discussion.title, "author": discussion.author_name,
                               "pull_request": discussion.is_pull_request})
        hub_event(scope="discussion", action="delete", repo_id=discussion.repo_id, discussion_id=discussion.pk,
                  snapshot={"num": discussion.num, "title": discussion.title, "status": discussion.status,
                            "isPullRequest": discussion.is_pull_request, "author": discussion.author_name})
        discussion.delete()
