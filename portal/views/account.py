"""Settings → my license acceptances and access requests, my organisations."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from portal.views.common import portal_view
from registry.selectors.portal import acceptances_of, memberships_of


@login_required
@portal_view
def my_access(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/settings_access.html", {
        "acceptances": acceptances_of(user=request.user), "settings_tab": "access"})


@login_required
@portal_view
def my_organizations(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/settings_orgs.html", {
        "memberships": memberships_of(user=request.user), "settings_tab": "orgs"})
