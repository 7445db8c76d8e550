"""Content-Security-Policy for the browser pages: scripts and styles only from our own origin.

No inline script anywhere in the portal (behaviour lives in static/js), so a card that slips past
the sanitiser still can't run code. Pages that bring their own policy keep it; the admin, which has
inline scripts, is left alone (see CSP_EXEMPT_PREFIXES). The API docs (Swagger UI) load every script from
our own static files (drf-spectacular-sidecar, the split view's init script), so they get the policy too.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

DEFAULT_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: https:",
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
