"""Pull request merges over the HF API (`merge_pull_request`); the other discussion routes are in api/hf/discussions.

A PR's commits arrive through the upload routes (api/hf/upload.py: `?create_pr=1`, `refs%2Fpr%2FN`).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from api.auth import Principal, client_ip
from api.hf.common import get_repo, hf_view
from api.wire import parse_json
from registry.exceptions import InvalidInput
from registry.selectors.discussions import discussion_get
from registry.services.pulls import pr_merge


@require_http_methods(["POST"])
@hf_view
def merge(request: HttpRequest, principal: Principal, namespace: str, name: str, num: str) -> HttpResponse:
    """`POST …/discussions/{num}/merge`, body `{comment}` or none (the client sends none without a comment)."""
    repo = get_repo(principal, namespace, name)
    discussion = discussion_get(repo=repo, num=num)
    data = parse_json(request.body) if request.body.strip() else None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput("request body must be a JSON object")
    comment = data.get("comment") or ""
    if not isinstance(comment, str):
        raise InvalidInput("comment must be a string")
    merged = pr_merge(actor=principal.user, discussion=discussion, comment=comment, api_key=principal.api_key,
                      ip=client_ip(request))
    return JsonResponse({"mergeCommitId": merged.oid, "status": discussion.status})
