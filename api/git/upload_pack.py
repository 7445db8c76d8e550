"""Clone and fetch (git-upload-pack), protocol v0 and v2: to be written (issue 21)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from api.auth import Principal
from api.git.common import git_error


def advertise(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    return git_error(501, "git clone is not served yet")


def serve(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    return git_error(501, "git clone is not served yet")
