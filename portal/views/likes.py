"""Liking a model from its page (the only way to like: HF's API can only unlike)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from portal.views.common import portal_view
from registry.selectors.repos import repo_get
from registry.services.likes import repo_like, repo_unlike


@login_required
@require_POST
@portal_view
def model_like(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    """`like=1` likes, anything else unlikes; back to the model page. A repo the user cannot read is a 404."""
    repo = repo_get(viewer=request.user, namespace=namespace, name=name)
    if request.POST.get("like") == "1":
        repo_like(user=request.user, repo=repo)
    else:
        repo_unlike(user=request.user, repo=repo)
    return redirect("model", namespace=repo.namespace, name=repo.name)
