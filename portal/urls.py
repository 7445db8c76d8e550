from django.contrib import admin
from django.urls import include, path
from django.utils.functional import lazy
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api.cas.views import telemetry as cas_telemetry
from portal.views.health import healthz, readyz
from portal.views.home import home
from portal.views.icons import favicon, webmanifest
from portal.views.signing import release_signing_key, security_txt
from registry.site import site_name

# Read on every admin page, so a lazy string follows SITE_NAME (and the active language for the default name).
admin.site.site_header = lazy(lambda: f"{site_name()} administration", str)()
admin.site.site_title = lazy(lambda: f"{site_name()} admin", str)()

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("favicon.ico", favicon, name="favicon"),
    path("site.webmanifest", webmanifest, name="webmanifest"),
    path(".well-known/release-signing-key", release_signing_key, name="release-signing-key"),
    path(".well-known/security.txt", security_txt, name="security-txt"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("api.v1.urls")),
    path("_blobs/", include("api.blobstore_urls")),  # the local blob store's signed URLs
    path("cas/", include("api.cas.urls")),  # the Xet CAS API (casUrl of the xet-*-token routes)
    path("v1/telemetry", cas_telemetry, name="xet-telemetry"),  # hf_xet posts it to the origin, without /cas
    # The HF-compatible routes (/api/models…, /{namespace}/{name}/resolve/…) before the browser pages,
    # whose /{namespace}/{name} pattern would otherwise shadow /api/models.
    path("", include("api.git.urls")),  # git smart HTTP: clone, fetch, push (issue 21)
    path("", include("api.hf.urls")),
    path("", include("portal.web_urls")),
]

# A dependency that failed outside a view (in a middleware) is a 503 too; anything else is the usual 500 page.
handler500 = "portal.views.health.server_error"
