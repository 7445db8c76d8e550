"""Create the S3 bucket when BLOB_STORE=s3 (docker compose runs it before the web process starts)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from registry.storage import StorageError, get_store


class Command(BaseCommand):
    help = "Create the S3 bucket named by S3_BUCKET if it does not exist (nothing to do for the local store)."

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        if settings.BLOB_STORE != "s3":
            self.stdout.write(f"BLOB_STORE={settings.BLOB_STORE}: no bucket to create.")
            return
        store = get_store()
        try:
            created = store.ensure_bucket()  # type: ignore[attr-defined]  # S3BlobStore only
        except StorageError as exc:
            raise CommandError(f"cannot reach or create bucket {settings.S3_BUCKET!r}: {exc}") from exc
        verb = "Created" if created else "Found"
        self.stdout.write(f"{verb} bucket {settings.S3_BUCKET!r} at {settings.S3_ENDPOINT_URL or 'AWS'}.")
