"""Uploads over the Hub protocol: where each file goes, LFS transfers, and what happens after the bytes land.

The client asks `preupload` whether a file is committed inline ("regular") or through the blob store
("lfs"), asks the LFS batch endpoint for upload URLs, sends the bytes straight to the store, then tells
the hub the upload is done (verify, or multipart completion). Only then may a commit reference the object.

Resumed multipart uploads: huggingface_hub 2.4 sends every part again (it requires one URL per part and
keeps no record of parts already sent), so resuming saves no bytes on the wire. We reuse the blob's
multipart upload id, so parts already in the store stay valid until the client overwrites them, and an
interrupted upload never leaves more than one dangling multipart upload per object (the GC aborts it).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from registry import permissions
from registry.exceptions import BlobMissing, InvalidInput, RevisionNotFound, TooLarge
from registry.hashing import SHA256_RE
from registry.models import ApiKey, Blob, Commit, ModelRepo
from registry.services.audit import audit_record
from registry.services.blobs import blob_register, blob_verify
from registry.services.commits import AddBlob, AddInline, Operation, commit_create
from registry.services.jobs import job_dispatch, job_enqueue
from registry.services.repos import DEFAULT_GITATTRIBUTES
from registry.storage import ObjectMissing, get_store
from registry.storage.base import InvalidUpload

MAX_PREUPLOAD_FILES = 1000
MAX_BATCH_OBJECTS = 1000
# S3 refuses more parts than this; above it the chunk size grows.
MAX_MULTIPART_PARTS = 10_000
MiB = 1024 * 1024


# --- preupload ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreuploadFile:
    path: str
    size: int
    sample: bytes


@dataclass(frozen=True)
class PreuploadAnswer:
    path: str
    upload_mode: str  # "lfs" | "regular"
    oid: str | None  # the file already at this path, in the client's terms for that mode


def lfs_patterns(gitattributes: str) -> list[str]:
    """The patterns a .gitattributes marks `filter=lfs`."""
    patterns = []
    for line in gitattributes.splitlines():
        parts = line.strip().split()
        if len(parts) >= 2 and not parts[0].startswith("#") and "filter=lfs" in parts[1:]:
            patterns.append(parts[0])
    return patterns


DEFAULT_LFS_PATTERNS = lfs_patterns(DEFAULT_GITATTRIBUTES)


def _matches(path: str, patterns: Iterable[str]) -> bool:
    basename = path.rsplit("/", 1)[-1]
    for pattern in patterns:
        # gitattributes: a pattern without '/' matches the name at any depth, else the whole path.
        if "/" in pattern.rstrip("/"):
            if fnmatch.fnmatchcase(path, pattern.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(basename, pattern):
            return True
    return False


def upload_mode_decide(*, path: str, size: int, sample: bytes, patterns: Iterable[str] = ()) -> str:
    """ "lfs" for weights and other binary formats, anything large, or anything binary-looking."""
    if size == 0:
        return "regular"  # the client forces this anyway: empty objects can't go through S3
    if size > settings.INLINE_FILE_MAX_SIZE:
        return "lfs"
    if b"\x00" in sample:
        return "lfs"
    if _matches(path, DEFAULT_LFS_PATTERNS) or _matches(path, patterns):
        return "lfs"
    return "regular"


def preupload_plan(
    *,
    actor: Any,
    repo: ModelRepo,
    revision: str,
    files: Sequence[PreuploadFile],
    api_key: ApiKey | None = None,
) -> list[PreuploadAnswer]:
    """Upload mode per file, plus the oid of what the revision already holds there (no-op detection)."""
    from registry.selectors.repos import commit_files, revision_resolve

    permissions.require_write_repo(actor, repo, api_key)
    if len(files) > MAX_PREUPLOAD_FILES:
        raise InvalidInput(f"at most {MAX_PREUPLOAD_FILES} files per preupload call")
    try:
        head: Commit | None = revision_resolve(repo=repo, revision=revision)
    except RevisionNotFound:
        head = None  # a branch about to be created: nothing to compare with
    existing = {}
    patterns: list[str] = []
    if head is not None:
        wanted = {f.path for f in files} | {".gitattributes"}
        existing = {f.path: f for f in commit_files(commit=head).filter(path__in=wanted).defer(None)}
        attributes = existing.get(".gitattributes")
        if attributes is not None and attributes.content is not None:
            patterns = lfs_patterns(bytes(attributes.content).decode("utf-8", errors="replace"))
    answers = []
    for item in files:
        if item.size < 0:
            raise InvalidInput(f"{item.path}: size must not be negative")
        mode = upload_mode_decide(path=item.path, size=item.size, sample=item.sample, patterns=patterns)
        answers.append(PreuploadAnswer(item.path, mode, _existing_oid(existing.get(item.path), mode)))
    return answers


def _existing_oid(entry: Any, mode: str) -> str | None:
    """git sha1 of the content for regular files, sha256 for LFS ones (what the client compares)."""
    if entry is None:
        return None
    if mode == "lfs":
        if entry.blob is not None:
            return entry.blob.sha256
        import hashlib

        return hashlib.sha256(bytes(entry.content)).hexdigest()
    return entry.git_oid if entry.blob_id is None else None


# --- LFS batch ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LfsObjectPlan:
    """What the client should do with one object. `kind`: present | basic | multipart | error."""

    oid: str
    size: int
    kind: str
    blob_id: int | None = None
    upload_url: str | None = None
    upload_id: str | None = None
    chunk_size: int | None = None
    part_urls: list[str] = field(default_factory=list)
    error_code: int | None = None
    error_message: str | None = None


def multipart_chunk_size(size: int) -> int:
    """The configured chunk size, grown (in whole MiB) when the object would need too many parts."""
    chunk = settings.LFS_MULTIPART_CHUNK_SIZE
    if math.ceil(size / chunk) > MAX_MULTIPART_PARTS:
        chunk = math.ceil(size / MAX_MULTIPART_PARTS / MiB) * MiB
    return chunk


def _object_error(oid: Any, size: Any, code: int, message: str) -> LfsObjectPlan:
    return LfsObjectPlan(
        oid=oid if isinstance(oid, str) else str(oid),
        size=size if isinstance(size, int) and not isinstance(size, bool) else 0,
        kind="error",
        error_code=code,
        error_message=message,
    )


def lfs_batch_plan(
    *, actor: Any, repo: ModelRepo, objects: Sequence[dict[str, Any]], api_key: ApiKey | None = None
) -> list[LfsObjectPlan]:
    """Decide, per object, whether the client uploads it (and how) or it is already stored.

    Verified objects are shared by every repo (dedup): the client skips them. Everything else is
    registered (pending) and gets presigned URLs; registering again restarts the object's grace period,
    so the storage GC never sweeps an upload in progress.
    """
    permissions.require_write_repo(actor, repo, api_key)
    if len(objects) > MAX_BATCH_OBJECTS:
        raise InvalidInput(f"at most {MAX_BATCH_OBJECTS} objects per batch request")
    plans = []
    for obj in objects:
        oid, size = obj.get("oid"), obj.get("size")
        if not isinstance(oid, str) or not SHA256_RE.match(oid):
            plans.append(_object_error(oid, size, 422, f"oid {oid!r} is not a lower-case sha256 hex digest"))
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            plans.append(_object_error(oid, size, 422, f"size {size!r} is not a non-negative integer"))
            continue
        if size > settings.MAX_FILE_SIZE:
            message = f"object is {size} bytes; files may be {settings.MAX_FILE_SIZE} bytes at most"
            plans.append(_object_error(oid, size, 422, message))
            continue
        try:
            plans.append(_plan_object(oid, size))
        except InvalidInput as exc:
            plans.append(_object_error(oid, size, 422, exc.message))
    return plans


def _plan_object(oid: str, size: int) -> LfsObjectPlan:
    blob = blob_register(sha256=oid, size=size)
    now = timezone.now()
    if blob.state == Blob.State.VERIFIED or (
        blob.state == Blob.State.PENDING and blob.uploaded_at is not None
    ):
        # Verified, or uploaded and waiting for its worker: nobody may overwrite those bytes meanwhile.
        Blob.objects.filter(pk=blob.pk).update(created_at=now)
        return LfsObjectPlan(oid=oid, size=size, kind="present", blob_id=blob.pk)
    # Pending (maybe an earlier, interrupted attempt) or rejected (bad bytes, already deleted): upload again.
    Blob.objects.filter(pk=blob.pk).exclude(state=Blob.State.VERIFIED).update(
        created_at=now, state=Blob.State.PENDING, rejected_reason="", uploaded_at=None,
        xet_hash="",  # these bytes come through LFS now, not from a (rejected) Xet reconstruction
    )
    store = get_store()
    ttl = settings.PRESIGNED_URL_TTL
    if size <= settings.LFS_MULTIPART_THRESHOLD:
        return LfsObjectPlan(
            oid=oid,
            size=size,
            kind="basic",
            blob_id=blob.pk,
            upload_url=store.presigned_put_url(blob.storage_key, expires=ttl, size=size),
        )
    upload_id = _multipart_upload_id(blob)
    chunk = multipart_chunk_size(size)
    parts = math.ceil(size / chunk)
    urls = [
        store.multipart_part_url(blob.storage_key, upload_id, number, expires=ttl)
        for number in range(1, parts + 1)
    ]
    return LfsObjectPlan(
        oid=oid,
        size=size,
        kind="multipart",
        blob_id=blob.pk,
        upload_id=upload_id,
        chunk_size=chunk,
        part_urls=urls,
    )


def _multipart_upload_id(blob: Blob) -> str:
    """The blob's open multipart upload (resumed) or a new one; one per blob even under races."""
    store = get_store()
    if blob.multipart_upload_id:
        try:
            store.multipart_list_parts(blob.storage_key, blob.multipart_upload_id)
            return blob.multipart_upload_id
        except ObjectMissing:
            pass  # completed, aborted or expired: start over
    upload_id = store.multipart_create(blob.storage_key)
    claimed = Blob.objects.filter(pk=blob.pk, multipart_upload_id=blob.multipart_upload_id).update(
        multipart_upload_id=upload_id
    )
    if not claimed:
        # Someone else started one at the same moment: use theirs, drop ours.
        store.multipart_abort(blob.storage_key, upload_id)
        return Blob.objects.values_list("multipart_upload_id", flat=True).get(pk=blob.pk)
    return upload_id


# --- after the bytes land -------------------------------------------------------------------------


def _after_upload(*, blob: Blob, actor: Any, ip: str | None) -> Blob:
    """Check the stored object, then verify its sha256 now (small) or in a worker (large)."""
    if blob.state == Blob.State.VERIFIED:
        return blob
    store = get_store()
    info = store.head(blob.storage_key)
    if info is None:
        raise BlobMissing(f"object {blob.sha256} has not been uploaded (nothing in the store)")
    if info.size != blob.size:
        store.delete(blob.storage_key)
        raise InvalidInput(
            f"object {blob.sha256}: {info.size} bytes were uploaded but {blob.size} were declared; "
            "upload it again",
            status=422,
        )
    if blob.size <= settings.SYNC_VERIFY_MAX_SIZE:
        blob = blob_verify(blob=blob)
        _audit_upload(blob, actor, ip, verified="sync")
        if blob.state == Blob.State.REJECTED:
            raise InvalidInput(
                f"object {blob.sha256} was rejected: its content does not match its sha256 "
                f"({blob.rejected_reason})",
                code="ObjectRejected",
                status=422,
            )
        return blob
    with transaction.atomic():
        Blob.objects.filter(pk=blob.pk, state=Blob.State.PENDING).update(uploaded_at=timezone.now())
        _audit_upload(blob, actor, ip, verified="queued")
        blob_id = blob.pk
        job_enqueue(task="registry.verify_blob", key=blob_id, send=lambda key: _queue_verify(key))
    blob.refresh_from_db()
    return blob


def _queue_verify(blob_id: int) -> None:
    job_dispatch(task="registry.verify_blob", key=blob_id)


def _audit_upload(blob: Blob, actor: Any, ip: str | None, *, verified: str) -> None:
    audit_record(
        actor=actor,
        action="blob.upload",
        target=blob,
        target_label=blob.sha256,
        ip=ip,
        metadata={"size": blob.size, "state": blob.state, "verification": verified},
    )


def lfs_upload_verify(
    *, actor: Any, repo: ModelRepo, oid: Any, size: Any, api_key: ApiKey | None = None, ip: str | None = None
) -> Blob:
    """The client says a basic (or multipart) upload is done: check the bytes before anything uses them."""
    permissions.require_write_repo(actor, repo, api_key)
    if not isinstance(oid, str) or not SHA256_RE.match(oid):
        raise InvalidInput(f"oid {oid!r} is not a lower-case sha256 hex digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInput(f"size {size!r} is not a non-negative integer")
    blob = Blob.objects.filter(sha256=oid).first()
    if blob is None:
        raise BlobMissing(f"object {oid} is unknown: ask the LFS batch endpoint for an upload URL first")
    if blob.size != size:
        raise InvalidInput(f"object {oid} was announced with {blob.size} bytes, not {size}", status=422)
    return _after_upload(blob=blob, actor=actor, ip=ip)


def lfs_multipart_complete(
    *, actor: Any, blob_id: int, upload_id: str, oid: Any, parts: Any, ip: str | None = None
) -> Blob:
    """Assemble a multipart upload (the completion URL is the authority: it names blob and upload id)."""
    blob = Blob.objects.filter(pk=blob_id).first()
    if blob is None or not isinstance(oid, str) or oid != blob.sha256:
        raise BlobMissing("this completion URL does not belong to that object; ask the batch endpoint again")
    if not isinstance(parts, list) or not parts:
        raise InvalidInput("parts must be a non-empty list of {partNumber, etag}")
    checked: list[tuple[int, str]] = []
    for part in parts:
        number = part.get("partNumber") if isinstance(part, dict) else None
        etag = part.get("etag") if isinstance(part, dict) else None
        if not isinstance(number, int) or isinstance(number, bool) or number < 1 or not isinstance(etag, str):
            raise InvalidInput(f"bad part {part!r}: need an integer partNumber and a string etag")
        checked.append((number, etag))
    checked.sort()
    if [n for n, _ in checked] != list(range(1, len(checked) + 1)):
        raise InvalidInput("parts must be numbered 1..N without gaps or repeats")
    if blob.state == Blob.State.VERIFIED:
        return blob
    store = get_store()
    if blob.multipart_upload_id == upload_id:
        try:
            store.multipart_complete(blob.storage_key, upload_id, checked)
        except (InvalidUpload, ObjectMissing) as exc:
            info = store.head(blob.storage_key)
            if info is None or info.size != blob.size:
                raise InvalidInput(f"the store refused to assemble the parts: {exc}", status=422) from exc
        Blob.objects.filter(pk=blob.pk, multipart_upload_id=upload_id).update(multipart_upload_id="")
        blob.multipart_upload_id = ""
    # else: already completed (a retried completion request) — the checks below still apply.
    return _after_upload(blob=blob, actor=actor, ip=ip)


# --- commits --------------------------------------------------------------------------------------


def inline_content_decode(*, path: str, content: Any, encoding: Any) -> bytes:
    """Decode a `file` line's content; refuse what should have gone through LFS."""
    if encoding != "base64":
        raise InvalidInput(f"{path}: encoding must be 'base64', not {encoding!r}")
    if not isinstance(content, str):
        raise InvalidInput(f"{path}: content must be a base64 string")
    if len(content) > (settings.INLINE_FILE_MAX_SIZE + 2) // 3 * 4 + 4:
        raise TooLarge(_too_large(path))
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{path}: content is not valid base64") from exc
    if len(data) > settings.INLINE_FILE_MAX_SIZE:
        raise TooLarge(_too_large(path))
    return data


def _too_large(path: str) -> str:
    return (
        f"{path}: files over {settings.INLINE_FILE_MAX_SIZE} bytes must be uploaded through Xet or LFS, "
        "not inline in the commit (huggingface_hub does so for the files preupload marks 'lfs')"
    )


def commit_from_upload(
    *,
    actor: Any,
    repo: ModelRepo,
    operations: Sequence[Operation],
    title: str,
    message: str = "",
    branch: str = "main",
    parent_oid: str | None = None,
    api_key: ApiKey | None = None,
    ip: str | None = None,
) -> Commit:
    """A commit sent over the Hub protocol: the upload rules, then commit_create.

    Objects uploaded over Xet get their blob rows first (xet_hub.xet_blobs_prepare); once the commit has landed,
    a worker materialises them (until then they are committed but not downloadable, like any pending blob).
    """
    for op in operations:
        if isinstance(op, AddInline) and len(op.content) > settings.INLINE_FILE_MAX_SIZE:
            raise TooLarge(_too_large(op.path))
    from registry.services.xet_hub import xet_blobs_prepare, xet_materialise_queue

    permissions.require_write_repo(actor, repo, api_key)
    xet_pending = xet_blobs_prepare(
        repo=repo, shas=[(op.path, op.sha256.lower(), op.size) for op in operations
                         if isinstance(op, AddBlob) and SHA256_RE.match((op.sha256 or "").lower())])
    commit = commit_create(
        actor=actor,
        repo=repo,
        operations=operations,
        title=title,
        message=message,
        branch=branch,
        parent_oid=parent_oid,
        api_key=api_key,
        ip=ip,
    )
    xet_materialise_queue(xet_pending)
    return commit
