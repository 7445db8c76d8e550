"""Gated-access requests through the HF API (`huggingface_hub`'s list_pending/accepted/rejected_access_requests,
accept/reject/cancel_access_request and grant_access): the same services, rules and audit trail as the portal's
queue, for the owning organisation's write and admin members (as on the Hugging Face Hub).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from api.auth import Principal, client_ip
from api.hf.common import cursor_key, get_repo, hf_view, iso, json_body, next_key_link
from registry.exceptions import EntryNotFound, InvalidInput
from registry.models import LicenseAcceptance
from registry.selectors.access_requests import (
    access_request_find,
    access_requests_admin_check,
    access_requests_page,
    user_by_username,
)
from registry.services.licenses import access_grant, access_request_set_status

PAGE_SIZE = 100  # requests per page; the client follows the Link header


def _wire(acceptance: LicenseAcceptance) -> dict[str, Any]:
    """An access request as the client parses it into AccessRequest."""
    user = acceptance.user
    return {
        "user": {"user": user.get_username(), "fullname": user.get_full_name() or user.get_username(),
                 "email": user.email or None},
        "requestId": str(acceptance.pk),
        "status": acceptance.status,
        "timestamp": iso(acceptance.created_at),
        "fields": acceptance.answers or None,
    }


@hf_view
@require_http_methods(["GET"])
def requests_list(request: HttpRequest, principal: Principal, namespace: str, name: str,
                  status: str) -> HttpResponse:
    repo = get_repo(principal, namespace, name)
    key = cursor_key(request)
    if key and not key.isdigit():
        raise InvalidInput("invalid cursor")
    rows, following = access_requests_page(viewer=principal.user, repo=repo, status=status,
                                           after=int(key or 0), limit=PAGE_SIZE, api_key=principal.api_key)
    response = JsonResponse([_wire(row) for row in rows], safe=False)
    if following is not None:
        response["Link"] = next_key_link(request, str(following))
    return response


@hf_view
@require_http_methods(["POST"])
def handle(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    """{"user" | "requestId", "status": accepted | rejected | pending, "rejectionReason"?}: accept, reject, or
    cancel (back to pending). A request already in that status is not found in the list it would leave (404)."""
    repo = get_repo(principal, namespace, name)
    data = json_body(request)
    status = data.get("status")
    if status not in ("accepted", "rejected", "pending"):
        raise InvalidInput('"status" must be one of: accepted, rejected, pending')
    reason = data.get("rejectionReason")
    if reason is not None and not isinstance(reason, str):
        raise InvalidInput('"rejectionReason" must be a string')
    acceptance = access_request_find(viewer=principal.user, repo=repo, username=data.get("user"),
                                     request_id=data.get("requestId"), api_key=principal.api_key)
    if acceptance.status == status:
        raise EntryNotFound(f"the access request of {acceptance.user.get_username()} is already {status}")
    access_request_set_status(actor=principal.user, acceptance=acceptance, status=status,
                              rejection_reason=reason or "", ip=client_ip(request))
    return JsonResponse(_wire(acceptance))


@hf_view
@require_http_methods(["POST"])
def grant(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    """{"user"}: the user may download the gated repo at once (accepted), without a request of their own."""
    repo = get_repo(principal, namespace, name)
    data = json_body(request)
    access_requests_admin_check(viewer=principal.user, repo=repo, api_key=principal.api_key)
    user = user_by_username(data.get("user"))
    acceptance = access_grant(actor=principal.user, repo=repo, user=user, ip=client_ip(request))
    return JsonResponse(_wire(acceptance))
