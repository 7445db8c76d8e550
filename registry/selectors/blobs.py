"""Which blobs a repo may reference in a commit, and serve from its commits.

Bytes are stored once, but authority never travels with a hash (registry/models/uploads.py): knowing a sha256 and
a size — both visible in any tree listing — grants nothing. A commit into a repo may reference a sha256 only when
the repo holds it (a RepoBlob row), the repo's own Xet index has it, the committer may download another repo whose
history holds it, or an LFS upload of it into this repo is being hashed. Everything else is answered exactly as a
sha256 no one ever uploaded, so no answer tells whether the bytes exist elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef

from registry import permissions
from registry.models import Blob, BlobUpload, CommitFile, ModelRepo, RepoBlob, XetFile
from registry.selectors.repos import repo_visible_queryset

GRANTED = "granted"  # the repo holds the blob
XET = "xet"  # a file with this sha256 was registered for the repo by a verified Xet shard
REUSE = "reuse"  # the committer may download another repo whose history holds the (verified) blob
UPLOADING = "uploading"  # an LFS upload of it into this repo landed and is being hashed


@dataclass(frozen=True)
class BlobRef:
    """How a commit into a repo may reference one sha256."""

    sha256: str
    size: int  # the size the commit records: the blob's, the Xet file's, or the upload's declared one
    blob: Blob | None  # None: no row yet (a Xet file: xet_hub.xet_blobs_prepare makes it)
    via: str  # GRANTED, XET, REUSE (the commit grants the repo the blob) or UPLOADING (its upload will)


def blob_refs_for(*, viewer: Any, repo: ModelRepo, shas: Iterable[str], uploader: Any = None) -> dict[str, BlobRef]:
    """The sha256s among `shas` a commit by `viewer` into `repo` may reference, and how; absent ones may not.

    `uploader`: count only that user's LFS uploads in progress (the LFS batch asks for the caller's own; a commit
    accepts any writer's upload into the repo). Eight queries at most, plus a licence check per gated repo holding a
    blob no open repo the viewer sees holds, whatever the number of sha256s or of repos holding them.
    """
    wanted = set(shas)
    if not wanted:
        return {}
    blobs = {b.sha256: b for b in Blob.objects.filter(sha256__in=wanted)}
    by_id = {b.pk: b for b in blobs.values()}
    refs: dict[str, BlobRef] = {}
    for blob_id in RepoBlob.objects.filter(repo=repo, blob_id__in=by_id).values_list("blob_id", flat=True):
        blob = by_id[blob_id]
        refs[blob.sha256] = BlobRef(blob.sha256, blob.size, blob, GRANTED)
    if rest := wanted - refs.keys():
        for sha256, size in XetFile.objects.filter(sha256__in=rest, repo_links__repo=repo).values_list(
                "sha256", "size"):
            refs.setdefault(sha256, BlobRef(sha256, size, blobs.get(sha256), XET))
    if rest := wanted - refs.keys():
        reusable = [b for sha256 in rest if (b := blobs.get(sha256)) is not None and b.state == Blob.State.VERIFIED]
        for blob in _downloadable_elsewhere(viewer, repo, reusable):
            refs[blob.sha256] = BlobRef(blob.sha256, blob.size, blob, REUSE)
    if rest := wanted - refs.keys():
        uploads = BlobUpload.objects.filter(repo=repo, sha256__in=rest, state=BlobUpload.State.UPLOADED)
        if uploader is not None:
            uploads = uploads.filter(user=uploader)
        for sha256, size in uploads.values_list("sha256", "size"):
            refs.setdefault(sha256, BlobRef(sha256, size, blobs.get(sha256), UPLOADING))
    return refs


def _downloadable_elsewhere(viewer: Any, repo: ModelRepo, blobs: list[Blob]) -> list[Blob]:
    """The blobs held (RepoBlob) and committed by another repo that `viewer` may download (privacy, gating and an
    accepted license all apply; taken-down repos never lend their bytes).

    Visibility is filtered in SQL (repo_visible_queryset) and ungated holders settle the matter in one query, however
    many repos hold a popular blob; only gated holders of what is left get the per-repo licence check.
    """
    if not blobs:
        return []
    by_id = {b.pk: b for b in blobs}
    in_history = CommitFile.objects.filter(blob_id=OuterRef("blob_id"), commit__repo_id=OuterRef("repo_id"))
    holders = (RepoBlob.objects.filter(blob_id__in=by_id, repo__disabled=False,
                                       repo__in=repo_visible_queryset(viewer=viewer).values("pk"))
               .exclude(repo=repo).filter(Exists(in_history)))
    found = set(holders.filter(repo__gating=ModelRepo.Gating.NONE).values_list("blob_id", flat=True).distinct())
    if rest := set(by_id) - found:
        gated = list(holders.filter(blob_id__in=rest).values_list("blob_id", "repo_id"))
        repos = ModelRepo.objects.select_related("owner_org", "license").in_bulk({r for _, r in gated})
        verdicts: dict[int, bool] = {}
        for blob_id, repo_id in gated:
            if blob_id in found:
                continue
            if repo_id not in verdicts:
                verdicts[repo_id] = permissions.can_download(viewer, repos[repo_id])
            if verdicts[repo_id]:
                found.add(blob_id)
    return [by_id[pk] for pk in found]


# --- downloads -----------------------------------------------------------------------------------------------------


def granted_annotation(repo_id: int) -> Exists:
    """`blob_granted` for CommitFile rows of the repo: does the repo hold the file's blob? An annotation, so the
    download route pays no extra query."""
    return Exists(RepoBlob.objects.filter(repo_id=repo_id, blob_id=OuterRef("blob_id")))


def uploading_annotation(repo_id: int) -> Exists:
    """`blob_uploading` for CommitFile rows of the repo: is an upload of the file's bytes into it being hashed?"""
    return Exists(BlobUpload.objects.filter(repo_id=repo_id, sha256=OuterRef("blob__sha256"),
                                            state=BlobUpload.State.UPLOADED))


def upload_in_progress(*, repo: ModelRepo, sha256: str) -> bool:
    """An LFS upload of these bytes into `repo` landed and is being hashed: the file will be servable soon."""
    return BlobUpload.objects.filter(repo=repo, sha256=sha256, state=BlobUpload.State.UPLOADED).exists()


def file_granted(*, repo: ModelRepo, commit_file: CommitFile) -> bool:
    """May `repo` serve this file's bytes? Inline files: always. Blob files: only when the repo holds the blob (its
    upload was verified, or it was brought in with authority); a file committed while its upload was still being
    hashed is served once that upload verifies, never on the strength of someone else's bytes."""
    if commit_file.blob_id is None:
        return True
    granted = getattr(commit_file, "blob_granted", None)
    if granted is None:
        granted = RepoBlob.objects.filter(repo_id=repo.pk, blob_id=commit_file.blob_id).exists()
    return bool(granted)
