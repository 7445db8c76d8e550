"""Mounted at /_blobs/ by portal/urls.py: the local blob store's presigned URLs (registry.storage.local)."""

from django.urls import path

from api.blobstore import blob_get, blob_part, blob_put

urlpatterns = [
    path("get/<str:token>", blob_get, name="blobstore-get"),
    path("put/<str:token>", blob_put, name="blobstore-put"),
    path("part/<str:token>", blob_part, name="blobstore-part"),
]
