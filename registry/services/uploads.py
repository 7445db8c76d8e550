"""Uploads over the Hub protocol: where each file goes, LFS transfers, and what happens after the bytes land.

The client asks `preupload` whether a file is committed inline ("regular") or through the blob store
("lfs"), asks the LFS batch endpoint for upload URLs, sends the bytes straight to the store, then tells
the hub the upload is done (verify, or multipart completion). Only then may a commit reference the object.

Each upload (one writer, one object, one repo: a BlobUpload) writes to a staging key of its own; bytes that hash
to their oid are copied to the blob's content-addressed key (or dropped when the blob is already stored) and give
the repo the blob (RepoBlob). Authority never travels with a hash: see registry/models/uploads.py.

Resumed multipart uploads: huggingface_hub 2.4 sends every part again (it requires one URL per part and
keeps no record of parts already sent), so resuming saves no bytes on the wire. We reuse the upload's
multipart upload id, so parts already in the store stay valid until the client overwrites them, and an
interrupted upload never leaves more than one dangling multipart upload per upload (the GC aborts it).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import logging
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from registry import permissions
from registry.exceptions import BlobMissing, InvalidInput, RevisionNotFound, TooLarge
from registry.hashing import SHA256_RE, digests_equal, sha256_stream
from registry.models import ApiKey, Blob, BlobUpload, Commit, ModelRepo, RepoBlob
from registry.selectors.blobs import blob_refs_for
from registry.services.audit import audit_record
from registry.services.blobs import blob_register_pending, repo_blob_grant
from registry.services.commits import AddBlob, AddInline, Operation, blob_refs_check, commit_create
from registry.services.jobs import job_dispatch, job_enqueue
from registry.services.repos import DEFAULT_GITATTRIBUTES
from registry.storage import ObjectMissing, StorageError, get_store
from registry.storage.base import InvalidUpload

logger = logging.getLogger(__name__)

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
    create_pr: bool = False,
) -> list[PreuploadAnswer]:
    """Upload mode per file, plus the oid of what the revision already holds there (no-op detection)."""
    from registry.selectors.repos import commit_files, revision_resolve
    from registry.services.pulls import upload_access_check

    upload_access_check(actor=actor, repo=repo, revision=revision, create_pr=create_pr, api_key=api_key)
    if len(files) > MAX_PREUPLOAD_FILES:
        raise InvalidInput(gettext("at most %(MAX_PREUPLOAD_FILES)s files per preupload call")
            % {"MAX_PREUPLOAD_FILES": MAX_PREUPLOAD_FILES})
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
            raise InvalidInput(gettext("%(path)s: size must not be negative") % {"path": item.path})
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
    upload_pk: int | None = None  # the BlobUpload the URLs write to
    upload_url: str | None = None
    upload_id: str | None = None  # of the multipart upload
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
    """Decide, per object, whether the client uploads it (and how) or may commit it as it is.

    "Present" (no actions) only when a commit by the caller into this repo would already accept the object: the repo
    holds it, its Xet index has it, the caller may download another repo whose history holds it, or the caller's own
    upload of it into this repo is being hashed. Anything else — bytes stored only for repos the caller can't
    download, someone else's unfinished upload, a size that contradicts what is stored — gets an upload action at a
    staging key of its own, exactly like a sha256 never seen: the answer is no oracle, and nothing blocks it.
    """
    permissions.require_propose(actor, repo, api_key)  # a PR's bytes too: any reader who may propose
    if len(objects) > MAX_BATCH_OBJECTS:
        raise InvalidInput(gettext("at most %(MAX_BATCH_OBJECTS)s objects per batch request")
            % {"MAX_BATCH_OBJECTS": MAX_BATCH_OBJECTS})
    checked: list[tuple[str, int] | LfsObjectPlan] = []
    for obj in objects:
        oid, size = obj.get("oid"), obj.get("size")
        if not isinstance(oid, str) or not SHA256_RE.match(oid):
            checked.append(_object_error(oid, size, 422, f"oid {oid!r} is not a lower-case sha256 hex digest"))
        elif not isinstance(size, int) or isinstance(size, bool) or size < 0:
            checked.append(_object_error(oid, size, 422, f"size {size!r} is not a non-negative integer"))
        elif size > settings.MAX_FILE_SIZE:
            message = f"object is {size} bytes; files may be {settings.MAX_FILE_SIZE} bytes at most"
            checked.append(_object_error(oid, size, 422, message))
        else:
            checked.append((oid, size))
    refs = blob_refs_for(viewer=actor, repo=repo, uploader=actor,
                         shas=[item[0] for item in checked if isinstance(item, tuple)])
    plans = []
    for item in checked:
        if isinstance(item, LfsObjectPlan):
            plans.append(item)
            continue
        oid, size = item
        ref = refs.get(oid)
        if ref is not None and ref.size == size and (ref.blob is None or ref.blob.state != Blob.State.REJECTED):
            plans.append(LfsObjectPlan(oid=oid, size=size, kind="present"))
        else:
            plans.append(_plan_upload(actor, repo, oid, size))
    return plans


def _staging_key() -> str:
    return f"lfs-staging/{uuid.uuid4().hex}"


def _upload_row(actor: Any, repo: ModelRepo, oid: str, size: int) -> BlobUpload:
    """The caller's upload of `oid` into `repo`: resumed while it waits for its bytes, else a fresh attempt at a new
    staging key. Its `created_at` moves to now either way (the storage GC's grace period)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            upload, created = BlobUpload.objects.get_or_create(
                repo=repo, sha256=oid, user=actor, defaults={"size": size, "staging_key": _staging_key()})
    except IntegrityError:  # the same caller's parallel batch: use its row
        upload, created = BlobUpload.objects.get(repo=repo, sha256=oid, user=actor), False
    if created:
        return upload
    if upload.state == BlobUpload.State.OPEN and upload.size == size:
        BlobUpload.objects.filter(pk=upload.pk).update(created_at=now)
        return upload
    # A new attempt (the last one was rejected, verified into a blob since deleted, or announced another size):
    # new URLs at a new key, so nothing still in flight for the old attempt can land in this one.
    store = get_store()
    if upload.multipart_upload_id:
        store.multipart_abort(upload.staging_key, upload.multipart_upload_id)
    store.delete(upload.staging_key)
    fields = {"size": size, "staging_key": _staging_key(), "state": BlobUpload.State.OPEN,
              "multipart_upload_id": "", "rejected_reason": "", "uploaded_at": None, "verified_at": None,
              "created_at": now}
    BlobUpload.objects.filter(pk=upload.pk).update(**fields)
    for name, value in fields.items():
        setattr(upload, name, value)
    return upload


def _plan_upload(actor: Any, repo: ModelRepo, oid: str, size: int) -> LfsObjectPlan:
    upload = _upload_row(actor, repo, oid, size)
    store = get_store()
    ttl = settings.PRESIGNED_URL_TTL
    if size <= settings.LFS_MULTIPART_THRESHOLD:
        url = store.presigned_put_url(upload.staging_key, expires=ttl, size=size)
        return LfsObjectPlan(oid=oid, size=size, kind="basic", upload_pk=upload.pk, upload_url=url)
    upload_id = _multipart_upload_id(upload)
    chunk = multipart_chunk_size(size)
    parts = math.ceil(size / chunk)
    urls = [
        store.multipart_part_url(upload.staging_key, upload_id, number, expires=ttl)
        for number in range(1, parts + 1)
    ]
    return LfsObjectPlan(oid=oid, size=size, kind="multipart", upload_pk=upload.pk, upload_id=upload_id,
                         chunk_size=chunk, part_urls=urls)


def _multipart_upload_id(upload: BlobUpload) -> str:
    """The upload's open multipart upload (resumed) or a new one; one per upload even under races."""
    store = get_store()
    if upload.multipart_upload_id:
        try:
            store.multipart_list_parts(upload.staging_key, upload.multipart_upload_id)
            return upload.multipart_upload_id
        except ObjectMissing:
            pass  # completed, aborted or expired: start over
    upload_id = store.multipart_create(upload.staging_key)
    claimed = BlobUpload.objects.filter(
        pk=upload.pk, staging_key=upload.staging_key, multipart_upload_id=upload.multipart_upload_id
    ).update(multipart_upload_id=upload_id)
    if not claimed:
        # The same caller started one at the same moment: use theirs, drop ours.
        store.multipart_abort(upload.staging_key, upload_id)
        return BlobUpload.objects.values_list("multipart_upload_id", flat=True).get(pk=upload.pk)
    return upload_id


# --- after the bytes land -------------------------------------------------------------------------


def _after_upload(*, upload: BlobUpload, actor: Any, ip: str | None) -> BlobUpload:
    """Check the staged object, then hash it now (small) or in a worker (large)."""
    if upload.state in (BlobUpload.State.VERIFIED, BlobUpload.State.UPLOADED):
        return upload  # a retried verify call
    store = get_store()
    info = store.head(upload.staging_key)
    if info is None:
        raise BlobMissing(gettext("object %(sha256)s has not been uploaded (nothing in the store)")
            % {"sha256": upload.sha256})
    if info.size != upload.size:
        store.delete(upload.staging_key)
        raise InvalidInput(
            gettext("object %(sha256)s: %(size)s bytes were uploaded but %(size2)s were declared; upload it again")
                % {"sha256": upload.sha256, "size": info.size, "size2": upload.size},
            status=422,
        )
    if upload.size <= settings.SYNC_VERIFY_MAX_SIZE:
        upload = lfs_upload_check(upload_id=upload.pk, actor=actor, ip=ip) or upload
        if upload.state == BlobUpload.State.REJECTED:
            raise InvalidInput(
                gettext("object %(sha256)s was rejected: its content does not match its sha256 (%(rejected_reason)s)")
                    % {"sha256": upload.sha256, "rejected_reason": upload.rejected_reason},
                code="ObjectRejected",
                status=422,
            )
        return upload
    now = timezone.now()
    with transaction.atomic():
        moved = BlobUpload.objects.filter(pk=upload.pk, state=BlobUpload.State.OPEN,
                                          staging_key=upload.staging_key).update(
            state=BlobUpload.State.UPLOADED, uploaded_at=now)
        if moved:
            # Commits may reference it while it is hashed (served once verified): they need the blob row.
            blob_register_pending(sha256=upload.sha256, size=upload.size)
            _audit_upload(upload, actor, ip, verified="queued")
            job_enqueue(task="registry.verify_upload", key=upload.pk, send=lambda key: _queue_verify(key))
    upload.refresh_from_db()
    return upload


def _queue_verify(upload_id: int) -> None:
    """Send it now (a broker outage is logged: the job sweep sends it again)."""
    job_dispatch(task="registry.verify_upload", key=upload_id)


def _audit_upload(upload: BlobUpload, actor: Any, ip: str | None, *, verified: str) -> None:
    audit_record(
        actor=actor,
        action="blob.upload",
        target=upload.repo,
        target_label=upload.sha256,
        ip=ip,
        metadata={"size": upload.size, "state": upload.state, "verification": verified,
                  "repo": upload.repo.repo_id},
    )


def lfs_upload_check(*, upload_id: int, actor: Any = None, ip: str | None = None) -> BlobUpload | None:
    """Hash a staged upload. Its bytes match: they become the blob's (copied to the blob's key unless the blob is
    already stored) and the repo holds the blob. They don't: the upload is rejected; the blob, whoever else uploaded
    it, is untouched. Idempotent (the worker's retries, a second verify call); StorageError propagates (retry).
    """
    upload = BlobUpload.objects.select_related("repo").filter(pk=upload_id).first()
    if upload is None or upload.state not in (BlobUpload.State.OPEN, BlobUpload.State.UPLOADED):
        return upload
    store = get_store()
    key = upload.staging_key
    try:
        sha256, size = sha256_stream(store.iter_bytes(key))
    except ObjectMissing:
        sha256, size = "", -1
    if size != upload.size or not digests_equal(sha256, upload.sha256):
        reason = ("nothing was stored for it" if size < 0 else
                  f"the uploaded content has sha256 {sha256} and size {size}; expected {upload.sha256} / "
                  f"{upload.size}")
        with transaction.atomic():
            if BlobUpload.objects.filter(pk=upload.pk, staging_key=key, state=upload.state).update(
                    state=BlobUpload.State.REJECTED, rejected_reason=reason[:2000]):
                upload.state, upload.rejected_reason = BlobUpload.State.REJECTED, reason
                _audit_upload(upload, actor, ip, verified="rejected")
                _after_check(upload.sha256)
        store.delete(key)
        return upload
    for _attempt in range(3):
        # The row first, touched: the storage GC (which re-checks under a row lock) then leaves it and its key alone
        # while the bytes are copied, outside the transaction (large objects take a while; concurrent copies of
        # verified uploads write the same bytes).
        blob = blob_register_pending(sha256=upload.sha256, size=upload.size)
        Blob.objects.filter(pk=blob.pk).update(created_at=timezone.now())
        if blob.state != Blob.State.VERIFIED:
            store.copy(key, blob.storage_key)
        now = timezone.now()
        with transaction.atomic():
            locked = Blob.objects.select_for_update().filter(pk=blob.pk).first()
            if locked is None:
                continue  # swept at that very moment: register and copy again
            if locked.state != Blob.State.VERIFIED:
                Blob.objects.filter(pk=locked.pk).update(
                    state=Blob.State.VERIFIED, size=upload.size, verified_at=now, rejected_reason="",
                    uploaded_at=locked.uploaded_at or now)
            _grant_upload(upload, locked, actor=actor, ip=ip, now=now)
        break
    else:
        raise StorageError(f"object {upload.sha256}: its blob row kept vanishing while the bytes were copied")
    store.delete(key)
    return upload


def _grant_upload(upload: BlobUpload, blob: Blob, *, actor: Any, ip: str | None, now: Any) -> None:
    """The verified upload gives its repo the blob (once: a duplicate check finds the upload no longer pending)."""
    pending = BlobUpload.objects.filter(pk=upload.pk, staging_key=upload.staging_key, state=upload.state)
    if pending.update(state=BlobUpload.State.VERIFIED, verified_at=now):
        upload.state = BlobUpload.State.VERIFIED
        repo_blob_grant(repo=upload.repo, blobs=[blob], source=RepoBlob.Source.UPLOAD, actor=upload.user)
        _audit_upload(upload, actor, ip, verified="verified")
        _after_check(upload.sha256)


def _after_check(sha256: str) -> None:
    """Validation runs waiting for these bytes go on (registry.services.validation waits for them)."""
    from registry.services.validation import validation_runs_resume_for_blob

    validation_runs_resume_for_blob(sha256=sha256)


def lfs_upload_verify(
    *, actor: Any, repo: ModelRepo, oid: Any, size: Any, api_key: ApiKey | None = None, ip: str | None = None
) -> BlobUpload:
    """The client says a basic (or multipart) upload is done: check the bytes before anything uses them."""
    permissions.require_propose(actor, repo, api_key)  # a PR's bytes too: any reader who may propose
    if not isinstance(oid, str) or not SHA256_RE.match(oid):
        raise InvalidInput(gettext("oid %(oid)r is not a lower-case sha256 hex digest") % {"oid": oid})
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInput(gettext("size %(size)r is not a non-negative integer") % {"size": size})
    upload = BlobUpload.objects.select_related("repo").filter(repo=repo, sha256=oid, user=actor).first()
    if upload is None:
        raise BlobMissing(gettext("object %(oid)s is unknown: ask the LFS batch endpoint for an upload URL first")
            % {"oid": oid})
    if upload.size != size:
        raise InvalidInput(gettext("object %(oid)s was announced with %(size)s bytes, not %(size2)s")
            % {"oid": oid, "size": upload.size, "size2": size}, status=422)
    return _after_upload(upload=upload, actor=actor, ip=ip)


def lfs_multipart_complete(
    *, actor: Any, upload_pk: int, upload_id: str, oid: Any, parts: Any, ip: str | None = None
) -> BlobUpload:
    """Assemble a multipart upload (the completion URL is the authority: it names the upload and its multipart id)."""
    upload = BlobUpload.objects.select_related("repo").filter(pk=upload_pk).first()
    if upload is None or not isinstance(oid, str) or oid != upload.sha256:
        raise BlobMissing(gettext("this completion URL does not belong to that object; ask the batch endpoint again"))
    if not isinstance(parts, list) or not parts:
        raise InvalidInput(gettext("parts must be a non-empty list of {partNumber, etag}"))
    checked: list[tuple[int, str]] = []
    for part in parts:
        number = part.get("partNumber") if isinstance(part, dict) else None
        etag = part.get("etag") if isinstance(part, dict) else None
        if not isinstance(number, int) or isinstance(number, bool) or number < 1 or not isinstance(etag, str):
            raise InvalidInput(gettext("bad part %(part)r: need an integer partNumber and a string etag")
                % {"part": part})
        checked.append((number, etag))
    checked.sort()
    if [n for n, _ in checked] != list(range(1, len(checked) + 1)):
        raise InvalidInput(gettext("parts must be numbered 1..N without gaps or repeats"))
    if upload.state == BlobUpload.State.VERIFIED:
        return upload
    store = get_store()
    if upload.multipart_upload_id == upload_id:
        try:
            store.multipart_complete(upload.staging_key, upload_id, checked)
        except (InvalidUpload, ObjectMissing) as exc:
            info = store.head(upload.staging_key)
            if info is None or info.size != upload.size:
                raise InvalidInput(gettext("the store refused to assemble the parts: %(exc)s")
                    % {"exc": exc}, status=422) from exc
        BlobUpload.objects.filter(pk=upload.pk, multipart_upload_id=upload_id).update(multipart_upload_id="")
        upload.multipart_upload_id = ""
    # else: already completed (a retried completion request) — the checks below still apply.
    return _after_upload(upload=upload, actor=actor, ip=ip)


def lfs_uploads_requeue(*, older_than_minutes: int = 60, limit: int = 1000) -> list[int]:
    """Queue again the uploads still being hashed after a while (a broker outage, a dead worker). Their
    `uploaded_at` moves to now, so a long check still running is not re-sent every sweep (a duplicate is harmless:
    the state changes are conditional)."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(BlobUpload.objects.select_for_update()
                   .filter(state=BlobUpload.State.UPLOADED, uploaded_at__lt=now - timedelta(minutes=older_than_minutes))
                   .order_by("pk").values_list("pk", flat=True)[:limit])
        BlobUpload.objects.filter(pk__in=ids).update(uploaded_at=now)
        for upload_id in ids:
            job_enqueue(task="registry.verify_upload", key=upload_id, send=lambda key: _queue_verify(key))
    return ids


# --- commits --------------------------------------------------------------------------------------


def inline_content_decode(*, path: str, content: Any, encoding: Any) -> bytes:
    """Decode a `file` line's content; refuse what should have gone through LFS."""
    if encoding != "base64":
        raise InvalidInput(gettext("%(path)s: encoding must be 'base64', not %(encoding)r")
            % {"path": path, "encoding": encoding})
    if not isinstance(content, str):
        raise InvalidInput(gettext("%(path)s: content must be a base64 string") % {"path": path})
    if len(content) > (settings.INLINE_FILE_MAX_SIZE + 2) // 3 * 4 + 4:
        raise TooLarge(_too_large(path))
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(gettext("%(path)s: content is not valid base64") % {"path": path}) from exc
    if len(data) > settings.INLINE_FILE_MAX_SIZE:
        raise TooLarge(_too_large(path))
    return data


def _too_large(path: str) -> str:
    return gettext(
        "%(path)s: files over %(size)s bytes must be uploaded through Xet or LFS, "
        "not inline in the commit (huggingface_hub does so for the files preupload marks 'lfs')"
    ) % {"path": path, "size": settings.INLINE_FILE_MAX_SIZE}


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
    the small ones are materialised at once and a worker materialises the rest (until then Xet clients reconstruct
    them and everyone else gets a 503 with Retry-After, never a 403).
    """
    for op in operations:
        if isinstance(op, AddInline) and len(op.content) > settings.INLINE_FILE_MAX_SIZE:
            raise TooLarge(_too_large(op.path))
    from registry.services.pulls import upload_access_check
    from registry.services.xet_hub import xet_blobs_prepare, xet_materialise_queue, xet_materialise_small

    upload_access_check(actor=actor, repo=repo, revision=branch, create_pr=False, api_key=api_key)
    blob_ops = [AddBlob(op.path, op.sha256.lower(), op.size) for op in operations
                if isinstance(op, AddBlob) and SHA256_RE.match((op.sha256 or "").lower())]
    # Authority first (registry.selectors.blobs): a commit referencing bytes the committer may not is refused before
    # Xet-uploaded files get their blob rows, so a refused commit leaves nothing behind.
    blob_refs_check(actor=actor, repo=repo, operations=blob_ops, rows=False)
    xet_pending = xet_blobs_prepare(repo=repo, shas=[(op.path, op.sha256, op.size) for op in blob_ops])
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
    xet_materialise_queue(xet_materialise_small(xet_pending) if xet_pending else [])
    return commit
