"""Storage GC: stale, unreferenced blobs go; anything referenced or recently touched stays."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from registry.models import AuditEvent, Blob, BlobUpload
from registry.services.blobs import blob_ingest_stream, blob_register
from registry.services.commits import AddBlob, commit_create
from registry.services.repos import repo_delete
from registry.services.storage_gc import storage_gc_run, upload_gc_run
from registry.services.uploads import lfs_batch_plan
from registry.storage import get_store

MiB = 1024 * 1024


def stored_blob(data: bytes, *, repo=None, age_hours: float = 0) -> Blob:  # noqa: ANN001
    blob = blob_ingest_stream(stream=io.BytesIO(data), repo=repo)
    return age(blob, age_hours)


def age(blob: Blob, hours: float) -> Blob:
    then = timezone.now() - timedelta(hours=hours)
    Blob.objects.filter(pk=blob.pk).update(
        created_at=then,
        uploaded_at=then if blob.uploaded_at else None,
        verified_at=then if blob.verified_at else None,
    )
    blob.refresh_from_db()
    return blob


@pytest.fixture
def gc_store(blob_store):
    return blob_store


def test_deletes_stale_uncommitted_uploads_and_their_bytes(db, gc_store, settings):
    settings.UPLOAD_GRACE_HOURS = 24
    stale = stored_blob(b"uploaded, never committed", age_hours=25)
    report = storage_gc_run()
    assert report.deleted == [stale.sha256]
    assert not Blob.objects.filter(pk=stale.pk).exists()
    assert get_store().head(stale.storage_key) is None
    event = AuditEvent.objects.get(action="storage.gc")
    assert event.metadata["deleted"] == 1
    assert event.metadata["freed_bytes"] == stale.size


def test_deletes_pending_registrations_that_never_got_bytes(db, gc_store):
    pending = age(blob_register(sha256="a" * 64, size=5), 48)
    assert storage_gc_run().deleted == [pending.sha256]
    assert not Blob.objects.exists()


def test_keeps_blobs_inside_the_grace_period(db, gc_store, settings):
    settings.UPLOAD_GRACE_HOURS = 24
    fresh = stored_blob(b"uploaded an hour ago", age_hours=1)
    registered = blob_register(sha256="b" * 64, size=3)
    assert storage_gc_run().deleted == []
    assert Blob.objects.filter(pk__in=[fresh.pk, registered.pk]).count() == 2
    assert get_store().head(fresh.storage_key) is not None
    assert not AuditEvent.objects.filter(action="storage.gc").exists()


def test_keeps_old_blobs_that_a_commit_references(personas, make_repo, gc_store):
    repo = make_repo()
    blob = stored_blob(b"committed weights", repo=repo)
    commit_create(
        actor=personas.member,
        repo=repo,
        title="w",
        operations=[AddBlob("w.safetensors", blob.sha256, blob.size)],
    )
    age(blob, 1000)
    assert storage_gc_run().deleted == []
    assert get_store().head(blob.storage_key) is not None


def test_deletes_blobs_left_behind_by_a_deleted_repo(personas, make_repo, gc_store):
    repo = make_repo()
    shared = stored_blob(b"shared by two repos", repo=repo)
    only_here = stored_blob(b"only in the deleted repo", repo=repo)
    other = make_repo("other")
    for target, blobs in ((repo, [shared, only_here]), (other, [shared])):
        commit_create(
            actor=personas.member,
            repo=target,
            title="w",
            operations=[AddBlob(f"{b.sha256[:8]}.bin", b.sha256, b.size) for b in blobs],
        )
    repo_delete(actor=personas.owner, repo=repo)
    age(shared, 100)
    age(only_here, 100)
    assert storage_gc_run().deleted == [only_here.sha256]
    assert Blob.objects.filter(pk=shared.pk).exists()


def age_upload(pk: int, hours: float) -> None:
    BlobUpload.objects.filter(pk=pk).update(created_at=timezone.now() - timedelta(hours=hours))


def test_re_batching_an_old_upload_restarts_its_grace_period(personas, make_repo, gc_store):
    repo = make_repo()
    [plan] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[{"oid": "c" * 64, "size": 7}])
    age_upload(plan.upload_pk, 100)
    lfs_batch_plan(actor=personas.member, repo=repo, objects=[{"oid": "c" * 64, "size": 7}])
    assert upload_gc_run() == 0
    assert BlobUpload.objects.filter(pk=plan.upload_pk).exists()


def test_drops_stale_uploads_their_staged_bytes_and_dangling_multipart_uploads(
        personas, make_repo, gc_store, settings):
    settings.LFS_MULTIPART_THRESHOLD = 5 * MiB
    settings.LFS_MULTIPART_CHUNK_SIZE = 5 * MiB
    repo = make_repo()
    data_sha = hashlib.sha256(b"never finished").hexdigest()
    [plan] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[{"oid": data_sha, "size": 6 * MiB}])
    [small] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[{"oid": "e" * 64, "size": 3}])
    staged = BlobUpload.objects.get(pk=small.upload_pk).staging_key
    get_store().put_stream(staged, io.BytesIO(b"abc"), size=3)
    key = BlobUpload.objects.get(pk=plan.upload_pk).staging_key
    age_upload(plan.upload_pk, 100)
    age_upload(small.upload_pk, 100)
    assert upload_gc_run() == 2
    assert not BlobUpload.objects.exists()
    assert get_store().head(staged) is None
    from registry.storage import StorageError

    with pytest.raises(StorageError):
        get_store().multipart_list_parts(key, plan.upload_id)


def test_keeps_uploads_being_hashed_whatever_their_age(personas, make_repo, gc_store):
    repo = make_repo()
    [plan] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[{"oid": "f" * 64, "size": 3}])
    BlobUpload.objects.filter(pk=plan.upload_pk).update(state=BlobUpload.State.UPLOADED)
    age_upload(plan.upload_pk, 1000)
    assert upload_gc_run() == 0


def test_a_run_is_bounded_by_its_limit(db, gc_store):
    for n in range(3):
        age(blob_register(sha256=f"{n}" * 64, size=1), 100)
    assert len(storage_gc_run(limit=2).deleted) == 2
    assert len(storage_gc_run(limit=2).deleted) == 1


def test_the_hourly_task_runs_the_gc(db, gc_store, settings):
    from registry.tasks import storage_gc

    assert settings.CELERY_BEAT_SCHEDULE["registry.storage_gc"]["task"] == "registry.storage_gc"
    age(blob_register(sha256="d" * 64, size=1), 100)
    result = storage_gc.run()
    assert {key: result[key] for key in ("deleted", "freed_bytes", "failed")} == {"deleted": 1, "freed_bytes": 0,
                                                                                 "failed": 0}
    assert result["xet"]["xorbs"] == 0 and result["xet_requeued"] == 0  # the same hourly task sweeps Xet data
    assert result["uploads_dropped"] == 0 and result["uploads_requeued"] == 0  # and LFS uploads
