"""Push (git-receive-pack): to be written (issue 21)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from api.auth import Principal
from api.git.common import git_error


def advertise(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    return git_error(501, "git push is not served yet")


def serve(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    return git_error(501, "git push is not served yet")
