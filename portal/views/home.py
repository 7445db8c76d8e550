from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from registry.selectors.catalogue import RepoQuery, repo_page
from registry.selectors.releases import published_releases


def home(request: HttpRequest) -> HttpResponse:
    models = repo_page(viewer=request.user, query=RepoQuery(sort="downloads"), size=30).rows
    releases = published_releases(viewer=request.user, limit=6)
    return render(request, "portal/home.html", {"models": models, "releases": releases})
