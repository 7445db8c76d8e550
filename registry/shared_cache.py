"""A breaker in front of the shared cache (Redis), for the callers that can go on without it.

Rate limits and the generation number behind the memoised download path read the shared cache on many
requests. When Redis stalls, each call would wait for its socket timeout (a second); after one failure this
process skips the cache for BREAK_SECONDS instead, logging once, and tries again after that. What each caller
does meanwhile: the rate limiter lets requests through, the generation number reads as unknown (nothing is
memoised) and a bump that could not be written is written at the next chance.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger(__name__)

BREAK_SECONDS = 5.0
_open_until = 0.0
_clock = time.monotonic  # tests move it


def available() -> bool:
    """False while the breaker is open: don't call the shared cache now."""
    return _clock() >= _open_until


def failed(what: str, exc: BaseException) -> None:
    """A call to the shared cache failed: skip it in this process for BREAK_SECONDS."""
    global _open_until
    if available():
        logger.warning("shared cache unavailable (%s: %s: %s); going on without it for %.0f s",
                       what, type(exc).__name__, exc, BREAK_SECONDS)
    _open_until = _clock() + BREAK_SECONDS


def reset() -> None:
    """Close the breaker (tests, between cases)."""
    global _open_until
    _open_until = 0.0
