"""Xet CAS: access tokens, xorb and shard ingestion, reconstruction plans and the global-dedup index.

Content addressing does not imply sharing. A xorb or a file is reachable from a repo only through XorbRepo /
XetFileRepo, and a link is made only when this repo's uploader proved it has the bytes: it sent a xorb body that hashes
to the name (POST /v1/xorbs or a grant commit), or a shard whose files verify against xorbs already linked to the repo.
The dedup query answers only with xorbs linked to the asking repo, with chunk hashes keyed by a one-off HMAC key.

Every write verifies first (into a temporary file, memory O(one chunk)), then stores the object, then records the
rows in one transaction; a failure after the object was written deletes it again.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, BinaryIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import transaction
from django.utils import timezone

from registry import permissions
from registry.models import (
    ApiKey,
    Blob,
    DedupChunk,
    ModelRepo,
    XetFile,
    XetFileRepo,
    XetShard,
    Xorb,
    XorbGrant,
    XorbRepo,
    XorbUploader,
)
from registry.storage import get_store
from registry.storage.base import ObjectMissing
from registry.xet import (
    MAX_SHARD_BYTES,
    ChunkMeta,
    IterReader,
    Plan,
    RangeNotSatisfiable,
    XetFormatError,
    build_dedup_shard,
    hash_to_hex,
    hex_to_hash,
    is_global_dedup_eligible,
    iter_reconstruction,
    pack_chunk_meta,
    pack_terms,
    parse_range,
    parse_upload_shard,
    plan_reconstruction,
    unpack_chunk_meta,
    unpack_terms,
    verify_cas_block,
    verify_shard_file,
    verify_xorb_stream,
)

logger = logging.getLogger(__name__)

TOKEN_SALT = "registry.xet.cas-token"
SCOPES = ("read", "write")
PREFIXES = ("default", "default-merkledb")
URL_EXPIRES = 3600  # presigned xorb GET / grant PUT URLs
GRANT_TTL = timedelta(hours=1)
_COPY = 1024 * 1024


# --- errors (api/cas/views.py maps them to statuses) ------------------------------------------------------------


class CasError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class XetTokenInvalid(CasError):
    """Bad signature, expired, revoked key, or the repo/user is gone: 401."""

    status = 401


class XetScopeError(CasError):
    """A read token on a write route: 403."""

    status = 403


class CasRejected(CasError):
    """Malformed or unverifiable input: 400, nothing changed."""

    status = 400


class CasNotFound(CasError):
    status = 404


class CasTooLarge(CasError):
    status = 413


# --- tokens -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class XetToken:
    access_token: str
    exp: int  # unix seconds
    cas_url: str  # absolute, no trailing slash


@dataclass(frozen=True)
class XetAccess:
    repo: ModelRepo
    user: Any  # a User, or None for an anonymous read token on a public repo
    api_key: ApiKey | None
    scope: str
    revision: str
    exp: int


def cas_url(base_url: str | None = None) -> str:
    """The absolute /cas prefix: from the request's base URL when the caller has one, else SITE_URL."""
    base = (base_url or settings.SITE_URL).rstrip("/")
    return f"{base}/cas"


def issue_token(*, principal: Any, repo: ModelRepo, scope: str, revision: str, base_url: str | None = None,
                proposal: bool = False) -> XetToken:
    """An opaque, HMAC-signed CAS token. The caller has already checked that the principal may read/write the repo.

    `proposal`: a write token for a pull request's uploads by someone who can't write the repo (registry.services.
    pulls): it writes chunks while its holder may still propose, and reads only what its holder may download."""
    if scope not in SCOPES:
        raise ValueError(f"unknown xet token scope {scope!r}")
    user = getattr(principal, "user", None)
    api_key = getattr(principal, "api_key", None)
    user_id = user.pk if user is not None and getattr(user, "is_authenticated", False) else None
    if scope == "write" and user_id is None:
        raise ValueError("a write token needs an authenticated principal")
    exp = int(time.time()) + int(settings.XET_TOKEN_TTL)
    payload = {
        "s": scope,
        "r": repo.pk,
        "u": user_id,
        "k": api_key.pk if api_key is not None else None,
        "v": revision or "",
        "e": exp,
    }
    if proposal:
        payload["p"] = 1
    token = signing.dumps(payload, salt=TOKEN_SALT, compress=True)
    return XetToken(access_token=token, exp=exp, cas_url=cas_url(base_url))


def verify_token(token: str, *, need: str) -> XetAccess:
    """Check signature, expiry, key and user still active, and that the user still may read (write) the repo."""
    if need not in SCOPES:
        raise ValueError(f"unknown scope {need!r}")
    try:
        payload = signing.loads(token, salt=TOKEN_SALT)
        scope, repo_id, user_id, key_id = payload["s"], payload["r"], payload["u"], payload["k"]
        revision, exp = str(payload.get("v", "")), int(payload["e"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise XetTokenInvalid("invalid Xet access token") from None
    if exp <= time.time():
        raise XetTokenInvalid("Xet access token expired")
    repo = ModelRepo.objects.select_related("owner_org").filter(pk=repo_id).first()
    if repo is None:
        raise XetTokenInvalid("the repository of this Xet access token no longer exists")
    user = None
    api_key = None
    if key_id is not None:
        api_key = ApiKey.objects.select_related("user").filter(pk=key_id).first()
        if api_key is None or not api_key.is_active or api_key.user_id != user_id:
            raise XetTokenInvalid("the API key behind this Xet access token was revoked or expired")
        user = api_key.user
    elif user_id is not None:
        user = get_user_model().objects.filter(pk=user_id).first()
    if user_id is not None and (user is None or not user.is_active):
        raise XetTokenInvalid("the user behind this Xet access token is no longer active")
    viewer = user if user is not None else _anonymous()
    if not permissions.can_read_repo(viewer, repo):
        raise XetTokenInvalid("this Xet access token no longer grants access to its repository")
    if payload.get("p"):
        # A pull request's token: its holder can't write the repo, only propose; and reads what they may download.
        if need == "write" and (scope != "write" or not permissions.can_propose(viewer, repo, api_key)):
            raise XetScopeError("this Xet access token no longer grants uploads to its repository")
        if need == "read" and not permissions.can_download(viewer, repo):
            raise CasNotFound("not found")
    elif need == "write":
        if scope != "write":
            raise XetScopeError("this route needs a Xet write token; this one is read-only")
        if repo.disabled or not permissions.can_write_repo(viewer, repo, api_key):
            raise XetScopeError("this Xet access token no longer grants write access to its repository")
    return XetAccess(repo=repo, user=user, api_key=api_key, scope=scope, revision=revision, exp=exp)


def _anonymous() -> Any:
    from django.contrib.auth.models import AnonymousUser

    return AnonymousUser()


# --- storage keys ---------------------------------------------------------------------------------------------------


def xorb_storage_key(hash_hex: str) -> str:
    return f"xorbs/default/{hash_hex[:2]}/{hash_hex}"


def shard_storage_key(sha256: str) -> str:
    return f"shards/{sha256[:2]}/{sha256}"


def staging_storage_key(grant_id: str) -> str:
    return f"xorb-staging/{grant_id}"


def parse_hash(value: str, what: str = "hash") -> bytes:
    try:
        return hex_to_hash(value)
    except ValueError:
        raise CasRejected(f"invalid {what} {value[:80]!r}: expected 64 hex characters") from None


def check_prefix(prefix: str) -> None:
    if prefix not in PREFIXES:
        raise CasNotFound(f"unknown CAS prefix {prefix[:40]!r}")


# --- xorbs ----------------------------------------------------------------------------------------------------------


class _TeeReader:
    """A read(n) view over `source` that copies every byte read into `sink` (request body → temp file)."""

    def __init__(self, source: Any, sink: BinaryIO) -> None:
        self._source = source
        self._sink = sink
        self.total = 0

    def read(self, n: int = -1) -> bytes:
        data = self._source.read(n)
        if data:
            self._sink.write(data)
            self.total += len(data)
        return data


def _max_xorb_bytes() -> int:
    return int(settings.XET_MAX_XORB_BYTES)


def xorb_is_linked(*, repo: ModelRepo, hash_hex: str) -> bool:
    return XorbRepo.objects.filter(
        repo=repo, xorb_id=hash_hex, xorb__dropped_at__isnull=True).exists()


def store_xorb(*, repo: ModelRepo, hash_hex: str, stream: Any, length: int | None = None, user: Any = None) -> bool:
    """Verify a serialized xorb read from `stream` (a request body), store it and link it to the repo.

    Returns was_inserted (False when the bytes were already stored: the repo is linked, nothing is rewritten).
    Raises CasRejected (bad body, hash mismatch), CasTooLarge.
    """
    expected = parse_hash(hash_hex, "xorb hash")
    hash_hex = hash_to_hex(expected)
    limit = _max_xorb_bytes()
    if length is not None and length > limit:
        raise CasTooLarge(f"xorb body of {length} bytes exceeds the {limit}-byte limit")
    with tempfile.TemporaryFile() as spool:
        info = _verify_into(stream, spool, expected, limit)
        return _record_xorb(repo=repo, hash_hex=hash_hex, info=info, spool=spool, user=user)


def _verify_into(stream: Any, spool: BinaryIO, expected: bytes, limit: int) -> Any:
    tee = _TeeReader(stream, spool)
    try:
        info = verify_xorb_stream(tee, expected, max_bytes=limit)
    except XetFormatError as exc:
        raise CasRejected(f"invalid xorb: {exc}") from None
    if tee.read(1):  # verify_xorb_stream stops at EOF; anything left means a malformed tail
        raise CasRejected("invalid xorb: unexpected bytes after the last chunk")
    return info


def _record_xorb(*, repo: ModelRepo, hash_hex: str, info: Any, spool: BinaryIO, user: Any = None) -> bool:
    """Store (or reuse) the verified xorb and link it to the repo (and to its uploader). Returns was_inserted *for
    this repo*: False only when the repo already had it, so the answer never tells that another repo stored the same
    bytes."""
    key = xorb_storage_key(hash_hex)
    existing = Xorb.objects.filter(hash=hash_hex).first()
    if existing is not None and existing.dropped_at is None:
        # The uploader sent bytes hashing to this name: it has them, so its repo may use the stored copy.
        _, linked = XorbRepo.objects.get_or_create(xorb=existing, repo=repo)
        _note_uploader(existing, user)
        return linked
    store = get_store()
    spool.seek(0)
    store.put_stream(key, spool, size=info.serialized_size)
    try:
        with transaction.atomic():
            fields = {
                "storage_key": key,
                "size": info.serialized_size,
                "unpacked_size": info.unpacked_size,
                "n_chunks": len(info.chunks),
                "chunk_meta": pack_chunk_meta(info.chunks),
                "dropped_at": None,
            }
            xorb, created = Xorb.objects.select_for_update().get_or_create(hash=hash_hex, defaults=fields)
            if not created and xorb.dropped_at is not None:  # bytes dropped by retention: stored again
                for name, value in fields.items():
                    setattr(xorb, name, value)
                xorb.save()
            XorbRepo.objects.get_or_create(xorb=xorb, repo=repo)
            _note_uploader(xorb, user)
    except Exception:
        store.delete(key)  # no live row points at it (none existed, or its bytes had been dropped)
        raise
    return True


def _note_uploader(xorb: Xorb, user: Any) -> None:
    if user is not None and getattr(user, "is_authenticated", False):
        XorbUploader.objects.get_or_create(xorb=xorb, user=user)


@dataclass(frozen=True)
class Grant:
    id: str
    url: str  # may be relative (local store): the view makes it absolute
    headers: dict[str, str]


def grant_xorb(*, repo: ModelRepo, hash_hex: str, length: Any) -> Grant | None:
    """None = "already stored" (200): only when the xorb is already linked to THIS repo. A xorb stored for another
    repo gets a grant like a new one: answering 200 would let the client reference it without ever proving it has
    the bytes, and its shard would then be refused. Uploading the bytes is the proof, and links the stored copy.
    """
    expected = parse_hash(hash_hex, "xorb hash")
    hash_hex = hash_to_hex(expected)
    if xorb_is_linked(repo=repo, hash_hex=hash_hex):
        return None
    if isinstance(length, bool) or not isinstance(length, int) or length <= 0:
        raise CasRejected("grant request needs a positive integer \"length\"")
    limit = _max_xorb_bytes()
    if length > limit:
        raise CasTooLarge(f"xorb of {length} bytes exceeds the {limit}-byte limit")
    grant = XorbGrant(xorb_hash=hash_hex, repo=repo, length=length, expires_at=timezone.now() + GRANT_TTL)
    grant.staging_key = staging_storage_key(str(grant.id))
    grant.save()
    url = get_store().presigned_put_url(grant.staging_key, expires=URL_EXPIRES, size=length)
    return Grant(id=str(grant.id), url=url, headers={})


def commit_grant(*, repo: ModelRepo, hash_hex: str, grant_id: str, user: Any = None) -> bool:
    """Verify the staged object of a grant, move it to the xorb's key and link it. Returns was_inserted.

    CasNotFound when the grant is unknown (or another repo's) or nothing was uploaded: the client then takes a new
    grant. A bad body is CasRejected, and the staged object is deleted either way.
    """
    expected = parse_hash(hash_hex, "xorb hash")
    hash_hex = hash_to_hex(expected)
    try:
        grant_uuid = uuid.UUID(str(grant_id))
    except ValueError:
        raise CasNotFound("unknown upload grant") from None
    grant = XorbGrant.objects.filter(id=grant_uuid, repo=repo, xorb_hash=hash_hex).first()
    if grant is None:
        raise CasNotFound("unknown upload grant")
    if grant.committed_at is not None:
        if xorb_is_linked(repo=repo, hash_hex=hash_hex):
            return False
        raise CasNotFound("this grant was already used")
    store = get_store()
    info = store.head(grant.staging_key)
    if info is None:
        raise CasNotFound("no data was received for this grant")
    limit = _max_xorb_bytes()
    try:
        if info.size > limit:
            raise CasTooLarge(f"xorb of {info.size} bytes exceeds the {limit}-byte limit")
        with tempfile.TemporaryFile() as spool:
            try:
                parsed = _verify_into(IterReader(store.iter_bytes(grant.staging_key)), spool, expected, limit)
            except ObjectMissing:
                raise CasNotFound("no data was received for this grant") from None
            inserted = _record_xorb(repo=repo, hash_hex=hash_hex, info=parsed, spool=spool, user=user)
        XorbGrant.objects.filter(pk=grant.pk).update(committed_at=timezone.now())
        return inserted
    finally:
        store.delete(grant.staging_key)


# --- shards ---------------------------------------------------------------------------------------------------------


def _linked_xorbs(repo: ModelRepo, hashes: Iterable[str]) -> dict[str, Xorb]:
    return {
        x.hash: x
        for x in Xorb.objects.filter(hash__in=set(hashes), repo_links__repo=repo, dropped_at__isnull=True)
    }


def _uploaded_by(user: Any, hashes: set[str]) -> dict[str, Xorb]:
    """Stored xorbs among `hashes` whose bytes `user` sent: theirs to reference again in any repo they write (the
    repo they first went to may be gone; hf_xet's cache remembers them and sends only the shard). Not the bytes of a
    repo taken down: a takedown is not undone by naming its chunks."""
    if not hashes or user is None or not getattr(user, "is_authenticated", False):
        return {}
    mine = Xorb.objects.filter(hash__in=hashes, uploaders__user=user, dropped_at__isnull=True).exclude(
        repo_links__repo__disabled=True)
    return {x.hash: x for x in mine}


def _readable_xorbs(user: Any, hashes: set[str]) -> dict[str, Xorb]:
    """Stored xorbs among `hashes` that the uploader may download through another repo it can read.

    hf_xet's local shard cache remembers what it uploaded, so the same checkpoint pushed to a second repo arrives as
    a shard that only references the first repo's xorbs. Referencing bytes the user can already download leaks
    nothing (they could re-upload them); xorbs only held by repos the user cannot download stay out of reach.
    """
    if not hashes or user is None:
        return {}
    out: dict[str, Xorb] = {}
    verdicts: dict[int, bool] = {}
    links = XorbRepo.objects.filter(xorb_id__in=hashes, xorb__dropped_at__isnull=True,
                                    repo__disabled=False).select_related(
        "xorb", "repo", "repo__owner_org")
    for link in links:
        if link.xorb_id in out:
            continue
        if link.repo_id not in verdicts:
            verdicts[link.repo_id] = permissions.can_download(user, link.repo)
        if verdicts[link.repo_id]:
            out[link.xorb_id] = link.xorb
    return out


def _reconstruct_sha256(terms: Any, metas: dict[bytes, list[ChunkMeta]], xorbs: dict[str, Xorb], size: int) -> str:
    digest = hashlib.sha256()
    if size:
        plan = plan_reconstruction(terms, metas.get, 0, size - 1)
        for piece in iter_reconstruction(plan, _range_reader(xorbs)):
            digest.update(piece)
    return digest.hexdigest()


def _range_reader(xorbs: dict[str, Xorb]) -> Any:
    store = get_store()

    def read_range(xorb_hash: bytes, start: int, end: int) -> Iterator[bytes]:
        return store.iter_bytes(xorbs[hash_to_hex(xorb_hash)].storage_key, start=start, end=end - 1)

    return read_range


def register_shard(*, repo: ModelRepo, data: bytes, user: Any = None) -> int:
    """Verify an upload shard (§2.5) against this repo's xorbs and register its files. Returns 1 when something new
    was registered or linked, 0 when every file was already registered for the repo.

    A shard may reference the repo's own xorbs, xorbs `user` sent themselves, and xorbs `user` can download through
    another repo (which are then linked to this one too); any other xorb is unknown here, whoever else holds it.
    """
    if len(data) > MAX_SHARD_BYTES:
        raise CasTooLarge(f"shard of {len(data)} bytes exceeds the {MAX_SHARD_BYTES}-byte limit")
    try:
        shard = parse_upload_shard(data)
    except XetFormatError as exc:
        raise CasRejected(f"invalid shard: {exc}") from None
    wanted = {hash_to_hex(b.xorb_hash) for b in shard.xorbs}
    wanted |= {hash_to_hex(t.xorb_hash) for f in shard.files for t in f.terms}
    xorbs = _linked_xorbs(repo, wanted)
    borrowed = _uploaded_by(user, wanted - set(xorbs))
    borrowed.update(_readable_xorbs(user, wanted - set(xorbs) - set(borrowed)))
    xorbs.update(borrowed)
    metas = {hex_to_hash(h): unpack_chunk_meta(bytes(x.chunk_meta)) for h, x in xorbs.items()}
    try:
        for block in shard.xorbs:
            stored = metas.get(block.xorb_hash)
            if stored is None:
                raise XetFormatError(f"xorb {hash_to_hex(block.xorb_hash)} is not stored for this repository")
            verify_cas_block(block, stored)
        sizes: dict[bytes, int] = {}
        for f in shard.files:
            verify_shard_file(f, metas.get)
            if not f.sha256:
                raise XetFormatError(
                    f"file {hash_to_hex(f.hash)}: the sha256 metadata extension is required (flag 0x40000000)")
            sizes[f.hash] = sum(t.unpacked_bytes for t in f.terms)
    except XetFormatError as exc:
        raise CasRejected(f"shard verification failed: {exc}") from None

    known = {x.hash: x for x in XetFile.objects.filter(hash__in=[hash_to_hex(f.hash) for f in shard.files])}
    for f in shard.files:
        name = hash_to_hex(f.hash)
        if name in known:  # same hash = same bytes; its sha256 was verified when it was registered
            if known[name].sha256 != f.sha256:
                raise CasRejected(f"shard verification failed: file {name}: sha256 {f.sha256} does not match the "
                                  "content")
            continue
        try:
            actual = _reconstruct_sha256(f.terms, metas, xorbs, sizes[f.hash])
        except ObjectMissing:
            raise CasRejected(f"file {name}: a xorb it references is missing from storage") from None
        except XetFormatError as exc:
            raise CasRejected(f"file {name}: reconstruction failed: {exc}") from None
        if actual != f.sha256:
            raise CasRejected(
                f"shard verification failed: file {name}: sha256 {f.sha256} does not match the content ({actual})")

    shard_sha = hashlib.sha256(data).hexdigest()
    shard_key = shard_storage_key(shard_sha)
    store = get_store()
    new_shard = not XetShard.objects.filter(sha256=shard_sha).exists()
    if new_shard:
        store.put_stream(shard_key, io.BytesIO(data), size=len(data))
    try:
        with transaction.atomic():
            changed = 0
            for f in shard.files:
                xf, created = XetFile.objects.get_or_create(
                    hash=hash_to_hex(f.hash),
                    defaults={"sha256": f.sha256, "size": sizes[f.hash], "terms": pack_terms(f.terms)},
                )
                _, linked = XetFileRepo.objects.get_or_create(file=xf, repo=repo)
                changed += int(created or linked)
            for xorb in borrowed.values():
                XorbRepo.objects.get_or_create(xorb=xorb, repo=repo)
            if new_shard:
                XetShard.objects.get_or_create(
                    sha256=shard_sha, defaults={"storage_key": shard_key, "size": len(data), "repo": repo})
            DedupChunk.objects.bulk_create(_dedup_rows(shard.files, metas, xorbs), ignore_conflicts=True)
    except Exception:
        if new_shard:
            store.delete(shard_key)
        raise
    return 1 if changed else 0


def _dedup_rows(files: Any, metas: dict[bytes, list[ChunkMeta]], xorbs: dict[str, Xorb]) -> list[DedupChunk]:
    """Global-dedup index: the first chunk of each file and every chunk whose hash is eligible on its own."""
    rows: dict[tuple[str, str], DedupChunk] = {}
    for f in files:
        for i, term in enumerate(f.terms):
            xorb = xorbs[hash_to_hex(term.xorb_hash)]
            for idx in range(term.chunk_start, term.chunk_end):
                h = metas[term.xorb_hash][idx].hash
                if is_global_dedup_eligible(h, first_in_file=(i == 0 and idx == term.chunk_start)):
                    key = (hash_to_hex(h), xorb.hash)
                    rows.setdefault(key, DedupChunk(chunk_hash=key[0], xorb=xorb))
    return list(rows.values())


# --- reading ------------------------------------------------------------------------------------------------------


def file_for_sha256(*, repo: ModelRepo, sha256: str) -> XetFile | None:
    """A verified (registered by a checked shard) XetFile with this sha256 that the repo is linked to."""
    return XetFile.objects.filter(sha256=sha256.lower(), repo_links__repo=repo).order_by("created_at").first()


def linked_file(*, repo: ModelRepo, file_hash: str) -> XetFile:
    """A file this repo's tokens may reconstruct: registered for the repo by a shard (a writer uploaded it), or the
    Xet form of a blob the repo holds (RepoBlob) and has committed — e.g. bytes a committer brought in from another
    repo they may download. Any other file is unknown here, whoever registered it."""
    h = parse_hash(file_hash, "file hash")
    name = hash_to_hex(h)
    xf = XetFile.objects.filter(hash=name, repo_links__repo=repo).first()
    if xf is None:
        committed = Blob.objects.filter(
            xet_hash=name, repo_grants__repo=repo, commit_files__commit__repo=repo).values("sha256")
        xf = XetFile.objects.filter(hash=name, sha256__in=committed).first()
    if xf is None:
        raise CasNotFound("file not found")
    return xf


def _file_xorbs(xet_file: XetFile) -> tuple[list[Any], dict[bytes, list[ChunkMeta]], dict[str, Xorb]]:
    terms = unpack_terms(bytes(xet_file.terms))
    wanted = {hash_to_hex(t.xorb_hash) for t in terms}
    xorbs = {x.hash: x for x in Xorb.objects.filter(hash__in=wanted, dropped_at__isnull=True)}
    if missing := wanted - set(xorbs):
        raise CasNotFound(f"xorb {sorted(missing)[0]} of this file is no longer stored")
    metas = {hex_to_hash(h): unpack_chunk_meta(bytes(x.chunk_meta)) for h, x in xorbs.items()}
    return terms, metas, xorbs


@dataclass(frozen=True)
class Reconstruction:
    plan: Plan
    fetch: dict[str, list[dict[str, Any]]]  # xorb hex → [{"range", "url", "url_range"}], URLs maybe relative


def reconstruction_plan(*, repo: ModelRepo, file_hash: str, range_header: str | None) -> Reconstruction:
    """The §2.6 v1 answer for a file linked to the repo. Raises CasNotFound, RangeNotSatisfiable (→ 416),
    CasRejected for a malformed Range."""
    xf = linked_file(repo=repo, file_hash=file_hash)
    wanted = parse_range(range_header, xf.size)  # RangeNotSatisfiable also for an empty file
    start, end = wanted if wanted is not None else (0, xf.size - 1)
    if xf.size == 0:
        raise RangeNotSatisfiable("the file is empty")
    terms, metas, xorbs = _file_xorbs(xf)
    plan = plan_reconstruction(terms, metas.get, start, end)
    store = get_store()
    fetch: dict[str, list[dict[str, Any]]] = {}
    seen: set[tuple[str, int, int]] = set()
    for term in plan.terms:
        name = hash_to_hex(term.xorb_hash)
        if (name, term.chunk_start, term.chunk_end) in seen:
            continue
        seen.add((name, term.chunk_start, term.chunk_end))
        fetch.setdefault(name, []).append({
            "range": {"start": term.chunk_start, "end": term.chunk_end},
            "url": store.presigned_get_url(xorbs[name].storage_key, expires=URL_EXPIRES),
            "url_range": {"start": term.byte_start, "end": term.byte_end - 1},
        })
    return Reconstruction(plan=plan, fetch=fetch)


def iter_file_bytes(xet_file: XetFile, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """The file's bytes [start, end] (inclusive; None = to the end) rebuilt from stored xorbs, streamed."""
    if xet_file.size == 0 or start >= xet_file.size:
        return iter(())
    end = xet_file.size - 1 if end is None else min(end, xet_file.size - 1)
    terms, metas, xorbs = _file_xorbs(xet_file)
    plan = plan_reconstruction(terms, metas.get, start, end)
    return iter_reconstruction(plan, _range_reader(xorbs))


# --- global dedup ---------------------------------------------------------------------------------------------------


def dedup_shard(*, repo: ModelRepo, chunk_hash: str) -> bytes | None:
    """A full shard describing a xorb of this repo that holds the chunk, with HMAC-keyed chunk hashes; None = 404."""
    h = parse_hash(chunk_hash, "chunk hash")
    row = (
        DedupChunk.objects.select_related("xorb")
        .filter(chunk_hash=hash_to_hex(h), xorb__dropped_at__isnull=True, xorb__repo_links__repo=repo)
        .order_by("-xorb__created_at")
        .first()
    )
    if row is None:
        return None
    now = int(time.time())
    return build_dedup_shard(
        [(hex_to_hash(row.xorb.hash), unpack_chunk_meta(bytes(row.xorb.chunk_meta)))],
        hmac_key=os.urandom(32),
        key_expiry=now + int(settings.XET_DEDUP_SHARD_TTL),
        creation_ts=now,
    )
