"""The folders of a commit's tree, computed once when the commit is made (registry.models.CommitDir).

Pure functions and two SQL expressions, no models: the commit service, the rebuild service and the backfill
migration all use them, so a folder's id is the same whoever computes it.

Paths are ordered byte by byte everywhere a listing pages through them (`PathOrder`): Python's `str` order is code
point order, which is UTF-8 byte order, which is SQLite's default (BINARY) collation and PostgreSQL's "C" — whatever
locale the database was created with. A keyset cursor (the last path of a page) and the merge of a page's folders
and files therefore agree with the database's index order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import CharField, F, Func, Value
from django.db.models.functions import Length, Replace, Substr


def parent_of(path: str) -> str:
    """The folder holding `path` ('' at the root)."""
    return path.rpartition("/")[0]


def ancestors_of(path: str) -> list[str]:
    """The folders above `path`, outermost first, root ('') excluded: 'a/b/c.txt' → ['a', 'a/b']."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def directory_oid(files: Iterable[tuple[str, str]], folder: str) -> str:
    """The definition of a folder's id: sha1 over the sorted "<path relative to the folder> <git oid>" lines of the
    files below it (at any depth), joined by newlines. Same content, same id, as a git tree id would be.

    A reference (it reads every path); `folders_of` computes the same ids for every folder of a tree in one pass.
    """
    prefix = folder + "/" if folder else ""
    lines = sorted(f"{path[len(prefix):]} {oid}" for path, oid in files if path.startswith(prefix))
    return hashlib.sha1("\n".join(lines).encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Folder:
    path: str  # '' for the root
    parent: str  # '' for top-level folders and for the root itself
    oid: str
    files: int  # files below it, at any depth
    size: int  # their bytes


@dataclass
class _Open:
    path: str
    prefix_len: int
    digest: Any
    files: int = 0
    size: int = 0

    def close(self) -> Folder:
        return Folder(self.path, parent_of(self.path), self.digest.hexdigest(), self.files, self.size)


def folders_of(files: Iterable[tuple[str, str, int]]) -> list[Folder]:
    """Every folder of a tree given as (path, git oid, size) rows, the root ('') included, with `directory_oid`'s id.

    One sort and one pass, O(files × depth): sorted by "<path> <oid>", the files below a folder are contiguous (they
    share the prefix "<folder>/") and already in the order of that folder's sorted lines (the prefix is common to
    them), so each open folder — the ancestors of the current file — hashes its lines as they come.
    """
    rows = sorted(((f"{path} {oid}", path, size) for path, oid, size in files), key=lambda row: row[0])
    done: list[Folder] = []
    stack: list[_Open] = [_Open("", 0, hashlib.sha1(usedforsecurity=False))]
    for line, path, size in rows:
        while len(stack) > 1 and not path.startswith(stack[-1].path + "/"):
            done.append(stack.pop().close())
        for folder in ancestors_of(path)[len(stack) - 1:]:
            stack.append(_Open(folder, len(folder) + 1, hashlib.sha1(usedforsecurity=False)))
        for open_folder in stack:
            if open_folder.files:
                open_folder.digest.update(b"\n")
            open_folder.digest.update(line[open_folder.prefix_len:].encode())
            open_folder.files += 1
            open_folder.size += size
    while stack:
        done.append(stack.pop().close())
    return done


class PathOrder(Func):
    """A path compared byte by byte: `path COLLATE "C"` on PostgreSQL; the column itself on SQLite, whose default
    collation (BINARY) is byte order already. Listings filter and order by it, and their indexes are built on it."""

    arity = 1
    template = '%(expressions)s COLLATE "C"'
    output_field = CharField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return compiler.compile(self.get_source_expressions()[0])


def parent_expression(field: str = "path") -> Func:
    """SQL for `parent_of(field)` on rows whose path has a '/', the same on SQLite and PostgreSQL: RTRIM strips the
    trailing characters that are not '/' (the set of every character of the path but '/'), then the '/' goes."""
    through_slash = Func(F(field), Replace(F(field), Value("/"), Value("")), function="RTRIM",
                         output_field=CharField())
    return Substr(through_slash, 1, Length(through_slash) - 1)
