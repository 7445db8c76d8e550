"""Pull requests with the stock client (huggingface_hub 2.4 + hf_xet) against a live hub: a reader opens a PR over
LFS and over Xet, pushes to refs/pr/N, a writer merges it; conflicts, the validation gate, permissions, refs."""

from __future__ import annotations

import hashlib
import re

import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

from registry.hashing import git_blob_sha1
from registry.models import Blob, Branch, CommitFile, ContentVerdict, Discussion, DiscussionEvent, pr_ref
from registry.services.commits import AddInline, commit_create
from tests.fixtures.personas import make_key

pytestmark = pytest.mark.live
KiB = 1024


@pytest.fixture
def api_for(live_server, client_env):
    def _api(user, scopes: str = "read,write") -> HfApi:
        return HfApi(endpoint=live_server.url, token=make_key(user, scopes))

    return _api


@pytest.fixture
def seeded(make_repo, personas):
    def _seeded(name: str = "tiny", **kwargs):
        repo = make_repo(name, **kwargs)
        commit_create(actor=personas.owner, repo=repo, title="seed",
                      operations=[AddInline("README.md", b"# tiny\n"), AddInline("notes.txt", b"one\ntwo\n")])
        return repo

    return _seeded


def payload(size: int, seed: bytes) -> bytes:
    """Incompressible bytes (hf_xet chunks them by content: no repeated chunks)."""
    return b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(size // 32 + 1))[:size]


def head(repo, branch: str = "main"):
    return Branch.objects.get(repo=repo, name=branch).head


def paths(commit) -> dict[str, CommitFile]:
    return {f.path: f for f in CommitFile.objects.filter(commit=commit).select_related("blob")}


def status_of(exc: HfHubHTTPError) -> int:
    return exc.response.status_code


def upload_round_trip(api_reader: HfApi, api_writer: HfApi, repo, tmp_path, *, xet: bool) -> None:
    """A reader opens a PR with a large file, pushes a second commit to refs/pr/N, a writer merges."""
    main_before = head(repo).oid
    weights = tmp_path / "weights.bin"
    weights.write_bytes(payload(300 * KiB, b"first"))
    info = api_reader.upload_file(path_or_fileobj=str(weights), path_in_repo="weights.bin", repo_id=repo.repo_id,
                                  commit_message="Add weights", commit_description="They help.", create_pr=True)
    assert re.fullmatch(r".*/discussions/(\d+)", info.pr_url) and info.pr_revision == "refs/pr/1"
    num = info.pr_num
    discussion = Discussion.objects.get(repo=repo, num=num)
    assert discussion.is_pull_request and discussion.status == "open" and discussion.title == "Add weights"
    assert discussion.author.username == "rae"
    assert head(repo).oid == main_before  # never on the base
    pr_files = paths(head(repo, pr_ref(num)))
    assert pr_files["weights.bin"].blob.sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert bool(pr_files["weights.bin"].blob.xet_hash) == xet  # it really went the way asked

    # A second push by the author, to refs/pr/N.
    second = tmp_path / "extra.bin"
    second.write_bytes(payload(200 * KiB, b"second"))
    api_reader.upload_file(path_or_fileobj=str(second), path_in_repo="extra.bin", repo_id=repo.repo_id,
                           revision=info.pr_revision, commit_message="Add extra")
    api_reader.upload_file(path_or_fileobj=b"one\n2\n", path_in_repo="notes.txt", repo_id=repo.repo_id,
                           revision=info.pr_revision, commit_message="Fix notes")
    subjects = list(DiscussionEvent.objects.filter(discussion=discussion, type="commit")
                    .values_list("data__subject", flat=True))
    assert subjects == ["Add weights", "Add extra", "Fix notes"]
    assert head(repo).oid == main_before

    # Details through the discussions' PR keys, and the PR's bytes at refs/pr/N.
    downloaded = hf_hub_download(repo.repo_id, "extra.bin", revision=info.pr_revision,
                                 endpoint=api_reader.endpoint, token=api_reader.token,
                                 cache_dir=str(tmp_path / "dl"))
    assert open(downloaded, "rb").read() == second.read_bytes()
    refs = api_reader.list_repo_refs(repo.repo_id, include_pull_requests=True)
    assert [b.name for b in refs.branches] == ["main"]
    assert [(p.ref, p.target_commit) for p in refs.pull_requests] == [("refs/pr/1", head(repo, "refs/pr/1").oid)]

    # The reader can't merge it; a writer does.
    with pytest.raises(HfHubHTTPError) as caught:
        api_reader.merge_pull_request(repo.repo_id, num)
    assert status_of(caught.value) == 403
    api_writer.merge_pull_request(repo.repo_id, num, comment="Merged, thanks")
    discussion.refresh_from_db()
    merged = head(repo)
    assert discussion.status == "merged" and discussion.merge_commit_oid == merged.oid
    assert merged.parent.oid == main_before and merged.title.startswith("Merge pull request #1")
    main_files = paths(merged)
    assert {"weights.bin", "extra.bin"} <= main_files.keys()
    assert bytes(main_files["notes.txt"].content) == b"one\n2\n"
    assert main_files["weights.bin"].blob_id == pr_files["weights.bin"].blob_id  # no bytes moved
    main_copy = hf_hub_download(repo.repo_id, "weights.bin", endpoint=api_writer.endpoint, token=api_writer.token,
                                cache_dir=str(tmp_path / "dl-main"))
    assert open(main_copy, "rb").read() == weights.read_bytes()
    # A merged PR takes no more pushes.
    with pytest.raises(HfHubHTTPError) as caught:
        api_reader.upload_file(path_or_fileobj=b"late", path_in_repo="late.txt", repo_id=repo.repo_id,
                               revision=info.pr_revision)
    assert status_of(caught.value) == 409


def test_reader_opens_a_pr_over_lfs_and_a_writer_merges(no_xet, api_for, seeded, personas, tmp_path, transfers):
    repo = seeded(private=True)  # a read-role member of the owning org
    upload_round_trip(api_for(personas.reader), api_for(personas.member), repo, tmp_path, xet=False)
    assert transfers["basic"] == 2  # both files went through the LFS batch, as a reader


def test_reader_opens_a_pr_over_xet_and_a_writer_merges(stock_xet, api_for, seeded, personas, tmp_path):
    repo = seeded(private=True)
    upload_round_trip(api_for(personas.reader), api_for(personas.member), repo, tmp_path, xet=True)
    assert Blob.objects.filter(xet_hash__gt="").count() >= 2


def test_outsider_opens_a_pr_on_a_public_repo_with_create_commit(no_xet, api_for, seeded, personas):
    repo = seeded()
    api = api_for(personas.outsider)
    info = api.create_commit(repo.repo_id, operations=[CommitOperationAdd("config.json", b'{"a": 1}')],
                             commit_message="Add config", create_pr=True)
    assert info.pr_num == 1 and info.oid == head(repo, "refs/pr/1").oid
    assert "config.json" not in paths(head(repo))
    # ...but can't write main, nor push to somebody else's PR.
    with pytest.raises(HfHubHTTPError) as caught:
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo.repo_id)
    assert status_of(caught.value) == 403
    other = api_for(personas.reader).create_commit(repo.repo_id, operations=[CommitOperationAdd("r.txt", b"r")],
                                                   commit_message="Reader's PR", create_pr=True)
    with pytest.raises(HfHubHTTPError) as caught:
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo.repo_id,
                        revision=other.pr_revision)
    assert status_of(caught.value) == 403
    # A read-only key proposes nothing.
    with pytest.raises(HfHubHTTPError) as caught:
        api_for(personas.outsider, "read").create_commit(
            repo.repo_id, operations=[CommitOperationAdd("y.txt", b"y")], commit_message="nope", create_pr=True)
    assert status_of(caught.value) == 403
    assert Discussion.objects.filter(repo=repo).count() == 2


def test_outsider_gets_404_on_a_private_repo(no_xet, api_for, seeded, personas):
    repo = seeded(private=True)
    with pytest.raises(RepositoryNotFoundError):
        api_for(personas.outsider).upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo.repo_id,
                                               create_pr=True)
    assert not Discussion.objects.filter(repo=repo).exists()


def test_conflicting_pr_is_refused_at_merge(no_xet, api_for, seeded, personas):
    repo = seeded()
    info = api_for(personas.outsider).upload_file(path_or_fileobj=b"mine\n", path_in_repo="notes.txt",
                                                  repo_id=repo.repo_id, create_pr=True)
    writer = api_for(personas.member)
    writer.upload_file(path_or_fileobj=b"theirs\n", path_in_repo="notes.txt", repo_id=repo.repo_id)
    before = head(repo).oid
    with pytest.raises(HfHubHTTPError) as caught:
        writer.merge_pull_request(repo.repo_id, info.pr_num)
    assert status_of(caught.value) == 409 and "notes.txt" in str(caught.value)
    assert head(repo).oid == before


def test_a_quarantined_file_blocks_the_merge(no_xet, api_for, seeded, personas):
    repo = seeded()
    hostile = b'{"hostile": true}'
    info = api_for(personas.outsider).upload_file(path_or_fileobj=hostile, path_in_repo="config.json",
                                                  repo_id=repo.repo_id, create_pr=True)
    ContentVerdict.objects.create(sha256=hashlib.sha256(hostile).hexdigest(), git_oid=git_blob_sha1(hostile),
                                  size=len(hostile), status="failed", reason="not a config")
    with pytest.raises(HfHubHTTPError) as caught:
        api_for(personas.member).merge_pull_request(repo.repo_id, info.pr_num)
    assert status_of(caught.value) == 409
    assert "config.json" in str(caught.value) and "not a config" in str(caught.value)
    assert "config.json" not in paths(head(repo))


def test_gated_pr_bytes_need_the_license(no_xet, api_for, seeded, personas, tmp_path):
    repo = seeded("gated", gating="auto")
    info = api_for(personas.outsider).upload_file(path_or_fileobj=b"proposed", path_in_repo="p.txt",
                                                  repo_id=repo.repo_id, create_pr=True)
    api = api_for(personas.outsider)
    with pytest.raises(GatedRepoError):
        hf_hub_download(repo.repo_id, "notes.txt", revision=info.pr_revision, endpoint=api.endpoint,
                        token=api.token, cache_dir=str(tmp_path / "out"))
    member = api_for(personas.reader)
    got = hf_hub_download(repo.repo_id, "p.txt", revision=info.pr_revision, endpoint=member.endpoint,
                          token=member.token, cache_dir=str(tmp_path / "in"))
    assert open(got, "rb").read() == b"proposed"


def test_pr_revision_routes(no_xet, api_for, seeded, personas):
    repo = seeded()
    api = api_for(personas.outsider)
    info = api.upload_file(path_or_fileobj=b"v", path_in_repo="dir/v.txt", repo_id=repo.repo_id, create_pr=True)
    rev = info.pr_revision
    assert api.model_info(repo.repo_id, revision=rev).sha == head(repo, rev).oid
    assert "dir/v.txt" in api.list_repo_files(repo.repo_id, revision=rev)
    assert [p.path for p in api.get_paths_info(repo.repo_id, ["dir/v.txt"], revision=rev)] == ["dir/v.txt"]
    assert api.list_repo_commits(repo.repo_id, revision=rev)[0].title == "Upload dir/v.txt with huggingface_hub"
    # No branch by that name can be made or deleted by hand.
    with pytest.raises(HfHubHTTPError) as caught:
        api_for(personas.member).create_branch(repo.repo_id, branch="refs/pr/9")
    assert status_of(caught.value) == 400


def test_upload_folder_with_xet_opens_a_pr(stock_xet, api_for, seeded, personas, tmp_path):
    """upload_folder(create_pr=True) with hf_xet opens a draft with create_pull_request (the discussions API), then
    commits to refs%2Fpr%2FN."""
    repo = seeded()
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "weights.bin").write_bytes(payload(256 * KiB, b"folder"))
    info = api_for(personas.reader).upload_folder(folder_path=str(folder), repo_id=repo.repo_id, create_pr=True)
    num = int(info.pr_url.rsplit("/", 1)[1])
    pr_files = paths(head(repo, pr_ref(num)))
    assert {"config.json", "weights.bin"} <= pr_files.keys() and pr_files["weights.bin"].blob.xet_hash
    assert "weights.bin" not in paths(head(repo))
    # One PR only (the draft create_pull_request opened), with the upload as its commit event.
    assert info.pr_revision == f"refs/pr/{num}"
    (pr,) = Discussion.objects.filter(repo=repo, is_pull_request=True)
    assert pr.num == num and pr.title == "Upload folder using huggingface_hub" and pr.author == personas.reader
    details = api_for(personas.reader).get_discussion_details(repo.repo_id, num)
    assert [e.summary for e in details.events if e.type == "commit"] == ["Upload folder using huggingface_hub"]


def test_refs_lists_pull_requests_in_bounded_queries(client, seeded, personas):
    from registry.services.pulls import pr_commit_open

    repo = seeded()

    def refs_queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/api/models/{repo.repo_id}/refs?include_prs=1")
        assert response.status_code == 200
        return len(captured)

    pr_commit_open(actor=personas.reader, repo=repo, title="one", operations=[AddInline("a.txt", b"a")])
    one = refs_queries()
    for n in range(3):
        pr_commit_open(actor=personas.reader, repo=repo, title=f"more {n}", operations=[AddInline("a.txt", b"b")])
    assert refs_queries() == one
    data = client.get(f"/api/models/{repo.repo_id}/refs?include_prs=1").json()
    assert [p["ref"] for p in data["pullRequests"]] == ["refs/pr/1", "refs/pr/2", "refs/pr/3", "refs/pr/4"]
    assert all(set(p) == {"name", "ref", "targetCommit"} for p in data["pullRequests"])
    assert [b["name"] for b in data["branches"]] == ["main"]
    assert "pullRequests" not in client.get(f"/api/models/{repo.repo_id}/refs").json()
