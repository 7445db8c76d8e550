from django.urls import path

from api.v1 import views

app_name = "v1"

urlpatterns = [
    path("models", views.ModelListView.as_view(), name="model-list"),
    path("models/<str:namespace>/<str:name>", views.ModelDetailView.as_view(), name="model-detail"),
]

# --- developer portal: license acceptance for automation ---
from api.v1 import licenses  # noqa: E402

urlpatterns.append(
    path("models/<str:namespace>/<str:name>/license/accept", licenses.LicenseAcceptView.as_view(),
         name="license-accept"),
)

# --- checkpoint validation ---
from api.v1 import validation  # noqa: E402

urlpatterns += [
    path("models/<str:namespace>/<str:name>/validation", validation.ValidationView.as_view(),
         name="model-validation"),
    path("models/<str:namespace>/<str:name>/validation/rerun", validation.ValidationRerunView.as_view(),
         name="model-validation-rerun"),
]

# --- quick inference checks ---
from api.v1 import inference  # noqa: E402

urlpatterns.append(
    path("models/<str:namespace>/<str:name>/inference-checks", inference.InferenceChecksView.as_view(),
         name="model-inference-checks"),
)

# --- releases ---
from api.v1 import releases  # noqa: E402

_release = "models/<str:namespace>/<str:name>/releases/<str:version>"
urlpatterns += [
    path("models/<str:namespace>/<str:name>/releases", releases.ReleaseListView.as_view(), name="model-releases"),
    path(_release, releases.ReleaseDetailView.as_view(), name="model-release"),
    path(f"{_release}/manifest", releases.ReleaseManifestView.as_view(), name="model-release-manifest"),
    path(f"{_release}/manifest.sig", releases.ReleaseSignatureView.as_view(), name="model-release-signature"),
] + [
    path(f"{_release}/{action}", view.as_view(), name=f"model-release-{action}")
    for action, view in releases.ACTION_VIEWS.items()
]
