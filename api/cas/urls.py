"""The Xet CAS API, mounted at /cas/ by portal/urls.py (the casUrl handed out by the xet-*-token routes).

Routes the client may call that answer 404 so that it falls back: POST /v2/shards (→ /v1/shards) and
GET /v2/reconstructions (→ /v1/reconstructions). Everything else unknown under /cas is a JSON 404 too.
"""

from django.urls import path, re_path

from api.cas import views

urlpatterns = [
    path("v1/xorbs/<str:prefix>/<str:hash_hex>", views.xorb_upload, name="cas-xorb"),
    path("v1/xorb-grants/<str:prefix>/<str:hash_hex>", views.xorb_grant, name="cas-xorb-grant"),
    path("v1/xorb-commits/<str:prefix>/<str:hash_hex>/grant/<str:grant_id>", views.xorb_commit,
         name="cas-xorb-commit"),
    path("v1/shards", views.shard_upload, name="cas-shards"),
    path("v1/reconstructions/<str:file_hash>", views.reconstruction, name="cas-reconstruction"),
    path("v1/chunks/<str:prefix>/<str:chunk_hash>", views.dedup_query, name="cas-chunks"),
    path("v1/telemetry", views.telemetry, name="cas-telemetry"),
    re_path(r"^.*$", views.not_found, name="cas-not-found"),
]
