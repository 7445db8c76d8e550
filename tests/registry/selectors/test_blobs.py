"""Which sha256s a commit into a repo may reference (selectors.blobs): what the repo holds, its Xet index, bytes
of another repo the committer may download, and uploads into the repo being hashed — never the hash alone."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import Blob, BlobUpload, ModelRepo, RepoBlob, XetFile, XetFileRepo
from registry.selectors.blobs import GRANTED, REUSE, UPLOADING, XET, blob_refs_for, file_granted
from registry.services.blobs import blob_ingest_stream
from registry.services.commits import AddBlob, commit_create
from registry.services.licenses import license_accept
from registry.services.repos import repo_create

PERSONAS = ["owner", "member", "reader", "outsider", "anonymous"]


def held(repo: ModelRepo, data: bytes, *, committed: bool = True) -> Blob:
    """`data` uploaded into `repo` (which then holds it) and, unless told otherwise, committed there."""
    blob = blob_ingest_stream(stream=io.BytesIO(data), repo=repo)
    if committed:
        commit_create(actor=repo.owner_user or _org_admin(repo), repo=repo, title="w",
                      operations=[AddBlob(f"{blob.sha256[:8]}.bin", blob.sha256, blob.size)])
    return blob


def _org_admin(repo: ModelRepo):  # noqa: ANN202
    return repo.owner_org.memberships.get(role="admin").user


@pytest.fixture
def target(personas) -> ModelRepo:
    return repo_create(actor=personas.outsider, namespace="oscar", name="mine")


def test_a_repo_may_reference_what_it_holds(personas, target, local_store):
    blob = held(target, b"mine", committed=False)
    assert blob_refs_for(viewer=personas.outsider, repo=target, shas=[blob.sha256])[blob.sha256].via == GRANTED


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize(("kind", "allowed"), [
    ("public", {"owner", "member", "reader", "outsider", "anonymous"}),
    ("private", {"owner", "member", "reader"}),
    ("gated", {"owner", "member", "reader"}),  # members of the owner are exempt; the outsider never accepted
])
def test_bytes_of_another_repo_are_referenceable_only_by_those_who_may_download_them(
        personas, make_repo, target, local_store, who, kind, allowed):
    source = make_repo("source", private=kind == "private", gating="auto" if kind == "gated" else "none")
    blob = held(source, b"weights of " + kind.encode())
    refs = blob_refs_for(viewer=getattr(personas, who), repo=target, shas=[blob.sha256])
    assert (blob.sha256 in refs) == (who in allowed)
    if who in allowed:
        assert (refs[blob.sha256].via, refs[blob.sha256].size) == (REUSE, blob.size)


def test_accepting_a_gated_repos_license_makes_its_bytes_referenceable(personas, make_repo, target, local_store):
    source = make_repo("source", gating="auto")
    blob = held(source, b"gated weights")
    assert blob_refs_for(viewer=personas.outsider, repo=target, shas=[blob.sha256]) == {}
    license_accept(user=personas.outsider, repo=source)
    assert blob_refs_for(viewer=personas.outsider, repo=target, shas=[blob.sha256])[blob.sha256].via == REUSE


def test_what_another_repo_uploaded_but_never_committed_is_not_lent(personas, make_repo, target, local_store):
    blob = held(make_repo("source", private=True), b"uploaded, not committed", committed=False)
    assert blob_refs_for(viewer=personas.member, repo=target, shas=[blob.sha256]) == {}


def test_a_taken_down_repo_lends_nothing(personas, make_repo, target, local_store):
    source = make_repo("source")
    blob = held(source, b"taken down")
    ModelRepo.objects.filter(pk=source.pk).update(disabled=True)
    assert blob_refs_for(viewer=personas.owner, repo=target, shas=[blob.sha256]) == {}


def test_files_registered_by_the_repos_xet_index_count_and_no_other_repos(personas, make_repo, target, db):
    other = make_repo("other", private=True)
    xet_file = XetFile.objects.create(hash="1" * 64, sha256="2" * 64, size=5, terms=b"")
    XetFileRepo.objects.create(file=xet_file, repo=other)
    assert blob_refs_for(viewer=personas.outsider, repo=target, shas=["2" * 64]) == {}
    XetFileRepo.objects.create(file=xet_file, repo=target)
    ref = blob_refs_for(viewer=personas.outsider, repo=target, shas=["2" * 64])["2" * 64]
    assert (ref.via, ref.size, ref.blob) == (XET, 5, None)


def test_an_upload_being_hashed_counts_in_its_own_repo_only(personas, make_repo, target, db):
    other = make_repo("other")
    BlobUpload.objects.create(repo=other, user=personas.member, sha256="3" * 64, size=7, staging_key="s/3",
                              state=BlobUpload.State.UPLOADED)
    assert blob_refs_for(viewer=personas.outsider, repo=target, shas=["3" * 64]) == {}
    ref = blob_refs_for(viewer=personas.owner, repo=other, shas=["3" * 64])["3" * 64]
    assert (ref.via, ref.size) == (UPLOADING, 7)
    # the LFS batch asks for the caller's own uploads: someone else's unfinished one is not "present" for you
    assert blob_refs_for(viewer=personas.owner, repo=other, shas=["3" * 64], uploader=personas.owner) == {}


def test_the_check_costs_the_same_few_queries_for_three_files_or_two_thousand(personas, make_repo, target,
                                                                               local_store):
    source = make_repo("source", private=True)
    blob = held(source, b"shared")
    held(target, b"own", committed=False)

    def queries(count: int) -> int:
        shas = [blob.sha256, hashlib.sha256(b"own").hexdigest()]
        shas += [hashlib.sha256(str(n).encode()).hexdigest() for n in range(count)]
        with CaptureQueriesContext(connection) as captured:
            refs = blob_refs_for(viewer=personas.member, repo=target, shas=shas)
        assert set(refs) == set(shas[:2])
        return len(captured.captured_queries)

    assert queries(3) == queries(2000) <= 8


def test_a_file_is_served_only_by_repos_holding_its_blob(personas, make_repo, local_store):
    repo = make_repo()
    blob = held(repo, b"served")
    entry = repo.commits.first().files.get(path=f"{blob.sha256[:8]}.bin")
    assert file_granted(repo=repo, commit_file=entry)
    RepoBlob.objects.filter(repo=repo).delete()
    assert not file_granted(repo=repo, commit_file=entry)


def test_the_check_costs_the_same_however_many_repos_hold_the_blob(personas, make_repo, target, local_store):
    data = b"popular weights"
    first = make_repo("r0")
    blob = held(first, data)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert blob_refs_for(viewer=personas.outsider, repo=target, shas=[blob.sha256])
        return len(captured.captured_queries)

    one = queries()
    for n in range(1, 15):
        held(make_repo(f"r{n}", private=n % 3 == 0), data)
    assert queries() == one
