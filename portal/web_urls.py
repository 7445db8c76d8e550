"""Browser pages. Mounted after the HF-compatible routes, whose /api/… and /{repo}/resolve/… win.

Revisions may contain '/', so tree/blob routes take the rest of the path; the views split it at the
longest known branch or tag (links quote the revision as one segment, as huggingface_hub does).
"""

from django.urls import include, path, re_path

from portal.views import models, orgs, tokens

NS = r"(?P<namespace>[A-Za-z0-9][A-Za-z0-9._-]*)"
NAME = r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*?)"
SLUG = r"(?P<slug>[A-Za-z0-9][A-Za-z0-9._-]*)"

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("models", models.model_list, name="models"),
    path("settings/tokens", tokens.tokens, name="tokens"),
    path("settings/tokens/<int:pk>/revoke", tokens.token_revoke, name="token-revoke"),
    re_path(rf"^{SLUG}/access-requests$", orgs.access_requests, name="org-access-requests"),
    re_path(rf"^{NS}/{NAME}/tree/(?P<rest>.+)$", models.model_tree, name="model-tree"),
    re_path(rf"^{NS}/{NAME}/blob/(?P<rest>.+)$", models.model_blob, name="model-blob"),
    re_path(rf"^{NS}/{NAME}/commits/(?P<rest>.+)$", models.model_commits, name="model-commits"),
    re_path(rf"^{NS}/{NAME}/accept$", models.model_accept, name="model-accept"),
    re_path(rf"^{NS}/{NAME}/checks(?:/(?P<rest>.+))?$", models.model_checks, name="model-checks"),
    re_path(rf"^{NS}/{NAME}$", models.model_detail, name="model"),
    re_path(rf"^{SLUG}$", orgs.namespace, name="org"),
]
