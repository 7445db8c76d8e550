"""Pull requests: commits that open one (`create_pr=1`), pushes to `refs/pr/N`, merges (HF_COMMUNITY.md §1).

Who may (HF's rules):
- open a PR with a commit, and upload its bytes: any signed-in reader of the repo whose key may write
  (permissions.can_propose) — this gives no write on any branch: the commit lands on the PR's own ref only;
- push to `refs/pr/N`: the PR's author or a repo writer, while the PR is a draft or open;
- merge: repo writers, once the PR is published (not a draft), without conflicts against the target, and with no
  file that failed validation (the validation gate: a quarantined file is never merged).

Bytes keep their authority rules (registry.selectors.blobs): a PR's commit references only bytes its author uploaded
or may download, exactly as any commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from registry import permissions
from registry.exceptions import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    PermissionDenied,
    RepoNotFound,
    RevisionNotFound,
    StaleParent,
)
from registry.hooks import hub_event
from registry.models import (
    PR_REF_PREFIX,
    ApiKey,
    Branch,
    Commit,
    CommitFile,
    Discussion,
    DiscussionEvent,
    ModelRepo,
    pr_ref,
)
from registry.selectors.changes import commit_by_oid
from registry.services.audit import audit_record
from registry.services.commits import AddBlob, AddInline, Delete, Operation

Status = Discussion.Status
MERGEABLE = (Status.OPEN,)
PUSHABLE = (Status.DRAFT, Status.OPEN)
MERGE_READ_CHUNK = 500


def pr_num(branch: str) -> int | None:
    """N for `refs/pr/N`, else None."""
    if not isinstance(branch, str) or not branch.startswith(PR_REF_PREFIX):
        return None
    tail = branch[len(PR_REF_PREFIX):]
    return int(tail) if tail.isdigit() and tail.isascii() and len(tail) < 10 else None


def is_pr_ref(branch: object) -> bool:
    return isinstance(branch, str) and branch.startswith(PR_REF_PREFIX)


def pr_for_ref(*, repo: ModelRepo, branch: str) -> Discussion | None:
    num = pr_num(branch)
    if num is None:
        return None
    return Discussion.objects.filter(repo=repo, num=num, is_pull_request=True).first()


def _is_author(actor: Any, discussion: Discussion) -> bool:
    return discussion.author_id is not None and getattr(actor, "pk", None) == discussion.author_id


def pr_push_check(*, actor: Any, repo: ModelRepo, branch: str, api_key: ApiKey | None = None) -> Discussion:
    """May `actor` commit to `refs/pr/N`? The PR, or the error every write route answers."""
    if not permissions.can_read_repo(actor, repo):
        raise RepoNotFound(gettext("Repository not found"))
    if not getattr(actor, "is_authenticated", False):
        raise NotAuthenticated(gettext("sign in to push to a pull request"))
    discussion = pr_for_ref(repo=repo, branch=branch)
    if discussion is None:
        raise RevisionNotFound(gettext("Invalid rev id: %(revision)s") % {"revision": branch})
    writer = permissions.can_write_repo(actor, repo, api_key)
    if not writer:
        if not permissions.key_allows_write(api_key, repo.owner_org_id):
            raise PermissionDenied(gettext("this API key is read-only: pushing to a pull request needs the write "
                                           "scope"))
        if not _is_author(actor, discussion):
            raise PermissionDenied(gettext("only the author of pull request #%(num)d or the repository's writers can "
                                           "push to %(branch)s") % {"num": discussion.num, "branch": branch})
    if repo.disabled:
        raise PermissionDenied(gettext("This repository has been disabled"))
    _check_pushable(discussion)
    return discussion


def _check_pushable(discussion: Discussion) -> None:
    if discussion.status not in PUSHABLE:
        raise Conflict(gettext("pull request #%(num)d is %(status)s: it takes no more commits")
                       % {"num": discussion.num, "status": discussion.status}, code="PullRequestClosed")


def upload_access_check(*, actor: Any, repo: ModelRepo, revision: str, create_pr: bool,
                        api_key: ApiKey | None = None) -> None:
    """The uploads before a commit (preupload, Xet token): writers anywhere; with `create_pr` any reader who may
    propose; on `refs/pr/N` its author or a writer."""
    if create_pr:
        permissions.require_propose(actor, repo, api_key)
    elif is_pr_ref(revision):
        pr_push_check(actor=actor, repo=repo, branch=revision, api_key=api_key)
    else:
        permissions.require_write_repo(actor, repo, api_key)


def pr_commit_recorded(*, discussion: Discussion, actor: Any, commit: Commit) -> None:
    """Inside commit_create's transaction, once the commit exists: the PR must still take commits (its row locked,
    so a merge or a close in between wins cleanly), and its thread gets a `commit` event."""
    locked = Discussion.objects.select_for_update().filter(pk=discussion.pk).first()
    if locked is None:
        raise RevisionNotFound(gettext("Invalid rev id: %(revision)s") % {"revision": pr_ref(discussion.num)})
    _check_pushable(locked)
    now = timezone.now()
    DiscussionEvent.objects.create(
        discussion=locked, type=DiscussionEvent.Type.COMMIT, created_at=now, updated_at=now,
        author=actor if getattr(actor, "is_authenticated", False) else None,
        author_name=actor.get_username() if getattr(actor, "is_authenticated", False) else "system",
        data={"subject": commit.title, "oid": commit.oid},
    )
    Discussion.objects.filter(pk=locked.pk).update(updated_at=now)
    hub_event(scope="discussion", action="update", repo_id=locked.repo_id, discussion_id=locked.pk)


def _pr_title(summary: str) -> str:
    from registry.services.discussions import TITLE_MAX, TITLE_MIN

    title = " ".join((summary or "").split())[:TITLE_MAX]
    if len(title) < TITLE_MIN:
        title = f"Pull request: {title}".strip()  # stored, as the commit summary is: not translated
    return title


def pr_commit_open(*, actor: Any, repo: ModelRepo, operations: Sequence[Operation], title: str, message: str = "",
                   target_branch: str = "main", parent_oid: str | None = None, api_key: ApiKey | None = None,
                   ip: str | None = None) -> tuple[Discussion, Commit]:
    """`POST …/commit/{base}?create_pr=1`: open PR N (open, title = the commit summary, first comment = its
    description) and put the commit on `refs/pr/N` — never on `target_branch`. One transaction: a refused commit
    leaves no empty PR behind."""
    from registry.services.discussions import discussion_create
    from registry.services.uploads import commit_from_upload

    permissions.require_propose(actor, repo, api_key)
    if not isinstance(title, str) or not title.strip():
        raise InvalidInput(gettext("a commit needs a summary"))
    parent = None
    if parent_oid is not None:
        # HF: with create_pr, `parent_commit` is where the PR starts (its merge base), not a head check.
        if not isinstance(parent_oid, str):
            raise InvalidInput(gettext("parentCommit must be a commit id"))
        parent = commit_by_oid(repo=repo, oid=parent_oid)
    with transaction.atomic():
        discussion = discussion_create(actor=actor, repo=repo, title=_pr_title(title), description=message or "",
                                       pull_request=True, target_branch=target_branch, status=Status.OPEN,
                                       api_key=api_key, ip=ip)
        if parent is not None:
            Branch.objects.filter(repo=repo, name=pr_ref(discussion.num)).update(head=parent)
            Discussion.objects.filter(pk=discussion.pk).update(base_oid=parent.oid)
            discussion.base_oid = parent_oid = parent.oid
        commit = commit_from_upload(actor=actor, repo=repo, operations=operations, title=title, message=message,
                                    branch=pr_ref(discussion.num), parent_oid=parent_oid, api_key=api_key, ip=ip)
    return discussion, commit


# --- merge ---------------------------------------------------------------------------------------------------------


def _merge_operations(*, head: Commit, paths: Sequence[str]) -> list[Operation]:
    """The PR's changes as operations on the target head: its files at `paths` (added or modified in the PR) as they
    are on the PR head, and the ones it removed as deletions. Blob files keep their blob (no bytes move)."""
    ops: list[Operation] = []
    present: set[str] = set()
    for start in range(0, len(paths), MERGE_READ_CHUNK):
        chunk = paths[start:start + MERGE_READ_CHUNK]
        rows = CommitFile.objects.filter(commit=head, path__in=chunk).select_related("blob")
        for row in rows:
            present.add(row.path)
            if row.blob_id is not None:
                ops.append(AddBlob(row.path, row.blob.sha256, row.size))
            else:
                ops.append(AddInline(row.path, bytes(row.content or b"")))
    ops.extend(Delete(path) for path in paths if path not in present)
    return ops


def pr_merge(*, actor: Any, discussion: Discussion, comment: object = "", api_key: ApiKey | None = None,
             ip: str | None = None) -> Commit:
    """Merge a published PR into its target: a merge commit that applies the PR's changes on the target head."""
    from registry.selectors.changes import changed_paths
    from registry.selectors.pulls import pr_conflicts, pr_failed_files, pr_heads
    from registry.services.commits import commit_create
    from registry.services.discussions import comment_text

    repo = discussion.repo
    if not permissions.can_read_repo(actor, repo):
        raise RepoNotFound(gettext("Repository not found"))
    if not getattr(actor, "is_authenticated", False):
        raise NotAuthenticated(gettext("sign in to merge a pull request"))
    if not discussion.is_pull_request:
        raise InvalidInput(gettext("discussion #%(num)d is not a pull request") % {"num": discussion.num})
    if not permissions.can_moderate_community(actor, repo, api_key):
        raise PermissionDenied(gettext("only the repository's writers can merge a pull request"))
    text = comment_text(comment, allow_empty=True) if comment else ""
    with transaction.atomic():
        locked = Discussion.objects.select_for_update().filter(pk=discussion.pk).first()
        if locked is None:
            raise RepoNotFound(gettext("Discussion not found"))
        if locked.status == Status.MERGED:
            raise Conflict(gettext("pull request #%(num)d is already merged") % {"num": locked.num},
                           code="PullRequestMerged")
        if locked.status == Status.DRAFT:
            raise Conflict(gettext("pull request #%(num)d is a draft: publish it (set its status to open) before "
                                   "merging") % {"num": locked.num}, code="PullRequestDraft")
        if locked.status != Status.OPEN:
            raise Conflict(gettext("pull request #%(num)d is closed: reopen it before merging") % {"num": locked.num},
                           code="PullRequestClosed")
        heads = pr_heads(locked)
        if heads is None:
            raise Conflict(gettext("the target branch %(branch)s of this pull request no longer exists")
                           % {"branch": locked.target_branch})
        conflicts = pr_conflicts(locked, heads=heads)
        if conflicts:
            raise Conflict(gettext("this pull request conflicts with %(branch)s in: %(paths)s")
                           % {"branch": locked.target_branch, "paths": ", ".join(conflicts[:20])},
                           code="MergeConflict")
        failed = pr_failed_files(locked, heads=heads)
        if failed:
            raise Conflict(gettext("files in this pull request failed validation and can't be merged: %(files)s")
                           % {"files": "; ".join(f"{path} ({reason})" for path, reason in failed[:20])},
                           code="ValidationFailed")
        paths = sorted(changed_paths(head=heads.pr_head, base=heads.base))
        operations = _merge_operations(head=heads.pr_head, paths=paths)
        message = locked.title + (f"\n\n{text}" if text.strip() else "")
        try:
            # On the head the conflicts were checked against, or not at all.
            merged = commit_create(
                actor=actor, repo=repo, operations=operations,
                title=f"Merge pull request #{locked.num}: {locked.title}"[:400],
                message=message, branch=locked.target_branch, parent_oid=heads.target_head.oid, api_key=api_key,
                ip=ip,
            )
        except StaleParent as exc:
            raise Conflict(gettext("%(branch)s moved while the pull request was being merged; retry")
                           % {"branch": locked.target_branch}, code="MergeRetry") from exc
        now = timezone.now()
        author = {"author": actor, "author_name": actor.get_username()}
        if text.strip():
            note = DiscussionEvent.objects.create(discussion=locked, type=DiscussionEvent.Type.COMMENT, content=text,
                                                  created_at=now, updated_at=now, **author)
            hub_event(scope="discussion.comment", action="create", repo_id=repo.pk, discussion_id=locked.pk,
                      comment_id=note.pk)
        DiscussionEvent.objects.create(discussion=locked, type=DiscussionEvent.Type.STATUS_CHANGE,
                                       data={"status": Status.MERGED}, created_at=now, updated_at=now, **author)
        Discussion.objects.filter(pk=locked.pk).update(status=Status.MERGED, merge_commit_oid=merged.oid,
                                                       updated_at=now)
        discussion.status, discussion.merge_commit_oid, discussion.updated_at = Status.MERGED, merged.oid, now
        audit_record(actor=actor, action="pull_request.merge", target=repo, ip=ip,
                     metadata={"num": locked.num, "commit": merged.oid, "branch": locked.target_branch,
                               "files": len(paths)})
        hub_event(scope="discussion", action="update", repo_id=repo.pk, discussion_id=locked.pk)
    return merged

