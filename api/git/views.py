"""The git routes' views: thin, each hands over to its service module (api.git.upload_pack, api.git.receive_pack)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from api.auth import Principal
from api.git.common import RECEIVE_PACK, UPLOAD_PACK, git_error, git_view, require_git_post


def repo_name(name: str) -> str:
    """The repo name of a git URL: `model.git` and `model` are the same repo (names may hold dots, so the route
    can't tell)."""
    return name[:-4] if name.endswith(".git") and len(name) > 4 else name


@git_view
def info_refs(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    service = request.GET.get("service")
    if request.method not in ("GET", "HEAD"):
        return git_error(405, "info/refs takes GET")
    if service == UPLOAD_PACK:
        from api.git.upload_pack import advertise

        return advertise(request, principal, namespace, repo_name(name))
    if service == RECEIVE_PACK:
        from api.git.receive_pack import advertise as advertise_push

        return advertise_push(request, principal, namespace, repo_name(name))
    return git_error(403, "This hub speaks git's smart HTTP protocol only; use git 1.6.6 or newer.")


@git_view
def upload_pack(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    refused = require_git_post(request, UPLOAD_PACK)
    if refused is not None:
        return refused
    from api.git.upload_pack import serve

    return serve(request, principal, namespace, repo_name(name))


@git_view
def receive_pack(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    refused = require_git_post(request, RECEIVE_PACK)
    if refused is not None:
        return refused
    from api.git.receive_pack import serve

    return serve(request, principal, namespace, repo_name(name))
