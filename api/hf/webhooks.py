"""`/api/settings/webhooks` as huggingface_hub 2.4 speaks it (HF_COMMUNITY.md §2): the caller's own webhooks.

The list is a bare array; every other answer is `{"webhook": {...}}`. Another user's hook is a 404, like a missing
one. HF Jobs (`jobSourceId`, `secrets`) are not offered here: a 400.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from api.auth import Principal, client_ip
from api.hf.common import hf_view, json_body
from registry.exceptions import InvalidInput, NotAuthenticated, PermissionDenied
from registry.models import Webhook
from registry.selectors.webhooks import user_webhooks, webhook_get
from registry.services.webhooks import webhook_create, webhook_delete, webhook_set_disabled, webhook_update

JOBS_UNSUPPORTED = "webhooks that trigger Jobs (jobSourceId, secrets) are not supported on this hub: give a url"


def webhook_json(hook: Webhook) -> dict[str, Any]:
    return {"id": hook.uid, "url": hook.url, "job": None, "watched": hook.watched, "domains": hook.domains,
            "secret": hook.secret or None, "disabled": hook.disabled}


def _signed_in(principal: Principal) -> Any:
    if not principal.is_authenticated:
        raise NotAuthenticated("Invalid user token: sign in with an API key")
    return principal.user


def _require_write_key(principal: Principal, request: HttpRequest) -> None:
    key = principal.api_key
    if request.method != "GET" and key is not None and "write" not in key.scopes and "admin" not in key.scopes:
        raise PermissionDenied("this API key can't change settings: it needs the write scope")


def _body(request: HttpRequest) -> dict[str, Any]:
    data = json_body(request)
    if "jobSourceId" in data or "secrets" in data:
        raise InvalidInput(JOBS_UNSUPPORTED)
    return data


@hf_view
@require_http_methods(["GET", "POST"])
def webhooks(request: HttpRequest, principal: Principal) -> HttpResponse:
    user = _signed_in(principal)
    if request.method == "GET":
        return JsonResponse([webhook_json(h) for h in user_webhooks(viewer=user)], safe=False)
    _require_write_key(principal, request)
    data = _body(request)
    if "url" not in data:
        raise InvalidInput("url is required")
    hook = webhook_create(actor=user, url=data.get("url"), watched=data.get("watched", []),
                          domains=data.get("domains"), secret=data.get("secret"), ip=client_ip(request))
    return JsonResponse({"webhook": webhook_json(hook)})


@hf_view
@require_http_methods(["GET", "POST", "DELETE"])
def webhook(request: HttpRequest, principal: Principal, uid: str) -> HttpResponse:
    user = _signed_in(principal)
    hook = webhook_get(viewer=user, uid=uid)
    if request.method == "GET":
        return JsonResponse({"webhook": webhook_json(hook)})
    _require_write_key(principal, request)
    if request.method == "DELETE":
        webhook_delete(actor=user, webhook=hook, ip=client_ip(request))
        return JsonResponse({})
    data = _body(request)
    hook = webhook_update(actor=user, webhook=hook, url=data.get("url"), watched=data.get("watched"),
                          domains=data.get("domains"), secret=data.get("secret"), ip=client_ip(request))
    return JsonResponse({"webhook": webhook_json(hook)})


@hf_view
@require_http_methods(["POST"])
def webhook_switch(request: HttpRequest, principal: Principal, uid: str, switch: str) -> HttpResponse:
    user = _signed_in(principal)
    hook = webhook_get(viewer=user, uid=uid)
    _require_write_key(principal, request)
    hook = webhook_set_disabled(actor=user, webhook=hook, disabled=switch == "disable", ip=client_ip(request))
    return JsonResponse({"webhook": webhook_json(hook)})
