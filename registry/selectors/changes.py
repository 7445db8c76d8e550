"""What a commit changed (against its parent), or what differs between two commits: the files added, modified and
removed, a keyset page at a time, and line diffs of small text files.

A page is read by index, never the whole tree: the head's rows whose (path, git oid) the base lacks, and the base's
rows whose path the head lacks, each in byte order of their paths after the previous page's last path (the
CommitFile (commit, path) indexes), merged — at most `limit + 1` rows of each kind. Contents are read only for the
page's inline files that will be diffed (one query), and only up to DIFF_SIDE_MAX bytes each.
"""

from __future__ import annotations

import difflib
import heapq
from dataclasses import dataclass, field
from itertools import islice

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext

from registry.exceptions import RevisionNotFound
from registry.hashing import COMMIT_OID_RE
from registry.models import Commit, CommitFile, FileCheck, ModelRepo
from registry.names import lookup_ok
from registry.selectors.history import commit_chain
from registry.selectors.repos import revision_resolve
from registry.selectors.validation import file_quarantine, quarantine_attach
from registry.tree_index import PathOrder

ADDED, MODIFIED, REMOVED = "added", "modified", "removed"
OID_PREFIX_MIN = 7
DIFF_SIDE_MAX = 256 * 1024  # bytes of each side a line diff reads; larger files say so
DIFF_PAGE_MAX = 2 * 1024 * 1024  # bytes a page diffs in all; the files past it link to their pages instead
DIFF_LINES_MAX = 2000  # lines of one file's diff shown


# --- commits by id -------------------------------------------------------------------------------------------


def commit_by_oid(*, repo: ModelRepo, oid: str) -> Commit:
    """The repo's commit with the full id `oid`, or the one whose id starts with `oid` (at least 7 hex digits, and
    unambiguous in the repo). One indexed query; RevisionNotFound otherwise."""
    oid = oid.lower() if isinstance(oid, str) else ""
    if COMMIT_OID_RE.match(oid):
        found = list(Commit.objects.filter(repo=repo, oid=oid).select_related("parent")[:1])
    elif OID_PREFIX_MIN <= len(oid) < 40 and all(ch in "0123456789abcdef" for ch in oid):
        # A range on the unique oid index: every id starting with the prefix lies in [prefix, prefix + 'g').
        found = list(Commit.objects.filter(repo=repo, oid__gte=oid, oid__lt=oid + "g", oid__startswith=oid)
                     .select_related("parent")[:2])
        if len(found) > 1:
            raise RevisionNotFound(gettext("%(oid)s names more than one commit of this model: give more of its id")
                % {"oid": oid})
    else:
        found = []
    if not found:
        raise RevisionNotFound(gettext("no commit %(oid)s in this model") % {"oid": oid[:40]})
    return found[0]


def commit_or_ref(*, repo: ModelRepo, revision: str) -> Commit:
    """A branch, a tag, a full commit id or a unique prefix of one (compare pages)."""
    try:
        return revision_resolve(repo=repo, revision=revision)
    except RevisionNotFound:
        if lookup_ok(revision) and OID_PREFIX_MIN <= len(revision) < 40:
            return commit_by_oid(repo=repo, oid=revision)
        raise RevisionNotFound(gettext("%(revision)s is no branch, tag or commit of this model")
            % {"revision": revision}) from None


COMPARE_COMMITS = 100  # commits listed between two revisions; a longer range says how to see the rest (history)


@dataclass
class CommitRange:
    """The first-parent commits from `head` back to (not including) `base`, newest first, at most COMPARE_COMMITS.

    `more`: there are more commits than listed before `base`; `ancestor`: `base` is on `head`'s first-parent line
    (False when it is not, e.g. compare the other way round, or another branch: then `commits` is empty)."""

    commits: list[Commit]
    more: bool
    ancestor: bool


def commits_between(*, base: Commit, head: Commit, limit: int | None = None) -> CommitRange:
    """What `head` adds to `base` in first-parent history: one recursive query over at most `limit` + 1 commits
    (default COMPARE_COMMITS)."""
    limit = COMPARE_COMMITS if limit is None else limit
    if base.pk == head.pk:
        return CommitRange(commits=[], more=False, ancestor=True)
    chain = commit_chain(start=head, limit=limit + 1)
    for n, commit in enumerate(chain):
        if commit.pk == base.pk:
            return CommitRange(commits=chain[:n], more=False, ancestor=True)
    if len(chain) > limit:  # base not within reach: list the newest, say there are more
        return CommitRange(commits=chain[:limit], more=True, ancestor=True)
    return CommitRange(commits=[], more=False, ancestor=False)


# --- changed files -------------------------------------------------------------------------------------------


@dataclass
class FileChange:
    path: str
    kind: str  # added | modified | removed
    new: CommitFile | None  # the head's row (added, modified)
    old: CommitFile | None  # the base's row (modified, removed)
    check: str | None = None  # the head's validation verdict of the file (passed, warning, failed …), if checked
    quarantine: str | None = None  # why the head's file is not served, if it failed validation
    diff: list[tuple[str, str]] | None = None  # (kind: hunk | add | del | ctx, line)
    diff_truncated: bool = False
    diff_note: str = ""  # why no diff: binary | large | lfs | locked | budget | '' (shown, or nothing to show)

    @property
    def entry(self) -> CommitFile:
        return self.new if self.new is not None else self.old  # type: ignore[return-value]

    @property
    def storage(self) -> str:
        """'xet', 'lfs' or '' (inline) of the file as it is now (as it was, when removed)."""
        entry = self.entry
        if entry.blob_id is None:
            return ""
        return "xet" if entry.blob.xet_hash else "lfs"

    @property
    def size_delta(self) -> int:
        return (self.new.size if self.new else 0) - (self.old.size if self.old else 0)


@dataclass
class ChangeCounts:
    added: int
    modified: int
    removed: int

    @property
    def total(self) -> int:
        return self.added + self.modified + self.removed


@dataclass
class ChangePage:
    changes: list[FileChange]
    next_after: str | None  # the last path shown, when more follow
    counts: ChangeCounts | None = None  # on the first page only
    diffs: bool = True
    extra: dict[str, object] = field(default_factory=dict)


def _rows(commit: Commit) -> QuerySet[CommitFile]:
    return (CommitFile.objects.filter(commit=commit).select_related("blob").defer("content")
            .alias(key=PathOrder("path")))


def _new_side(head: Commit, base: Commit | None) -> QuerySet[CommitFile]:
    rows = _rows(head)
    if base is None:
        return rows
    same = CommitFile.objects.filter(commit=base, path=OuterRef("path"), git_oid=OuterRef("git_oid"))
    return rows.filter(~Exists(same))


def _removed_side(head: Commit, base: Commit) -> QuerySet[CommitFile]:
    return _rows(base).filter(~Exists(CommitFile.objects.filter(commit=head, path=OuterRef("path"))))


def changed_paths(*, head: Commit, base: Commit | None) -> set[str]:
    """Every path that differs from `base` to `head` (added, modified or removed): two indexed anti-joins."""
    paths = set(_new_side(head, base).order_by().values_list("path", flat=True))
    if base is not None:
        paths |= set(_removed_side(head, base).order_by().values_list("path", flat=True))
    return paths


def change_counts(*, head: Commit, base: Commit | None) -> ChangeCounts:
    """How many files the change adds, modifies and removes (two aggregate queries over the anti-joins)."""
    if base is None:
        return ChangeCounts(CommitFile.objects.filter(commit=head).count(), 0, 0)
    at_path = Exists(CommitFile.objects.filter(commit=base, path=OuterRef("path")))
    new = _new_side(head, base).order_by().aggregate(total=Count("id"), modified=Count("id", filter=Q(at_path)))
    removed = _removed_side(head, base).order_by().count()
    return ChangeCounts(new["total"] - new["modified"], new["modified"], removed)


def change_page(*, head: Commit, base: Commit | None, after: str = "", limit: int, show_text: bool = True,
                allow_text: frozenset[str] = frozenset(), counts: bool = False) -> ChangePage:
    """One page of the files that differ from `base` (None: the first commit, every file added) to `head`, in byte
    order of their paths after `after`, each with its validation verdict and, for inline text files both sides
    under DIFF_SIDE_MAX, a line diff (`show_text` False: only for the paths in `allow_text`, as the file page shows
    a gated repo's README to everyone). Queries: 2 for the rows, 1 for modified files' old rows, 1 for verdicts,
    1 for quarantine, 1 for the diffed contents; 2 more with `counts`."""
    new_rows = list(_new_side(head, base).filter(key__gt=after).order_by("key")[: limit + 1])
    removed_rows: list[CommitFile] = []
    if base is not None:
        removed = _removed_side(head, base).filter(key__gt=after)
        if len(new_rows) > limit:  # a removal past the last row read can't be on this page
            removed = removed.filter(key__lt=new_rows[-1].path)
        removed_rows = list(removed.order_by("key")[: limit + 1])
    merged = list(islice(heapq.merge(((row.path, 0, row) for row in new_rows),
                                     ((row.path, 1, row) for row in removed_rows), key=lambda t: (t[0], t[1])),
                         limit + 1))
    more = len(merged) > limit
    merged = merged[:limit]
    head_rows = [row for _, side, row in merged if side == 0]
    old_by_path: dict[str, CommitFile] = {}
    if base is not None and head_rows:
        old_by_path = {row.path: row for row in _rows(base).filter(path__in=[r.path for r in head_rows])}
    changes = []
    for _, side, row in merged:
        if side == 1:
            changes.append(FileChange(row.path, REMOVED, None, row))
        else:
            old = old_by_path.get(row.path)
            changes.append(FileChange(row.path, MODIFIED if old is not None else ADDED, row, old))
    if head_rows:
        quarantine_attach(files=head_rows)
        verdicts = dict(FileCheck.objects.filter(run__commit=head, path__in=[r.path for r in head_rows])
                        .values_list("path", "status"))
        for change in changes:
            if change.new is not None:
                change.quarantine = file_quarantine(commit_file=change.new)
                change.check = verdicts.get(change.path)
    _attach_diffs(changes, show_text=show_text, allow_text=allow_text)
    return ChangePage(changes, merged[-1][0] if more and merged else None,
                      change_counts(head=head, base=base) if counts else None)


def _attach_diffs(changes: list[FileChange], *, show_text: bool, allow_text: frozenset[str]) -> None:
    wanted: list[FileChange] = []
    budget = DIFF_PAGE_MAX
    for change in changes:
        sides = [row for row in (change.old, change.new) if row is not None]
        if any(row.blob_id is not None for row in sides):
            change.diff_note = "lfs"
        elif not show_text and change.path not in allow_text:
            change.diff_note = "locked"
        elif any(row.size > DIFF_SIDE_MAX for row in sides):
            change.diff_note = "large"
        elif sum(row.size for row in sides) > budget:
            change.diff_note = "budget"
        else:
            budget -= sum(row.size for row in sides)
            wanted.append(change)
    ids = [row.pk for change in wanted for row in (change.old, change.new) if row is not None]
    contents = dict(CommitFile.objects.filter(pk__in=ids).values_list("pk", "content")) if ids else {}
    for change in wanted:
        texts = []
        for row in (change.old, change.new):
            raw = bytes(contents.get(row.pk) or b"") if row is not None else b""
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is None or "\x00" in text:
                change.diff_note = "binary"
                break
            texts.append(text)
        else:
            change.diff, change.diff_truncated = line_diff(texts[0], texts[1])


def line_diff(old: str, new: str, *, max_lines: int | None = None) -> tuple[list[tuple[str, str]], bool]:
    """A unified diff (3 lines of context) as (kind, line) pairs, at most `max_lines` (DIFF_LINES_MAX) of them; and
    whether it was cut short."""
    max_lines = DIFF_LINES_MAX if max_lines is None else max_lines
    lines: list[tuple[str, str]] = []
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), n=3, lineterm="")
    for number, line in enumerate(diff):
        if number < 2:  # the ---/+++ header: the page names the file already
            continue
        if len(lines) >= max_lines:
            return lines, True
        if line.startswith("@@"):
            lines.append(("hunk", line))
        elif line.startswith("+"):
            lines.append(("add", line[1:]))
        elif line.startswith("-"):
            lines.append(("del", line[1:]))
        else:
            lines.append(("ctx", line[1:]))
    return lines, False
