"""The stock client (huggingface_hub 2.4.0 + hf_xet 1.8.0, no Xet variables) against a live hub, on both stores.

Uploads go through Xet (token route, /cas, commit of the sha256), the materialisation worker writes the whole file,
and downloads work both ways: through Xet reconstruction (the default) and whole-file with HF_HUB_DISABLE_XET=1.
Each client gets its own HF_HOME: hf_xet keeps a shard cache there that changes what it sends.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from huggingface_hub import HfApi, constants, file_download, hf_hub_download, snapshot_download
from huggingface_hub.utils import _xet

from registry.models import Blob, Branch, CommitFile, XetFile, Xorb
from registry.xet import unpack_terms
from tests.fixtures.personas import make_key

pytestmark = pytest.mark.live
MiB = 1024 * 1024
XET_VARIABLES = ("HF_HUB_DISABLE_XET", "HF_XET_CACHE", "HF_XET_HIGH_PERFORMANCE")


class Client:
    """Switches the process's huggingface_hub/hf_xet to a fresh HF_HOME (hf_xet reads it when its session starts)."""

    def __init__(self, monkeypatch, tmp_path: Path, url: str) -> None:
        self.monkeypatch, self.tmp_path, self.url = monkeypatch, tmp_path, url
        self.home: Path | None = None
        self.xet_downloads = 0
        real = file_download.xet_get

        def counting_xet_get(*args, **kwargs):
            self.xet_downloads += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(file_download, "xet_get", counting_xet_get)
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
        for name in list(os.environ):
            if name in XET_VARIABLES or name.startswith("HF_XET_CLIENT_"):
                monkeypatch.delenv(name)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
        self.use("first", xet=True)

    def use(self, name: str, *, xet: bool = True) -> Path:
        home = self.tmp_path / f"hf-home-{name}"
        self.home = home
        self.monkeypatch.setenv("HF_HOME", str(home))
        self.monkeypatch.setattr(constants, "HF_HOME", str(home))
        self.monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
        self.monkeypatch.setattr(constants, "HF_XET_CACHE", str(home / "xet"))
        self.monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", not xet)  # read at import time: patch the constant
        self.monkeypatch.setattr(_xet, "_GLOBAL_XET_HOLDER", _xet.XetSessionHolder())
        return home

    def download(self, repo_id: str, filename: str, token: str, *, xet: bool, name: str) -> Path:
        self.use(name, xet=xet)
        return Path(hf_hub_download(repo_id, filename, endpoint=self.url, token=token))


@pytest.fixture
def hf(monkeypatch, tmp_path, live_server) -> Client:
    return Client(monkeypatch, tmp_path, live_server.url)


def write_random(path: Path, size: int) -> str:
    """Random bytes written in chunks; returns their sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MiB))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(4 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def head_blob(repo, path: str) -> Blob:
    head = Branch.objects.get(repo=repo, name="main").head
    return CommitFile.objects.select_related("blob").get(commit=head, path=path).blob


def xorbs_of(blob: Blob) -> set[str]:
    from registry.xet import hash_to_hex

    terms = unpack_terms(bytes(XetFile.objects.get(hash=blob.xet_hash).terms))
    return {hash_to_hex(t.xorb_hash) for t in terms}


def upload_and_check_both_downloads(hf, worker, repo, key: str, source: Path, path_in_repo: str) -> Blob:
    sha = sha256_of(source)
    HfApi(endpoint=hf.url, token=key).upload_file(path_or_fileobj=str(source), path_in_repo=path_in_repo,
                                                  repo_id=repo.repo_id)
    blob = head_blob(repo, path_in_repo)
    assert blob.sha256 == sha and blob.xet_hash  # it came through Xet, not the LFS batch
    assert blob.state == Blob.State.PENDING
    assert worker.run() == [Blob.State.VERIFIED]

    via_xet = hf.download(repo.repo_id, path_in_repo, key, xet=True, name="dl-xet")
    assert hf.xet_downloads == 1
    assert sha256_of(via_xet) == sha
    whole = hf.download(repo.repo_id, path_in_repo, key, xet=False, name="dl-lfs")
    assert hf.xet_downloads == 1  # the whole-file path, as every non-Xet client gets it
    assert sha256_of(whole) == sha
    return Blob.objects.get(pk=blob.pk)


def test_small_binary_uploads_over_xet_and_downloads_both_ways(hf, worker, make_repo, personas, blob_store,
                                                              tmp_path):
    repo = make_repo()
    source = tmp_path / "random.bin"
    write_random(source, 2 * MiB)
    upload_and_check_both_downloads(hf, worker, repo, make_key(personas.member), source, "random.bin")


def test_file_above_64_mib_spans_several_xorbs(hf, worker, make_repo, personas, blob_store, tmp_path):
    repo = make_repo()
    source = tmp_path / "big.bin"
    write_random(source, 70 * MiB)
    blob = upload_and_check_both_downloads(hf, worker, repo, make_key(personas.member), source, "big.bin")
    xorbs = xorbs_of(blob)
    assert len(xorbs) >= 2
    assert sum(Xorb.objects.filter(hash__in=xorbs).values_list("unpacked_size", flat=True)) >= 70 * MiB


def test_upload_folder_and_snapshot_download(hf, worker, make_repo, personas, blob_store, tmp_path):
    repo = make_repo()
    key = make_key(personas.member)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 8}')
    write_random(folder / "weights.bin", 1536 * 1024)
    HfApi(endpoint=hf.url, token=key).upload_folder(folder_path=str(folder), repo_id=repo.repo_id)
    assert head_blob(repo, "weights.bin").xet_hash
    worker.run()
    for name, xet in (("snap-xet", True), ("snap-lfs", False)):
        hf.use(name, xet=xet)
        snapshot = Path(snapshot_download(repo.repo_id, endpoint=hf.url, token=key))
        for filename in ("config.json", "weights.bin"):
            assert (snapshot / filename).read_bytes() == (folder / filename).read_bytes(), (name, filename)
    assert hf.xet_downloads == 1  # the Xet snapshot went through Xet for the binary (from the tree's xetHash)


def test_ranged_read_through_hf_xet(hf, worker, make_repo, personas, local_store, tmp_path):
    import hf_xet

    repo = make_repo()
    key = make_key(personas.member)
    source = tmp_path / "ranged.bin"
    write_random(source, 3 * MiB + 333)
    HfApi(endpoint=hf.url, token=key).upload_file(path_or_fileobj=str(source), path_in_repo="ranged.bin",
                                                  repo_id=repo.repo_id)
    blob = head_blob(repo, "ranged.bin")
    data = source.read_bytes()
    start, end = 1_000_123, 2_400_000  # end exclusive; starts inside a chunk
    group = hf_xet.XetSession().new_download_stream_group(
        token_refresh_url=f"{hf.url}/api/models/{repo.repo_id}/xet-read-token/main",
        token_refresh_headers={"Authorization": f"Bearer {key}"})
    piece = b"".join(group.download_stream(hf_xet.XetFileInfo(blob.xet_hash, blob.size), start, end))
    assert piece == data[start:end]


def test_edited_reupload_sends_only_the_new_chunks(hf, worker, make_repo, personas, blob_store, tmp_path):
    repo = make_repo()
    api = HfApi(endpoint=hf.url, token=make_key(personas.member))
    first = tmp_path / "v1.bin"
    write_random(first, 20 * MiB)
    api.upload_file(path_or_fileobj=str(first), path_in_repo="v1.bin", repo_id=repo.repo_id)
    sent_first = sum(Xorb.objects.values_list("size", flat=True))
    known = set(Xorb.objects.values_list("hash", flat=True))
    edited = tmp_path / "v2.bin"
    data = bytearray(first.read_bytes())
    middle = len(data) // 2
    data[middle: middle + 300 * 1024] = os.urandom(300 * 1024)
    edited.write_bytes(bytes(data))
    api.upload_file(path_or_fileobj=str(edited), path_in_repo="v2.bin", repo_id=repo.repo_id)
    sent_second = sum(Xorb.objects.exclude(hash__in=known).values_list("size", flat=True))
    assert sent_first >= 20 * MiB
    assert 0 < sent_second < sent_first / 10, (sent_first, sent_second)
    assert worker.run() == [Blob.State.VERIFIED, Blob.State.VERIFIED]
    assert sha256_of(hf.download(repo.repo_id, "v2.bin", api.token, xet=True, name="dl")) \
        == hashlib.sha256(bytes(data)).hexdigest()


def test_tokens_and_cas_access_stay_within_their_repo(hf, worker, make_repo, personas, local_store, tmp_path):
    first, second = make_repo("first"), make_repo("second")
    key = make_key(personas.member)
    source = tmp_path / "b.bin"
    write_random(source, 256 * 1024)
    HfApi(endpoint=hf.url, token=key).upload_file(path_or_fileobj=str(source), path_in_repo="b.bin",
                                                  repo_id=second.repo_id)
    file_hash = head_blob(second, "b.bin").xet_hash

    read_only = make_key(personas.member, "read")
    status, _ = get(f"{hf.url}/api/models/{second.repo_id}/xet-write-token/main", read_only)
    assert status == 403
    outsider = make_key(personas.outsider)
    status, _ = get(f"{hf.url}/api/models/{second.repo_id}/xet-write-token/main", outsider)
    assert status in (403, 404)

    status, body = get(f"{hf.url}/api/models/{first.repo_id}/xet-read-token/main", key)
    assert status == 200
    token = json.loads(body)
    status, _ = get(f"{token['casUrl']}/v1/reconstructions/{file_hash}", token["accessToken"],
                    headers={"Range": "bytes=0-99"})
    assert status == 404  # repo A's token can't reconstruct repo B's file
    status, _ = get(f"{hf.url}/api/models/{second.repo_id}/xet-read-token/main", key)
    assert status == 200


def get(url: str, token: str, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_an_interrupted_upload_resumes_without_resending_what_the_cas_holds(hf, worker, make_repo, personas,
                                                                            local_store, tmp_path, monkeypatch):
    """The xorbs went up, then the upload died before its shard was registered. The retry — from another machine
    even (a fresh HF_HOME: no local cache) — sends none of them again: asked for an upload grant, the CAS answers
    that it holds that xorb for this repo. (Over LFS the stock client PUTs every part URL it gets, so a resumed
    multipart upload can't skip parts; Xet is the resumable path.)"""
    from registry.services import xet as cas

    repo = make_repo()
    api = HfApi(endpoint=hf.url, token=make_key(personas.member))
    source = tmp_path / "big.bin"
    sha = write_random(source, 140 * MiB)  # three xorbs
    real_register = cas.register_shard

    def connection_lost(**kwargs):
        raise cas.CasRejected("the uploader went away")  # a 400: the client gives up at once

    received: list[str] = []  # xorbs the CAS was sent: POSTed, or PUT to a presigned grant and committed
    for name in ("store_xorb", "commit_grant"):
        real = getattr(cas, name)
        monkeypatch.setattr(cas, name, lambda _real=real, **kw: received.append(kw["hash_hex"]) or _real(**kw))
    monkeypatch.setattr(cas, "register_shard", connection_lost)
    with pytest.raises(Exception):  # noqa: B017 - whatever the client makes of it, the upload failed
        api.upload_file(path_or_fileobj=str(source), path_in_repo="big.bin", repo_id=repo.repo_id)
    assert not CommitFile.objects.filter(commit__repo=repo, path="big.bin").exists()
    first_try = sum(Xorb.objects.values_list("size", flat=True))
    assert first_try >= 140 * MiB and len(received) >= 3  # the stock client sent its xorbs

    monkeypatch.setattr(cas, "register_shard", real_register)
    received.clear()
    # The retry runs in another process with its own HF_HOME: nothing of the first client's state survives.
    code = ("import sys; from huggingface_hub import HfApi; HfApi(endpoint=sys.argv[1], token=sys.argv[2])"
            ".upload_file(path_or_fileobj=sys.argv[3], path_in_repo='big.bin', repo_id=sys.argv[4])")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update({"HF_HOME": str(tmp_path / "hf-home-another-machine"), "HF_HUB_DISABLE_TELEMETRY": "1",
                "NO_PROXY": "127.0.0.1,localhost"})
    done = subprocess.run([sys.executable, "-c", code, hf.url, api.token, str(source), repo.repo_id], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    # The CAS answers every grant request of the retry with "already stored" (the xorbs are linked to this repo).
    assert received == [], f"the retry sent {len(received)} xorbs again"
    assert worker.run() == [Blob.State.VERIFIED]
    assert head_blob(repo, "big.bin").sha256 == sha


def test_a_shard_cache_that_knows_gated_xorbs_gives_them_only_after_the_license_is_accepted(
        hf, worker, make_repo, personas, blob_store, tmp_path):
    """The stock client on a machine whose hf_xet shard cache remembers a gated checkpoint (its owner pushed it from
    there) sends no chunks for it, only a shard naming the gated xorbs: accepted only once the uploader may download
    the gated repo (authority never travels with a hash, even a xorb's), and then nothing is sent again."""
    from huggingface_hub.errors import HfHubHTTPError

    from registry.services.licenses import license_accept
    from registry.services.repos import repo_create

    gated = make_repo("gated", gating="auto")
    source = tmp_path / "weights.bin"
    write_random(source, 2 * MiB)
    HfApi(endpoint=hf.url, token=make_key(personas.member)).upload_file(
        path_or_fileobj=str(source), path_in_repo="weights.bin", repo_id=gated.repo_id)
    stored = set(Xorb.objects.values_list("hash", flat=True))
    mine = repo_create(actor=personas.outsider, namespace="oscar", name="mine")
    outsider = HfApi(endpoint=hf.url, token=make_key(personas.outsider))
    hf.use("first", xet=True)  # the same HF_HOME: its shard cache knows the gated xorbs
    with pytest.raises((HfHubHTTPError, RuntimeError, ValueError, OSError)) as refused:
        outsider.upload_file(path_or_fileobj=str(source), path_in_repo="weights.bin", repo_id=mine.repo_id)
    assert "400" in str(refused.value) and "/cas/v1/shards" in str(refused.value)  # the shard names unknown xorbs
    assert set(CommitFile.objects.filter(commit__repo=mine).values_list("path", flat=True)) == {".gitattributes"}
    license_accept(user=personas.outsider, repo=gated)
    hf.use("first", xet=True)
    outsider.upload_file(path_or_fileobj=str(source), path_in_repo="weights.bin", repo_id=mine.repo_id)
    assert set(Xorb.objects.values_list("hash", flat=True)) == stored  # nothing sent again
    worker.run()
    assert sha256_of(hf.download(mine.repo_id, "weights.bin", outsider.token, xet=True, name="dl")) == \
        sha256_of(source)
