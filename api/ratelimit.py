"""Fixed-window request limits for the HF-compatible API, per API key (or per IP for anonymous callers).

Counters live in Django's cache, so every web process shares them when CACHE_URL points at Redis.
Answers carry the IETF draft headers huggingface_hub parses (and honours when it retries a 429):
`RateLimit: "api";r=<remaining>;t=<seconds to reset>` and `RateLimit-Policy: "fixed window";"api";q=<n>;w=60`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from api.auth import Principal, client_ip

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


def rate_limit_hit(*, bucket: str, identity: str, limit: int, now: float | None = None) -> RateDecision:
    """Count one request in the current window; `remaining` < 0 means over the limit."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    reset_in = max(1, WINDOW_SECONDS - int(now % WINDOW_SECONDS))
    key = f"ratelimit:{bucket}:{identity}:{window}"
    try:
        count = cache.incr(key)  # one round trip for every request but the window's first
    except ValueError:  # the window's first request (or the counter expired)
        if cache.add(key, 1, timeout=WINDOW_SECONDS + 5):
            count = 1
        else:  # another process started the window in between
            count = cache.incr(key)
    return RateDecision(bucket=bucket, limit=limit, remaining=limit - count, reset_in=reset_in)


def rate_limit_request(request: HttpRequest, principal: Principal | None) -> RateDecision | None:
    """The decision for this request, or None when its bucket is unlimited (or the cache is down)."""
    bucket = bucket_for(request)
    limit = getattr(settings, BUCKETS[bucket], 0)
    if not limit:
        return None
    try:
        return rate_limit_hit(bucket=bucket, identity=identity_for(request, principal), limit=limit)
    except Exception:  # a cache outage must not take the API down with it
        logger.exception("rate limiter: cache unavailable, letting the request through")
        return None


def too_many_requests_message(decision: RateDecision) -> str:
    return (
        f"Rate limit exceeded: {decision.limit} {decision.bucket} requests per minute. "
        f"Retry in {decision.reset_in} seconds."
    )
