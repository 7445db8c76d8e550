"""Organisation (and user) pages, and the manual-approval queue for gated models."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from portal.forms import AccessDecisionForm, MemberAddForm, MemberRoleForm
from portal.views.common import client_ip, portal_view
from registry.exceptions import Conflict, InvalidInput
from registry.models import Membership
from registry.selectors.portal import (
    access_request_get,
    access_requests_pending,
    namespace_page,
    org_invitation_get,
    org_members_for_admin,
    org_membership_get,
)
from registry.services.licenses import license_decide
from registry.services.orgs import org_invitation_cancel, org_member_add, org_member_remove, org_member_set_role


@portal_view
def namespace(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        page = namespace_page(viewer=request.user, slug=slug, cursor=request.GET.get("cursor"))
    except InvalidInput:  # a stale or mangled cursor: the first page rather than an error
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
            try:
                license_decide(actor=request.user, acceptance=acceptance, approve=approve,
                               rejection_reason="" if approve else form.cleaned_data["reason"],
                               ip=client_ip(request))
            except InvalidInput as exc:
                messages.error(request, exc.message)
            else:
                text = _("Approved %(user)s for %(repo)s.") if approve else _("Rejected %(user)s for %(repo)s.")
                messages.success(request, text % {"user": acceptance.user.get_username(),
                                                  "repo": acceptance.repo.repo_id})
        else:
            messages.error(request, _("Choose approve or reject."))
        return redirect("org-access-requests", slug=slug)
    org, pending = access_requests_pending(viewer=request.user, slug=slug)
    return render(request, "portal/access_requests.html", {"org": org, "pending": pending})


# --- members and roles (organisation admins) ----------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@portal_view
def members(request: HttpRequest, slug: str) -> HttpResponse:
    """The admins' member list: add by username or email (unknown emails are invited), roles, removal."""
    page = org_members_for_admin(viewer=request.user, slug=slug)
    form = MemberAddForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            result = org_member_add(actor=request.user, org=page.org, who=form.cleaned_data["who"],
                                    role=form.cleaned_data["role"], ip=client_ip(request))
        except (InvalidInput, Conflict) as exc:
            form.add_error("who", exc.message)
        else:
            if result.membership is not None:
                messages.success(request, _("%(user)s joined %(org)s.") % {
                    "user": result.membership.user.get_username(), "org": page.org.slug})
            else:
                messages.success(request, _("Invitation sent to %(email)s. They join once they confirm that "
                                            "address on the hub.") % {"email": result.invitation.email})
            return redirect("org-members", slug=page.org.slug)
    return render(request, "portal/org_members.html", {
        "page": page, "org": page.org, "form": form, "role_form": MemberRoleForm(),
    }, status=400 if form.errors else 200)


@login_required
@require_POST
@portal_view
def member_role(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    membership = org_membership_get(viewer=request.user, slug=slug, pk=pk)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a role."))
    else:
        try:
            org_member_set_role(actor=request.user, membership=membership, role=form.cleaned_data["role"],
                                ip=client_ip(request))
        except InvalidInput as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("%(user)s is now %(role)s.") % {
                "user": membership.user.get_username(), "role": Membership.Role(form.cleaned_data["role"]).label})
    return redirect("org-members", slug=membership.organization.slug)


@login_required
@require_POST
@portal_view
def member_remove(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    membership = org_membership_get(viewer=request.user, slug=slug, pk=pk)
    try:
        org_member_remove(actor=request.user, membership=membership, ip=client_ip(request))
    except InvalidInput as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("%(user)s was removed from %(org)s.") % {
            "user": membership.user.get_username(), "org": membership.organization.slug})
        if membership.user_id == request.user.pk:  # an admin who left no longer sees the members page
            return redirect("org", slug=membership.organization.slug)
    return redirect("org-members", slug=membership.organization.slug)


@login_required
@require_POST
@portal_view
def invitation_cancel(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    invitation = org_invitation_get(viewer=request.user, slug=slug, pk=pk)
    org_invitation_cancel(actor=request.user, invitation=invitation, ip=client_ip(request))
    messages.success(request, _("Invitation for %(email)s cancelled.") % {"email": invitation.email})
    return redirect("org-members", slug=invitation.organization.slug)
