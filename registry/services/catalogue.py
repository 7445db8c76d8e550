"""Keeping the catalogue's facet counts (registry.models.catalogue.CatalogueFacet) in step with the repos.

A service that changes what a repo adds to the facets — its existence, visibility, namespace, license or the card
fields cached on it — does the change inside `catalogue_tracked(repo_id=…)` (or, for a new repo, calls
`catalogue_update` with an empty `before`), in its own transaction: the repo's row is locked and read before the
change, read again after it, and the difference goes to the counts in one statement. Concurrent changes of one repo
queue on its row lock, so each sees the state the previous one left.

`catalogue_rebuild()` recomputes every count from the base tables: after bulk inserts that bypass the services
(`manage.py seed_scale`), or to repair counts after a change made behind the services' back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import reduce
from operator import or_

from django.db import connection, transaction
from django.db.models import Q

from registry.models import CatalogueFacet, ModelRepo
from registry.models.catalogue import FACET_FIELDS, facet_values, search_document

Facets = set[tuple[str, str]]


def catalogue_snapshot(*, repo_id: int) -> Facets:
    """What the repo adds to the facet counts now. Locks its row until the transaction ends: call it before the
    change, inside the transaction that makes it."""
    rows = ModelRepo.objects.filter(pk=repo_id).values(*FACET_FIELDS)
    if connection.features.has_select_for_update_of:
        rows = rows.select_for_update(of=("self",))  # the license join is an outer join: lock the repo row only
    return facet_values(rows.first())


def catalogue_update(*, repo_id: int, before: Facets) -> None:
    """Apply the difference between `before` and what the repo adds now (nothing once it is deleted), and refresh
    its search document (PostgreSQL)."""
    row = ModelRepo.objects.filter(pk=repo_id).values(*FACET_FIELDS).first()
    if row is not None and connection.vendor == "postgresql":
        ModelRepo.objects.filter(pk=repo_id).update(search_vector=search_document())
    after = facet_values(row)
    delta: Counter[tuple[str, str]] = Counter()
    for pair in after - before:
        delta[pair] += 1
    for pair in before - after:
        delta[pair] -= 1
    _apply(delta)


@contextmanager
def catalogue_tracked(*, repo_id: int) -> Iterator[None]:
    """`with catalogue_tracked(repo_id=…): <change the repo>` — inside the change's transaction."""
    before = catalogue_snapshot(repo_id=repo_id)
    yield
    catalogue_update(repo_id=repo_id, before=before)


def _apply(delta: Counter[tuple[str, str]]) -> None:
    """Add `delta` to the counts: one upsert (rows in a fixed order, so concurrent writers never deadlock), and a
    delete of the rows that fell to zero."""
    rows = sorted((pair, n) for pair, n in delta.items() if n)
    if not rows:
        return
    # An increment on conflict, which bulk_create(update_conflicts=True) can't say. Only quoted identifiers and
    # placeholders go into the text; the values are parameters.
    qn = connection.ops.quote_name
    table, kind, value, count = (qn(CatalogueFacet._meta.db_table), qn("kind"), qn("value"), qn("count"))
    sql = (f"INSERT INTO {table} ({kind}, {value}, {count}) VALUES {', '.join(['(%s, %s, %s)'] * len(rows))} "  # noqa: S608
           f"ON CONFLICT ({kind}, {value}) DO UPDATE SET {count} = {table}.{count} + EXCLUDED.{count}")
    with connection.cursor() as cursor:
        cursor.execute(sql, [item for (k, v), n in rows for item in (k, v, n)])
    dropped = [Q(kind=k, value=v) for (k, v), n in rows if n < 0]
    if dropped:
        CatalogueFacet.objects.filter(reduce(or_, dropped), count__lte=0).delete()


def catalogue_rebuild() -> int:
    """Recompute every facet count from the repos (public ones only) and, on PostgreSQL, every repo's search
    document; return the number of facet rows.

    One pass over the public repos, streamed, and one UPDATE of the documents. The facet table is locked for writes
    meanwhile (on PostgreSQL; SQLite serialises writers anyway), so a repo change that commits during the rebuild
    applies its difference after it, on top of counts that don't include it yet.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {connection.ops.quote_name(CatalogueFacet._meta.db_table)} "
                               "IN EXCLUSIVE MODE")
        counts: Counter[tuple[str, str]] = Counter()
        public = ModelRepo.objects.filter(private=False).order_by().values(*FACET_FIELDS)
        for row in public.iterator(chunk_size=5000):
            counts.update(facet_values(row))
        CatalogueFacet.objects.all().delete()
        CatalogueFacet.objects.bulk_create(
            (CatalogueFacet(kind=kind, value=value, count=n) for (kind, value), n in sorted(counts.items())),
            batch_size=2000)
        if connection.vendor == "postgresql":
            ModelRepo.objects.update(search_vector=search_document())
    return len(counts)
