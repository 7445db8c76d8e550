"""HF-compatible file endpoints: tree listings, paths-info, and /resolve (the download route).

/resolve answers HEAD and GET with the headers huggingface_hub reads (HF_PROTOCOL.md §2):
X-Repo-Commit on every answer (404s included, so the client can cache "this file is absent"),
ETag = quoted git blob sha1 for inline files, and for files in the blob store the pointer sha1 plus
X-Linked-Etag (sha256) and X-Linked-Size. With the S3 store the bytes come from a cross-origin
presigned URL (Django never streams them); with the local store the hub streams them itself,
honouring Range, or redirects to its signed URL on USER_CONTENT_URL when that origin is set.
Whatever serves them, repo bytes are inert (registry/user_content.py): outside a small allow-list
of text and raster images they are sandboxed `application/octet-stream` attachments. Files
uploaded over Xet also carry X-Xet-Hash and a `Link: <…/xet-read-token/…>; rel="xet-auth"`
(XET_PROTOCOL.md §1.4), on the 302 itself since the client reads a cross-origin redirect's
headers rather than following it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict, StreamingHttpResponse
from django.views.decorators.http import require_http_methods

from api.auth import Principal, client_ip
from api.hf.common import (
    absolute,
    cursor_key,
    error_response,
    get_repo,
    hf_view,
    hub_error_response,
    iso,
    next_key_link,
    revision_candidates,
    split_revision,
)
from registry import permissions
from registry.exceptions import Disabled, EntryNotFound, GatedRepo, InvalidInput, PermissionDenied
from registry.models import Blob, Commit, CommitFile, ModelRepo
from registry.selectors import hf as hf_selectors
from registry.selectors import resolve as resolve_selectors
from registry.selectors.blobs import file_granted, upload_in_progress
from registry.selectors.repos import revision_resolve
from registry.selectors.validation import file_quarantine
from registry.services.downloads import repo_download_record, user_download_record
from registry.storage import get_store
from registry.user_content import content_headers

TREE_PAGE_SIZE = 1000
TREE_EXPAND_PAGE_SIZE = 50
PATHS_INFO_MAX_PATHS = 1000
DISABLED_MESSAGE = "Access to this resource is disabled."  # exact: the client maps it to DisabledRepoError
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
PENDING_RETRY_AFTER_SECONDS = 2  # a committed file whose bytes are still being checked: seconds, usually


def check_downloadable(request: HttpRequest, principal: Principal, repo: ModelRepo,
                       allowed: bool | None = None) -> None:
    """Disabled, then gated (`allowed`: the viewer's download right when the caller already knows it)."""
    if repo.disabled:
        raise Disabled(DISABLED_MESSAGE)
    if not (permissions.can_download(principal.user, repo) if allowed is None else allowed):
        page = absolute(request, f"/{repo.repo_id}")
        if principal.is_authenticated:
            raise GatedRepo(f"Access to model {repo.repo_id} is restricted and you are not in the authorized "
                            f"list. Visit {page} to ask for access.")
        raise GatedRepo(f"Access to model {repo.repo_id} is restricted. You must have access to it and be "
                        f"authenticated to access it. Please log in, then visit {page}.")


# --- tree and paths-info ------------------------------------------------------------------------


@hf_view
@require_http_methods(["GET"])
def tree(request: HttpRequest, principal: Principal, namespace: str, name: str, rest: str) -> HttpResponse:
    repo = get_repo(principal, namespace, name)
    if repo.disabled:
        raise Disabled(DISABLED_MESSAGE)
    revision, path = split_revision(request, repo, rest, "tree")
    commit = revision_resolve(repo=repo, revision=revision)
    recursive = _flag(request.GET.get("recursive"))
    expand = _flag(request.GET.get("expand"))
    # As on the Hub: 1,000 entries a page, 50 with `expand` (each entry's last commit and validation status).
    page, more = hf_selectors.tree_page(commit=commit, path=path, recursive=recursive, after=cursor_key(request),
                                        limit=TREE_EXPAND_PAGE_SIZE if expand else TREE_PAGE_SIZE)
    response = JsonResponse(_entries_json(commit, page, expand=expand), safe=False)
    if more:
        response["Link"] = next_key_link(request, page[-1].path)
    return response


@hf_view
@require_http_methods(["POST"])
def paths_info(request: HttpRequest, principal: Principal, namespace: str, name: str,
               rest: str) -> HttpResponse:
    repo = get_repo(principal, namespace, name)
    if repo.disabled:
        raise Disabled(DISABLED_MESSAGE)
    commit = revision_resolve(repo=repo, revision=rest)
    form = _paths_info_form(request)
    entries = hf_selectors.paths_info(commit=commit, paths=form.getlist("paths"))
    return JsonResponse(_entries_json(commit, entries, expand=_flag(form.get("expand"))), safe=False)


def _paths_info_form(request: HttpRequest) -> QueryDict:
    """The form the client posts: up to PATHS_INFO_MAX_PATHS `paths` plus `expand` (one field more than Django's
    DATA_UPLOAD_MAX_NUMBER_FIELDS lets request.POST hold, hence parsed here, with the same kind of cap)."""
    if request.content_type != "application/x-www-form-urlencoded":
        return request.POST
    try:
        pairs = parse_qsl(request.body.decode("utf-8", errors="replace"), keep_blank_values=True,
                          max_num_fields=PATHS_INFO_MAX_PATHS + 1)
    except ValueError:
        raise InvalidInput(f"at most {PATHS_INFO_MAX_PATHS} paths per call") from None
    form = QueryDict(mutable=True)
    for key, value in pairs:
        form.appendlist(key, value)
    if len(form.getlist("paths")) > PATHS_INFO_MAX_PATHS:
        raise InvalidInput(f"at most {PATHS_INFO_MAX_PATHS} paths per call")
    return form


def _flag(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true"}


def _entries_json(commit: Commit, entries: list[hf_selectors.TreeEntry], *, expand: bool) -> list[dict[str, Any]]:
    """Tree entries as the client reads them; `expand` adds `lastCommit` and, for files, `securityFileStatus`
    (the validation verdict: safe, unsafe with the reason, or unscanned; no antivirus runs here)."""
    data = [e.as_hf() for e in entries]
    if not expand:
        return data
    details = hf_selectors.tree_expand(commit=commit, entries=entries)
    for item in data:
        extra = details[item["path"]]
        item["lastCommit"] = {"id": extra.last_commit.oid, "title": extra.last_commit.title,
                              "date": iso(extra.last_commit.created_at)}
        if extra.security is not None:
            item["securityFileStatus"] = {"status": extra.security, "avScan": None, "pickleImportScan": None}
            if extra.reason:
                item["securityFileStatus"]["message"] = extra.reason
    return data


# --- resolve ------------------------------------------------------------------------------------


def _byte_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """(start, end inclusive) for one satisfiable range; None: send everything; False: unsatisfiable."""
    match = RANGE_RE.match(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0:
            return False
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return False
    return start, end


def _serve_bytes(request: HttpRequest, entry: CommitFile, headers: dict[str, str]) -> HttpResponse:
    """200/206 with the file's bytes (inline content, or streamed from the local store), inert on the hub's origin
    (registry.user_content: an active type is a sandboxed attachment, never markup or script)."""
    size = entry.size
    headers["Accept-Ranges"] = "bytes"
    served = content_headers(hf_selectors.basename(entry.path), download=_flag(request.GET.get("download")))
    content_type = served.pop("Content-Type")
    headers.update(served)
    wanted = _byte_range(request.headers.get("Range", ""), size)
    if wanted is False:
        response = HttpResponse(status=416)
        headers["Content-Range"] = f"bytes */{size}"
    else:
        start, end = wanted if wanted else (0, size - 1)
        length = end - start + 1 if size else 0
        status = 206 if wanted else 200
        if request.method == "HEAD":
            response = HttpResponse(status=status, content_type=content_type)
        elif entry.blob_id is None:
            body = bytes(entry.content)[start: end + 1]
            response = HttpResponse(body, status=status, content_type=content_type)
        else:
            key = entry.blob.storage_key
            chunks = get_store().iter_bytes(key, start=start, end=end) if length else iter(())
            response = StreamingHttpResponse(chunks, status=status, content_type=content_type)
        headers["Content-Length"] = str(length)
        if wanted:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    for key, value in headers.items():
        response[key] = value
    return response


def _count_download(request: HttpRequest, principal: Principal, repo: ModelRepo, entry: CommitFile) -> None:
    """A GET (never a HEAD: the client HEADs every cached file on every load): the snapshot's marker file counts
    as one download; any file a signed-in user fetches is recorded against them (per-licensee records, recalls)."""
    if request.method != "GET":
        return
    if hf_selectors.counts_as_download(commit_oid=entry.commit.oid, repo=repo, path=entry.path):
        repo_download_record(repo_id=repo.pk)
    if principal.is_authenticated:
        user_download_record(repo_id=repo.pk, commit_id=entry.commit_id, user_id=principal.user.pk,
                             api_key_id=principal.api_key.pk if principal.api_key else None,
                             ip=client_ip(request))


@hf_view
@require_http_methods(["GET", "HEAD"])
def resolve(request: HttpRequest, principal: Principal, namespace: str, name: str, rest: str) -> HttpResponse:
    head = request.method == "HEAD"
    # Memoised per process until a watched row changes (registry.generation): a warm HEAD reads no table.
    repo, allowed = resolve_selectors.repo_for_download(viewer=principal.user, namespace=namespace, name=name)
    check_downloadable(request, principal, repo, allowed)
    candidates = revision_candidates(request, rest, "resolve")
    commit_oid, entry, path = resolve_selectors.file_for_download(repo=repo, candidates=candidates)
    headers = {"X-Repo-Commit": commit_oid, "Vary": "Authorization"}
    if entry is None:
        return hub_error_response(EntryNotFound(f"{path} does not exist in revision {commit_oid}"), principal,
                                  head=head, headers=headers)
    headers["ETag"] = f'"{entry.git_oid}"'
    if not file_granted(repo=repo, commit_file=entry):
        # Committed while its upload into this repo was being hashed, and that upload has not verified (yet): the
        # same bytes stored for other repos are not this repo's to serve. Checked first: nothing about them shows.
        if upload_in_progress(repo=repo, sha256=entry.blob.sha256):
            return _not_ready(path, principal, head, headers)
        error = PermissionDenied(f"{path} is not verified for this repository: its upload failed the check "
                                 "(upload it again)", code="BlobNotVerified")
        return hub_error_response(error, principal, head=head, headers=headers)
    quarantined = _quarantine_error(entry, path)
    if quarantined is not None:
        return hub_error_response(quarantined, principal, head=head, headers=headers)
    if entry.blob_id is None:
        _count_download(request, principal, repo, entry)
        return _serve_bytes(request, entry, headers)

    blob = entry.blob
    if blob.state == Blob.State.REJECTED:
        error = PermissionDenied(f"{path} failed verification and can't be downloaded", code="BlobRejected")
        return hub_error_response(error, principal, head=head, headers=headers)
    # Read-after-write: a committed file is never a 403 or 404 while its bytes are checked (small Xet and LFS
    # uploads are checked during the request that sent them). Until the worker has written and verified the rest
    # it is a 503 with Retry-After on the HEAD, which the stock client retries (its GET retries only 408/429, and a
    # HEAD can't tell a Xet client from a whole-file one, so the HEAD is where it waits).
    if blob.state != Blob.State.VERIFIED:
        return _not_ready(path, principal, head, headers)
    headers["X-Linked-Etag"] = f'"{blob.sha256}"'
    headers["X-Linked-Size"] = str(blob.size)
    if blob.xet_hash:
        # Uploaded over Xet (and its xorbs not dropped): Xet clients reconstruct it through /cas with a read
        # token from this link; everyone else follows the GET below to the whole file.
        token_url = absolute(request, f"/api/models/{repo.namespace}/{repo.name}/xet-read-token/{commit_oid}")
        headers["X-Xet-Hash"] = blob.xet_hash
        headers["Link"] = f'<{token_url}>; rel="xet-auth"'
    _count_download(request, principal, repo, entry)
    store = get_store()
    if store.name == "local" and not settings.USER_CONTENT_URL:
        return _serve_bytes(request, entry, headers)
    # S3, or the local store's signed URL on the separate user-content origin: the bytes come from there.
    url = store.presigned_get_url(blob.storage_key, expires=settings.PRESIGNED_URL_TTL,
                                  filename=hf_selectors.basename(path))
    response = HttpResponse(status=302)
    response["Location"] = absolute(request, url)
    for key, value in headers.items():
        response[key] = value
    return response


def _not_ready(path: str, principal: Principal, head: bool, headers: dict[str, str]) -> HttpResponse:
    """503 + Retry-After: committed, its bytes still being checked; the stock client retries it."""
    message = f"{path} was just uploaded and is still being checked; retry in a few seconds"
    return error_response(503, "BlobPending", message, head=head,
                          headers={**headers, "Retry-After": str(PENDING_RETRY_AFTER_SECONDS),
                                   "Cache-Control": "no-store"})


# --- checkpoint validation: quarantine ------------------------------------------------------------


def _quarantine_error(entry: CommitFile, path: str) -> PermissionDenied | None:
    """403 FileQuarantined when the file's content failed validation (a rejected blob keeps BlobRejected)."""
    if entry.blob_id is not None and entry.blob.state == Blob.State.REJECTED:
        return None
    reason = file_quarantine(commit_file=entry)
    if reason is None:
        return None
    return PermissionDenied(f"{path} failed validation and is quarantined: {reason}", code="FileQuarantined")
