"""Likes on the HF API (HF_COMMUNITY.md §5): `unlike`, `list_liked_repos` and `list_repo_likers` of
huggingface_hub 2.4. There is no API to like (HF removed it against spam): liking is the model page's button.
Lists are keyset pages the client follows through the `Link` header."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.templatetags.static import static
from django.views.decorators.http import require_http_methods

from api.auth import Principal
from api.hf.common import absolute, get_repo, hf_view, iso, page_link
from registry.selectors.access_requests import user_by_username
from registry.selectors.likes import repo_likers_page, user_likes_page
from registry.services.likes import repo_unlike

PAGE_SIZE = 100  # likes per page; a module constant so tests can make it small
AVATAR = "icons/icon-192.png"  # users have no pictures here: the hub's icon stands in


@hf_view
@require_http_methods(["DELETE"])
def unlike(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    """Idempotent: unliking a repo one does not like is not an error (as on the Hub)."""
    repo = get_repo(principal, namespace, name)
    repo_unlike(user=principal.user, repo=repo, api_key=principal.api_key)
    return JsonResponse({})


@hf_view
@require_http_methods(["GET"])
def user_likes(request: HttpRequest, principal: Principal, username: str) -> HttpResponse:
    """The models `username` likes that the caller may see, newest first."""
    user = user_by_username(username)
    page = user_likes_page(viewer=principal.user, user=user, cursor=request.GET.get("cursor"), size=PAGE_SIZE)
    items = [{"createdAt": iso(like.created_at), "repo": {"name": like.repo.repo_id, "type": "model"}}
             for like in page.rows]
    return _paged(request, items, page.next)


@hf_view
@require_http_methods(["GET"])
def repo_likers(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    """Who likes the model (404 RepoNotFound for a repo the caller cannot read), newest first."""
    repo = get_repo(principal, namespace, name)
    page = repo_likers_page(repo=repo, cursor=request.GET.get("cursor"), size=PAGE_SIZE)
    avatar = absolute(request, static(AVATAR))
    items = [{"user": like.user.get_username(), "fullname": like.user.get_full_name() or like.user.get_username(),
              "avatarUrl": avatar} for like in page.rows]
    return _paged(request, items, page.next)


def _paged(request: HttpRequest, items: list[dict[str, Any]], following: str | None) -> HttpResponse:
    response = JsonResponse(items, safe=False)
    if following is not None:
        response["Link"] = page_link(request, following)
    return response
