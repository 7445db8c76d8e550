"""Helpers for the tests of trees and histories at any size: seeding wide trees, counting the rows a request reads.

Query counts alone can't tell a page read by index from a whole tree read in one query, so `RowsFetched` counts the
rows the database hands back (every cursor of every thread: the live server's too).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection
from django.db.backends.utils import CursorWrapper

from registry.models import Commit, ModelRepo
from registry.services.commits import AddInline, commit_create


def wide_tree(count: int, folders: int, prefix: str = "") -> dict[str, bytes]:
    """`count` small files spread over `folders` folders (two levels: dNN/sM/), plus a few at the root."""
    files = {f"{prefix}README.md": b"# wide\n", f"{prefix}config.json": b"{}"}
    for i in range(count - len(files)):
        files[f"{prefix}d{i % folders:03d}/s{i // folders % 3}/f{i:06d}.txt"] = f"file {i}\n".encode()
    return files


def seed_files(actor: Any, repo: ModelRepo, files: dict[str, bytes], title: str = "seed",
               branch: str = "main") -> Commit:
    return commit_create(actor=actor, repo=repo, title=title, branch=branch,
                         operations=[AddInline(path, content) for path, content in files.items()])


class RowsFetched:
    """Rows the database returned to any cursor while counting."""

    def __init__(self) -> None:
        self.rows = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.rows += n


@contextmanager
def rows_fetched(monkeypatch: Any) -> Iterator[RowsFetched]:
    counter = RowsFetched()

    def fetchone(self: CursorWrapper) -> Any:
        row = self.cursor.fetchone()
        counter.add(row is not None)
        return row

    def fetchmany(self: CursorWrapper, *args: Any) -> Any:
        rows = self.cursor.fetchmany(*args)
        counter.add(len(rows))
        return rows

    def fetchall(self: CursorWrapper) -> Any:
        rows = self.cursor.fetchall()
        counter.add(len(rows))
        return rows

    def iterate(self: CursorWrapper) -> Iterator[Any]:
        for row in self.cursor:
            counter.add(1)
            yield row

    with monkeypatch.context() as patch:
        for name, function in (("fetchone", fetchone), ("fetchmany", fetchmany), ("fetchall", fetchall),
                               ("__iter__", iterate)):
            patch.setattr(CursorWrapper, name, function, raising=False)
        yield counter


def explain(sql: str, params: Any, analyze: tuple[str, ...] = ()) -> str:
    """PostgreSQL's plan for a query once the `analyze` tables have statistics (as autovacuum keeps them), with
    sequential scans discouraged: the question is which index serves it on a table too small to bother."""
    with connection.cursor() as cursor:
        for table in analyze:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())
