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
    from registry.storage.local import URL_PREFIX, LocalBlobStore

    # With a user-content origin, download URLs are absolute URLs there (uploads stay on the hub).
    get_prefix = f"{settings.USER_CONTENT_URL}{URL_PREFIX}" if settings.USER_CONTENT_URL else URL_PREFIX
    return LocalBlobStore(root=settings.BLOB_LOCAL_ROOT, get_url_prefix=get_prefix)


def reset_store() -> None:
    """Forget the configured store (tests switch BLOB_STORE with override_settings)."""
    get_store.cache_clear()
