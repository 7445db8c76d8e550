"""Settings for the hub's offline tools (`manage.py verify_release`): no database, no secrets, no hub configuration.

verify_release checks a downloaded snapshot against a signed manifest on anyone's machine; it must not need the
hub's SECRET_KEY or DEBUG (portal.settings refuses to load without a SECRET_KEY when DEBUG is off). manage.py uses
this module for those commands unless DJANGO_SETTINGS_MODULE names another.
"""

from __future__ import annotations

import secrets

DEBUG = False
SECRET_KEY = secrets.token_urlsafe(48)  # signs nothing: these commands have no sessions and sign no URLs
ALLOWED_HOSTS: list[str] = []
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "registry.apps.VerifyToolConfig"]
DATABASES: dict[str, dict] = {}
USE_TZ = True
