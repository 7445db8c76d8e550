"""The folders of a commit's tree, computed once when the commit is made (registry.models.CommitDir).

Pure functions and two SQL expressions, no models: the commit service, the rebuild service and the backfill
migration all use them, so a folder's id is the same whoever computes it.

Paths are ordered byte by byte everywhere a listing pages through them (`PathOrder`): Python's `str` order is code
point order, which is UTF-8 byte order, which is SQLite's default (BINARY) collation and PostgreSQL's "C" — whatever
locale the database was created with. A keyset cursor (the last path of a page) and the merge of a page's folders
and files therefore agree with the database's index order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import CharField, F, Func, Value
from django.db.models.functions import Length, Replace, Substr

from registry.git_objects import object_id, tree_body


def parent_of(path: str) -> str:
    """The folder holding `path` ('' at the root)."""
    return path.rpartition("/")[0]


def ancestors_of(path: str) -> list[str]:
    """The folders above `path`, outermost first, root ('') excluded: 'a/b/c.txt' → ['a', 'a/b']."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def directory_oid(files: Iterable[tuple[str, str]], folder: str) -> str:
    """The id of a folder: the git tree id of the files below it (at any depth) given as (path, git blob id)
    pairs (registry.git_objects). A reference (it reads every path); `folders_of` computes every folder's id of a
    tree in one pass."""
    prefix = folder + "/" if folder else ""
    below = [(path[len(prefix):], oid, 0) for path, oid in files if path.startswith(prefix)]
    return next(f.oid for f in folders_of(below) if f.path == "")


@dataclass(frozen=True)
class Folder:
    path: str  # '' for the root
    parent: str  # '' for top-level folders and for the root itself
    oid: str  # its git tree id
    files: int  # files below it, at any depth
    size: int  # their bytes


@dataclass
class _Open:
    entries: list[tuple[str, bool, str]] = field(default_factory=list)
    files: int = 0
    size: int = 0


def folders_of(files: Iterable[tuple[str, str, int]]) -> list[Folder]:
    """Every folder of a tree given as (path, git oid, size) rows, the root ('') included, each with its git tree
    id (registry.git_objects.tree_body): folders are hashed deepest first, so each one's subtrees are known when
    its own body is written. O(files × depth) time, memory for the tree's names."""
    folders: dict[str, _Open] = {"": _Open()}
    for path, oid, size in files:
        folder = parent_of(path)
        for above in ["", *ancestors_of(path)]:
            node = folders.get(above)
            if node is None:
                node = folders[above] = _Open()
                folders[parent_of(above)].entries.append((above.rpartition("/")[2], True, ""))
            node.files += 1
            node.size += size
        folders[folder].entries.append((path.rpartition("/")[2], False, oid))
    ids: dict[str, str] = {}
    done: list[Folder] = []
    for path in sorted(folders, key=lambda p: (-(p.count("/") + 1 if p else 0), p)):
        node = folders[path]
        prefix = path + "/" if path else ""
        entries = [(name, folder, ids[prefix + name] if folder else oid) for name, folder, oid in node.entries]
        ids[path] = object_id("tree", tree_body(entries))
        done.append(Folder(path, parent_of(path), ids[path], node.files, node.size))
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
