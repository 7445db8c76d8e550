from django.urls import path, register_converter

from api.v1 import views
from registry.names import NameConverter, VersionConverter

# Repo names and release versions as the one name policy (registry.names) has them: anything else is a 404
# before a view runs, as on the HF routes and the pages.
register_converter(NameConverter, "hubname")
register_converter(VersionConverter, "version")

app_name = "v1"

urlpatterns = [
    path("models", views.ModelListView.as_view(), name="model-list"),
    path("models/<hubname:namespace>/<hubname:name>", views.ModelDetailView.as_view(), name="model-detail"),
]

# --- developer portal: license acceptance for automation ---
from api.v1 import licenses  # noqa: E402

urlpatterns.append(
    path("models/<hubname:namespace>/<hubname:name>/license/accept", licenses.LicenseAcceptView.as_view(),
         name="license-accept"),
)

# --- checkpoint validation ---
from api.v1 import validation  # noqa: E402

urlpatterns += [
    path("models/<hubname:namespace>/<hubname:name>/validation", validation.ValidationView.as_view(),
         name="model-validation"),
    path("models/<hubname:namespace>/<hubname:name>/validation/rerun", validation.ValidationRerunView.as_view(),
         name="model-validation-rerun"),
]

# --- quick inference checks ---
from api.v1 import inference  # noqa: E402

urlpatterns.append(
    path("models/<hubname:namespace>/<hubname:name>/inference-checks", inference.InferenceChecksView.as_view(),
         name="model-inference-checks"),
)

# --- releases ---
from api.v1 import releases  # noqa: E402

_model = "models/<hubname:namespace>/<hubname:name>"
_release = f"{_model}/releases/<version:version>"
urlpatterns += [
    path(f"{_model}/releases", releases.ReleaseListView.as_view(), name="model-releases"),
    path(_release, releases.ReleaseDetailView.as_view(), name="model-release"),
    path(f"{_release}/manifest", releases.ReleaseManifestView.as_view(), name="model-release-manifest"),
    path(f"{_release}/manifest.sig", releases.ReleaseSignatureView.as_view(), name="model-release-signature"),
] + [
    path(f"{_release}/{action}", view.as_view(), name=f"model-release-{action}")
    for action, view in releases.ACTION_VIEWS.items()
]
