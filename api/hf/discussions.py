"""HF-compatible discussions and pull requests (HF_COMMUNITY.md §1): list, details, open, comment, edit, hide,
rename, close/reopen. Merging is in api/hf/pulls (the pulls branch).

Each view parses the client's request, calls one service or selector (registry.services.discussions,
registry.selectors.discussions) and shapes the answer the way huggingface_hub 2.4 reads it (community.py):
timestamps `…T…​.fffZ`, lowercase event ids, no `author` for a deleted account (the client shows "deleted"),
comment HTML through the card sanitiser, and a hidden comment's text never sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from api.auth import Principal, client_ip
from api.hf.common import absolute, get_repo, hf_view, iso, json_body
from portal.markdown import render_comment
from registry.exceptions import InvalidInput
from registry.models import Discussion, DiscussionEvent, ModelRepo
from registry.selectors.discussions import comment_get, discussion_events, discussion_get, discussion_page
from registry.selectors.pulls import pr_details_extra
from registry.services.discussions import (
    comment_add,
    comment_edit,
    comment_hide,
    discussion_create,
    status_change,
    title_change,
)

PAGE_SIZE = 50  # HF's; a module constant so tests can make it small

# --- shapes ---------------------------------------------------------------------------------------------------


def _author(user_id: int | None, name: str) -> dict[str, Any] | None:
    """`{name}` of a living account; None for a deleted one (the key is left out and the client says "deleted")."""
    if user_id is None or not name:
        return None
    return {"name": name}


def _with_author(obj: dict[str, Any], user_id: int | None, name: str) -> dict[str, Any]:
    author = _author(user_id, name)
    if author is not None:
        obj["author"] = author
    return obj


def _iso_text(value: object) -> str | None:
    """A stored ISO timestamp (history entries) as the Hub writes it."""
    try:
        return iso(datetime.fromisoformat(str(value)))
    except ValueError:
        return None


def event_json(event: DiscussionEvent) -> dict[str, Any]:
    obj: dict[str, Any] = {"id": event.eid.lower(), "type": event.type, "createdAt": iso(event.created_at)}
    _with_author(obj, event.author_id, event.author_name)
    if event.type == DiscussionEvent.Type.COMMENT:
        hidden = event.hidden
        latest: dict[str, Any] = {
            "raw": "" if hidden else event.content,
            "html": "" if hidden else render_comment(event.content),  # card sanitiser; media from attachments
            "updatedAt": iso(event.updated_at),
        }
        _with_author(latest, event.author_id, event.author_name)
        history = [] if hidden else [
            {"raw": item.get("raw", ""), "updatedAt": _iso_text(item.get("updatedAt")),
             "author": {"name": item.get("author") or "deleted"}}
            for item in event.history if isinstance(item, dict)]
        obj["data"] = {"edited": event.edited, "hidden": hidden, "numEdits": len(history), "latest": latest,
                       "history": history}
    else:
        obj["data"] = dict(event.data or {})
    return obj


def summary_json(discussion: Discussion, repo: ModelRepo) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "num": discussion.num,
        "title": discussion.title,
        "status": discussion.status,
        "isPullRequest": discussion.is_pull_request,
        "createdAt": iso(discussion.created_at),
        "repo": {"name": repo.repo_id, "type": "model"},
    }
    return _with_author(obj, discussion.author_id, discussion.author_name)


def discussion_url(request: HttpRequest, repo: ModelRepo, num: int) -> str:
    return absolute(request, f"/{repo.repo_id}/discussions/{num}")


# --- views ----------------------------------------------------------------------------------------------------


def _bool_field(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidInput(f"{key} must be true or false")
    return value


def _text_field(data: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{key} must be a string")
    return value


def _query(request: HttpRequest, key: str, default: str) -> str:
    value = request.GET.get(key)
    return value if value not in (None, "") else default


@hf_view
@require_http_methods(["GET", "POST"])
def discussions(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    repo = get_repo(principal, namespace, name)
    if request.method == "POST":
        data = json_body(request)
        discussion = discussion_create(
            actor=principal.user, repo=repo, title=_text_field(data, "title"),
            description=_text_field(data, "description", required=False),
            pull_request=_bool_field(data, "pullRequest"), api_key=principal.api_key, ip=client_ip(request))
        body = summary_json(discussion, repo)
        body["url"] = discussion_url(request, repo, discussion.num)
        if discussion.is_pull_request:
            body["ref"] = discussion.ref
        return JsonResponse(body)
    author = request.GET.get("author") or None
    page = discussion_page(repo=repo, page=_query(request, "p", "0"), kind=_query(request, "type", "all"),
                           status=_query(request, "status", "all"), author=author, page_size=PAGE_SIZE)
    return JsonResponse({"discussions": [summary_json(item, repo) for item in page.items],
                         "count": page.count, "start": page.start})


@hf_view
@require_http_methods(["GET"])
def discussion_details(request: HttpRequest, principal: Principal, namespace: str, name: str,
                       num: str) -> HttpResponse:
    repo = get_repo(principal, namespace, name)
    discussion = discussion_get(repo=repo, num=num)
    body = summary_json(discussion, repo)
    body["events"] = [event_json(event) for event in discussion_events(discussion=discussion)]
    body["url"] = discussion_url(request, repo, discussion.num)
    if discussion.is_pull_request:
        body.update(pr_details_extra(discussion, with_diff=request.GET.get("diff") in ("1", "true"),
                                     viewer=principal.user))
    return JsonResponse(body)


def _thread(principal: Principal, namespace: str, name: str, num: str) -> Discussion:
    repo = get_repo(principal, namespace, name)
    return discussion_get(repo=repo, num=num)


@hf_view
@require_http_methods(["POST"])
def comment(request: HttpRequest, principal: Principal, namespace: str, name: str, num: str) -> HttpResponse:
    discussion = _thread(principal, namespace, name, num)
    data = json_body(request)
    event = comment_add(actor=principal.user, discussion=discussion, text=_text_field(data, "comment"),
                        api_key=principal.api_key, ip=client_ip(request))
    return JsonResponse({"newMessage": event_json(event)})


@hf_view
@require_http_methods(["POST"])
def comment_edit_view(request: HttpRequest, principal: Principal, namespace: str, name: str, num: str,
                      comment_id: str) -> HttpResponse:
    discussion = _thread(principal, namespace, name, num)
    event = comment_get(discussion=discussion, comment_id=comment_id)
    data = json_body(request)
    event = comment_edit(actor=principal.user, event=event, text=_text_field(data, "content"),
                         api_key=principal.api_key, ip=client_ip(request))
    return JsonResponse({"updatedComment": event_json(event)})


@hf_view
@require_http_methods(["POST"])
def comment_hide_view(request: HttpRequest, principal: Principal, namespace: str, name: str, num: str,
                      comment_id: str) -> HttpResponse:
    discussion = _thread(principal, namespace, name, num)
    event = comment_get(discussion=discussion, comment_id=comment_id)
    event = comment_hide(actor=principal.user, event=event, api_key=principal.api_key, ip=client_ip(request))
    return JsonResponse({"updatedComment": event_json(event)})


@hf_view
@require_http_methods(["POST"])
def title(request: HttpRequest, principal: Principal, namespace: str, name: str, num: str) -> HttpResponse:
    discussion = _thread(principal, namespace, name, num)
    data = json_body(request)
    event = title_change(actor=principal.user, discussion=discussion, title=_text_field(data, "title"),
                         api_key=principal.api_key, ip=client_ip(request))
    return JsonResponse({"newTitle": event_json(event)})


@hf_view
@require_http_methods(["POST"])
def status(request: HttpRequest, principal: Principal, namespace: str, name: str, num: str) -> HttpResponse:
    discussion = _thread(principal, namespace, name, num)
    data = json_body(request)
    event = status_change(actor=principal.user, discussion=discussion, status=_text_field(data, "status"),
                          comment=_text_field(data, "comment", required=False), api_key=principal.api_key,
                          ip=client_ip(request))
    return JsonResponse({"newStatus": event_json(event)})
