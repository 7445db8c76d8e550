"""Liveness and readiness, and the 500 handler that tells a failed dependency (503) from a bug."""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.defaults import server_error as default_server_error

from portal.middleware import dependency_failure_response
from registry.selectors.health import readiness_report


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: this process answers. Needs nothing else, so it answers whatever is down."""
    return JsonResponse({"ok": True})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: each dependency checked with its own short deadline, all at once (within about 2 s)."""
    report = readiness_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)


def server_error(request: HttpRequest) -> HttpResponse:
    exc = sys.exc_info()[1]
    response = dependency_failure_response(request, exc) if exc is not None else None
    return response or default_server_error(request)
