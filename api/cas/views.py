"""The Xet CAS HTTP API (shared/docs/XET_PROTOCOL.md §2): thin views over registry.services.xet.

Authority is the Xet access token in `Authorization: Bearer …` (no session, no CSRF); the presigned data and grant URLs
it hands out carry their own signatures. Bodies are streamed (request.read(n)), never read through request.body.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from api.ratelimit import rate_limit_hit
from api.wire import header_text
from registry.services import xet
from registry.storage import StorageError
from registry.xet import MAX_SHARD_BYTES, RangeNotSatisfiable, XetFormatError, hash_to_hex

logger = logging.getLogger(__name__)

_READ = 1024 * 1024


def _error(status: int, message: str, *, headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    response["X-Error-Message"] = header_text(message)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="xet-cas"'
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _token(request: HttpRequest) -> str:
    scheme, _, secret = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise xet.XetTokenInvalid("missing Xet access token (Authorization: Bearer …)")
    return secret.strip()


def cas_route(*methods: str, need: str | None) -> Callable:
    """Method check, token check (`need` = "read"/"write"; None = no auth), CasError → JSON error, CSRF-exempt."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            if request.method not in methods:
                if request.method == "HEAD":  # HEAD /v1/xorbs/… is an optional route: 404 like any unknown one
                    return _error(404, f"no CAS route {request.method} {request.path}")
                return _error(405, f"{request.method} is not allowed here", headers={"Allow": ", ".join(methods)})
            try:
                access = xet.verify_token(_token(request), need=need) if need else None
                return view(request, access, *args, **kwargs)
            except xet.CasError as exc:
                return _error(exc.status, exc.message)
            except StorageError:
                logger.exception("xet cas: blob store failure on %s", request.path)
                return _error(503, "the object store is unavailable; retry later", headers={"Retry-After": "5"})

        return csrf_exempt(wrapper)

    return decorator


def _content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


@cas_route("POST", need="write")
def xorb_upload(request: HttpRequest, access: xet.XetAccess, prefix: str, hash_hex: str) -> HttpResponse:
    xet.check_prefix(prefix)
    inserted = xet.store_xorb(repo=access.repo, hash_hex=hash_hex, stream=request, length=_content_length(request),
                              user=access.user)
    return JsonResponse({"was_inserted": inserted})


@cas_route("POST", need="write")
def xorb_grant(request: HttpRequest, access: xet.XetAccess, prefix: str, hash_hex: str) -> HttpResponse:
    xet.check_prefix(prefix)
    length = _content_length(request)
    if length is None or length > 64 * 1024:
        return _error(400, "grant request needs a small JSON body")
    try:
        body = json.loads(request.read(length) or b"{}")
    except ValueError:
        return _error(400, "grant request body is not JSON")
    grant = xet.grant_xorb(repo=access.repo, hash_hex=hash_hex, length=body.get("length") if isinstance(
        body, dict) else None)
    if grant is None:
        return JsonResponse({"was_inserted": False})  # already stored for this repo: nothing to upload
    return JsonResponse(
        {"id": grant.id, "method": "PUT", "url": request.build_absolute_uri(grant.url), "headers": grant.headers},
        status=201,
    )


@cas_route("POST", need="write")
def xorb_commit(request: HttpRequest, access: xet.XetAccess, prefix: str, hash_hex: str,
                grant_id: str) -> HttpResponse:
    xet.check_prefix(prefix)
    inserted = xet.commit_grant(repo=access.repo, hash_hex=hash_hex, grant_id=grant_id, user=access.user)
    return JsonResponse({"was_inserted": inserted})


@cas_route("POST", need="write")
def shard_upload(request: HttpRequest, access: xet.XetAccess) -> HttpResponse:
    length = _content_length(request)
    if length is not None and length > MAX_SHARD_BYTES:
        raise xet.CasTooLarge(f"shard of {length} bytes exceeds the {MAX_SHARD_BYTES}-byte limit")
    parts: list[bytes] = []
    total = 0
    while piece := request.read(_READ):
        total += len(piece)
        if total > MAX_SHARD_BYTES:
            raise xet.CasTooLarge(f"shard exceeds the {MAX_SHARD_BYTES}-byte limit")
        parts.append(piece)
    result = xet.register_shard(repo=access.repo, data=b"".join(parts), user=access.user)
    return JsonResponse({"result": result})


@cas_route("GET", need="read")
def reconstruction(request: HttpRequest, access: xet.XetAccess, file_hash: str) -> HttpResponse:
    try:
        answer = xet.reconstruction_plan(repo=access.repo, file_hash=file_hash,
                                         range_header=request.headers.get("Range"))
    except RangeNotSatisfiable as exc:
        return _error(416, str(exc))
    except XetFormatError as exc:
        return _error(400, str(exc))
    plan = answer.plan
    return JsonResponse({
        "offset_into_first_range": plan.offset_into_first_range,
        "terms": [
            {"hash": hash_to_hex(t.xorb_hash), "unpacked_length": t.unpacked_length,
             "range": {"start": t.chunk_start, "end": t.chunk_end}}
            for t in plan.terms
        ],
        "fetch_info": {
            name: [{**entry, "url": request.build_absolute_uri(entry["url"])} for entry in entries]
            for name, entries in answer.fetch.items()
        },
    })


@cas_route("GET", need="read")
def dedup_query(request: HttpRequest, access: xet.XetAccess, prefix: str, chunk_hash: str) -> HttpResponse:
    xet.check_prefix(prefix)
    limit = getattr(settings, "RATE_LIMIT_API_PER_MINUTE", 0)
    if limit:
        identity = f"key:{access.api_key.pk}" if access.api_key else f"xet-repo:{access.repo.pk}"
        try:
            decision = rate_limit_hit(bucket="xet-dedup", identity=identity, limit=limit)
        except Exception:  # a cache outage must not fail uploads
            logger.exception("xet dedup rate limiter: cache unavailable")
            decision = None
        if decision is not None and not decision.allowed:
            # hf_xet does not retry a 429 here and would fail the upload; a miss only costs dedup.
            return _error(404, "dedup query rate limit exceeded; treating the chunk as new")
    shard = xet.dedup_shard(repo=access.repo, chunk_hash=chunk_hash)
    if shard is None:
        return _error(404, "chunk not found")
    return HttpResponse(shard, content_type="application/octet-stream")


@cas_route("POST", need=None)
def telemetry(request: HttpRequest, access: None) -> HttpResponse:
    return HttpResponse(status=204)  # best-effort client telemetry: accepted and dropped, never stored


@csrf_exempt
def not_found(request: HttpRequest) -> HttpResponse:
    return _error(404, f"no CAS route {request.method} {request.path}")
