"""Download records: the repo's counter (one download per snapshot, as the Hugging Face Hub counts them), a daily
count for the model page's chart, and per-user rows for signed-in downloaders.

The caller decides which request counts (see selectors.hf.counts_as_download). Counters are single UPDATEs with F
expressions (no row lock, no read-modify-write race); no AuditEvent (a download changes no state anyone audits, and
auditing every one would cost a row per request on the hub's hottest route).
"""

from __future__ import annotations

from django.db import connection
from django.db.models import F
from django.utils import timezone

from registry.models import DownloadDay, ModelRepo, UserDownload

# One statement each (PostgreSQL and SQLite both speak INSERT ... ON CONFLICT): resolve's query budget is tight.
_DAY_UPSERT = (
    'INSERT INTO registry_downloadday (repo_id, day, "count") VALUES (%s, %s, 1) '
    'ON CONFLICT (repo_id, day) DO UPDATE SET "count" = registry_downloadday."count" + 1'
)
_USER_UPSERT = (
    "INSERT INTO registry_userdownload (repo_id, commit_id, user_id, api_key_id, files, ip, first_at, last_at) "
    "VALUES (%s, %s, %s, %s, 1, %s, %s, %s) "
    "ON CONFLICT (repo_id, commit_id, user_id) DO UPDATE SET files = registry_userdownload.files + 1, "
    "api_key_id = excluded.api_key_id, ip = excluded.ip, last_at = excluded.last_at"
)
assert DownloadDay._meta.db_table == "registry_downloadday" and UserDownload._meta.db_table == "registry_userdownload"


def repo_download_record(*, repo_id: int) -> None:
    """One counted download: the repo's total and today's count."""
    ModelRepo.objects.filter(pk=repo_id).update(downloads=F("downloads") + 1)
    with connection.cursor() as cursor:
        cursor.execute(_DAY_UPSERT, [repo_id, timezone.now().date()])


def user_download_record(*, repo_id: int, commit_id: int, user_id: int, api_key_id: int | None,
                         ip: str | None) -> None:
    """A signed-in user fetched a file of this commit (GET, not HEAD)."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_USER_UPSERT, [repo_id, commit_id, user_id, api_key_id, ip, now, now])
