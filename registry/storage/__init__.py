"""The blob-store boundary: nothing outside this package talks to boto3 or the blob directory."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from registry.storage.base import BlobStore, ObjectInfo, ObjectMissing, StorageError, blob_key

__all__ = ["BlobStore", "ObjectInfo", "ObjectMissing", "StorageError", "blob_key", "get_store", "reset_store"]


@cache
def get_store() -> BlobStore:
    if settings.BLOB_STORE == "s3":
        from registry.storage.s3 import S3BlobStore

        return S3BlobStore.from_settings()
    from registry.storage.local import LocalBlobStore

    return LocalBlobStore(root=settings.BLOB_LOCAL_ROOT)


def reset_store() -> None:
    """Forget the configured store (tests switch BLOB_STORE with override_settings)."""
    get_store.cache_clear()
