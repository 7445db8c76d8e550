"""The hub's name and public address, from settings (SITE_NAME, SITE_URL): page titles, e-mails and Django's sites
row all read them here, so a deployment never says "example.com"."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.utils.translation import gettext

DEFAULT_SITE_NAME = "Consortium Model Hub"


def site_url() -> str:
    """The absolute public URL, without a trailing slash."""
    return (getattr(settings, "SITE_URL", "") or "http://127.0.0.1:8000").rstrip("/")


def site_domain() -> str:
    return urlparse(site_url()).netloc or "localhost"


def site_name(*, translated: bool = True) -> str:
    """SITE_NAME when a deployment sets one; otherwise the default name, in the active language."""
    configured = getattr(settings, "SITE_NAME", "")
    if configured:
        return configured
    return gettext("Consortium Model Hub") if translated else DEFAULT_SITE_NAME


class SettingsSite:
    """What allauth's e-mail templates read from Django's Site (`current_site.name`, `.domain`), from settings."""

    def __init__(self) -> None:
        self.name = site_name()
        self.domain = site_domain()

    def __str__(self) -> str:
        return self.domain


def site_row_sync(**kwargs: Any) -> None:
    """post_migrate: Django's sites row (SITE_ID) takes the name and domain from settings."""
    from django.contrib.sites.models import Site

    using = kwargs.get("using", "default")
    Site.objects.using(using).update_or_create(
        pk=getattr(settings, "SITE_ID", 1),
        defaults={"domain": site_domain()[:100], "name": site_name(translated=False)[:50]})
    Site.objects.clear_cache()
