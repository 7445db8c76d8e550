"""Plumbing shared by the browser pages: domain errors become the hub's 404/403 pages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from registry.exceptions import (
    EntryNotFound,
    HubError,
    NotAuthenticated,
    PermissionDenied,
    RepoNotFound,
    RevisionNotFound,
)

NOT_FOUND = (RepoNotFound, RevisionNotFound, EntryNotFound)


def portal_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Map the domain's errors to pages: missing or private → 404, refused → 403, anonymous → sign in."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NOT_FOUND as exc:
            raise Http404(exc.message) from exc
        except NotAuthenticated:
            return redirect_to_login(request.get_full_path())
        except PermissionDenied as exc:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            raise DjangoPermissionDenied(exc.message) from exc
        except HubError as exc:
            if exc.status == 404:
                raise Http404(exc.message) from exc
            raise

    return wrapper


def quote_rev(revision: str) -> str:
    """A revision as one URL path segment (refs/pr/1 → refs%2Fpr%2F1), as huggingface_hub sends it."""
    return quote(revision, safe="")


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None
