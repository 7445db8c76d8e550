"""Settings → Access tokens: create (the secret is shown once, on the response), list, revoke."""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from portal.forms import ApiKeyCreateForm
from portal.views.common import client_ip, portal_view
from registry.exceptions import InvalidInput, PermissionDenied
from registry.selectors.portal import api_key_own, api_keys_of, user_organizations
from registry.services.keys import api_key_create, api_key_revoke


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
@portal_view
def tokens(request: HttpRequest) -> HttpResponse:
    """GET lists the keys; POST creates one and renders its secret in this response only.

    The secret is never put in the session, a message or a redirect: reloading loses it, by design.
    Reloading that page re-sends the form, so each rendered form carries a one-time id (kept in the
    session, never the secret) and a second POST with it creates nothing.
    """
    organizations = user_organizations(user=request.user)
    form = ApiKeyCreateForm(request.POST if request.method == "POST" else None, organizations=organizations)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        if not _nonce_consume(request, request.POST.get("nonce", "")):
            form.add_error(None, _("This form was already sent, so no new key was made. Your keys are "
                                   "listed below; use the form again to create another."))
        else:
            data = form.cleaned_data
            try:
                created, secret = api_key_create(
                    user=request.user, name=data["name"], scopes=data["scopes"],
                    organization=data.get("organization"), expires_days=data.get("expires_days"),
                    ip=client_ip(request),
                )
            except (InvalidInput, PermissionDenied) as exc:
                form.add_error(None, exc.message)
            else:
                form = ApiKeyCreateForm(organizations=organizations)
    return render(request, "portal/tokens.html", {
        "form": form, "keys": api_keys_of(user=request.user), "created": created, "secret": secret,
        "nonce": _nonce_issue(request),
    }, status=201 if created else 200)


NONCE_KEY = "portal_token_form_nonces"
NONCES_KEPT = 10


def _nonce_issue(request: HttpRequest) -> str:
    nonce = secrets.token_urlsafe(16)
    request.session[NONCE_KEY] = [*request.session.get(NONCE_KEY, [])[-(NONCES_KEPT - 1):], nonce]
    return nonce


def _nonce_consume(request: HttpRequest, nonce: str) -> bool:
    issued = request.session.get(NONCE_KEY, [])
    if not nonce or nonce not in issued:
        return False
    request.session[NONCE_KEY] = [n for n in issued if n != nonce]
    return True


@login_required
@require_POST
@portal_view
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    key = api_key_own(user=request.user, pk=pk)
    api_key_revoke(actor=request.user, key=key, ip=client_ip(request))
    messages.success(request, _("Key %(prefix)s… revoked.") % {"prefix": key.prefix})
    return redirect("tokens")
