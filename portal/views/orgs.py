"""Organisation (and user) pages, and the manual-approval queue for gated models."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from portal.forms import AccessDecisionForm
from portal.views.common import client_ip, portal_view
from registry.selectors.portal import access_request_get, access_requests_pending, namespace_page
from registry.services.licenses import license_decide


@portal_view
def namespace(request: HttpRequest, slug: str) -> HttpResponse:
    page = namespace_page(viewer=request.user, slug=slug)
    return render(request, "portal/namespace.html", {"page": page})


@login_required
@require_http_methods(["GET", "POST"])
@portal_view
def access_requests(request: HttpRequest, slug: str) -> HttpResponse:
    if request.method == "POST":
        form = AccessDecisionForm(request.POST)
        pk = request.POST.get("request", "")
        if form.is_valid() and pk.isdigit():
            acceptance = access_request_get(viewer=request.user, slug=slug, pk=int(pk))
            approve = form.cleaned_data["decision"] == "approve"
            license_decide(actor=request.user, acceptance=acceptance, approve=approve, ip=client_ip(request))
            text = _("Approved %(user)s for %(repo)s.") if approve else _("Rejected %(user)s for %(repo)s.")
            messages.success(request, text % {"user": acceptance.user.get_username(),
                                              "repo": acceptance.repo.repo_id})
        else:
            messages.error(request, _("Choose approve or reject."))
        return redirect("org-access-requests", slug=slug)
    org, pending = access_requests_pending(viewer=request.user, slug=slug)
    return render(request, "portal/access_requests.html", {"org": org, "pending": pending})
