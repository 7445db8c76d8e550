from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from registry.selectors.repos import repo_list


def home(request: HttpRequest) -> HttpResponse:
    models = repo_list(viewer=request.user, sort="downloads")[:30]
    return render(request, "portal/home.html", {"models": models})
