from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from registry.selectors.releases import published_releases
from registry.selectors.repos import repo_list


def home(request: HttpRequest) -> HttpResponse:
    models = repo_list(viewer=request.user, sort="downloads")[:30]
    releases = published_releases(viewer=request.user, limit=6)
    return render(request, "portal/home.html", {"models": models, "releases": releases})
