"""Xet on the hub side, without the client: token routes, commits of Xet-indexed files, materialisation, resolve and
listing headers, storage GC and xorb retention. Files enter the Xet index as a verified shard would put them
(tests/api/hf/xet_support.py); the stock client's end-to-end tests are in test_xet_client.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone

from registry.models import Blob, Branch, CommitFile, ValidationRun, XetFile, XetFileRepo, XetShard, Xorb, XorbRepo
from registry.services.storage_gc import xet_gc_run
from registry.storage import get_store
from tests.api.hf.xet_support import xet_file_register
from tests.fixtures.personas import make_key

MiB = 1024 * 1024


def payload(size: int, seed: int = 1) -> bytes:
    return hashlib.sha256(str(seed).encode()).digest() * (size // 32) + os.urandom(size % 32)


@pytest.fixture
def member_key(personas):
    return make_key(personas.member)


def bearer(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}


def commit_lfs(client, key: str, files: list[dict], repo: str = "acme/tiny", summary: str = "xet upload"):
    lines = [{"key": "header", "value": {"summary": summary}}]
    lines += [{"key": "lfsFile", "value": {"algo": "sha256", **f}} for f in files]
    body = "\n".join(json.dumps(line) for line in lines)
    return client.post(f"/api/models/{repo}/commit/main", data=body, content_type="application/x-ndjson",
                       **bearer(key))


def head_entry(repo, path: str) -> CommitFile:
    head = Branch.objects.get(repo=repo, name="main").head
    return CommitFile.objects.select_related("blob").get(commit=head, path=path)


def whole_file(response) -> bytes:
    """The bytes a non-Xet client gets from resolve: streamed by the hub (local) or from the 302's URL (S3)."""
    if response.status_code == 302:
        with urllib.request.urlopen(response["Location"], timeout=60) as redirected:  # noqa: S310
            return redirected.read()
    assert response.status_code == 200
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- token routes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["xet-write-token", "xet-read-token"])
def test_token_routes_answer_json_and_headers(client, make_repo, member_key, route):
    make_repo()
    before = int(time.time())
    response = client.get(f"/api/models/acme/tiny/{route}/main", **bearer(member_key))
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"accessToken", "exp", "casUrl"}
    assert response["X-Xet-Access-Token"] == data["accessToken"]
    assert response["X-Xet-Cas-Url"] == data["casUrl"]
    assert response["X-Xet-Token-Expiration"] == str(data["exp"])
    assert data["exp"] >= before + 600  # truthful and generous: the client refreshes only by time
    assert data["casUrl"].startswith("http://testserver/") and not data["casUrl"].endswith("/")


@pytest.mark.parametrize("revision", ["refs%2Fpr%2F3", "None", "main"])
def test_read_token_accepts_quoted_and_literal_none_revisions(client, make_repo, member_key, revision):
    make_repo()
    response = client.get(f"/api/models/acme/tiny/xet-read-token/{revision}", **bearer(member_key))
    assert response.status_code == 200


@pytest.mark.parametrize(("who", "scopes", "private", "route", "status"), [
    ("reader", "read,write", False, "xet-write-token", 403),  # a read member can't write
    ("member", "read", False, "xet-write-token", 403),  # a read-scoped key can't either
    ("outsider", "read,write", False, "xet-write-token", 403),
    ("outsider", "read,write", True, "xet-write-token", 404),  # private: the same 404 as every route
    ("outsider", "read,write", True, "xet-read-token", 404),
    ("reader", "read", True, "xet-read-token", 200),
    ("member", "read,write", False, "xet-write-token", 200),
])
def test_token_routes_check_access_like_the_other_routes(client, make_repo, personas, who, scopes, private, route,
                                                         status):
    make_repo(private=private)
    key = make_key(getattr(personas, who), scopes)
    response = client.get(f"/api/models/acme/tiny/{route}/main", **bearer(key))
    assert response.status_code == status
    if status != 200:
        assert response["X-Error-Message"]
        assert "X-Xet-Access-Token" not in response


def test_read_token_of_a_gated_repo_answers_the_gated_error(client, make_repo, personas):
    make_repo(gating="manual")
    response = client.get("/api/models/acme/tiny/xet-read-token/main", **bearer(make_key(personas.outsider)))
    assert response.status_code == 403
    assert response["X-Error-Code"] == "GatedRepo"


def test_anonymous_callers_get_read_tokens_for_public_repos_only(client, make_repo):
    make_repo()
    make_repo("hidden", private=True)
    write = client.get("/api/models/acme/tiny/xet-write-token/main")
    commit = commit_lfs(client, "", [])
    assert write.status_code == commit.status_code == 403  # as the commit route answers anonymous writers
    assert client.get("/api/models/acme/tiny/xet-read-token/main").status_code == 200  # public downloads
    assert client.get("/api/models/acme/hidden/xet-read-token/main").status_code == 401


# --- commits and materialisation ---------------------------------------------------------------------------------


def test_committed_xet_file_is_materialised_then_served_with_xet_headers(client, make_repo, member_key, blob_store,
                                                                          worker, django_capture_on_commit_callbacks):
    repo = make_repo()
    data = payload(3 * MiB + 17)
    reg = xet_file_register(repo, data, xorb_chunks=20)  # 3 xorbs
    sha = hashlib.sha256(data).hexdigest()
    with django_capture_on_commit_callbacks(execute=True):
        response = commit_lfs(client, member_key, [{"path": "model.bin", "oid": sha, "size": len(data)}])
    assert response.status_code == 200, response.content
    entry = head_entry(repo, "model.bin")
    assert (entry.blob.state, entry.blob.xet_hash, entry.blob.size) == (Blob.State.PENDING, reg.file.hash, len(data))
    assert worker.queued == [entry.blob.pk]

    # Read-after-write while the worker hasn't run: a 503 the client retries (never a 403).
    for method in (client.get, client.head):
        pending = method("/acme/tiny/resolve/main/model.bin", **bearer(member_key))
        assert pending.status_code == 503 and pending["X-Error-Code"] == "BlobPending"
        assert pending["Retry-After"] == "2"

    assert worker.run() == [Blob.State.VERIFIED]
    assert worker.run() == []  # nothing queued twice
    blob = Blob.objects.get(pk=entry.blob.pk)
    assert blob.state == Blob.State.VERIFIED
    assert b"".join(get_store().iter_bytes(blob.storage_key)) == data

    head = client.head("/acme/tiny/resolve/main/model.bin", **bearer(member_key))
    assert head.status_code in (200, 302)
    assert head["X-Xet-Hash"] == reg.file.hash
    commit_oid = head["X-Repo-Commit"]
    assert head["Link"] == f'<http://testserver/api/models/acme/tiny/xet-read-token/{commit_oid}>; rel="xet-auth"'
    assert head["X-Linked-Size"] == str(len(data))
    assert head["X-Linked-Etag"] == f'"{sha}"'
    assert whole_file(client.get("/acme/tiny/resolve/main/model.bin", **bearer(member_key))) == data


def test_materialisation_is_idempotent(make_repo, member_key, client, local_store, worker,
                                       django_capture_on_commit_callbacks):
    from registry.services.xet_hub import xet_blob_materialise

    repo = make_repo()
    data = payload(200_000)
    xet_file_register(repo, data)
    with django_capture_on_commit_callbacks(execute=True):
        commit_lfs(client, member_key, [{"path": "a.bin", "oid": hashlib.sha256(data).hexdigest(),
                                         "size": len(data)}])
    blob_id = worker.queued[0]
    assert xet_blob_materialise(blob_id=blob_id).state == Blob.State.VERIFIED
    verified_at = Blob.objects.get(pk=blob_id).verified_at
    assert xet_blob_materialise(blob_id=blob_id).state == Blob.State.VERIFIED
    assert Blob.objects.get(pk=blob_id).verified_at == verified_at


def test_reconstruction_not_matching_the_committed_sha256_is_rejected(client, make_repo, member_key, blob_store,
                                                                      worker, django_capture_on_commit_callbacks):
    repo = make_repo()
    data = payload(500_000, seed=2)
    claimed = hashlib.sha256(b"something else entirely").hexdigest()
    reg = xet_file_register(repo, data, sha256=claimed)  # a corrupted index entry
    with django_capture_on_commit_callbacks(execute=True):
        assert commit_lfs(client, member_key, [{"path": "w.bin", "oid": claimed, "size": len(data)}]).status_code \
            == 200
    assert worker.run() == [Blob.State.REJECTED]
    blob = Blob.objects.get(sha256=claimed)
    assert blob.state == Blob.State.REJECTED
    assert hashlib.sha256(data).hexdigest() in blob.rejected_reason and reg.file.hash in blob.rejected_reason
    assert get_store().head(blob.storage_key) is None  # the wrong bytes are not kept under that name
    response = client.get("/acme/tiny/resolve/main/w.bin", **bearer(member_key))
    assert response.status_code == 403 and response["X-Error-Code"] == "BlobRejected"
    again = commit_lfs(client, member_key, [{"path": "w2.bin", "oid": claimed, "size": len(data)}])
    assert again.status_code >= 400 and "rejected" in again["X-Error-Message"]


@pytest.mark.parametrize(("damage", "reason"), [
    ("garbage", "could not be reconstructed"),  # the stored xorb no longer decodes
    ("missing", "could not be read from the store"),  # retried, then rejected on the last attempt
])
def test_a_damaged_xorb_rejects_the_file(client, make_repo, member_key, local_store, worker,
                                         django_capture_on_commit_callbacks, damage, reason):
    import io

    repo = make_repo()
    data = payload(400_000, seed=14)
    reg = xet_file_register(repo, data)
    key = reg.xorbs[0].storage_key
    if damage == "garbage":
        get_store().put_stream(key, io.BytesIO(b"\x07" * reg.xorbs[0].size), size=reg.xorbs[0].size)
    else:
        get_store().delete(key)
    with django_capture_on_commit_callbacks(execute=True):
        commit_lfs(client, member_key, [{"path": "a.bin", "oid": hashlib.sha256(data).hexdigest(),
                                         "size": len(data)}])
    assert worker.run() == [Blob.State.REJECTED]
    blob = Blob.objects.get(sha256=hashlib.sha256(data).hexdigest())
    assert reason in blob.rejected_reason
    assert get_store().head(blob.storage_key) is None


def test_declared_size_must_match_the_xet_file(client, make_repo, member_key, local_store):
    repo = make_repo()
    data = payload(100_000)
    xet_file_register(repo, data)
    sha = hashlib.sha256(data).hexdigest()
    response = commit_lfs(client, member_key, [{"path": "a.bin", "oid": sha, "size": len(data) + 1}])
    assert response.status_code == 400
    assert "declared size" in response["X-Error-Message"]
    assert not Blob.objects.filter(sha256=sha).exists()


def test_an_oid_neither_store_knows_is_refused(client, make_repo, member_key, local_store):
    repo = make_repo()
    sha = hashlib.sha256(b"never uploaded").hexdigest()
    response = commit_lfs(client, member_key, [{"path": "a.bin", "oid": sha, "size": 14}])
    assert response.status_code in (400, 404, 422)
    assert "never uploaded" in response["X-Error-Message"]
    assert set(CommitFile.objects.filter(commit__repo=repo).values_list("path", flat=True)) == {".gitattributes"}


def test_a_file_only_another_repo_uploaded_cannot_be_committed(client, make_repo, member_key, local_store):
    other = make_repo("other")
    make_repo()
    data = payload(100_000, seed=3)
    xet_file_register(other, data)
    response = commit_lfs(client, member_key, [{"path": "a.bin", "oid": hashlib.sha256(data).hexdigest(),
                                                "size": len(data)}])
    assert response.status_code in (400, 404, 422)
    assert not Blob.objects.exists()


def test_a_reader_cannot_make_blob_rows_through_a_commit(client, make_repo, personas, local_store):
    repo = make_repo()
    data = payload(100_000, seed=4)
    xet_file_register(repo, data)
    response = commit_lfs(client, make_key(personas.reader), [{"path": "a.bin",
                                                               "oid": hashlib.sha256(data).hexdigest()}])
    assert response.status_code == 403
    assert not Blob.objects.exists()


def test_copies_of_a_xet_file_share_its_blob(client, make_repo, member_key, local_store, worker,
                                             django_capture_on_commit_callbacks):
    repo = make_repo()
    data = payload(150_000, seed=5)
    xet_file_register(repo, data)
    sha = hashlib.sha256(data).hexdigest()
    with django_capture_on_commit_callbacks(execute=True):
        commit_lfs(client, member_key, [{"path": "a.bin", "oid": sha, "size": len(data)}])
        copy = commit_lfs(client, member_key, [{"path": "copy/a.bin", "oid": sha}])  # a copy sends no size
    assert copy.status_code == 200, copy.content
    worker.run()
    assert head_entry(repo, "copy/a.bin").blob_id == head_entry(repo, "a.bin").blob_id
    assert whole_file(client.get("/acme/tiny/resolve/main/copy/a.bin", **bearer(member_key))) == data


def test_tree_and_paths_info_list_xet_hash_once_verified(client, make_repo, member_key, local_store, worker,
                                                         django_capture_on_commit_callbacks):
    repo = make_repo()
    data = payload(120_000, seed=6)
    reg = xet_file_register(repo, data)
    with django_capture_on_commit_callbacks(execute=True):
        commit_lfs(client, member_key, [{"path": "sub/a.bin", "oid": hashlib.sha256(data).hexdigest(),
                                         "size": len(data)}])

    def listed() -> dict:
        tree = client.get("/api/models/acme/tiny/tree/main?recursive=1", **bearer(member_key)).json()
        return {e["path"]: e for e in tree}

    assert "xetHash" not in listed()["sub/a.bin"]  # not downloadable yet
    worker.run()
    entries = listed()
    assert entries["sub/a.bin"]["xetHash"] == reg.file.hash
    assert entries["sub/a.bin"]["lfs"]["oid"] == hashlib.sha256(data).hexdigest()
    assert "xetHash" not in entries[".gitattributes"]
    info = client.post("/api/models/acme/tiny/paths-info/main", {"paths": ["sub/a.bin"]}, **bearer(member_key))
    assert info.json()[0]["xetHash"] == reg.file.hash


def test_resolve_of_a_xet_file_stays_within_four_queries(client, make_repo, member_key, local_store, worker,
                                                         django_capture_on_commit_callbacks,
                                                         django_assert_max_num_queries):
    repo = make_repo()
    data = payload(100_000, seed=7)
    xet_file_register(repo, data)
    with django_capture_on_commit_callbacks(execute=True):
        commit_lfs(client, member_key, [{"path": "a.bin", "oid": hashlib.sha256(data).hexdigest(),
                                         "size": len(data)}])
    worker.run()
    client.head("/acme/tiny/resolve/main/a.bin", **bearer(member_key))  # records the key's last use once
    with django_assert_max_num_queries(4):
        response = client.head("/acme/tiny/resolve/main/a.bin", **bearer(member_key))
    assert response["X-Xet-Hash"]


def test_validation_waits_for_the_materialised_bytes(client, make_repo, member_key, local_store, worker,
                                                     django_capture_on_commit_callbacks, monkeypatch):
    from registry.services import validation

    queued: list[int] = []
    monkeypatch.setattr(validation, "_queue", queued.append)
    repo = make_repo()
    data = payload(100_000, seed=8)
    xet_file_register(repo, data)
    with django_capture_on_commit_callbacks(execute=True):
        commit_lfs(client, member_key, [{"path": "a.bin", "oid": hashlib.sha256(data).hexdigest(),
                                         "size": len(data)}])
    run = ValidationRun.objects.get(commit=Branch.objects.get(repo=repo, name="main").head)
    for _ in range(validation.MAX_ATTEMPTS + 2):  # waiting is not an attempt: it never gives up on a slow worker
        validation.validation_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("pending", 0)
    assert "materialised" in run.error
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        worker.run()
    assert queued == [run.pk]  # the worker hands the run back to validation
    validation.validation_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.is_finished and run.files.get(path="a.bin").status != "failed"


# --- GC and retention -----------------------------------------------------------------------------------------


def _age(model, days: float, **filters) -> None:
    model.objects.filter(**filters).update(created_at=timezone.now() - timedelta(days=days))


def test_gc_deletes_xet_data_nothing_commits_and_keeps_the_rest(client, make_repo, member_key, blob_store, worker,
                                                               django_capture_on_commit_callbacks, settings):
    settings.UPLOAD_GRACE_HOURS = 24
    repo = make_repo()
    kept_data, lost_data = payload(300_000, seed=9), payload(300_000, seed=10)
    kept = xet_file_register(repo, kept_data)
    lost = xet_file_register(repo, lost_data)  # uploaded, never committed
    with django_capture_on_commit_callbacks(execute=True):
        commit_lfs(client, member_key, [{"path": "a.bin", "oid": hashlib.sha256(kept_data).hexdigest(),
                                         "size": len(kept_data)}])
    worker.run()
    fresh = xet_gc_run()
    assert fresh.xorbs == [] and fresh.files == 0  # inside the grace period nothing goes
    for model in (XetFile, XetFileRepo, Xorb):
        _age(model, 2)
    first = xet_gc_run()
    assert first.files == 1  # the uncommitted file is forgotten...
    assert first.xorbs == []  # ...but a repo linked to its xorbs recently (it sent them): kept a while more
    _age(XorbRepo, 2)
    report = xet_gc_run()
    assert sorted(report.xorbs) == sorted(x.hash for x in lost.xorbs)
    assert not XetFile.objects.filter(hash=lost.file.hash).exists()
    for xorb in lost.xorbs:
        assert get_store().head(xorb.storage_key) is None
    for xorb in kept.xorbs:
        assert get_store().head(xorb.storage_key) is not None
    assert XetFile.objects.filter(hash=kept.file.hash).exists()
    assert head_entry(repo, "a.bin").blob.xet_hash == kept.file.hash


def test_gc_deletes_shards_whose_files_are_gone(make_repo, local_store):
    import io

    def shard_storage_key(sha: str) -> str:
        return f"xet-test/shards/{sha}"

    from registry.xet import ShardFile, build_upload_shard, hex_to_hash, unpack_terms

    repo = make_repo()
    reg = xet_file_register(repo, payload(100_000, seed=11))
    terms = tuple(unpack_terms(bytes(reg.file.terms)))
    shard = build_upload_shard([ShardFile(hex_to_hash(reg.file.hash), terms, None, None)], [])
    sha = hashlib.sha256(shard).hexdigest()
    get_store().put_stream(shard_storage_key(sha), io.BytesIO(shard), size=len(shard))
    XetShard.objects.create(sha256=sha, storage_key=shard_storage_key(sha), size=len(shard), repo=repo)
    _age(XetShard, 2)
    assert xet_gc_run().shards == []  # its file is still registered (inside the grace period)
    for model in (XetFile, XetFileRepo, Xorb, XorbRepo):
        _age(model, 2)
    report = xet_gc_run()
    assert report.shards == [sha]
    assert not XetShard.objects.exists() and get_store().head(shard_storage_key(sha)) is None


def test_retention_drops_xorbs_of_materialised_files_and_resolve_stops_advertising(
    client, make_repo, member_key, blob_store, worker, django_capture_on_commit_callbacks, settings
):
    settings.XET_XORB_RETENTION_DAYS = 7
    repo = make_repo()
    data = payload(300_000, seed=12)
    reg = xet_file_register(repo, data)
    with django_capture_on_commit_callbacks(execute=True):
        commit_lfs(client, member_key, [{"path": "a.bin", "oid": hashlib.sha256(data).hexdigest(),
                                         "size": len(data)}])
    worker.run()
    _age(Xorb, 3)
    assert xet_gc_run().dropped == []  # younger than the retention period
    _age(Xorb, 8)
    report = xet_gc_run()
    assert sorted(report.dropped) == sorted(x.hash for x in reg.xorbs)
    for xorb in reg.xorbs:
        assert get_store().head(xorb.storage_key) is None
    head = client.head("/acme/tiny/resolve/main/a.bin", **bearer(member_key))
    assert "X-Xet-Hash" not in head and "Link" not in head
    assert whole_file(client.get("/acme/tiny/resolve/main/a.bin", **bearer(member_key))) == data


def test_retention_keeps_xorbs_of_files_not_yet_materialised(make_repo, local_store, settings):
    settings.XET_XORB_RETENTION_DAYS = 1
    repo = make_repo()
    reg = xet_file_register(repo, payload(100_000, seed=13))  # registered, never committed
    _age(Xorb, 3)
    assert xet_gc_run(grace_hours=24 * 30).dropped == []
    assert all(get_store().head(x.storage_key) is not None for x in reg.xorbs)


def test_gc_drops_expired_grants_and_what_was_staged_for_them(make_repo, local_store):
    import io

    from registry.models import XorbGrant

    repo = make_repo()
    now = timezone.now()
    old = XorbGrant.objects.create(xorb_hash="a" * 64, repo=repo, staging_key="xet-test/staging/old", length=3,
                                   expires_at=now - timedelta(days=2))
    live = XorbGrant.objects.create(xorb_hash="b" * 64, repo=repo, staging_key="xet-test/staging/live", length=3,
                                    expires_at=now + timedelta(hours=1))
    for grant in (old, live):
        get_store().put_stream(grant.staging_key, io.BytesIO(b"abc"), size=3)
    assert xet_gc_run().grants == 1
    assert list(XorbGrant.objects.values_list("pk", flat=True)) == [live.pk]
    assert get_store().head(old.staging_key) is None and get_store().head(live.staging_key) is not None


def test_gc_keeps_a_file_another_repo_registered_again_recently(make_repo, local_store):
    first, second = make_repo("first"), make_repo("second")
    data = payload(100_000, seed=15)
    reg = xet_file_register(first, data)
    for model in (XetFile, Xorb, XorbRepo):
        _age(model, 2)
    XetFileRepo.objects.filter(repo=first).update(created_at=timezone.now() - timedelta(days=2))
    XetFileRepo.objects.create(file=reg.file, repo=second)  # its shard was just sent again, for the other repo
    assert xet_gc_run().files == 0
    assert XetFile.objects.filter(hash=reg.file.hash).exists()


@pytest.mark.parametrize(("who", "scopes", "private", "revision", "status"), [
    ("member", "read,write", False, "main", 200),
    ("reader", "read,write", True, "None", 200),  # a read member proposes: the literal None the client sends
    ("outsider", "read,write", False, "main", 200),  # anyone who can read a public repo
    ("outsider", "read,write", True, "None", 404),
    ("reader", "read", False, "main", 403),  # a read-scoped key proposes nothing
])
def test_write_token_for_a_pull_request(client, make_repo, personas, who, scopes, private, revision, status):
    make_repo(private=private)
    key = make_key(getattr(personas, who), scopes)
    response = client.get(f"/api/models/acme/tiny/xet-write-token/{revision}?create_pr=1", **bearer(key))
    assert response.status_code == status
    if who != "member" and status == 200:
        # ...which is no write token for main.
        assert client.get("/api/models/acme/tiny/xet-write-token/main", **bearer(key)).status_code == 403


def test_a_pull_request_token_reads_only_what_its_holder_may_download(client, make_repo, personas):
    """A reader's PR token writes chunks, but reconstructs a gated repo's files only with the license accepted."""
    from api.auth import Principal
    from registry.services import xet

    repo = make_repo("gated", gating="auto")
    token = xet.issue_token(principal=Principal(user=personas.outsider, api_key=None), repo=repo, scope="write",
                            revision="main", proposal=True).access_token
    assert xet.verify_token(token, need="write").repo == repo
    with pytest.raises(xet.CasNotFound):
        xet.verify_token(token, need="read")


# --- authority never travels with a hash (issue 15) --------------------------------------------------------------


def _materialised(client, repo, data, key, worker, capture) -> str:  # noqa: ANN001
    """`data` uploaded over Xet into `repo`, committed and materialised (a verified, stored blob): its sha256."""
    xet_file_register(repo, data)
    sha = hashlib.sha256(data).hexdigest()
    with capture(execute=True):
        assert commit_lfs(client, key, [{"path": "model.bin", "oid": sha, "size": len(data)}],
                          repo=repo.repo_id).status_code == 200
    assert worker.run() == [Blob.State.VERIFIED]
    return sha


def test_a_materialised_gated_xet_file_cannot_be_committed_or_reconstructed_by_an_outsider(
        client, make_repo, personas, member_key, local_store, worker, django_capture_on_commit_callbacks):
    from api.auth import Principal
    from registry.services import xet
    from registry.services.repos import repo_create

    gated = make_repo("gated", gating="auto")
    data = payload(150_000, seed=11)
    sha = _materialised(client, gated, data, member_key, worker, django_capture_on_commit_callbacks)
    xet_hash = Blob.objects.get(sha256=sha).xet_hash
    mine = repo_create(actor=personas.outsider, namespace="oscar", name="mine")
    outsider = make_key(personas.outsider)
    response = commit_lfs(client, outsider, [{"path": "stolen.bin", "oid": sha, "size": len(data)}],
                          repo="oscar/mine")
    assert (response.status_code, response["X-Error-Code"]) == (422, "BlobMissing")
    assert set(CommitFile.objects.filter(commit__repo=mine).values_list("path", flat=True)) == {".gitattributes"}
    token = xet.issue_token(principal=Principal(personas.outsider, None), repo=mine, scope="read",
                            revision="main").access_token
    reconstruction = client.get(f"/cas/v1/reconstructions/{xet_hash}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert reconstruction.status_code == 404


def test_a_xet_file_reused_from_a_readable_repo_is_reconstructed_through_the_new_repo(
        client, make_repo, personas, member_key, local_store, worker, django_capture_on_commit_callbacks):
    """Bytes brought in from a repo the committer may download are the new repo's: its read tokens reconstruct
    them (resolve advertises their Xet hash there too)."""
    from api.auth import Principal
    from registry.services import xet
    from registry.services.repos import repo_create

    secret = make_repo("secret", private=True)
    data = payload(150_000, seed=12)
    sha = _materialised(client, secret, data, member_key, worker, django_capture_on_commit_callbacks)
    copy = repo_create(actor=personas.reader, namespace="rae", name="copy")
    reader = make_key(personas.reader)
    assert commit_lfs(client, reader, [{"path": "model.bin", "oid": sha, "size": len(data)}],
                      repo="rae/copy").status_code == 200
    head = client.head("/rae/copy/resolve/main/model.bin", **bearer(reader))
    assert head.status_code in (200, 302)
    token = xet.issue_token(principal=Principal(personas.reader, None), repo=copy, scope="read",
                            revision="main").access_token
    reconstruction = client.get(f"/cas/v1/reconstructions/{head['X-Xet-Hash']}", HTTP_RANGE="bytes=0-99",
                                HTTP_AUTHORIZATION=f"Bearer {token}")
    assert reconstruction.status_code == 200
