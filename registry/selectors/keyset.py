"""Keyset ("seek") pagination: a page starts after the sort key of the previous page's last row, so reading page
1,000 costs what page 1 costs — one index range — instead of skipping 24,000 rows as OFFSET does.

A cursor is an opaque token: the order's name, the direction (next or previous page), the tier and the key values
of the row the page starts after. Orders sort every key the same way (all descending or all ascending) and end with
a unique key, so the key is a total order and `(k1, k2, …) < (v1, v2, …)` (a row comparison, which a composite
B-tree index on the same columns answers) selects exactly what follows.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.db.models import F, QuerySet

# Row comparisons: Django's own (used for composite primary keys since 5.2). They compile to `(a, b) < (x, y)` on
# PostgreSQL and to the equivalent OR/AND expansion on SQLite.
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.utils.translation import gettext

from registry.exceptions import InvalidInput

CURSOR_MAX_LENGTH = 1024


@dataclass(frozen=True)
class Ordering:
    """A total order for keyset pages: `keys` are (field or annotation name, type name) pairs, the last unique."""

    name: str
    keys: tuple[tuple[str, str], ...]
    descending: bool = True

    def reversed(self) -> Ordering:
        return replace(self, descending=not self.descending)

    @property
    def order_by(self) -> list[str]:
        return [f"-{key}" if self.descending else key for key, _ in self.keys]


@dataclass
class KeysetPage:
    rows: list[Any]
    next: str | None = None  # cursor of the following page (None on the last)
    previous: str | None = None  # cursor of the page before (None on the first)


def keyset_page(qs: QuerySet | Sequence[QuerySet], *, ordering: Ordering, cursor: str | None,
                size: int) -> KeysetPage:
    """One page of `qs` in `ordering`, after (or, for a "previous" cursor, before) the cursor's row.

    `qs` may be a list of disjoint querysets ("tiers", best first: a search's exact names, then other id matches,
    then card matches): the page walks them in turn, each in `ordering`, so a ranked list pages as cheaply as a
    plain one. One query per tier the page reaches (one for a plain list): the page and one row more, to know
    whether another page follows.
    """
    tiers = list(qs) if isinstance(qs, list | tuple) else [qs]
    direction, tier, values = cursor_decode(cursor, ordering=ordering, tiers=len(tiers)) if cursor else ("n", 0, None)
    backwards = direction == "p"
    walk = ordering.reversed() if backwards else ordering
    compare = TupleLessThan if walk.descending else TupleGreaterThan
    found: list[tuple[int, Any]] = []
    current = tier
    while 0 <= current < len(tiers) and len(found) <= size:
        rows = tiers[current]
        if values is not None and current == tier:
            rows = rows.filter(compare(Tuple(*(F(key) for key, _ in ordering.keys)), values))
        found += [(current, row) for row in rows.order_by(*walk.order_by)[: size + 1 - len(found)]]
        current += -1 if backwards else 1
    more = len(found) > size
    found = found[:size]
    if not backwards:
        return KeysetPage([row for _, row in found], _cursor(ordering, "n", *found[-1]) if more else None,
                          _cursor(ordering, "p", *found[0]) if values is not None and found else None)
    if not found:  # everything before the cursor is gone: start over
        return keyset_page(tiers, ordering=ordering, cursor=None, size=size)
    found.reverse()
    return KeysetPage([row for _, row in found], _cursor(ordering, "n", *found[-1]),
                      _cursor(ordering, "p", *found[0]) if more else None)


def _cursor(ordering: Ordering, direction: str, tier: int, row: Any) -> str:
    values = []
    for key, kind in ordering.keys:
        value = getattr(row, key)
        values.append(value.isoformat() if kind == "datetime" else value)
    raw = json.dumps([ordering.name, direction, tier, values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(cursor: str, *, ordering: Ordering, tiers: int = 1) -> tuple[str, int, Sequence[Any]]:
    """(direction "n" or "p", tier, key values) of a cursor made for `ordering`; InvalidInput for anything else."""
    try:
        if len(cursor) > CURSOR_MAX_LENGTH:
            raise ValueError
        name, direction, tier, values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if (name != ordering.name or direction not in ("n", "p") or type(tier) is not int or not 0 <= tier < tiers
                or len(values) != len(ordering.keys)):
            raise ValueError
        return direction, tier, [_value(value, kind) for value, (_key, kind) in zip(values, ordering.keys,
                                                                                     strict=True)]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise InvalidInput(gettext("invalid cursor: use the one a previous page gave, with the same sort")) from None


def _value(value: Any, kind: str) -> Any:
    if kind == "datetime" and isinstance(value, str):
        parsed = datetime.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError
        return parsed
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError
        return float(value)
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63:
        return value
    if kind == "str" and isinstance(value, str) and len(value) <= 256 and "\x00" not in value:
        if any("\ud800" <= ch <= "\udfff" for ch in value):
            raise ValueError
        return value
    raise ValueError
