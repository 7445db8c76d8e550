"""registry.generation: which statements move the shared number, and what the memo hands out."""

from __future__ import annotations

import pytest

from registry import generation
from registry.models import ModelRepo

BUMPS = [
    'INSERT INTO "registry_blob" ("sha256", "size") VALUES (%s, %s)',
    'UPDATE "registry_modelrepo" SET "private" = %s WHERE "registry_modelrepo"."id" = %s',
    'UPDATE "registry_modelrepo" SET "downloads" = ("registry_modelrepo"."downloads" + %s), "private" = %s '
    'WHERE "registry_modelrepo"."id" = %s',
    'DELETE FROM "registry_membership" WHERE "registry_membership"."id" IN (%s)',
    'UPDATE "registry_apikey" SET "revoked_at" = %s WHERE "registry_apikey"."id" = %s',
    'TRUNCATE "registry_branch", "registry_tag" RESTART IDENTITY',
    '  update "auth_user" set "is_active" = false where id = 1',
    "UPDATE registry_modelrepo SET gating = %s WHERE id = %s",  # raw SQL, names unquoted
]
QUIET = [
    'SELECT "registry_blob"."id" FROM "registry_blob" WHERE "registry_blob"."sha256" = %s',
    'UPDATE "registry_modelrepo" SET "downloads" = ("registry_modelrepo"."downloads" + %s) '
    'WHERE "registry_modelrepo"."id" = %s',
    'UPDATE "registry_apikey" SET "last_used_at" = %s WHERE "registry_apikey"."id" = %s',
    'UPDATE "auth_user" SET "last_login" = %s WHERE "auth_user"."id" = %s',
    'INSERT INTO "registry_userdownload" ("repo_id", "commit_id") VALUES (%s, %s) ON CONFLICT DO NOTHING',
    'INSERT INTO "registry_auditevent" ("action") VALUES (%s)',
    'SAVEPOINT "s1"',
    "INSERT INTO registry_downloadday (repo_id, day, \"count\") VALUES (%s, %s, 1) ON CONFLICT (repo_id, day) "
    "DO UPDATE SET \"count\" = registry_downloadday.\"count\" + 1",
]


@pytest.mark.parametrize("sql", BUMPS)
def test_writes_to_watched_tables_bump(sql: str) -> None:
    assert generation.statement_bumps(sql)


@pytest.mark.parametrize("sql", QUIET)
def test_reads_counters_and_other_tables_do_not(sql: str) -> None:
    assert not generation.statement_bumps(sql)


def test_memo_hands_out_copies_and_reloads_after_a_write(personas, make_repo, settings, tmp_path) -> None:  # noqa: ANN001
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                   "LOCATION": str(tmp_path / "cache")}}
    repo = make_repo("tiny")
    loads = []

    def load() -> ModelRepo:
        loads.append(1)
        return ModelRepo.objects.select_related("owner_org").get(pk=repo.pk)

    first = generation.memoised(("t", repo.pk), load)
    first.private = True
    first.owner_org.name = "changed in one request"
    second = generation.memoised(("t", repo.pk), load)
    assert len(loads) == 1
    assert second.private is False and second.owner_org.name == "Acme AI"  # the first caller's edits stay its own
    ModelRepo.objects.filter(pk=repo.pk).update(description="new")
    third = generation.memoised(("t", repo.pk), load)
    assert len(loads) == 2 and third.description == "new"


def test_nothing_is_memoised_with_a_per_process_cache(personas, make_repo) -> None:  # noqa: ANN001
    """The test settings' LocMemCache can't reach other processes: every call loads."""
    repo = make_repo("tiny")
    loads = []
    for _ in range(2):
        generation.memoised(("t", repo.pk), lambda: loads.append(1))
    assert generation.current() is None and len(loads) == 2
