"""Pages of a commit's tree, read by index from its folder rows (CommitDir) and file rows (CommitFile).

Cost is flat in the tree's size: a page reads at most `limit + 1` rows of each kind, in byte order of their paths
(registry.tree_index.PathOrder), after a keyset cursor (the last path of the previous page). Nothing here reads a
whole tree or a whole history.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice

from django.db.models import QuerySet

from registry.models import Commit, CommitDir, CommitFile
from registry.tree_index import PathOrder

DIR = "d"
FILE = "f"


def _dirs(commit: Commit) -> QuerySet[CommitDir]:
    return CommitDir.objects.filter(commit=commit).alias(key=PathOrder("path"))


def _files(commit: Commit) -> QuerySet[CommitFile]:
    return (CommitFile.objects.filter(commit=commit).select_related("blob").defer("content")
            .alias(key=PathOrder("path")))


def folder_get(*, commit: Commit, path: str) -> CommitDir | None:
    """The folder row of `path` ('' for the root) at `commit`, or None when it is no folder there."""
    return _dirs(commit).filter(key=path).first()


def folders_get(*, commit: Commit, paths: Sequence[str]) -> dict[str, CommitDir]:
    """path → folder row, for those of `paths` that are folders at `commit` (one query, by index)."""
    return {d.path: d for d in _dirs(commit).filter(key__in=list(paths))}


def folder_ids_in(*, commit_ids: Sequence[int], paths: Sequence[str]) -> list[tuple[int, str, str]]:
    """(commit id, path, folder id) for each of `paths` that is a folder in each of the commits (one query)."""
    return list(CommitDir.objects.filter(commit_id__in=list(commit_ids)).alias(key=PathOrder("path"))
                .filter(key__in=list(paths)).order_by().values_list("commit_id", "path", "oid"))


def tree_rows(*, commit: Commit, folder: str = "", recursive: bool = False, after: str = "",
              limit: int) -> tuple[list[CommitDir | CommitFile], bool]:
    """One page of what lies in `folder` (its children; with `recursive`, everything below it), folders and files
    merged in byte order of their paths, after the path `after`; and whether more follow. Two queries, reading
    at most `limit + 1` rows of each kind (files first: folders beyond the last file read are left alone)."""
    dirs, files = _dirs(commit), _files(commit)
    if recursive:
        if folder:  # the paths below "<folder>/" are those from "<folder>/" up to "<folder>0" ('0' follows '/')
            dirs = dirs.filter(key__gte=folder + "/", key__lt=folder + "0")
            files = files.filter(key__gte=folder + "/", key__lt=folder + "0")
    else:
        dirs, files = dirs.filter(parent=folder), files.filter(parent=folder)
    # The root is its own parent, with the empty path: `> ''` leaves it out of every listing.
    file_rows = list(files.filter(key__gt=after).order_by("key")[: limit + 1])
    dirs = dirs.filter(key__gt=after)
    if len(file_rows) > limit:  # a folder past the last file read can't be on this page: don't read it
        dirs = dirs.filter(key__lt=file_rows[-1].path)
    found: list[CommitDir | CommitFile] = list(islice(heapq.merge(
        dirs.order_by("key")[: limit + 1], file_rows, key=lambda row: row.path), limit + 1))
    return found[:limit], len(found) > limit


@dataclass(frozen=True)
class FolderPage:
    folders: list[CommitDir]
    files: list[CommitFile]
    next_cursor: tuple[str, str] | None  # (DIR or FILE, the last path shown) when more follow


def folder_page(*, commit: Commit, folder: str, after: tuple[str, str] | None = None, limit: int) -> FolderPage:
    """One page of a folder's children as the files page shows them: its folders first, then its files, each in
    byte order; `after` is the previous page's `next_cursor`. Two queries at most."""
    kind, last = after or (DIR, "")
    folders: list[CommitDir] = []
    if kind == DIR:
        folders = list(_dirs(commit).filter(parent=folder, key__gt=last).order_by("key")[: limit + 1])
        if len(folders) > limit:
            return FolderPage(folders[:limit], [], (DIR, folders[limit - 1].path))
        last = ""
    room = limit - len(folders)
    files = list(_files(commit).filter(parent=folder, key__gt=last).order_by("key")[: room + 1]) if room else []
    if len(files) > room:
        return FolderPage(folders, files[:room], (FILE, files[room - 1].path))
    if not room and _files(commit).filter(parent=folder).exists():
        return FolderPage(folders, [], (FILE, ""))
    return FolderPage(folders, files, None)
