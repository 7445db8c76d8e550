"""Discussion attachments (HF_COMMUNITY.md §6): `upload_attachment` posts raw image, video or audio bytes to
`/uploads` (a signed-in user: a write-scope key, or the session with the page's CSRF token) and gets the URL as
text; `GET /uploads/<uid>.<ext>` serves them inert (registry.user_content): from the hub with nosniff and the
sandbox CSP, or by a redirect to a signed URL on the user-content origin (S3, or the local store on
USER_CONTENT_URL). The body is read from the request stream in chunks (registry.services.attachments), never
`request.body`.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from api.auth import Principal
from api.hf.common import absolute, error_response, hf_view
from api.ratelimit import rate_limit_hit
from registry import shared_cache
from registry.exceptions import InvalidInput, NotAuthenticated
from registry.models import Attachment
from registry.services.attachments import attachment_upload
from registry.storage import get_store
from registry.user_content import content_headers

UPLOADS_BUCKET = "uploads"


@hf_view
@require_http_methods(["POST"])
def upload(request: HttpRequest, principal: Principal) -> HttpResponse:
    if not principal.is_authenticated:
        raise NotAuthenticated("sign in (an API key with the write scope) to upload an attachment")
    limited = _rate_limited(principal)
    if limited is not None:
        return limited
    length = _content_length(request)
    attachment = attachment_upload(user=principal.user, stream=request, length=length,  # type: ignore[arg-type]
                                   api_key=principal.api_key)
    return HttpResponse(absolute(request, f"/uploads/{attachment.filename}") + "\n",
                        content_type="text/plain; charset=utf-8")


def _content_length(request: HttpRequest) -> int | None:
    raw = request.META.get("CONTENT_LENGTH") or ""
    if not raw:
        return None
    if not raw.isdigit():
        raise InvalidInput("Content-Length must be a number")
    return int(raw)


def _rate_limited(principal: Principal) -> HttpResponse | None:
    """A 429 past ATTACHMENT_UPLOADS_PER_MINUTE uploads by this user (all their keys and sessions together)."""
    limit = settings.ATTACHMENT_UPLOADS_PER_MINUTE
    if not limit or not shared_cache.available():
        return None
    try:
        decision = rate_limit_hit(bucket=UPLOADS_BUCKET, identity=f"user:{principal.user.pk}", limit=limit)
    except Exception as exc:  # noqa: BLE001 - a cache outage must not stop uploads
        shared_cache.failed("attachment rate limiter", exc)
        return None
    if decision.allowed:
        return None
    return error_response(429, "RateLimited", f"Too many attachments: at most {limit} per minute. Retry in "
                          f"{decision.reset_in} seconds.", headers=decision.headers())


@csrf_exempt  # reads only: any other method is a 405, never a write
@require_http_methods(["GET", "HEAD"])
def serve(request: HttpRequest, uid: str, extension: str) -> HttpResponse:
    """Anyone with the URL (it is unguessable, as on the Hub) gets the bytes, as their sniffed type only."""
    attachment = Attachment.objects.filter(uid=uid, extension=extension).first()
    if attachment is None:
        return error_response(404, "EntryNotFound", "no such attachment", head=request.method == "HEAD")
    store = get_store()
    if store.name != "local" or settings.USER_CONTENT_URL:
        url = store.presigned_get_url(attachment.storage_key, expires=settings.PRESIGNED_URL_TTL,
                                      filename=attachment.filename)
        response = HttpResponse(status=302)
        response["Location"] = absolute(request, url)
        response["Cache-Control"] = "private, max-age=60"
        return response
    headers = content_headers(attachment.filename)
    content_type = headers.pop("Content-Type")
    if content_type != attachment.content_type:  # the allow-list and the sniffer disagree: never inline then
        headers = content_headers(attachment.filename, download=True)
        content_type = headers.pop("Content-Type")
    if request.method == "HEAD":
        response = HttpResponse(content_type=content_type)
    else:
        response = StreamingHttpResponse(store.iter_bytes(attachment.storage_key), content_type=content_type)
    response["Content-Length"] = str(attachment.size)
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    for name, value in headers.items():
        response[name] = value
    return response
