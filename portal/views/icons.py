"""The favicon that browsers ask for at /favicon.ico, and the web app manifest (name from settings, app icons)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from registry.site import site_name


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    return HttpResponsePermanentRedirect(static("icons/favicon.svg"))


@require_GET
@cache_control(max_age=3600, public=True)
def webmanifest(request: HttpRequest) -> HttpResponse:
    name = site_name()
    response = JsonResponse({
        "name": name, "short_name": name, "start_url": "/", "display": "browser",
        "theme_color": "#0b5cad", "background_color": "#ffffff",
        "icons": [
            {"src": static("icons/favicon.svg"), "sizes": "any", "type": "image/svg+xml"},
            {"src": static("icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
        ],
    }, json_dumps_params={"ensure_ascii": False})
    response["Content-Type"] = "application/manifest+json"
    response["Vary"] = "Accept-Language, Cookie"
    return response
