"""Test settings: the real settings module, with test-only defaults for what a deployment must set."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-for-the-checks-0123456789")
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="hub-test-var-"))
os.environ.setdefault("ACCOUNT_EMAIL_VERIFICATION", "mandatory")

from portal.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not Django's shared-cache in-memory default: with table-level locks there, a thread's plain
    # read fails at once ("database table is locked") while another thread writes. On a file, SQLite waits
    # for its busy timeout, as in the embedded deployment, so transactional tests with threads are honest.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(os.environ["VAR_DIR"], "test.sqlite3")}  # noqa: F405

# WhiteNoise warns on every request when STATIC_ROOT is missing; tests never collect static files.
STATIC_ROOT = os.path.join(os.environ["VAR_DIR"], "staticfiles")
os.makedirs(STATIC_ROOT, exist_ok=True)

# Tests deliver webhooks to receivers on 127.0.0.1; tests of the SSRF guard turn this off.
WEBHOOKS_ALLOW_PRIVATE = True
