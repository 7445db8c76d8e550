"""The local blob store's presigned URLs, served by the hub (S3 serves its own; these answer 404 then).

The signed token in the path is the whole authority: no session, no API key, no CSRF. Bytes are streamed
both ways — a download never reads a file whole, an upload is read from the request stream in chunks
(not `request.body`, which would load it whole and is capped by DATA_UPLOAD_MAX_MEMORY_SIZE).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from api.wire import header_text
from registry.storage import get_store
from registry.storage.base import InvalidUpload, ObjectMissing, StorageError
from registry.storage.local import LocalBlobStore, SignedRequest, TokenInvalid
from registry.user_content import content_headers

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _error(
    status: int, code: str, message: str, *, head: bool = False, headers: dict[str, str] | None = None
) -> HttpResponse:
    response = HttpResponse(
        b"" if head else (message + "\n").encode(), status=status, content_type="text/plain; charset=utf-8"
    )
    response["X-Error-Code"] = code
    response["X-Error-Message"] = header_text(message)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _authorise(
    token: str, op: str, *, head: bool = False
) -> tuple[LocalBlobStore, SignedRequest] | HttpResponse:
    store = get_store()
    if not isinstance(store, LocalBlobStore):
        return _error(404, "NotFound", "signed blob URLs are served by the object store", head=head)
    try:
        return store, store.read_token(token, op=op)
    except TokenInvalid as exc:
        return _error(403, "SignatureExpired" if exc.expired else "SignatureInvalid", exc.message, head=head)


def _methods(*allowed: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """require_http_methods, but the 405 carries X-Error-Code/X-Error-Message like every other error here."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            if request.method not in allowed:
                return _error(
                    405,
                    "MethodNotAllowed",
                    f"{request.method} is not allowed here",
                    head=request.method == "HEAD",
                    headers={"Allow": ", ".join(allowed)},
                )
            return view(request, *args, **kwargs)

        return csrf_exempt(wrapper)  # the signed token is the authority; there is no session to protect

    return decorator


def parse_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """One `bytes=` range → (start, end) inclusive; None to serve the whole object (no header, several
    ranges or a malformed one, which RFC 9110 says to ignore); False when it cannot be satisfied."""
    match = _RANGE_RE.match(header.strip().replace(" ", ""))
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # suffix: the last n bytes
        length = int(last)
        if length == 0 or size == 0:
            return False
        return max(0, size - length), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        return False
    return start, size - 1 if last == "" else min(int(last), size - 1)


@_methods("GET", "HEAD")
def blob_get(request: HttpRequest, token: str) -> HttpResponse:
    head = request.method == "HEAD"
    authorised = _authorise(token, "get", head=head)
    if isinstance(authorised, HttpResponse):
        return authorised
    store, signed = authorised
    try:
        info = store.head(signed.key)
        if info is None:
            raise ObjectMissing(signed.key)
        wanted = None
        range_header = request.headers.get("Range")
        if_range = request.headers.get("If-Range")
        if range_header and (not if_range or if_range == info.etag):
            wanted = parse_range(range_header, info.size)
        if wanted is False:
            return _error(
                416,
                "RangeNotSatisfiable",
                f"range {range_header} is outside 0-{info.size}",
                head=head,
                headers={"Content-Range": f"bytes */{info.size}", "Accept-Ranges": "bytes"},
            )
        start, end = wanted if wanted else (0, info.size - 1)
        length = end - start + 1 if info.size else 0
        chunks = iter(()) if head or not length else store.iter_bytes(signed.key, start=start, end=end)
    except ObjectMissing:
        return _error(404, "EntryNotFound", "no such object", head=head)
    except StorageError as exc:
        return _error(503, "StorageError", f"the blob store failed: {exc}", head=head)
    # Repo bytes, inert wherever this is served (the hub's origin or USER_CONTENT_URL): registry.user_content.
    served = content_headers(signed.filename)
    response = StreamingHttpResponse(chunks, status=206 if wanted else 200, content_type=served.pop("Content-Type"))
    for name, value in served.items():
        response[name] = value
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = info.etag
    if wanted:
        response["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    return response


def _content_length(request: HttpRequest) -> int | None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return length if length >= 0 else None


def _put(request: HttpRequest, token: str, op: str) -> HttpResponse:
    authorised = _authorise(token, op)
    if isinstance(authorised, HttpResponse):
        return authorised
    store, signed = authorised
    length = _content_length(request)
    if length is None:
        return _error(411, "MissingContentLength", "a Content-Length header is required")
    if signed.size is not None and length != signed.size:
        return _error(400, "BadRequest", f"this URL takes exactly {signed.size} bytes, not {length}")
    try:
        # HttpRequest is a file-like object over the (length-limited) body: read in chunks, never whole.
        if op == "part":
            etag = store.multipart_put_part(
                signed.key, signed.upload_id or "", signed.part or 0, request, size=length
            )
        else:
            store.put_stream(signed.key, request, size=length)
            info = store.head(signed.key)
            etag = info.etag if info else ""
    except ObjectMissing:
        return _error(404, "NoSuchUpload", "the multipart upload does not exist (completed or aborted?)")
    except InvalidUpload as exc:
        return _error(400, "BadRequest", str(exc))
    except StorageError as exc:
        return _error(503, "StorageError", f"the blob store failed: {exc}")
    response = HttpResponse(status=200)
    response["ETag"] = etag
    return response


@_methods("PUT")
def blob_put(request: HttpRequest, token: str) -> HttpResponse:
    return _put(request, token, "put")


@_methods("PUT")
def blob_part(request: HttpRequest, token: str) -> HttpResponse:
    return _put(request, token, "part")
