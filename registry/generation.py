"""A shared generation number for the rows the download path reads, and a per-process memo behind it.

huggingface_hub sends `HEAD /{repo}/resolve/{rev}/{path}` for every file on every load, even with a warm cache.
Answering it reads a dozen tables (API keys, users, organisations, memberships, licenses and acceptances, repos,
refs, commits, files, blobs, blob grants, content verdicts). Instead of asking the database each time, a web process
memoises what it read, tagged with the generation number it fetched *first* from the shared cache (Redis in
deployments).

Any write to one of those tables — through the ORM, `queryset.update()`, the admin, raw SQL or a migration — bumps
the number: a database execute wrapper (installed on every connection) watches the statements, so no code path can
forget. It bumps once right after the statement and once more when the transaction commits. A memo entry is used
only while its generation is the current one, and a reader that raced an uncommitted write stored its stale answer
under a number the commit has already left behind. A process re-reads the number at most every MEMO_RECHECK_MS
(default 50 ms; 0 = on every request) and at once after its own writes: a change made elsewhere reaches it within
that time, one made by the process itself on its next request.
The cache must be shared by every process that writes (web, workers): with a per-process cache (LocMemCache, as the
test settings use) or none, nothing is memoised.

Writes that change nothing a decision depends on (a repo's download counter, a key's `last_used_at`, a user's
`last_login`) don't bump. While the shared cache is down nothing is memoised. Memoised
model instances are never handed out: `memoised` returns a copy, so a request may mutate what it got.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import request_finished, request_started
from django.db import connections, transaction
from django.db.backends.signals import connection_created
from django.db.models import Model
from django.db.models.base import ModelState

from registry import shared_cache

logger = logging.getLogger(__name__)

CACHE_KEY = "registry:generation"
MEMO_MAX_ENTRIES = 20_000  # per process; the memo is emptied when it fills (entries are small)
# A safety net, not the mechanism: an entry is reloaded after this long even if the number never moved (a bump lost
# while the cache was down, rows changed behind Django's back such as a restored backup).
MEMO_MAX_AGE_SECONDS = 30.0
# Single-column UPDATEs that no memoised decision reads: (table, {columns}).
_UNWATCHED_UPDATES = {"registry_modelrepo": {"downloads"}, "registry_apikey": {"last_used_at"},
                      "auth_user": {"last_login"}}
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "REPLACE", "ALTER", "DROP")
_UPDATE_RE = re.compile(r'^\s*UPDATE\s+"(\w+)"\s+SET\s+(.*?)\s+WHERE\s', re.S | re.I)
_ASSIGNED_RE = re.compile(r'(?:^|,\s*)"(\w+)"\s*=')

T = TypeVar("T")
_memo: dict[Any, tuple[int, float, Any]] = {}  # key → (generation, monotonic time loaded, value)
_local = threading.local()  # .in_request, .generation (the number read once per request)
_recent: tuple[float, int] | None = None  # (monotonic time, number) last read by this process
_bump_pending = False  # a bump this process could not write to the shared cache yet
_clock = time.monotonic  # tests move it
_watched: re.Pattern[str] | None = None


def watched_tables() -> re.Pattern[str]:
    """A pattern finding any watched table's name in a statement, quoted or not (raw SQL too)."""
    global _watched
    if _watched is None:
        from django.contrib.auth import get_user_model

        from registry.models import (
            ApiKey,
            Blob,
            Branch,
            Commit,
            CommitFile,
            ContentVerdict,
            License,
            LicenseAcceptance,
            Membership,
            ModelRepo,
            Organization,
            RepoBlob,
            Tag,
        )

        models = (get_user_model(), ApiKey, Blob, Branch, Commit, CommitFile, ContentVerdict, License,
                  LicenseAcceptance, Membership, ModelRepo, Organization, RepoBlob, Tag)
        names = sorted((m._meta.db_table for m in models), key=len, reverse=True)
        _watched = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in names) + r")\b")
    return _watched


# --- the number ---------------------------------------------------------------------------------------------


def current() -> int | None:
    """The shared generation, or None: don't memoise. One number per request; read from the shared cache at most
    every MEMO_RECHECK_MS per process (a round trip to Redis costs more than the rest of a warm HEAD /resolve), and
    again at once after this process writes."""
    global _recent
    if getattr(_local, "in_request", False) and getattr(_local, "generation", None) is not None:
        return _local.generation
    if not _cache_is_shared():
        return None
    recent = _recent
    if recent is not None and _clock() - recent[0] < settings.MEMO_RECHECK_MS / 1000:
        value = recent[1]
    else:
        if not shared_cache.available():
            return None  # the cache is down: don't memoise (and don't wait for it)
        try:
            if _bump_pending:  # a bump of this process could not be written while the cache was down
                _write_fresh_number()
            value = cache.get(CACHE_KEY)
            if value is None:
                cache.add(CACHE_KEY, _fresh_number(), timeout=None)
                value = cache.get(CACHE_KEY)
        except Exception as exc:  # noqa: BLE001 - a cache outage must not break downloads: just don't memoise
            shared_cache.failed("generation number", exc)
            value = None
        if not isinstance(value, int):
            return None
        _recent = (_clock(), value)
    if getattr(_local, "in_request", False):
        _local.generation = value
    return value


def bump() -> None:
    """Move the shared number to one no process has seen. A plain set, not an increment: it is atomic on every
    backend (the file cache's incr is a read then a write), and since each bump runs after its own commit, whichever
    bump lands last leaves a number that no reader can have tagged a pre-commit read with."""
    global _recent, _bump_pending
    _local.generation = None
    _recent = None
    if not _cache_is_shared():
        return
    _bump_pending = True
    _memo.clear()
    if not shared_cache.available():
        return  # written by current() once the cache answers again
    try:
        _write_fresh_number()
    except Exception as exc:  # noqa: BLE001
        shared_cache.failed("generation bump", exc)


def _write_fresh_number() -> None:
    global _bump_pending
    cache.set(CACHE_KEY, _fresh_number(), timeout=None)
    _bump_pending = False


def _fresh_number() -> int:
    return secrets.randbits(62) + 1


def _cache_is_shared() -> bool:
    """Only a cache every process shares (Redis, the file cache of the embedded mode) can carry the number: with a
    per-process cache a worker's write would never reach the web processes' memos."""
    return not isinstance(caches["default"], (LocMemCache, DummyCache))


def memoised(key: Any, loader: Callable[[], T], keep: Callable[[T], T] | None = None) -> T:
    """`loader()`, remembered in this process for as long as the generation doesn't move. Model instances (and
    tuples of them) come back as copies; anything else memoised must be immutable. `keep` picks what to remember
    of a loaded value (say, without a large field, which a later user then loads again); the caller that loaded
    it gets all of it."""
    generation = current()
    if generation is None:
        return loader()
    hit = _fresh(key, generation)
    if hit is not _MISSING:
        return _copied(hit)
    value = loader()
    if len(_memo) >= MEMO_MAX_ENTRIES:
        _memo.clear()
    _memo[key] = (generation, _clock(), keep(value) if keep is not None else value)
    return _copied(value)


_MISSING = object()


def _fresh(key: Any, generation: int) -> Any:
    """The value remembered under `key` for this generation and young enough, else _MISSING."""
    hit = _memo.get(key)
    if hit is None or hit[0] != generation or _clock() - hit[1] >= MEMO_MAX_AGE_SECONDS:
        return _MISSING
    return hit[2]


def note(key: Any, value: Any) -> None:
    """Remember an immutable `value` beside the memo, for as long as a memoised entry would live (no-op when nothing
    is memoised). For facts a request learns after a memoised read, such as "this process just wrote X"."""
    generation = current()
    if generation is not None:
        _memo[key] = (generation, _clock(), value)


def noted(key: Any) -> Any:
    """What `note` remembered under the current generation, else None."""
    generation = current()
    hit = _fresh(key, generation) if generation is not None else _MISSING
    return None if hit is _MISSING else hit


def forget() -> None:
    """Empty this process's memo (tests call it between cases: a rolled-back test writes nothing afterwards)."""
    global _recent, _bump_pending
    _memo.clear()
    _local.generation = None
    _recent = None
    _bump_pending = False


def _copied(value: Any) -> Any:
    if isinstance(value, Model):
        return model_copy(value)
    if isinstance(value, tuple):
        return tuple(_copied(v) for v in value)
    return value


def model_copy(obj: Model) -> Model:
    """A copy of a model instance and of the related instances loaded with it (select_related). Built directly
    (not through copy.copy and Model.__reduce__): it runs a few times on every warm HEAD /resolve."""
    dup = obj.__class__.__new__(obj.__class__)
    dup.__dict__.update(obj.__dict__)
    state = ModelState()
    state.db = obj._state.db
    state.adding = obj._state.adding
    state.fields_cache = {name: model_copy(related) if isinstance(related, Model) else related
                          for name, related in obj._state.fields_cache.items()}
    dup._state = state
    return dup


# --- watching writes ----------------------------------------------------------------------------------------


def statement_bumps(sql: str) -> bool:
    """Does this SQL statement write to a watched table (beyond the unwatched single-column updates)?"""
    head = sql.lstrip()[:8].upper()
    if not head.startswith(_WRITE_VERBS):
        return False
    if not watched_tables().search(sql):
        return False
    match = _UPDATE_RE.match(sql)
    if match is not None:
        unwatched = _UNWATCHED_UPDATES.get(match.group(1))
        if unwatched is not None and set(_ASSIGNED_RE.findall(match.group(2))) <= unwatched:
            return False
    return True


def _watch(execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: dict[str, Any]) -> Any:
    result = execute(sql, params, many, context)
    if isinstance(sql, str) and statement_bumps(sql):
        bump()
        connection = context["connection"]
        # Once per transaction (a rolled-back savepoint takes its callback with it, and the next write re-adds it).
        if connection.in_atomic_block and not any(entry[1] is bump for entry in connection.run_on_commit):
            transaction.on_commit(bump, using=connection.alias)
    return result


def _install(sender: Any, connection: Any, **kwargs: Any) -> None:
    if _watch not in connection.execute_wrappers:
        connection.execute_wrappers.append(_watch)


def _request_started(**kwargs: Any) -> None:
    _local.in_request = True
    _local.generation = None


def _request_finished(**kwargs: Any) -> None:
    _local.in_request = False
    _local.generation = None


def install() -> None:
    """Called from RegistryConfig.ready(): watch every connection (those already open too), scope reads to requests."""
    connection_created.connect(_install, dispatch_uid="registry.generation")
    for connection in connections.all(initialized_only=True):
        _install(None, connection)
    request_started.connect(_request_started, dispatch_uid="registry.generation.start")
    request_finished.connect(_request_finished, dispatch_uid="registry.generation.finish")
