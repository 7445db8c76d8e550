"""Uploads with the real huggingface_hub client against a live server, on the local and the S3 store."""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.error
import urllib.request

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationCopy,
    CommitOperationDelete,
    HfApi,
)
from huggingface_hub.errors import HfHubHTTPError

from registry.models import Blob, BlobUpload, Branch, CommitFile
from registry.storage import get_store
from tests.fixtures.personas import make_key

pytestmark = pytest.mark.live
MiB = 1024 * 1024


@pytest.fixture
def api_for(live_server, personas, client_env):
    def _api(user=None, scopes: str = "read,write") -> HfApi:
        return HfApi(endpoint=live_server.url, token=make_key(user or personas.member, scopes))

    return _api


def head_files(repo) -> dict[str, CommitFile]:
    head = Branch.objects.get(repo=repo, name="main").head
    return {f.path: f for f in CommitFile.objects.filter(commit=head).select_related("blob")}


def stored_bytes(blob: Blob) -> bytes:
    return b"".join(get_store().iter_bytes(blob.storage_key))


def weights(size: int, seed: bytes = b"w") -> bytes:
    block = hashlib.sha256(seed).digest() * 64
    return (block * (size // len(block) + 1))[:size]


def raw_request(url: str, *, method: str = "POST", body: bytes = b"", headers: dict | None = None):
    """(status, headers, body) of a plain HTTP call, errors included."""
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


# --- regular files ------------------------------------------------------------------------------


def test_small_text_file_uploads_inline_with_the_stock_client(make_repo, api_for, stock_xet, transfers):
    repo = make_repo()
    info = api_for().upload_file(
        path_or_fileobj=b"hello hub\n", path_in_repo="notes/hello.txt", repo_id="acme/tiny"
    )
    files = head_files(repo)
    assert bytes(files["notes/hello.txt"].content) == b"hello hub\n"
    assert files["notes/hello.txt"].blob is None
    assert info.oid == Branch.objects.get(repo=repo, name="main").head.oid
    assert info.commit_url.endswith(f"/acme/tiny/commit/{info.oid}")
    assert transfers == {"basic": 0, "multipart": 0}


def test_uploading_an_unchanged_file_makes_no_commit(make_repo, api_for):
    repo = make_repo()
    api = api_for()
    api.upload_file(path_or_fileobj=b"same\n", path_in_repo="a.txt", repo_id="acme/tiny")
    head = Branch.objects.get(repo=repo, name="main").head_id
    api.upload_file(path_or_fileobj=b"same\n", path_in_repo="a.txt", repo_id="acme/tiny")
    assert Branch.objects.get(repo=repo, name="main").head_id == head


def test_commit_bodies_above_djangos_memory_limit_are_read(make_repo, api_for, settings, tmp_path):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < 3 * 900_000 * 4 / 3
    repo = make_repo()
    folder = tmp_path / "texts"
    folder.mkdir()
    for n in range(3):
        (folder / f"part{n}.txt").write_text(f"{n}" * 900_000)
    api_for().upload_folder(folder_path=str(folder), repo_id="acme/tiny")
    files = head_files(repo)
    assert [files[f"part{n}.txt"].size for n in range(3)] == [900_000] * 3
    assert all(files[f"part{n}.txt"].blob is None for n in range(3))


# --- LFS ----------------------------------------------------------------------------------------


def test_weights_upload_through_a_presigned_put(make_repo, api_for, blob_store, no_xet, transfers, settings):
    settings.INLINE_FILE_MAX_SIZE = 1024
    repo = make_repo()
    data = weights(64 * 1024)
    api_for().upload_file(path_or_fileobj=data, path_in_repo="model.safetensors", repo_id="acme/tiny")
    entry = head_files(repo)["model.safetensors"]
    assert entry.blob.sha256 == hashlib.sha256(data).hexdigest()
    assert entry.blob.state == Blob.State.VERIFIED
    assert stored_bytes(entry.blob) == data
    assert transfers == {"basic": 1, "multipart": 0}


def test_large_file_uploads_in_parts(make_repo, api_for, blob_store, no_xet, transfers, settings):
    settings.LFS_MULTIPART_THRESHOLD = 5 * MiB
    settings.LFS_MULTIPART_CHUNK_SIZE = 5 * MiB
    repo = make_repo()
    data = weights(12 * MiB + 123, b"big")
    api_for().upload_file(path_or_fileobj=data, path_in_repo="big/model.safetensors", repo_id="acme/tiny")
    entry = head_files(repo)["big/model.safetensors"]
    assert entry.size == len(data)
    assert entry.blob.state == Blob.State.VERIFIED
    assert entry.blob.multipart_upload_id == ""
    assert hashlib.sha256(stored_bytes(entry.blob)).hexdigest() == hashlib.sha256(data).hexdigest()
    assert transfers == {"basic": 0, "multipart": 1}


def test_same_bytes_in_another_repo_are_not_uploaded_again(make_repo, api_for, blob_store, no_xet, transfers):
    make_repo("first")
    second = make_repo("second")
    data = weights(20 * 1024, b"dedup")
    api = api_for()
    api.upload_file(path_or_fileobj=data, path_in_repo="model.safetensors", repo_id="acme/first")
    assert transfers["basic"] == 1
    api.upload_file(path_or_fileobj=data, path_in_repo="copy.safetensors", repo_id="acme/second")
    assert transfers["basic"] == 1  # the batch answered without actions
    assert Blob.objects.count() == 1
    assert head_files(second)["copy.safetensors"].blob.sha256 == hashlib.sha256(data).hexdigest()


def test_upload_folder_sends_text_inline_and_weights_through_lfs(
    make_repo, api_for, blob_store, no_xet, tmp_path
):
    repo = make_repo()
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "sub" / "README.txt").write_text("nested\n")
    (folder / "model.safetensors").write_bytes(weights(4096, b"folder"))
    api_for().upload_folder(folder_path=str(folder), repo_id="acme/tiny", commit_message="folder")
    files = head_files(repo)
    assert bytes(files["config.json"].content) == b'{"hidden_size": 8}'
    assert bytes(files["sub/README.txt"].content) == b"nested\n"
    assert files["model.safetensors"].blob.size == 4096
    assert Branch.objects.get(repo=repo, name="main").head.title == "folder"


def test_create_commit_adds_deletes_and_copies(make_repo, api_for, blob_store, no_xet):
    repo = make_repo()
    api = api_for()
    data = weights(8192, b"copy")
    api.create_commit(
        repo_id="acme/tiny",
        commit_message="seed",
        operations=[
            CommitOperationAdd("model.safetensors", data),
            CommitOperationAdd("old/a.txt", b"a"),
            CommitOperationAdd("old/b.txt", b"b"),
            CommitOperationAdd("keep.txt", b"keep"),
        ],
    )
    api.create_commit(
        repo_id="acme/tiny",
        commit_message="reshape",
        operations=[
            CommitOperationCopy("model.safetensors", "backup/model.safetensors"),
            CommitOperationCopy("keep.txt", "kept-copy.txt"),
            CommitOperationDelete("old/"),
            CommitOperationDelete("keep.txt"),
            CommitOperationAdd("new.txt", b"new"),
        ],
    )
    files = head_files(repo)
    assert set(files) == {
        ".gitattributes",
        "model.safetensors",
        "backup/model.safetensors",
        "kept-copy.txt",
        "new.txt",
    }
    assert files["backup/model.safetensors"].blob_id == files["model.safetensors"].blob_id
    assert bytes(files["kept-copy.txt"].content) == b"keep"


# --- refusals -----------------------------------------------------------------------------------


def test_commit_referencing_an_object_never_uploaded_is_refused(make_repo, live_server, personas, client_env):
    repo = make_repo()
    head = Branch.objects.get(repo=repo, name="main").head_id
    lines = [
        {"key": "header", "value": {"summary": "sneaky"}},
        {
            "key": "lfsFile",
            "value": {"path": "w.safetensors", "algo": "sha256", "oid": "ab" * 32, "size": 10},
        },
    ]
    status, headers, body = raw_request(
        f"{live_server.url}/api/models/acme/tiny/commit/main",
        body="\n".join(json.dumps(line) for line in lines).encode(),
        headers={
            "Authorization": f"Bearer {make_key(personas.member)}",
            "Content-Type": "application/x-ndjson",
        },
    )
    assert status == 422
    assert headers["X-Error-Code"] == "BlobMissing"
    assert "never uploaded" in json.loads(body)["error"]
    assert Branch.objects.get(repo=repo, name="main").head_id == head


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json\n", "not valid JSON"),
        (b'{"key":"file","value":{"path":"a","content":"YQ==","encoding":"base64"}}\n', "header"),
        (b'{"key":"header","value":{"summary":"x"}}\n{"key":"bogus","value":{}}\n', "unknown key"),
        (
            b'{"key":"header","value":{"summary":"x"}}\n{"key":"file","value":{"path":"a","content":"@@"}}\n',
            "encoding",
        ),
        (b'{"key":"header","value":{"summary":"x"}}\n{"key":"deletedFile","value":{}}\n', "path"),
    ],
)
def test_malformed_commit_bodies_are_400_with_a_message(
    make_repo, live_server, personas, client_env, body, message
):
    repo = make_repo()
    head = Branch.objects.get(repo=repo, name="main").head_id
    status, headers, answer = raw_request(
        f"{live_server.url}/api/models/acme/tiny/commit/main",
        body=body,
        headers={
            "Authorization": f"Bearer {make_key(personas.member)}",
            "Content-Type": "application/x-ndjson",
        },
    )
    assert status == 400
    assert message in headers["X-Error-Message"]
    assert Branch.objects.get(repo=repo, name="main").head_id == head


def test_stale_parent_commit_is_412_and_leaves_the_branch(make_repo, api_for):
    repo = make_repo()
    api = api_for()
    old = api.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id="acme/tiny").oid
    api.upload_file(path_or_fileobj=b"2", path_in_repo="b.txt", repo_id="acme/tiny")
    head = Branch.objects.get(repo=repo, name="main").head_id
    with pytest.raises(HfHubHTTPError) as caught:
        api.create_commit(
            repo_id="acme/tiny",
            commit_message="late",
            operations=[CommitOperationAdd("c.txt", b"3")],
            parent_commit=old,
        )
    assert caught.value.response.status_code == 412
    assert Branch.objects.get(repo=repo, name="main").head_id == head
    assert "c.txt" not in head_files(repo)


def test_parallel_commits_without_parent_all_land(make_repo, api_for):
    repo = make_repo()
    keys = [api_for() for _ in range(4)]
    errors = []

    def work(n: int) -> None:
        try:
            for i in range(3):
                keys[n].upload_file(
                    path_or_fileobj=f"{n}-{i}".encode(), path_in_repo=f"t{n}/f{i}.txt", repo_id="acme/tiny"
                )
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    files = head_files(repo)
    assert {p for p in files if p.startswith("t")} == {f"t{n}/f{i}.txt" for n in range(4) for i in range(3)}


@pytest.mark.parametrize("upload", ["inline", "lfs"])
def test_read_scoped_key_cannot_upload(make_repo, api_for, personas, blob_store, no_xet, upload):
    repo = make_repo()
    data = b"text" if upload == "inline" else weights(4096)
    with pytest.raises(HfHubHTTPError) as caught:
        api_for(personas.member, "read").upload_file(
            path_or_fileobj=data, path_in_repo="x.bin", repo_id="acme/tiny"
        )
    assert caught.value.response.status_code == 403
    assert set(head_files(repo)) == {".gitattributes"}
    assert not Blob.objects.exists()


@pytest.mark.parametrize(
    ("who", "private", "status"), [("reader", False, 403), ("outsider", False, 403), ("outsider", True, 404)]
)
def test_people_without_write_access_cannot_upload(make_repo, api_for, personas, who, private, status):
    repo = make_repo(private=private)
    with pytest.raises(HfHubHTTPError) as caught:
        api_for(getattr(personas, who)).upload_file(
            path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="acme/tiny"
        )
    assert caught.value.response.status_code == status
    assert set(head_files(repo)) == {".gitattributes"}


def test_anonymous_upload_is_refused(make_repo, live_server, client_env):
    repo = make_repo()
    api = HfApi(endpoint=live_server.url, token=False)
    with pytest.raises(HfHubHTTPError):
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="acme/tiny")
    assert set(head_files(repo)) == {".gitattributes"}


def test_stock_client_uploads_weights_over_xet_without_any_setting(make_repo, api_for, stock_xet, worker):
    """No HF_HUB_DISABLE_XET: the weights go through Xet and are committed by sha256 (more in test_xet_*.py)."""
    repo = make_repo()
    data = weights(4096)
    api_for().upload_file(path_or_fileobj=data, path_in_repo="model.safetensors", repo_id="acme/tiny")
    blob = head_files(repo)["model.safetensors"].blob
    assert blob.sha256 == hashlib.sha256(data).hexdigest() and blob.xet_hash
    assert worker.run() == [Blob.State.VERIFIED]


def test_tampered_upload_is_rejected_and_never_committed(
    make_repo, live_server, personas, blob_store, client_env
):
    repo = make_repo()
    auth = {"Authorization": f"Bearer {make_key(personas.member)}"}
    claimed = weights(4096, b"claimed")
    oid = hashlib.sha256(claimed).hexdigest()
    batch = {
        "operation": "upload",
        "transfers": ["basic", "multipart"],
        "objects": [{"oid": oid, "size": 4096}],
    }
    status, _, body = raw_request(
        f"{live_server.url}/acme/tiny.git/info/lfs/objects/batch",
        body=json.dumps(batch).encode(),
        headers={
            **auth,
            "Content-Type": "application/vnd.git-lfs+json",
            "Accept": "application/vnd.git-lfs+json",
        },
    )
    assert status == 200
    actions = json.loads(body)["objects"][0]["actions"]
    status, _, _ = raw_request(
        actions["upload"]["href"],
        method="PUT",
        body=weights(4096, b"other bytes"),
        headers={"Content-Type": "application/octet-stream"},  # urllib's form default makes moto hang
    )
    assert status in (200, 201, 204)
    status, headers, _ = raw_request(
        actions["verify"]["href"],
        body=json.dumps({"oid": oid, "size": 4096}).encode(),
        headers={**auth, "Content-Type": "application/json"},
    )
    assert status == 422
    assert headers["X-Error-Code"] == "ObjectRejected"
    assert BlobUpload.objects.get(sha256=oid).state == BlobUpload.State.REJECTED
    assert not Blob.objects.filter(sha256=oid).exists()  # the object itself knows nothing of the lie
    commit = (
        json.dumps({"key": "header", "value": {"summary": "x"}})
        + "\n"
        + json.dumps(
            {"key": "lfsFile", "value": {"path": "w.safetensors", "algo": "sha256", "oid": oid, "size": 4096}}
        )
    )
    status, _, _ = raw_request(
        f"{live_server.url}/api/models/acme/tiny/commit/main",
        body=commit.encode(),
        headers={**auth, "Content-Type": "application/x-ndjson"},
    )
    assert status == 422
    assert "w.safetensors" not in head_files(repo)


def test_batch_answers_bad_objects_per_object(make_repo, live_server, personas, client_env):
    make_repo()
    batch = {"operation": "upload", "objects": [{"oid": "nope", "size": 1}, {"oid": "a" * 64, "size": 2**60}]}
    status, headers, body = raw_request(
        f"{live_server.url}/acme/tiny.git/info/lfs/objects/batch",
        body=json.dumps(batch).encode(),
        headers={
            "Authorization": f"Bearer {make_key(personas.member)}",
            "Content-Type": "application/vnd.git-lfs+json",
        },
    )
    assert status == 200
    assert headers["Content-Type"].startswith("application/vnd.git-lfs+json")
    objects = json.loads(body)["objects"]
    assert [o["error"]["code"] for o in objects] == [422, 422]
    assert "at most" in objects[1]["error"]["message"]


def test_completion_url_with_a_forged_token_is_refused(live_server, db, client_env):
    status, headers, _ = raw_request(
        f"{live_server.url}/api/lfs/complete/forged",
        body=json.dumps({"oid": "a" * 64, "parts": []}).encode(),
        headers={"Content-Type": "application/vnd.git-lfs+json"},
    )
    assert status == 403
    assert headers["X-Error-Code"] == "InvalidUploadToken"
