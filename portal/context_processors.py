"""Template context for every page: the site's name and public address (registry.site)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from registry import permissions
from registry.site import site_name, site_url


def site(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "SITE_NAME": site_name(), "SITE_URL": site_url(),
        # The navigation offers the sign-off queue only to those who may sign off (a callable: evaluated, with
        # its query, only where a template asks).
        "can_sign_off": lambda: permissions.is_consortium_admin(user),
    }
