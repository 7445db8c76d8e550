"""Download records: the daily counter and per-user rows survive repeats and concurrent first writes."""

from __future__ import annotations

from django.utils import timezone

from registry.models import DownloadDay, ModelRepo, UserDownload
from registry.services.commits import AddInline, commit_create
from registry.services.downloads import repo_download_record, user_download_record


def test_counted_downloads_add_to_the_total_and_to_today(db, make_repo):
    repo = make_repo("counted")
    for _ in range(3):
        repo_download_record(repo_id=repo.pk)
    assert ModelRepo.objects.get(pk=repo.pk).downloads == 3
    day = DownloadDay.objects.get(repo=repo)
    assert (day.day, day.count) == (timezone.now().date(), 3)


def test_user_downloads_are_one_row_per_commit_and_user(personas, make_repo):
    repo = make_repo("per-user")
    commit = commit_create(actor=personas.member, repo=repo, title="x", operations=[AddInline("config.json", b"{}")])
    alice = personas.outsider
    user_download_record(repo_id=repo.pk, commit_id=commit.pk, user_id=alice.pk, api_key_id=None, ip="10.0.0.1")
    user_download_record(repo_id=repo.pk, commit_id=commit.pk, user_id=alice.pk, api_key_id=None, ip="10.0.0.2")
    row = UserDownload.objects.get(repo=repo, commit=commit, user=alice)
    assert row.files == 2 and row.ip == "10.0.0.2" and row.last_at >= row.first_at
