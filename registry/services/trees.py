"""The folder rows of commits (CommitDir): written with each commit, rebuilt on demand.

commit_create writes them in its transaction from the tree it already holds; `commit_dirs_rebuild` rewrites them
(and each file's `parent`) from a commit's stored files, for rows written some other way (a bulk seed). Migration
0013 backfills existing commits the same way (registry.tree_index, on historical models).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from registry.models import Commit, CommitDir, CommitFile
from registry.tree_index import Folder, folders_of, parent_expression

DIR_BATCH = 1000  # rows per INSERT
READ_CHUNK = 5000  # rows per fetch while reading a commit's files


def commit_dirs_create(*, commit: Commit, files: Iterable[tuple[str, str, int]] = (),
                       folders: list[Folder] | None = None) -> int:
    """Write the folder rows of `commit` (new: it has none yet) from its (path, git oid, size) rows, or from the
    folders already computed from them (`folders`), in bulk, in the caller's transaction. Returns how many folders
    (the root included)."""
    if folders is None:
        folders = folders_of(files)
    CommitDir.objects.bulk_create(
        (CommitDir(commit=commit, path=f.path, parent=f.parent, oid=f.oid, files=f.files, size=f.size)
         for f in folders),
        batch_size=DIR_BATCH,
    )
    return len(folders)


@transaction.atomic
def commit_dirs_rebuild(*, commit: Commit) -> int:
    """(Re)build one commit's folder index from its CommitFile rows: each file's `parent`, then the CommitDir rows
    (ids, file counts, sizes). Idempotent; four queries plus one per READ_CHUNK files and per DIR_BATCH folders,
    memory for one commit's paths. For files inserted without commit_create (e.g. a bulk seed); returns the number
    of folders, the root included."""
    CommitFile.objects.filter(commit=commit, path__contains="/").update(parent=parent_expression())
    CommitDir.objects.filter(commit=commit).delete()
    rows = (CommitFile.objects.filter(commit=commit).order_by().values_list("path", "git_oid", "size")
            .iterator(chunk_size=READ_CHUNK))
    return commit_dirs_create(commit=commit, files=rows)


def commit_dirs_rebuild_many(*, commit_ids: Iterable[int], batch: int = 500) -> int:
    """`commit_dirs_rebuild` for many commits at once (a bulk seed of thousands of small commits): per batch of
    commits, one UPDATE of the files' parents, one DELETE, one read of their files in commit order and bulk inserts,
    instead of four queries per commit. Returns the folders written."""
    ids = sorted(set(commit_ids))
    written = 0
    for start in range(0, len(ids), batch):
        chunk = ids[start:start + batch]
        with transaction.atomic():
            CommitFile.objects.filter(commit_id__in=chunk, path__contains="/").update(parent=parent_expression())
            CommitDir.objects.filter(commit_id__in=chunk).delete()
            rows: list[CommitDir] = []
            current: int | None = None
            files: list[tuple[str, str, int]] = []
            stream = (CommitFile.objects.filter(commit_id__in=chunk).order_by("commit_id")
                      .values_list("commit_id", "path", "git_oid", "size").iterator(chunk_size=READ_CHUNK))
            for commit_id, path, oid, size in [*stream, (None, "", "", 0)]:
                if commit_id != current:
                    if current is not None:
                        rows += [CommitDir(commit_id=current, path=f.path, parent=f.parent, oid=f.oid, files=f.files,
                                           size=f.size) for f in folders_of(files)]
                    current, files = commit_id, []
                files.append((path, oid, size))
            CommitDir.objects.bulk_create(rows, batch_size=DIR_BATCH)
            written += len(rows)
    return written
