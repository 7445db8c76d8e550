"""Fixed-window request limits for the HF-compatible API, per API key (or per IP for anonymous callers).

Counters live in Django's cache, so every web process shares them when CACHE_URL points at Redis.
Answers carry the IETF draft headers huggingface_hub parses (and honours when it retries a 429):
`RateLimit: "api";r=<remaining>;t=<seconds to reset>` and `RateLimit-Policy: "fixed window";"api";q=<n>;w=60`.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from api.auth import Principal, client_ip
from registry import shared_cache

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
# Bucket name → setting holding its limit. Names follow the Hub's ("api", "resolvers").
BUCKETS = {"api": "RATE_LIMIT_API_PER_MINUTE", "resolvers": "RATE_LIMIT_RESOLVE_PER_MINUTE"}
RESOLVE_URL_NAMES = {"hf-resolve"}


@dataclass(frozen=True)
class RateDecision:
    bucket: str
    limit: int
    remaining: int
    reset_in: int

    @property
    def allowed(self) -> bool:
        return self.remaining >= 0

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit": f'"{self.bucket}";r={max(self.remaining, 0)};t={self.reset_in}',
            "RateLimit-Policy": f'"fixed window";"{self.bucket}";q={self.limit};w={WINDOW_SECONDS}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_in)
        return headers


def bucket_for(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return "resolvers" if match is not None and match.url_name in RESOLVE_URL_NAMES else "api"


def identity_for(request: HttpRequest, principal: Principal | None) -> str:
    """Keys are limited one by one (a user's CI key doesn't starve their laptop); anonymous callers per IP."""
    if principal is not None and principal.api_key is not None:
        return f"key:{principal.api_key.pk}"
    if principal is not None and principal.is_authenticated:
        return f"user:{principal.user.pk}"
    return f"ip:{client_ip(request) or 'unknown'}"


# Far from its limit, a process tells the shared counter what it counted in batches instead of on every request:
# once its unsynced hits reach 1/SYNC_SHARE of the budget left, or after SYNC_SECONDS. Within SYNC_SHARE requests
# of the limit every request goes to the shared counter, so the 429 comes exactly where a per-request count would put
# it; all processes together can overshoot by no more than what each counted since its last sync while far away.
SYNC_SHARE = 20
SYNC_SECONDS = 0.5


@dataclass
class _Tally:
    known: int = 0  # the shared count at this process's last sync (its own hits included)
    pending: int = 0  # hits counted here since
    synced_at: float | None = None


class LocalTallies:
    """One process's view of the shared fixed-window counters (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window: int | None = None
        self._tallies: dict[str, _Tally] = {}

    def hit(self, *, bucket: str, identity: str, limit: int, now: float | None = None) -> RateDecision:
        """Count one request in the current window; `remaining` < 0 means over the limit."""
        now = time.time() if now is None else now
        window = int(now // WINDOW_SECONDS)
        reset_in = max(1, WINDOW_SECONDS - int(now % WINDOW_SECONDS))
        key = f"ratelimit:{bucket}:{identity}:{window}"
        with self._lock:
            if window != self._window:
                self._window, self._tallies = window, {}
            tally = self._tallies.setdefault(key, _Tally())
            tally.pending += 1
            left = limit - tally.known - tally.pending
            due = (tally.synced_at is None or tally.pending >= max(1, left // SYNC_SHARE)
                   or time.monotonic() - tally.synced_at >= SYNC_SECONDS)
            if due:
                pending, tally.pending = tally.pending, 0
        if due:
            count = _shared_add(key, pending)
            with self._lock:
                tally.known = max(tally.known, count)
                tally.synced_at = time.monotonic()
                left = limit - tally.known - tally.pending
        return RateDecision(bucket=bucket, limit=limit, remaining=left, reset_in=reset_in)


def _shared_add(key: str, amount: int) -> int:
    """Add to the shared counter (created with the window's expiry) and return its new value."""
    try:
        return cache.incr(key, amount)
    except ValueError:  # the window's first sync (or the counter expired)
        if cache.add(key, amount, timeout=WINDOW_SECONDS + 5):
            return amount
        return cache.incr(key, amount)  # another process started the window in between


_tallies = LocalTallies()


def rate_limit_hit(*, bucket: str, identity: str, limit: int, now: float | None = None) -> RateDecision:
    """Count one request in the current window for this process (see LocalTallies)."""
    return _tallies.hit(bucket=bucket, identity=identity, limit=limit, now=now)


def forget() -> None:
    """Drop this process's unsynced tallies (tests, between cases)."""
    global _tallies
    _tallies = LocalTallies()


def rate_limit_request(request: HttpRequest, principal: Principal | None) -> RateDecision | None:
    """The decision for this request, or None when its bucket is unlimited (or the cache is down)."""
    bucket = bucket_for(request)
    limit = getattr(settings, BUCKETS[bucket], 0)
    if not limit:
        return None
    if not shared_cache.available():
        return None  # the shared cache is down: let requests through rather than wait for it
    try:
        return rate_limit_hit(bucket=bucket, identity=identity_for(request, principal), limit=limit)
    except Exception as exc:  # noqa: BLE001 - a cache outage must not take the API down with it
        shared_cache.failed("rate limiter", exc)
        return None


def too_many_requests_message(decision: RateDecision) -> str:
    return (
        f"Rate limit exceeded: {decision.limit} {decision.bucket} requests per minute. "
        f"Retry in {decision.reset_in} seconds."
    )
