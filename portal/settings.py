"""Settings, read from the environment only (see .env.example and the README table).

Embedded defaults (no variables set): SQLite, the local blob store and Celery over
kombu's filesystem transport, all under ./var — what `make run` uses on a bare machine.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import dj_database_url

from portal.env import ConfigError, env_bool, env_choice, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ConfigError("SECRET_KEY must be set when DEBUG is off (it signs sessions and download URLs)")
    SECRET_KEY = "django-insecure-embedded-development-key-do-not-use-in-production"  # noqa: S105
if len(SECRET_KEY) < 32:
    raise ConfigError("SECRET_KEY must be at least 32 characters long")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# The public address of the hub, used in absolute URLs built outside a request (emails, feeds).
# SITE_URL_CONFIGURED: set explicitly, it is also the `hub` of signed release manifests; unset, a manifest names the
# address the approving request reached (scheme, host and port), which SITE_URL's default can't know.
SITE_URL_CONFIGURED = bool(env_str("SITE_URL"))
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
_site = urlparse(SITE_URL)
if _site.scheme not in ("http", "https") or not _site.netloc or _site.query or _site.fragment:
    raise ConfigError(f"SITE_URL={SITE_URL!r} must be an absolute http:// or https:// URL, e.g. https://hub.example.org")
# The hub's name in page titles, the header and e-mails; empty: "Consortium Model Hub", translated (registry/site.py).
# Django's sites row (SITE_ID) is set from SITE_NAME and SITE_URL's host after every migrate.
SITE_NAME = env_str("SITE_NAME", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    # Search on PostgreSQL (registry.selectors.catalogue): trigram and full-text indexes and lookups. Inert on SQLite.
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from our own static files
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "registry",
    "api",
    "portal",
]

MIDDLEWARE = [
    # Outermost: every response's error headers are sanitised, and HF-shaped 4xx always carry them (api/wire.py).
    "api.wire.ErrorContractMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # A dependency that fails inside a request is a 503 with Retry-After, never a 500 or a hang.
    "portal.middleware.DependencyFailureMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # The APIs answer in English (their error texts are part of the HF contract): api/wire.py.
    "api.wire.ApiLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
SITE_ID = 1

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "portal.context_processors.site",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
_default_db = f"sqlite:///{VAR_DIR / 'hub.sqlite3'}"
DATABASE_URL = env_str("DATABASE_URL", _default_db)
if urlparse(DATABASE_URL).scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
    raise ConfigError(f"DATABASE_URL scheme must be sqlite:// or postgres://, got {DATABASE_URL.split(':')[0]!r}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))}
# Bounded waits: a database that does not answer costs a request DB_CONNECT_TIMEOUT seconds, then a 503.
DB_CONNECT_TIMEOUT = env_int("DB_CONNECT_TIMEOUT", 2, minimum=1)
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", DB_CONNECT_TIMEOUT)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded database is written by the web server and the worker at once. WAL lets readers go on while one
    # process writes; IMMEDIATE takes the write lock when a transaction starts, so a transaction that reads and
    # then writes waits its turn (busy timeout) instead of failing at once with "database is locked" when another
    # process wrote in between (a deferred transaction can't upgrade its read lock then, and SQLite does not wait).
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    })
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache (rate limits need it shared across web processes) ---------------------------------
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL:
    if not CACHE_URL.startswith(("redis://", "rediss://")):
        raise ConfigError("CACHE_URL must be a redis:// URL")
    # Bounded waits: a Redis that does not answer fails a cache call within a second; the callers (rate limits,
    # the generation number) then go on without it for a few seconds (registry/shared_cache.py).
    CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1, "retry_on_timeout": False},
    }}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- auth ---------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env_choice("ACCOUNT_EMAIL_VERIFICATION", "mandatory", {"mandatory", "optional", "none"})
ACCOUNT_ADAPTER = "portal.account_adapter.HubAccountAdapter"  # applies pending organisation invitations
# Optional single sign-on through a member company's OpenID Connect provider. Unset: no SSO button.
OIDC_PROVIDER_ID = env_str("OIDC_PROVIDER_ID", "sso")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "SSO")
OIDC_SERVER_URL = env_str("OIDC_SERVER_URL").rstrip("/")
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
if OIDC_SERVER_URL and urlparse(OIDC_SERVER_URL).scheme not in {"http", "https"}:
    raise ConfigError(f"OIDC_SERVER_URL={OIDC_SERVER_URL!r} must be an http:// or https:// URL")
if OIDC_SERVER_URL and not OIDC_CLIENT_ID:
    raise ConfigError("OIDC_SERVER_URL is set but OIDC_CLIENT_ID is not")
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [{
            "provider_id": OIDC_PROVIDER_ID,
            "name": OIDC_PROVIDER_NAME,
            "client_id": OIDC_CLIENT_ID,
            "secret": OIDC_CLIENT_SECRET,
            "settings": {"server_url": OIDC_SERVER_URL},
        }] if OIDC_SERVER_URL else [],
    },
}
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # an SSO email never takes over an existing local account
SOCIALACCOUNT_LOGIN_ON_GET = False  # the SSO button is a POST form (CSRF)

# --- i18n ---------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- static -------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}

# --- email --------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "hub@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where vulnerabilities are reported (docs/SECURITY.md): published in /.well-known/security.txt (RFC 9116).
SECURITY_CONTACT = env_str("SECURITY_CONTACT", "")

# --- HTTPS / security -----------------------------------------------------------------------
USE_HTTPS = env_bool("USE_HTTPS", False)
SECURE_SSL_REDIRECT = USE_HTTPS
SESSION_COOKIE_SECURE = USE_HTTPS
CSRF_COOKIE_SECURE = USE_HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if USE_HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = USE_HTTPS
SECURE_HSTS_PRELOAD = USE_HTTPS
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# --- REST framework -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.v1.errors.exception_handler",
    # JSON bodies parsed strictly (depth, NUL, lone surrogates, duplicate keys): a 400, never a RecursionError.
    "DEFAULT_PARSER_CLASSES": [
        "api.v1.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Consortium Model Hub API",
    "DESCRIPTION": (
        "Native REST API of the consortium model hub. "
        "The Hugging Face-compatible API lives under /api/models/…."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from drf-spectacular-sidecar's static files, never a CDN: the docs work offline, under the
    # portal's Content-Security-Policy (script-src 'self'), and ask no other host for anything.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Every operation documents the error envelope for 400/404 (and 401/403 on writes): api/v1/schema.py.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.v1.schema.document_error_contract",
    ],
}

# --- blob storage -------------------------------------------------------------------------------
BLOB_STORE = env_choice("BLOB_STORE", "local", {"local", "s3"})
BLOB_LOCAL_ROOT = Path(env_str("BLOB_LOCAL_ROOT", str(VAR_DIR / "blobs"))).resolve()
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL") or None
S3_PUBLIC_ENDPOINT_URL = env_str("S3_PUBLIC_ENDPOINT_URL") or S3_ENDPOINT_URL
S3_BUCKET = env_str("S3_BUCKET")
S3_REGION = env_str("S3_REGION", "us-east-1")
AWS_ACCESS_KEY_ID = env_str("AWS_ACCESS_KEY_ID")
AWS_SECRET_ACCESS_KEY = env_str("AWS_SECRET_ACCESS_KEY")
if BLOB_STORE == "s3":
    if not S3_BUCKET:
        raise ConfigError("BLOB_STORE=s3 needs S3_BUCKET")
    for _name, _url in (("S3_ENDPOINT_URL", S3_ENDPOINT_URL), ("S3_PUBLIC_ENDPOINT_URL", S3_PUBLIC_ENDPOINT_URL)):
        if _url and urlparse(_url).scheme not in {"http", "https"}:
            raise ConfigError(f"{_name}={_url!r} must be an http:// or https:// URL")

# A separate origin for repo bytes (optional): the local store's signed download URLs are built on it and /resolve
# redirects there, as it does to S3. Repo bytes are inert on any origin (registry/user_content.py); this keeps them off
# the hub's too. The same web processes answer it, so its host joins ALLOWED_HOSTS; it must not share the hub's cookies.
USER_CONTENT_URL = env_str("USER_CONTENT_URL").rstrip("/")
if USER_CONTENT_URL:
    _user_content = urlparse(USER_CONTENT_URL)
    if _user_content.scheme not in {"http", "https"} or not _user_content.hostname or _user_content.path:
        raise ConfigError(f"USER_CONTENT_URL={USER_CONTENT_URL!r} must be an origin, e.g. https://usercontent.example")
    if (_user_content.scheme, _user_content.netloc) == (urlparse(SITE_URL).scheme, urlparse(SITE_URL).netloc):
        raise ConfigError("USER_CONTENT_URL must be another origin than SITE_URL")
    ALLOWED_HOSTS.append(_user_content.hostname)

# Hub behaviour
PRESIGNED_URL_TTL = env_int("PRESIGNED_URL_TTL", 3600, minimum=60)  # seconds
# How long a web process trusts the shared generation number it last read before reading it again
# (registry/generation.py): a change made by another process reaches this one within that time; 0 = every request.
MEMO_RECHECK_MS = env_int("MEMO_RECHECK_MS", 50, minimum=0)
INLINE_FILE_MAX_SIZE = env_int("INLINE_FILE_MAX_SIZE", 1024 * 1024, minimum=0)  # preupload "regular" limit
# Largest pack a `git push` may send (api.git.receive_pack); large files go through git-lfs, not the pack.
GIT_PUSH_MAX_PACK_SIZE = env_int("GIT_PUSH_MAX_PACK_SIZE", 2 * 1024**3, minimum=1024)
LFS_MULTIPART_THRESHOLD = env_int("LFS_MULTIPART_THRESHOLD", 64 * 1024 * 1024, minimum=5 * 1024 * 1024)
LFS_MULTIPART_CHUNK_SIZE = env_int("LFS_MULTIPART_CHUNK_SIZE", 64 * 1024 * 1024, minimum=5 * 1024 * 1024)
SYNC_VERIFY_MAX_SIZE = env_int("SYNC_VERIFY_MAX_SIZE", 16 * 1024 * 1024, minimum=0)
UPLOAD_GRACE_HOURS = env_int("UPLOAD_GRACE_HOURS", 24, minimum=1)
# Days a xorb is kept once every file using it is materialised as a whole blob (0: forever; dropping loses dedup only).
XET_XORB_RETENTION_DAYS = env_int("XET_XORB_RETENTION_DAYS", 0, minimum=0)
# Xet CAS (api/cas): token lifetime (the client refreshes only by time), xorb body cap, dedup-shard key lifetime.
XET_TOKEN_TTL = env_int("XET_TOKEN_TTL", 3600, minimum=300)
XET_MAX_XORB_BYTES = env_int("XET_MAX_XORB_BYTES", 66 * 1024 * 1024, minimum=1024 * 1024)
XET_DEDUP_SHARD_TTL = env_int("XET_DEDUP_SHARD_TTL", 86400, minimum=60)
MAX_FILE_SIZE = env_int("MAX_FILE_SIZE", 500 * 1024**3, minimum=1)
# Largest file the portal's browser upload form accepts; bigger files go through the hf CLI.
PORTAL_UPLOAD_MAX_BYTES = env_int("PORTAL_UPLOAD_MAX_BYTES", 10 * 1024 * 1024, minimum=1)

# --- Celery -------------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
_broker_scheme = urlparse(CELERY_BROKER_URL).scheme
if _broker_scheme not in {"filesystem", "redis", "rediss", "amqp", "amqps", "memory"}:
    raise ConfigError("CELERY_BROKER_URL must be a redis://, amqp:// or filesystem:// URL")
if _broker_scheme == "filesystem":
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif _broker_scheme in {"redis", "rediss"}:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Bounded waits when Redis stalls: sending a task gives up within seconds (the job's row stays due and the
        # sweeper sends it again), instead of blocking the request that committed.
        "socket_timeout": 2,
        "socket_connect_timeout": 2,
        # A message a worker took and never acknowledged (the worker died) comes back after this long. The sweeper
        # (registry.sweep_jobs) re-sends such jobs within two minutes anyway; this only has to outlast the longest
        # job, so a live worker's message is not handed to a second worker while it runs.
        "visibility_timeout": 4 * 3600,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing inside a request: one quick retry, then the error is logged and the sweeper sends the job later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "validation"
CELERY_TASK_ROUTES = {
    "registry.inference.*": {"queue": "gpu"},
    "registry.*": {"queue": "validation"},
}
CELERY_BEAT_SCHEDULE: dict = {}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# --- logging ------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Content-Security-Policy (developer portal): no inline script on any portal page ------------
MIDDLEWARE.append("portal.middleware.ContentSecurityPolicyMiddleware")

# --- uploads: storage GC schedule and API rate limits ----------------------------------------
CELERY_BEAT_SCHEDULE["registry.storage_gc"] = {"task": "registry.storage_gc", "schedule": 3600.0}
# Reliable dispatch (registry/services/jobs.py): jobs whose message or worker was lost are sent again.
CELERY_BEAT_SCHEDULE["registry.sweep_jobs"] = {"task": "registry.sweep_jobs", "schedule": 30.0}
# Requests per minute per API key (or per IP when anonymous), fixed one-minute windows; 0 turns a limit off.
# `resolve` (file downloads) has its own, larger budget: snapshot_download makes two calls per file.
RATE_LIMIT_API_PER_MINUTE = env_int("RATE_LIMIT_API_PER_MINUTE", 1000, minimum=0)
RATE_LIMIT_RESOLVE_PER_MINUTE = env_int("RATE_LIMIT_RESOLVE_PER_MINUTE", 5000, minimum=0)
# Discussion attachments (POST /uploads): uploads per minute per user (0: no limit), and each user's total bytes.
ATTACHMENT_UPLOADS_PER_MINUTE = env_int("ATTACHMENT_UPLOADS_PER_MINUTE", 20, minimum=0)
ATTACHMENT_QUOTA_BYTES = env_int("ATTACHMENT_QUOTA_BYTES", 1024 * 1024 * 1024, minimum=0)

# --- checkpoint validation: re-queue runs a dead worker left behind --------------------------
# A run is stale once its worker has reported no progress for this long (progress is saved every 8 MB).
VALIDATION_STALE_MINUTES = env_int("VALIDATION_STALE_MINUTES", 15, minimum=1)
CELERY_BEAT_SCHEDULE["registry.requeue_stale_validation"] = {
    "task": "registry.requeue_stale_validation", "schedule": 300.0,
}
# Named enums in the OpenAPI schema (several serializers have a `status` field with other choices).
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update({
    "ValidationStatusEnum": "registry.models.ValidationStatus",
    "CheckVerdictEnum": ["passed", "warning", "failed"],
})

# --- quick inference checks: where a gpu-queue worker materialises a commit's files --------------
INFERENCE_CACHE_DIR = Path(env_str("INFERENCE_CACHE_DIR", str(VAR_DIR / "inference-cache"))).resolve()
# Soft time limit of one check (Celery; the hard limit is 120 s later): past it the check ends `failed`.
INFERENCE_TIME_LIMIT_SECONDS = env_int("INFERENCE_TIME_LIMIT_SECONDS", 1800, minimum=10)
# A pending check no worker took for this long is sent again (broker outage); a running one whose worker
# said nothing for longer than the hard time limit lost its worker and is re-queued, up to MAX_ATTEMPTS.
INFERENCE_STALE_MINUTES = env_int("INFERENCE_STALE_MINUTES", 15, minimum=1)
INFERENCE_MAX_ATTEMPTS = env_int("INFERENCE_MAX_ATTEMPTS", 3, minimum=1)
# Memory a model may need (bytes, estimated from its safetensors headers before loading); larger ones are
# skipped. 0: automatic (CPU: half the RAM available at check time; CUDA: the device's free memory).
INFERENCE_MAX_MODEL_BYTES = env_int("INFERENCE_MAX_MODEL_BYTES", 0, minimum=0)
CELERY_BEAT_SCHEDULE["registry.requeue_stale_inference"] = {
    "task": "registry.requeue_stale_inference", "schedule": 300.0,
}
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]["InferenceStatusEnum"] = "registry.models.InferenceStatus"

# --- releases: sign-off and signing ----------------------------------------------------------------
# Consortium organisations that must approve a release before it is published (the requester's own organisation
# can't be the only one when more than one is required).
RELEASE_APPROVALS_REQUIRED = env_int("RELEASE_APPROVALS_REQUIRED", 1, minimum=1)
# Ed25519 private key (PEM, PKCS#8) that signs release manifests; RELEASE_SIGNING_KEY_FILE works too. Unset with
# DEBUG on: a key is generated once under VAR_DIR. Unset with DEBUG off: publishing fails until it is set.
RELEASE_SIGNING_KEY = env_str("RELEASE_SIGNING_KEY")

# --- release mirrors: pushing published releases to another Hugging Face-compatible hub --------------------
# Encrypts the target hubs' tokens at rest (any string; derived into a Fernet key). Unset: derived from SECRET_KEY,
# so rotating SECRET_KEY then needs the mirror tokens set again.
MIRROR_ENCRYPTION_KEY = env_str("MIRROR_ENCRYPTION_KEY")
# Push large files with Git LFS instead of Xet (the public Hub accepts both; hubs without Xet need LFS).
MIRROR_DISABLE_XET = env_bool("MIRROR_DISABLE_XET", True)

# --- webhooks -----------------------------------------------------------------------------------------------
# The delivery log keeps 30 days (registry.services.webhooks.DELIVERIES_KEPT_DAYS).
CELERY_BEAT_SCHEDULE["registry.prune_webhook_deliveries"] = {"task": "registry.prune_webhook_deliveries",
                                                             "schedule": 3600.0}
# Deliver to private, loopback and link-local addresses. Off in production (an SSRF guard: a webhook could
# otherwise reach the hub's own network); on with DEBUG so the embedded hub delivers to 127.0.0.1.
WEBHOOKS_ALLOW_PRIVATE = env_bool("WEBHOOKS_ALLOW_PRIVATE", DEBUG)
