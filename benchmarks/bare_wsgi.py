"""A bare Django view under the hub's own settings and middleware: the baseline of the HEAD-resolve benchmark.

Served by a second gunicorn (same flags as the hub's): `gunicorn benchmarks.bare_wsgi:application`. Every
path answers with an empty 302 carrying headers like a resolve answer, without touching the database or the
store, so the ratio hub / bare is the cost of the resolve view (auth, lookups, rate limit, presigning).
"""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from django.urls import re_path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


def bare(request: HttpRequest, rest: str = "") -> HttpResponse:
    response = HttpResponse(status=302)
    response["Location"] = "http://127.0.0.1:9/bare"
    response["X-Repo-Commit"] = "0" * 40
    response["ETag"] = '"bare"'
    return response


urlpatterns = [re_path(r"^(?P<rest>.*)$", bare)]

from django.conf import settings  # noqa: E402

settings.ROOT_URLCONF = __name__

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
