"""Upload decisions: where files go (preupload), LFS batch plans, and checks after the bytes land."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.test import override_settings

from registry.exceptions import BlobMissing, InvalidInput, PermissionDenied, RepoNotFound, TooLarge
from registry.hashing import git_blob_sha1
from registry.models import AuditEvent, Blob, BlobUpload, Branch, RepoBlob
from registry.services.blobs import blob_ingest_stream
from registry.services.commits import AddBlob, AddInline, commit_create
from registry.services.uploads import (
    PreuploadFile,
    commit_from_upload,
    inline_content_decode,
    lfs_batch_plan,
    lfs_multipart_complete,
    lfs_upload_verify,
    multipart_chunk_size,
    preupload_plan,
    upload_mode_decide,
)
from registry.storage import blob_key, get_store
from tests.fixtures.personas import make_key

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(key: str, data: bytes) -> None:
    get_store().put_stream(key, io.BytesIO(data), size=len(data))


# --- upload modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "size", "sample", "mode"),
    [
        ("README.md", 100, b"# hello", "regular"),
        ("config.json", 500, b'{"a": 1}', "regular"),
        ("sub/dir/notes.txt", 10, b"hi", "regular"),
        ("model.safetensors", 100, b"{}", "lfs"),
        ("weights/pytorch_model.bin", 100, b"x", "lfs"),
        ("ckpt.pt", 10, b"x", "lfs"),
        ("ckpt.pth", 10, b"x", "lfs"),
        ("model.ckpt", 10, b"x", "lfs"),
        ("model.gguf", 10, b"x", "lfs"),
        ("model.onnx", 10, b"x", "lfs"),
        ("tf_model.h5", 10, b"x", "lfs"),
        ("flax_model.msgpack", 10, b"x", "lfs"),
        ("data.pkl", 10, b"x", "lfs"),
        ("archive.tar.gz", 10, b"x", "lfs"),
        ("runs/events.out.tfevents.1", 10, b"x", "lfs"),
        ("blob.dat", 10, b"ab\x00cd", "lfs"),
        ("big.txt", 2 * MiB, b"plain text", "lfs"),
        ("empty.safetensors", 0, b"", "regular"),
    ],
)
def test_upload_mode_sends_weights_binaries_and_large_files_to_lfs(path, size, sample, mode):
    assert upload_mode_decide(path=path, size=size, sample=sample) == mode


def test_upload_mode_follows_extra_gitattributes_patterns():
    assert upload_mode_decide(path="data/x.custom", size=10, sample=b"x", patterns=["*.custom"]) == "lfs"
    assert upload_mode_decide(path="data/x.custom", size=10, sample=b"x") == "regular"


@override_settings(INLINE_FILE_MAX_SIZE=100)
def test_upload_mode_threshold_is_the_inline_setting():
    assert upload_mode_decide(path="a.txt", size=100, sample=b"x") == "regular"
    assert upload_mode_decide(path="a.txt", size=101, sample=b"x") == "lfs"


def test_preupload_reports_existing_oids_so_unchanged_files_are_skipped(personas, make_repo, local_store):
    repo = make_repo()
    weights = b"\x00weights" * 100
    blob = blob_ingest_stream(stream=io.BytesIO(weights), repo=repo)
    commit_create(
        actor=personas.member,
        repo=repo,
        title="add",
        operations=[
            AddInline("config.json", b'{"a": 1}'),
            AddBlob("model.safetensors", blob.sha256, blob.size),
        ],
    )
    answers = preupload_plan(
        actor=personas.member,
        repo=repo,
        revision="main",
        files=[
            PreuploadFile("config.json", 8, b'{"a": 1}'),
            PreuploadFile("model.safetensors", len(weights), weights[:512]),
            PreuploadFile("new.txt", 3, b"new"),
        ],
    )
    by_path = {a.path: a for a in answers}
    assert by_path["config.json"].upload_mode == "regular"
    assert by_path["config.json"].oid == git_blob_sha1(b'{"a": 1}')
    assert by_path["model.safetensors"].upload_mode == "lfs"
    assert by_path["model.safetensors"].oid == blob.sha256
    assert by_path["new.txt"].oid is None


def test_preupload_honours_the_repos_gitattributes(personas, make_repo):
    repo = make_repo()
    commit_create(
        actor=personas.member,
        repo=repo,
        title="attrs",
        operations=[AddInline(".gitattributes", b"*.vocab filter=lfs diff=lfs merge=lfs -text\n")],
    )
    [answer] = preupload_plan(
        actor=personas.member, repo=repo, revision="main", files=[PreuploadFile("tok.vocab", 10, b"abc")]
    )
    assert answer.upload_mode == "lfs"


def test_preupload_on_a_missing_branch_has_no_oids(personas, make_repo):
    repo = make_repo()
    [answer] = preupload_plan(
        actor=personas.member, repo=repo, revision="nope", files=[PreuploadFile("a.txt", 1, b"a")]
    )
    assert answer.oid is None and answer.upload_mode == "regular"


@pytest.mark.parametrize(
    ("who", "error"),
    [("reader", PermissionDenied), ("outsider", PermissionDenied), ("anonymous", PermissionDenied)],
)
def test_preupload_needs_write_access(personas, make_repo, who, error):
    repo = make_repo()
    with pytest.raises(error):
        preupload_plan(actor=getattr(personas, who), repo=repo, revision="main", files=[])


def test_preupload_on_private_repo_is_not_found_for_outsiders(personas, make_repo):
    repo = make_repo(private=True)
    for who in ("outsider", "anonymous"):
        with pytest.raises(RepoNotFound):
            preupload_plan(actor=getattr(personas, who), repo=repo, revision="main", files=[])


def test_read_scoped_key_cannot_plan_uploads(personas, make_repo):
    from registry.services.keys import api_key_authenticate

    repo = make_repo()
    key = api_key_authenticate(secret=make_key(personas.member, "read"))
    with pytest.raises(PermissionDenied):
        preupload_plan(actor=personas.member, repo=repo, revision="main", files=[], api_key=key)


# --- LFS batch ------------------------------------------------------------------------------------


def upload_of(plan) -> BlobUpload:
    return BlobUpload.objects.get(pk=plan.upload_pk)


def test_batch_plans_new_objects_at_a_staging_key_of_their_own(personas, make_repo, local_store):
    repo = make_repo()
    data = b"new weights"
    [plan] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[{"oid": sha(data), "size": len(data)}])
    assert plan.kind == "basic"
    assert plan.upload_url
    upload = upload_of(plan)
    assert (upload.repo, upload.user, upload.sha256, upload.state) == (repo, personas.member, sha(data), "open")
    assert upload.staging_key != blob_key(sha(data))
    assert not Blob.objects.exists()  # nothing about the object itself is recorded before verified bytes land


def test_batch_skips_objects_the_repo_already_holds(personas, make_repo, local_store):
    repo = make_repo()
    data = b"shared weights"
    blob_ingest_stream(stream=io.BytesIO(data), repo=repo)
    [plan] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[{"oid": sha(data), "size": len(data)}])
    assert plan.kind == "present"
    assert plan.upload_url is None


def test_batch_does_not_hand_out_urls_again_for_the_callers_upload_being_hashed(personas, make_repo, local_store):
    repo = make_repo()
    upload = BlobUpload.objects.create(repo=repo, user=personas.member, sha256="5" * 64, size=10, staging_key="s/5",
                                       state=BlobUpload.State.UPLOADED)
    [plan] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[{"oid": upload.sha256, "size": 10}])
    assert plan.kind == "present"
    [other] = lfs_batch_plan(actor=personas.owner, repo=repo, objects=[{"oid": upload.sha256, "size": 10}])
    assert other.kind == "basic"  # another user's unfinished upload blocks no one


def test_batch_lets_a_rejected_upload_be_sent_again_at_a_new_key(personas, make_repo, local_store):
    repo = make_repo()
    data = b"0123456789"
    [first] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[{"oid": sha(data), "size": 10}])
    old_key = upload_of(first).staging_key
    BlobUpload.objects.filter(pk=first.upload_pk).update(state=BlobUpload.State.REJECTED, rejected_reason="bad")
    [again] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[{"oid": sha(data), "size": 10}])
    assert again.kind == "basic" and again.upload_pk == first.upload_pk
    assert upload_of(again).state == BlobUpload.State.OPEN
    assert upload_of(again).staging_key != old_key  # nothing in flight for the old attempt lands in this one


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"oid": "abc", "size": 3}, "sha256"),
        ({"oid": "A" * 64, "size": 3}, "sha256"),
        ({"oid": "a" * 64, "size": -1}, "size"),
        ({"oid": "a" * 64, "size": "3"}, "size"),
        ({"oid": "a" * 64, "size": 10**15}, "at most"),
    ],
)
def test_batch_answers_bad_objects_with_per_object_errors(personas, make_repo, local_store, obj, message):
    repo = make_repo()
    [plan] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[obj])
    assert plan.kind == "error"
    assert plan.error_code == 422
    assert message in plan.error_message
    assert not Blob.objects.exists() and not BlobUpload.objects.exists()


def test_batch_with_a_size_contradicting_the_stored_object_is_answered_as_a_new_object(
        personas, make_repo, local_store):
    """No error naming the stored size: that would tell anyone that the object exists, and how big it is."""
    repo = make_repo()
    data = b"abc"
    blob_ingest_stream(stream=io.BytesIO(data), repo=repo)
    [plan] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[{"oid": sha(data), "size": 4}])
    assert plan.kind == "basic"
    assert Blob.objects.get(sha256=sha(data)).size == 3


@override_settings(LFS_MULTIPART_THRESHOLD=5 * MiB, LFS_MULTIPART_CHUNK_SIZE=5 * MiB)
def test_batch_splits_large_objects_into_parts_and_reuses_the_upload_id(personas, make_repo, local_store):
    repo = make_repo()
    obj = {"oid": "b" * 64, "size": 12 * MiB}
    [first] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[obj])
    assert first.kind == "multipart"
    assert first.chunk_size == 5 * MiB
    assert len(first.part_urls) == 3
    [again] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[obj])
    assert again.upload_id == first.upload_id
    assert upload_of(first).multipart_upload_id == first.upload_id
    [theirs] = lfs_batch_plan(actor=personas.owner, repo=repo, objects=[obj])
    assert theirs.upload_id != first.upload_id  # each uploader writes its own parts


@override_settings(LFS_MULTIPART_THRESHOLD=5 * MiB, LFS_MULTIPART_CHUNK_SIZE=5 * MiB)
def test_a_resumed_multipart_upload_keeps_the_parts_already_stored(personas, make_repo, blob_store):
    repo = make_repo()
    obj = {"oid": "c" * 64, "size": 11 * MiB}
    [first] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[obj])
    key = upload_of(first).staging_key
    etag = _put_part(get_store(), key, first.upload_id, 1, b"p" * (5 * MiB))
    [resumed] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[obj])
    assert resumed.upload_id == first.upload_id
    assert len(resumed.part_urls) == 3  # the client needs one URL per part, even for parts already sent
    assert get_store().multipart_list_parts(key, resumed.upload_id)[1].strip('"') == etag.strip('"')


@override_settings(LFS_MULTIPART_THRESHOLD=5 * MiB, LFS_MULTIPART_CHUNK_SIZE=5 * MiB)
def test_a_multipart_upload_that_vanished_from_the_store_starts_over(personas, make_repo, local_store):
    repo = make_repo()
    obj = {"oid": "d" * 64, "size": 6 * MiB}
    [first] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[obj])
    get_store().multipart_abort(upload_of(first).staging_key, first.upload_id)
    [again] = lfs_batch_plan(actor=personas.member, repo=repo, objects=[obj])
    assert again.upload_id != first.upload_id
    assert upload_of(first).multipart_upload_id == again.upload_id


def test_multipart_chunks_grow_to_stay_under_ten_thousand_parts():
    size = 10_001 * 64 * MiB
    chunk = multipart_chunk_size(size)
    assert chunk > 64 * MiB and chunk % MiB == 0
    assert -(-size // chunk) <= 10_000


def test_batch_needs_a_reader_who_may_propose(personas, make_repo, local_store):
    """A pull request's bytes go through the batch (its body names no ref): any signed-in reader may upload, and
    nobody who can't read the repo, nor an anonymous caller, nor a read-scoped key."""
    from django.contrib.auth.models import AnonymousUser

    from registry.exceptions import NotAuthenticated
    from registry.models import ApiKey

    secret = make_repo("secret", private=True)
    with pytest.raises(RepoNotFound):
        lfs_batch_plan(actor=personas.outsider, repo=secret, objects=[{"oid": "c" * 64, "size": 1}])
    repo = make_repo()
    with pytest.raises(NotAuthenticated):
        lfs_batch_plan(actor=AnonymousUser(), repo=repo, objects=[{"oid": "c" * 64, "size": 1}])
    make_key(personas.reader, "read")
    read_key = ApiKey.objects.get(user=personas.reader)
    with pytest.raises(PermissionDenied):
        lfs_batch_plan(actor=personas.reader, repo=repo, objects=[{"oid": "c" * 64, "size": 1}], api_key=read_key)
    assert not Blob.objects.exists() and not BlobUpload.objects.exists()
    [plan] = lfs_batch_plan(actor=personas.outsider, repo=repo, objects=[{"oid": "c" * 64, "size": 1}])
    assert plan.kind == "basic"


# --- verify / complete ----------------------------------------------------------------------------


def staged(repo, user, data: bytes) -> BlobUpload:
    """Batch, then PUT the bytes where the plan says (the upload's own staging key)."""
    [plan] = lfs_batch_plan(actor=user, repo=repo, objects=[{"oid": sha(data), "size": len(data)}])
    upload = upload_of(plan)
    return upload


def test_verify_marks_a_matching_small_upload_verified_and_gives_the_repo_the_blob(
        personas, make_repo, local_store):
    repo = make_repo()
    data = b"good bytes"
    upload = staged(repo, personas.member, data)
    put(upload.staging_key, data)
    done = lfs_upload_verify(actor=personas.member, repo=repo, oid=sha(data), size=len(data))
    assert done.state == BlobUpload.State.VERIFIED
    blob = Blob.objects.get(sha256=sha(data))
    assert blob.state == Blob.State.VERIFIED and blob.storage_key == blob_key(sha(data))
    assert b"".join(get_store().iter_bytes(blob.storage_key)) == data
    assert get_store().head(upload.staging_key) is None  # the staged copy is gone
    assert RepoBlob.objects.filter(repo=repo, blob=blob, source="upload").exists()
    assert AuditEvent.objects.filter(action="blob.upload", target_label=sha(data)).exists()


def test_verify_rejects_bytes_that_do_not_match_their_sha256(personas, make_repo, local_store):
    repo = make_repo()
    claimed = b"what I said"
    upload = staged(repo, personas.member, claimed)
    put(upload.staging_key, b"what I sent!"[: len(claimed)])
    with pytest.raises(InvalidInput, match="rejected"):
        lfs_upload_verify(actor=personas.member, repo=repo, oid=sha(claimed), size=len(claimed))
    assert BlobUpload.objects.get(pk=upload.pk).state == BlobUpload.State.REJECTED
    assert get_store().head(upload.staging_key) is None
    assert not Blob.objects.filter(sha256=sha(claimed)).exists()
    with pytest.raises(BlobMissing):
        commit_create(
            actor=personas.member,
            repo=repo,
            title="x",
            operations=[AddBlob("w.safetensors", sha(claimed), len(claimed))],
        )


def test_a_lying_upload_does_not_touch_the_stored_bytes_of_that_oid(personas, make_repo, local_store):
    """Wrong bytes under a stored sha256 are refused and poison nothing: the stored object stays as it was."""
    from registry.services.repos import repo_create

    theirs = make_repo("theirs", private=True)
    mine = repo_create(actor=personas.outsider, namespace="oscar", name="mine")
    data = b"the real weights"
    blob = blob_ingest_stream(stream=io.BytesIO(data), repo=theirs)
    upload = staged(mine, personas.outsider, data)
    put(upload.staging_key, b"X" * len(data))
    with pytest.raises(InvalidInput, match="rejected"):
        lfs_upload_verify(actor=personas.outsider, repo=mine, oid=blob.sha256, size=len(data))
    blob.refresh_from_db()
    assert blob.state == Blob.State.VERIFIED
    assert b"".join(get_store().iter_bytes(blob.storage_key)) == data
    assert not RepoBlob.objects.filter(repo=mine).exists()


def test_verify_of_an_object_never_uploaded_is_an_error(personas, make_repo, local_store):
    repo = make_repo()
    data = b"never sent"
    staged(repo, personas.member, data)
    with pytest.raises(BlobMissing):
        lfs_upload_verify(actor=personas.member, repo=repo, oid=sha(data), size=len(data))
    with pytest.raises(BlobMissing):
        lfs_upload_verify(actor=personas.member, repo=repo, oid="d" * 64, size=1)


def test_verify_deletes_an_upload_of_the_wrong_size(personas, make_repo, local_store):
    repo = make_repo()
    data = b"twelve bytes"
    upload = staged(repo, personas.member, data)
    put(upload.staging_key, data + b"extra")
    with pytest.raises(InvalidInput, match="declared"):
        lfs_upload_verify(actor=personas.member, repo=repo, oid=sha(data), size=len(data))
    assert get_store().head(upload.staging_key) is None
    assert BlobUpload.objects.get(pk=upload.pk).state == BlobUpload.State.OPEN


@override_settings(SYNC_VERIFY_MAX_SIZE=4)
def test_large_uploads_are_verified_by_the_worker_after_the_transaction(
    personas, make_repo, local_store, django_capture_on_commit_callbacks, monkeypatch
):
    from registry import tasks

    queued = []
    monkeypatch.setattr(tasks.verify_upload, "apply_async", lambda args, **kw: queued.append(args[0]))
    repo = make_repo()
    data = b"more than four bytes"
    upload = staged(repo, personas.member, data)
    put(upload.staging_key, data)
    with django_capture_on_commit_callbacks(execute=True):
        upload = lfs_upload_verify(actor=personas.member, repo=repo, oid=sha(data), size=len(data))
    assert upload.state == BlobUpload.State.UPLOADED and upload.uploaded_at is not None
    assert queued == [upload.pk]
    # ... and the job is a row too, so a lost message or a dead worker can't lose it (the job sweep resends it)
    from registry.models import Job

    job = Job.objects.get(task="registry.verify_upload", key=upload.pk)
    assert job.state == Job.State.QUEUED and job.dispatches == 1
    # committable while the worker runs, served only once verified
    commit_create(
        actor=personas.member, repo=repo, title="w", operations=[AddBlob("w.bin", sha(data), len(data))]
    )
    assert not RepoBlob.objects.filter(repo=repo).exists()
    assert tasks.verify_upload.apply(args=(upload.pk,)).get() == BlobUpload.State.VERIFIED
    assert RepoBlob.objects.filter(repo=repo, blob__sha256=sha(data)).exists()
    assert Blob.objects.get(sha256=sha(data)).state == Blob.State.VERIFIED


def test_multipart_complete_assembles_parts_then_verifies(personas, make_repo, blob_store):
    repo = make_repo()
    part1, part2 = b"a" * (5 * MiB), b"tail"
    data = part1 + part2
    with override_settings(LFS_MULTIPART_THRESHOLD=5 * MiB, LFS_MULTIPART_CHUNK_SIZE=5 * MiB):
        [plan] = lfs_batch_plan(
            actor=personas.member, repo=repo, objects=[{"oid": sha(data), "size": len(data)}]
        )
    store = get_store()
    upload = upload_of(plan)
    etags = []
    for number, chunk in enumerate((part1, part2), start=1):
        etags.append((number, _put_part(store, upload.staging_key, plan.upload_id, number, chunk)))
    done = lfs_multipart_complete(
        actor=personas.member,
        upload_pk=plan.upload_pk,
        upload_id=plan.upload_id,
        oid=sha(data),
        parts=[{"partNumber": n, "etag": e} for n, e in etags],
    )
    assert done.state == BlobUpload.State.VERIFIED
    assert done.multipart_upload_id == ""
    blob = Blob.objects.get(sha256=sha(data))
    assert blob.state == Blob.State.VERIFIED
    assert hashlib.sha256(b"".join(store.iter_bytes(blob.storage_key))).hexdigest() == sha(data)
    # a retried completion is harmless
    again = lfs_multipart_complete(
        actor=None,
        upload_pk=plan.upload_pk,
        upload_id=plan.upload_id,
        oid=sha(data),
        parts=[{"partNumber": 1, "etag": "x"}],
    )
    assert again.state == BlobUpload.State.VERIFIED


def test_multipart_complete_refuses_another_objects_oid(personas, make_repo, local_store):
    repo = make_repo()
    with override_settings(LFS_MULTIPART_THRESHOLD=5 * MiB, LFS_MULTIPART_CHUNK_SIZE=5 * MiB):
        [plan] = lfs_batch_plan(
            actor=personas.member, repo=repo, objects=[{"oid": "e" * 64, "size": 6 * MiB}]
        )
    with pytest.raises(BlobMissing):
        lfs_multipart_complete(
            actor=None,
            upload_pk=plan.upload_pk,
            upload_id=plan.upload_id,
            oid="f" * 64,
            parts=[{"partNumber": 1, "etag": "x"}],
        )


def _put_part(store, key: str, upload_id: str, number: int, data: bytes) -> str:
    """PUT one part to its presigned URL the way the client does, returning the ETag."""
    from django.test import Client

    url = store.multipart_part_url(key, upload_id, number, expires=600)
    if url.startswith("/"):
        response = Client().generic("PUT", url, data=data, content_type="application/octet-stream")
        assert response.status_code in (200, 201), response.content
        return response["ETag"]
    import urllib.request

    request = urllib.request.Request(
        url, data=data, method="PUT", headers={"Content-Type": "application/octet-stream"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return response.headers["ETag"]


# --- commits --------------------------------------------------------------------------------------


@override_settings(INLINE_FILE_MAX_SIZE=10)
def test_inline_files_over_the_limit_must_go_through_lfs(personas, make_repo):
    import base64

    with pytest.raises(TooLarge, match="through Xet or LFS"):
        inline_content_decode(path="a.txt", content=base64.b64encode(b"x" * 11).decode(), encoding="base64")
    assert inline_content_decode(
        path="a.txt", content=base64.b64encode(b"x" * 10).decode(), encoding="base64"
    )
    repo = make_repo()
    with pytest.raises(TooLarge):
        commit_from_upload(
            actor=personas.member, repo=repo, title="x", operations=[AddInline("a.txt", b"y" * 11)]
        )


@pytest.mark.parametrize(("content", "encoding"), [("!!!", "base64"), ("aGk=", "utf-8"), (3, "base64")])
def test_inline_content_must_be_valid_base64(content, encoding):
    with pytest.raises(InvalidInput):
        inline_content_decode(path="a.txt", content=content, encoding=encoding)


def test_commit_referencing_an_unknown_object_changes_nothing(personas, make_repo):
    repo = make_repo()
    head = Branch.objects.get(repo=repo, name="main").head_id
    with pytest.raises(BlobMissing):
        commit_from_upload(
            actor=personas.member, repo=repo, title="x", operations=[AddBlob("w.safetensors", "9" * 64, 10)]
        )
    assert Branch.objects.get(repo=repo, name="main").head_id == head
