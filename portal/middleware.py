"""Content-Security-Policy for the browser pages: scripts and styles only from our own origin.

No inline script anywhere in the portal (behaviour lives in static/js), so a card that slips past
the sanitiser still can't run code. Pages that bring their own policy keep it; the admin, which has
inline scripts, is left alone (see CSP_EXEMPT_PREFIXES). The API docs (Swagger UI) load every script from
our own static files (drf-spectacular-sidecar, the split view's init script), so they get the policy too.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from registry.site import site_name
from registry.storage.base import request_scope

DEFAULT_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: https:",
    # Comments' audio and video (portal.markdown.render_comment: /uploads/… only) may redirect to the user-content
    # origin (USER_CONTENT_URL or S3), as images do.
    "media-src 'self' https:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
DEFAULT_EXEMPT_PREFIXES = ("/admin/",)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = getattr(settings, "CONTENT_SECURITY_POLICY", DEFAULT_POLICY)
        self.exempt = tuple(getattr(settings, "CSP_EXEMPT_PREFIXES", DEFAULT_EXEMPT_PREFIXES))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response and not request.path.startswith(self.exempt):
            response["Content-Security-Policy"] = self.policy
        return response


class DependencyFailureMiddleware:
    """Bounded waits, seen from the outside: when the database, the shared cache, the blob store or the broker
    fails inside a request, the caller gets a 503 with Retry-After in the format of the route it called (the HF
    client's X-Error-Code/X-Error-Message headers, the /api/v1 error envelope, a page in the portal), never a
    500 or a hang. Calls to the blob store made while the request runs use its short timeouts (request_scope).

    process_exception sees what views raise; what other middleware raise reaches handler500 (portal/urls.py),
    which asks the same question. Neither may touch the database: it may be what is down.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with request_scope():
            return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return dependency_failure_response(request, exception)


def dependency_failure_response(request: HttpRequest, exc: BaseException) -> HttpResponse | None:
    """The 503 for `exc` when it is a dependency failure (registry.dependencies), else None."""
    import logging

    from django.template.loader import render_to_string

    from registry.dependencies import RETRY_AFTER_SECONDS, failed_dependency

    what = failed_dependency(exc)
    if what is None:
        return None
    logging.getLogger(__name__).warning("503 for %s %s: the %s is unavailable: %s: %s", request.method,
                                        request.path, what, type(exc).__name__, exc)
    message = f"The hub's {what} is unavailable right now; retry in a few seconds."
    path = request.path
    response: HttpResponse
    if path.startswith("/api/v1/"):
        response = JsonResponse({"error": message, "code": "service_unavailable"}, status=503)
        response["X-Error-Code"] = "ServiceUnavailable"
    elif _hf_shaped(request):
        response = HttpResponse(status=503) if request.method == "HEAD" else JsonResponse({"error": message},
                                                                                          status=503)
        response["X-Error-Code"] = "ServiceUnavailable"
    else:
        html = render_to_string("503.html", {"message": message, "retry_after": RETRY_AFTER_SECONDS,
                                             "SITE_NAME": site_name()})
        response = HttpResponse(html, status=503, content_type="text/html; charset=utf-8")
    response["X-Error-Message"] = message
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def _hf_shaped(request: HttpRequest) -> bool:
    """Routes the huggingface_hub client (or hf_xet, git-lfs) calls: they read errors from headers."""
    path = request.path
    return (path.startswith(("/api/", "/cas/", "/v1/", "/_blobs/")) or "/resolve/" in path
            or ".git/" in path or "/info/lfs/" in path)
