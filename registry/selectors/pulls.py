"""Pull requests as read: what a PR changes against its merge base, conflicts with its target, the diff.

The discussions API and the portal call `pr_details_extra` and `pr_page_context` and nothing else of PRs. The
changed files and line diffs are the commit page's (registry.selectors.changes): the PR head against its merge base
(`Discussion.base_oid`, the target's head when the PR was opened).

A conflict is a path both the PR and the target changed since the merge base, to different contents. A gated repo's
file contents (text diffs) are shown only to who may download it, as on the commit page.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from registry import permissions
from registry.models import Branch, Commit, CommitFile, Discussion, FileCheck, pr_ref
from registry.selectors.changes import ADDED, REMOVED, ChangePage, FileChange, change_page, changed_paths
from registry.selectors.validation import commit_validation_status, file_quarantine, quarantine_attach

DIFF_FILES_MAX = 300  # files the API's `diff` covers
DIFF_TEXT_MAX = 1024 * 1024  # characters of the API's `diff`; the rest is cut with a note
PAGE_FILES = 100  # files the portal's PR view lists
OPEN_TEXT = frozenset({"README.md"})  # a gated repo's card is readable by everyone: so is its diff
IN_CHUNK = 500
Status = Discussion.Status


@dataclass(frozen=True)
class PrHeads:
    pr_head: Commit
    base: Commit | None  # the merge base (None only for a PR whose base commit is gone)
    target_head: Commit | None  # None when the target branch was deleted


def pr_heads(discussion: Discussion) -> PrHeads | None:
    """The PR's head, merge base and target head (three indexed queries); None when `refs/pr/N` is gone."""
    ref = Branch.objects.select_related("head").filter(repo_id=discussion.repo_id, name=pr_ref(discussion.num)).first()
    if ref is None:
        return None
    base = (Commit.objects.filter(repo_id=discussion.repo_id, oid=discussion.base_oid).first()
            if discussion.base_oid else None)
    target = (Branch.objects.select_related("head")
              .filter(repo_id=discussion.repo_id, name=discussion.target_branch).first())
    return PrHeads(ref.head, base, target.head if target else None)


def _oids(commit: Commit, paths: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(paths), IN_CHUNK):
        found.update(CommitFile.objects.filter(commit=commit, path__in=paths[start:start + IN_CHUNK])
                     .values_list("path", "git_oid"))
    return found


def pr_conflicts(discussion: Discussion, *, heads: PrHeads | None = None) -> list[str]:
    """Paths the PR and its target both changed since the merge base, to different contents ([] once merged or
    closed, or when the target has not moved)."""
    if not discussion.is_pull_request or discussion.status in (Status.MERGED, Status.CLOSED):
        return []
    heads = heads if heads is not None else pr_heads(discussion)
    if heads is None or heads.target_head is None or heads.base is None:
        return []
    if heads.target_head.pk == heads.base.pk or heads.pr_head.pk == heads.base.pk:
        return []
    both = sorted(changed_paths(head=heads.target_head, base=heads.base)
                  & changed_paths(head=heads.pr_head, base=heads.base))
    if not both:
        return []
    theirs, ours = _oids(heads.target_head, both), _oids(heads.pr_head, both)
    return [path for path in both if theirs.get(path) != ours.get(path)]


def pr_failed_files(discussion: Discussion, *, heads: PrHeads | None = None) -> list[tuple[str, str]]:
    """The PR's changed files that must not be merged: quarantined (their content failed validation, or their bytes
    failed verification) or failed in the validation run of the PR head. (path, reason), in path order."""
    heads = heads if heads is not None else pr_heads(discussion)
    if heads is None:
        return []
    paths = sorted(changed_paths(head=heads.pr_head, base=heads.base))
    failed: dict[str, str] = {}
    for start in range(0, len(paths), IN_CHUNK):
        chunk = paths[start:start + IN_CHUNK]
        rows = list(CommitFile.objects.filter(commit=heads.pr_head, path__in=chunk).select_related("blob")
                    .defer("content"))
        quarantine_attach(files=rows)
        for row in rows:
            reason = file_quarantine(commit_file=row)
            if reason is not None:
                failed[row.path] = reason
        for path, summary in (FileCheck.objects.filter(run__commit=heads.pr_head, path__in=chunk, status="failed")
                              .values_list("path", "summary")):
            message = summary.get("reason") if isinstance(summary, dict) else None
            failed.setdefault(path, str(message or "validation failed"))
    return sorted(failed.items())


def _can_read_contents(discussion: Discussion, viewer: Any) -> bool:
    repo = discussion.repo
    if not repo.is_gated:
        return True
    return viewer is not None and permissions.can_download(viewer, repo)


def _pointer(entry: CommitFile) -> list[str]:
    return ["version https://git-lfs.github.com/spec/v1", f"oid sha256:{entry.blob.sha256}", f"size {entry.size}"]


def _file_diff(change: FileChange) -> list[str]:
    a = "/dev/null" if change.kind == ADDED else f"a/{change.path}"
    b = "/dev/null" if change.kind == REMOVED else f"b/{change.path}"
    lines = [f"diff --git a/{change.path} b/{change.path}"]
    if change.kind == ADDED:
        lines.append("new file mode 100644")
    elif change.kind == REMOVED:
        lines.append("deleted file mode 100644")
    sides = [row for row in (change.old, change.new) if row is not None]
    if change.diff_note == "lfs" and all(row.blob_id is not None for row in sides):
        old = _pointer(change.old) if change.old is not None else []
        new = _pointer(change.new) if change.new is not None else []
        lines += [f"--- {a}", f"+++ {b}"]
        lines += [line for n, line in enumerate(difflib.unified_diff(old, new, n=3, lineterm="")) if n >= 2]
    elif change.diff is not None:
        lines += [f"--- {a}", f"+++ {b}"]
        marks = {"hunk": "", "add": "+", "del": "-", "ctx": " "}
        lines += [marks[kind] + line for kind, line in change.diff]
        if change.diff_truncated:
            lines.append("\\ diff cut short")
    elif change.diff_note in ("binary", "lfs"):
        lines.append(f"Binary files {a} and {b} differ")
    elif change.diff_note:
        lines.append(f"\\ no line diff: {change.diff_note}")
    return lines


def _page(discussion: Discussion, heads: PrHeads, *, viewer: Any, limit: int, counts: bool) -> ChangePage:
    return change_page(head=heads.pr_head, base=heads.base, limit=limit,
                       show_text=_can_read_contents(discussion, viewer), allow_text=OPEN_TEXT, counts=counts)


def pr_diff(discussion: Discussion, *, viewer: Any = None, heads: PrHeads | None = None) -> str:
    """A git-style unified diff of the PR head against its merge base: line diffs of small text files, LFS/Xet
    pointer changes, "Binary files … differ"; at most DIFF_FILES_MAX files and DIFF_TEXT_MAX characters."""
    heads = heads if heads is not None else pr_heads(discussion)
    if heads is None:
        return ""
    page = _page(discussion, heads, viewer=viewer, limit=DIFF_FILES_MAX, counts=False)
    out: list[str] = []
    size = 0
    for change in page.changes:
        block = "\n".join(_file_diff(change)) + "\n"
        if size + len(block) > DIFF_TEXT_MAX:
            out.append("\\ the diff is cut short here\n")
            break
        out.append(block)
        size += len(block)
    else:
        if page.next_after is not None:
            out.append(f"\\ only the first {DIFF_FILES_MAX} files are shown\n")
    return "".join(out)


def pr_changes(discussion: Discussion) -> dict[str, Any]:
    """A PR's `changes` as the HF client reads it (details and webhook payloads): the target ref and, once merged,
    the merge commit."""
    changes: dict[str, Any] = {"base": f"refs/heads/{discussion.target_branch or 'main'}"}
    if discussion.merge_commit_oid:
        changes["mergeCommitId"] = discussion.merge_commit_oid
    return changes


def pr_details_extra(discussion: Discussion, *, with_diff: bool = False, viewer: Any = None) -> dict[str, Any]:
    """The PR-only keys of the HF details object: `changes`, `filesWithConflicts` and (with_diff) `diff`.

    `viewer`: who reads it; a gated repo's text diffs need the right to download it (None: only what everyone may
    read)."""
    heads = pr_heads(discussion)
    extra: dict[str, Any] = {"changes": pr_changes(discussion),
                             "filesWithConflicts": pr_conflicts(discussion, heads=heads) if heads else []}
    if with_diff:
        extra["diff"] = pr_diff(discussion, viewer=viewer, heads=heads) if heads else ""
    return extra


def pr_page_context(discussion: Discussion, *, viewer: Any) -> dict[str, Any]:
    """What the portal's PR view shows beside the thread: changed files with diffs, conflicts, whether the viewer
    may merge (template: portal/community/_pull_request.html)."""
    repo = discussion.repo
    heads = pr_heads(discussion)
    writer = permissions.can_moderate_community(viewer, repo)
    context: dict[str, Any] = {
        "pr_files": [], "pr_counts": None, "pr_more": False, "pr_conflicts": [], "pr_failed": [],
        "pr_can_merge": False, "pr_is_writer": writer, "pr_head": None, "pr_base": None,
        "pr_ref": pr_ref(discussion.num), "pr_qrev": quote(pr_ref(discussion.num), safe=""),
        "pr_target": discussion.target_branch, "pr_status": discussion.status,
        "pr_merge_url": f"/{repo.namespace}/{repo.name}/discussions/{discussion.num}/merge",
        "pr_merge_commit": discussion.merge_commit_oid, "pr_checks": None,
    }
    if heads is None:
        return context
    page = _page(discussion, heads, viewer=viewer, limit=PAGE_FILES, counts=True)
    conflicts = pr_conflicts(discussion, heads=heads)
    failed = pr_failed_files(discussion, heads=heads) if discussion.status == Status.OPEN else []
    context.update({
        "pr_files": page.changes, "pr_counts": page.counts, "pr_more": page.next_after is not None,
        "pr_conflicts": conflicts, "pr_failed": failed, "pr_head": heads.pr_head, "pr_base": heads.base,
        # The PR head's validation (pending and running too: a writer sees the checks haven't finished).
        "pr_checks": commit_validation_status(commit=heads.pr_head),
        "pr_can_merge": writer and discussion.status == Status.OPEN and heads.target_head is not None
        and not conflicts and not failed,
    })
    return context
