"""Bearer API keys, for DRF views and for the plain Django views of the HF-compatible API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware
from rest_framework import authentication, exceptions

from registry.models import ApiKey
from registry.services.keys import api_key_authenticate

INVALID_CREDENTIALS = "Invalid credentials in Authorization header"


class InvalidToken(Exception):
    pass


@dataclass
class Principal:
    user: Any
    api_key: ApiKey | None

    @property
    def is_authenticated(self) -> bool:
        return bool(getattr(self.user, "is_authenticated", False))

    def has_scope(self, scope: str) -> bool:
        """Session users (the browser) act with full rights; keys only with their scopes."""
        if not self.is_authenticated:
            return False
        return self.api_key is None or self.api_key.has_scope(scope)


def bearer_secret(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise InvalidToken(INVALID_CREDENTIALS)
    return secret.strip()


def principal_for(request: HttpRequest) -> Principal:
    """Who is calling: a bearer key, else the session user, else anonymous. Raises InvalidToken."""
    cached = getattr(request, "_hub_principal", None)
    if cached is not None:
        return cached
    secret = bearer_secret(request)
    if secret is not None:
        key = api_key_authenticate(secret=secret)
        if key is None:
            raise InvalidToken(INVALID_CREDENTIALS)
        principal = Principal(key.user, key)
    else:
        user = getattr(request, "user", None) or AnonymousUser()
        principal = Principal(user, None)
    request._hub_principal = principal  # type: ignore[attr-defined]
    return principal


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> str:  # type: ignore[override]
        return reason


def session_csrf_failure(request: HttpRequest, principal: Principal) -> str | None:
    """Why a write authenticated by the session cookie fails Django's CSRF check (None when it passes, or when the
    request is a read, anonymous, or authenticated by an API key).

    A page on another site can make a signed-in browser send the cookie, never the token; bearer keys are not
    sent by browsers on their own, so they need no token (DRF's SessionAuthentication makes the same cut)."""
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE") or principal.api_key is not None:
        return None
    if not principal.is_authenticated:
        return None
    check = _CsrfCheck(lambda _request: None)  # type: ignore[arg-type, return-value]
    check.process_request(request)
    return check.process_view(request, None, (), {})  # type: ignore[arg-type, return-value]


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """DRF: `Authorization: Bearer hub_…`. request.auth is the ApiKey."""

    keyword = "Bearer"

    def authenticate(self, request):  # noqa: ANN001
        try:
            secret = bearer_secret(request._request)
        except InvalidToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        if secret is None:
            return None
        key = api_key_authenticate(secret=secret)
        if key is None:
            raise exceptions.AuthenticationFailed(INVALID_CREDENTIALS)
        return key.user, key

    def authenticate_header(self, request) -> str:  # noqa: ANN001
        return self.keyword


# --- OpenAPI: describe bearer keys (drf-spectacular otherwise warns on every view using them) ---------
from drf_spectacular.extensions import OpenApiAuthenticationExtension  # noqa: E402


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201
        return {"type": "http", "scheme": "bearer", "description": "API key: `Authorization: Bearer hub_…`"}
