"""Settings → Webhooks, for a user's own hooks and (under /organizations/<slug>/settings/webhooks) for an
organisation's, managed by its admins: list and create, edit, enable/disable, delete, the delivery log and replay."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from portal.forms import WebhookForm
from portal.views.common import client_ip, portal_view
from registry.exceptions import InvalidInput, PermissionDenied, WebhookNotFound
from registry.models import Organization
from registry.selectors.webhooks import delivery_get, delivery_page, org_webhooks, user_webhooks, webhook_get
from registry.services.webhooks import (
    webhook_create,
    webhook_delete,
    webhook_replay,
    webhook_set_disabled,
    webhook_update,
)


def _org(request: HttpRequest, slug: str | None) -> Organization | None:
    """The organisation whose hooks these are (its admins only: anyone else gets a 404), or None for the user's."""
    if slug is None:
        return None
    from registry import permissions

    org = Organization.objects.filter(slug=slug).first()
    if org is None or not permissions.can_admin_namespace(request.user, org.slug):
        raise WebhookNotFound(_("Organisation not found"))
    return org


def _managed(request: HttpRequest, uid: str, slug: str | None) -> tuple[Organization | None, Any]:
    org = _org(request, slug)
    return org, webhook_get(viewer=request.user, uid=uid, org=org)


def _list_url(org: Organization | None) -> Any:
    return redirect("org-webhooks", slug=org.slug) if org else redirect("settings-webhooks")


def _detail_redirect(org: Organization | None, uid: str) -> Any:
    return (redirect("org-webhook", slug=org.slug, uid=uid) if org
            else redirect("settings-webhook", uid=uid))


@login_required
@require_http_methods(["GET", "POST"])
@portal_view
def webhook_list(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    org = _org(request, slug)
    form = WebhookForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            hook = webhook_create(actor=request.user, org=org, url=data["url"], watched=data["watched"],
                                  domains=data["domains"], secret=data["secret"], ip=client_ip(request))
        except (InvalidInput, PermissionDenied) as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Webhook created."))
            return _detail_redirect(org, hook.uid)
    hooks = list(org_webhooks(org=org) if org else user_webhooks(viewer=request.user))
    return render(request, "portal/webhooks.html", {"org": org, "hooks": hooks, "form": form},
                  status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
@portal_view
def webhook_detail(request: HttpRequest, uid: str, slug: str | None = None) -> HttpResponse:
    org, hook = _managed(request, uid, slug)
    form = WebhookForm(request.POST if request.method == "POST" else None, initial=WebhookForm.initial_for(hook))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            webhook_update(actor=request.user, webhook=hook, url=data["url"], watched=data["watched"],
                           domains=data["domains"], secret=data["secret"], ip=client_ip(request))
        except InvalidInput as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Webhook saved."))
            return _detail_redirect(org, hook.uid)
    try:
        page = delivery_page(webhook=hook, cursor=request.GET.get("cursor"))
    except InvalidInput:  # a stale or mangled cursor: the first page
        page = delivery_page(webhook=hook)
    return render(request, "portal/webhook_detail.html", {"org": org, "hook": hook, "form": form, "page": page},
                  status=400 if form.errors else 200)


@login_required
@require_POST
@portal_view
def webhook_action(request: HttpRequest, uid: str, action: str, slug: str | None = None) -> HttpResponse:
    org, hook = _managed(request, uid, slug)
    if action == "delete":
        webhook_delete(actor=request.user, webhook=hook, ip=client_ip(request))
        messages.success(request, _("Webhook deleted."))
        return _list_url(org)
    disabled = action == "disable"
    webhook_set_disabled(actor=request.user, webhook=hook, disabled=disabled, ip=client_ip(request))
    messages.success(request, _("Webhook disabled.") if disabled else _("Webhook enabled."))
    return _detail_redirect(org, hook.uid)


@login_required
@require_POST
@portal_view
def webhook_replay_view(request: HttpRequest, uid: str, pk: str, slug: str | None = None) -> HttpResponse:
    org, hook = _managed(request, uid, slug)
    delivery = delivery_get(webhook=hook, delivery_id=pk)
    webhook_replay(actor=request.user, delivery=delivery, ip=client_ip(request))
    messages.success(request, _("Delivery queued again."))
    return _detail_redirect(org, hook.uid)
