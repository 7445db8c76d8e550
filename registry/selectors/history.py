"""First-parent history, read a page at a time: a recursive query follows `parent` from one commit, so a page
costs one indexed lookup per commit on it, never the repo's whole history."""

from __future__ import annotations

from registry.models import Commit, ModelRepo

NO_LIMIT = 2**31 - 1

_CHAIN = """
WITH RECURSIVE chain(id, parent_id, depth) AS (
    SELECT id, parent_id, 1 FROM {table} WHERE {anchor}
    UNION ALL
    SELECT c.id, c.parent_id, chain.depth + 1 FROM {table} c JOIN chain ON c.id = chain.parent_id
    WHERE chain.depth < %s
)
SELECT c.* FROM chain JOIN {table} c ON c.id = chain.id ORDER BY chain.depth
"""


def commit_chain(*, start: Commit | None = None, repo: ModelRepo | None = None, start_oid: str = "",
                 limit: int | None = None) -> list[Commit]:
    """`start` (or the commit `start_oid` of `repo`) and its first parents, newest first, at most `limit` of them
    (None: all). One query; empty when `start_oid` names no commit of the repo."""
    table = Commit._meta.db_table
    if start is not None:
        anchor, params = "id = %s", [start.pk]
    else:
        assert repo is not None
        anchor, params = "oid = %s AND repo_id = %s", [start_oid, repo.pk]
    sql = _CHAIN.format(table=table, anchor=anchor)
    return list(Commit.objects.raw(sql, [*params, NO_LIMIT if limit is None else limit]))


def history_page(*, repo: ModelRepo, start: str, limit: int) -> tuple[list[Commit], str | None]:
    """One page of first-parent history from the commit `start` (an oid of the repo: a head, or the cursor the
    previous page gave), newest first, and the oid that starts the next page (None after the first commit). One
    query; an empty page when `start` is no commit of the repo."""
    found = commit_chain(repo=repo, start_oid=start, limit=limit + 1)
    return found[:limit], (found[limit].oid if len(found) > limit else None)


_ANCESTOR = """
WITH RECURSIVE chain(id, parent_id, depth) AS (
    SELECT id, parent_id, 1 FROM {table} WHERE id = %s
    UNION ALL
    SELECT c.id, c.parent_id, chain.depth + 1 FROM {table} c JOIN chain ON c.id = chain.parent_id
    WHERE chain.depth < %s AND chain.id <> %s
)
SELECT 1 FROM chain WHERE id = %s
"""


def is_ancestor(*, ancestor: Commit, descendant: Commit, limit: int = 100_000) -> bool:
    """Whether `ancestor` is `descendant` or one of its first parents, at most `limit` commits down (one query,
    one indexed lookup per step; stops at `ancestor`)."""
    from django.db import connection

    sql = _ANCESTOR.format(table=Commit._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, [descendant.pk, limit, ancestor.pk, ancestor.pk])
        return cursor.fetchone() is not None
