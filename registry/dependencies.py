"""Which failures are a dependency being down (database, shared cache, blob store, broker), not a bug.

Those become a 503 with Retry-After on every route (portal/middleware.DependencyFailureMiddleware): the caller
should come back in a few seconds, and the stock huggingface_hub client does. Everything else stays a 500.
"""

from __future__ import annotations

import socket

from django.db import InterfaceError
from django.db import OperationalError as DatabaseOperationalError

from registry.storage.base import InvalidUpload, ObjectMissing, StorageError

RETRY_AFTER_SECONDS = 5


def failed_dependency(exc: BaseException) -> str | None:
    """The dependency `exc` says is unavailable ("database", "cache", "blob store", "broker"), or None."""
    if isinstance(exc, DatabaseOperationalError | InterfaceError):
        return "database"
    if isinstance(exc, StorageError) and not isinstance(exc, ObjectMissing | InvalidUpload):
        return "blob store"
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis is a base dependency
        pass
    else:
        if isinstance(exc, RedisConnectionError | RedisTimeoutError):
            return "cache"
    from kombu.exceptions import OperationalError as KombuOperationalError

    if isinstance(exc, KombuOperationalError):
        return "broker"
    if isinstance(exc, socket.timeout | ConnectionError):
        return "network"
    return None
