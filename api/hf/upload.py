"""Upload side of the HF-compatible API: preupload, the LFS batch/verify/completion endpoints, commits.

Small text files go inline in the commit. Files preupload marks "lfs" go through Xet with the stock client
(hf_xet installed): it asks the xet-write-token route for a CAS token, sends chunks to /cas, and commits the
file as an `lfsFile` keyed by sha256 (registry.services.xet_hub). With HF_HUB_DISABLE_XET=1 (or another
Git LFS client) the same files go through the LFS batch endpoints below.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from api.auth import Principal, client_ip
from api.hf.common import GIT_LFS_CONTENT_TYPE, absolute, error_response, get_repo, hf_view, json_body
from api.hf.files import check_downloadable
from api.wire import parse_json
from registry.exceptions import Disabled, GatedRepo, InvalidInput, TooLarge
from registry.hashing import SHA256_RE
from registry.models import BlobUpload
from registry.selectors import git as git_selectors
from registry.selectors.resolve import repo_for_download
from registry.services import pulls, uploads, xet_hub
from registry.services.commits import AddBlob, AddInline, Delete, DeleteFolder, Operation
from registry.storage import get_store

COMPLETION_SALT = "hub.lfs.multipart-complete"
# A commit body holds the inline files (each at most INLINE_FILE_MAX_SIZE, base64) and one line per
# LFS file or deletion; it is read line by line, so this bounds memory, not a single line.
COMMIT_MAX_BODY_SIZE = 512 * 1024 * 1024
COMMIT_LINE_OVERHEAD = 64 * 1024
SAMPLE_MAX = 4096


def _revision(request: HttpRequest, rest: str, marker: str) -> str:
    """The whole tail after `/{marker}/` is the revision (quoted with safe='' by the client)."""
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    token = f"/{marker}/"
    if raw and token in raw.split("?", 1)[0]:
        return unquote(raw.split("?", 1)[0].split(token, 1)[1])
    return rest


def _create_pr(request: HttpRequest) -> bool:
    """`?create_pr=1`: the upload is for a pull request against the revision (HF_COMMUNITY.md "PRs from commits")."""
    return request.GET.get("create_pr") not in (None, "", "0", "false", "False")


# --- preupload ------------------------------------------------------------------------------------


@require_http_methods(["POST"])
@hf_view
def preupload(
    request: HttpRequest, principal: Principal, namespace: str, name: str, rest: str
) -> HttpResponse:
    repo = get_repo(principal, namespace, name)
    revision = _revision(request, rest, "preupload")
    body = json_body(request)
    files = body.get("files")
    if not isinstance(files, list):
        raise InvalidInput('"files" must be a list of {path, sample, size}')
    parsed = []
    for item in files:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise InvalidInput(f"bad preupload entry {item!r}: needs a path")
        size = item.get("size")
        if not isinstance(size, int) or isinstance(size, bool):
            raise InvalidInput(f"{item['path']}: size must be an integer")
        try:
            sample = base64.b64decode(item.get("sample") or "", validate=True)[:SAMPLE_MAX]
        except (binascii.Error, ValueError, TypeError) as exc:
            raise InvalidInput(f"{item['path']}: sample is not valid base64") from exc
        parsed.append(uploads.PreuploadFile(path=item["path"], size=size, sample=sample))
    answers = uploads.preupload_plan(
        actor=principal.user, repo=repo, revision=revision, files=parsed, api_key=principal.api_key,
        create_pr=_create_pr(request),
    )
    return JsonResponse(
        {
            "files": [
                {"path": a.path, "uploadMode": a.upload_mode, "shouldIgnore": False, "oid": a.oid}
                for a in answers
            ]
        }
    )


# --- Git LFS --------------------------------------------------------------------------------------


def _completion_token(plan: uploads.LfsObjectPlan, principal: Principal) -> str:
    return signing.dumps(
        {"p": plan.upload_pk, "u": plan.upload_id, "a": principal.user.pk}, salt=COMPLETION_SALT, compress=True
    )


def _object_answer(
    request: HttpRequest, principal: Principal, repo_path: str, plan: uploads.LfsObjectPlan
) -> dict[str, Any]:
    answer: dict[str, Any] = {"oid": plan.oid, "size": plan.size}
    if plan.kind == "error":
        answer["error"] = {"code": plan.error_code, "message": plan.error_message}
        return answer
    if plan.kind == "present":
        return answer  # no "actions": the client skips the upload
    # The object is marked "authenticated": git-lfs then sends the action's own headers and not the Basic
    # credentials it took from the remote's URL, so the verify call carries them back. (A bearer key comes from the
    # client's own configuration — huggingface_hub's token, git's http.extraHeader — which it sends anyway: echoing
    # it would make two Authorization headers.)
    sent = request.META.get("HTTP_AUTHORIZATION", "")
    credentials = sent if principal.api_key is not None and sent[:6].lower() == "basic " else ""
    verify = {"href": absolute(request, reverse("hf-lfs-verify", kwargs=repo_path)),
              "header": {"Authorization": credentials} if credentials else {}}
    if plan.kind == "basic":
        upload = {"href": absolute(request, plan.upload_url or "")}
    else:
        header = {"chunk_size": str(plan.chunk_size)}
        header.update({f"{n:05d}": absolute(request, url) for n, url in enumerate(plan.part_urls, start=1)})
        href = reverse("hf-lfs-complete", kwargs={"token": _completion_token(plan, principal)})
        upload = {"href": absolute(request, href), "header": header}
    answer["actions"] = {"upload": upload, "verify": verify}
    answer["authenticated"] = True
    return answer


@require_http_methods(["POST"])
@hf_view(git_basic=True)
def lfs_batch(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    body = json_body(request)
    operation = body.get("operation", "upload")
    if operation not in ("upload", "download"):
        raise InvalidInput(f"the operation is 'upload' or 'download', not {operation!r}")
    objects = body.get("objects")
    if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
        raise InvalidInput('"objects" must be a list of {oid, size}')
    if operation == "download":
        return _lfs_download(request, principal, namespace, name, objects)
    repo = get_repo(principal, namespace, name)
    transfers = body.get("transfers") or ["basic"]
    plans = uploads.lfs_batch_plan(
        actor=principal.user, repo=repo, objects=objects, api_key=principal.api_key
    )
    if any(p.kind == "multipart" for p in plans) and "multipart" not in transfers:
        raise InvalidInput(
            f"objects over {settings.LFS_MULTIPART_THRESHOLD} bytes need the multipart transfer"
        )
    repo_path = {"namespace": repo.namespace, "name": repo.name}
    answer = {
        "transfer": "multipart" if "multipart" in transfers else "basic",
        "objects": [_object_answer(request, principal, repo_path, plan) for plan in plans],
        "hash_algo": "sha256",
    }
    return JsonResponse(answer, content_type=GIT_LFS_CONTENT_TYPE)


LFS_REFUSALS = {  # LfsDownload.refusal → (LFS error code, message)
    "missing": (404, "Object does not exist in this repository"),
    "size": (422, "Object has another size in this repository"),
    "rejected": (403, "Object failed verification and can't be downloaded: {reason}"),
    "not_granted": (403, "Object is not verified for this repository: its upload failed the check"),
    "pending": (503, "Object was just uploaded and is still being checked; retry in a few seconds"),
    "quarantined": (403, "Object failed validation and is quarantined: {reason}"),
    "refused": (403, "{reason}"),
}


def _lfs_download(request: HttpRequest, principal: Principal, namespace: str, name: str,
                  objects: list[dict[str, Any]]) -> HttpResponse:
    """git-lfs's download batch (`git lfs pull` after a clone): for each object this repo may serve to the viewer,
    a `download` action to the store's presigned URL (S3) or the local store's signed URL, so the bytes never pass
    through this process; otherwise an LFS error object saying why. The authority is /resolve's: a private repo is
    not found, an anonymous caller of a gated repo is asked for credentials (401), and a gated repo whose license
    the viewer hasn't accepted, or a taken-down one, refuses each object."""
    if len(objects) > git_selectors.LFS_BATCH_MAX:
        raise InvalidInput(f"at most {git_selectors.LFS_BATCH_MAX} objects per batch")
    wanted = []
    for item in objects:
        oid, size = item.get("oid"), item.get("size")
        if not isinstance(oid, str) or not SHA256_RE.match(oid):
            raise InvalidInput(f"bad object id {str(oid)[:80]!r}: a sha256, 64 lowercase hex digits")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInput(f"{oid}: size must be a non-negative integer")
        wanted.append((oid, size))
    repo, allowed = repo_for_download(viewer=principal.user, namespace=namespace, name=name)
    refusal = ""
    try:
        check_downloadable(request, principal, repo, allowed)
    except GatedRepo as exc:
        if not principal.is_authenticated:
            raise  # 401: git-lfs asks for credentials
        refusal = exc.message
    except Disabled as exc:
        refusal = exc.message
    if refusal:
        answers = [git_selectors.LfsDownload(oid, size, refusal="refused", reason=refusal) for oid, size in wanted]
    else:
        answers = git_selectors.lfs_downloads(repo=repo, objects=wanted)
    store = get_store()
    out = []
    for answer in answers:
        item: dict[str, Any] = {"oid": answer.oid, "size": answer.size}
        if answer.blob is None:
            code, message = LFS_REFUSALS[answer.refusal]
            item["error"] = {"code": code, "message": message.format(reason=answer.reason)}
        else:
            url = store.presigned_get_url(answer.blob.storage_key, expires=settings.PRESIGNED_URL_TTL)
            item["authenticated"] = True
            item["actions"] = {"download": {"href": absolute(request, url), "header": {},
                                            "expires_in": settings.PRESIGNED_URL_TTL}}
        out.append(item)
    return JsonResponse({"transfer": "basic", "objects": out, "hash_algo": "sha256"}, content_type=GIT_LFS_CONTENT_TYPE)


@require_http_methods(["POST"])
@hf_view(git_basic=True)
def lfs_verify(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    repo = get_repo(principal, namespace, name)
    body = json_body(request)
    upload = uploads.lfs_upload_verify(
        actor=principal.user,
        repo=repo,
        oid=body.get("oid"),
        size=body.get("size"),
        api_key=principal.api_key,
        ip=client_ip(request),
    )
    return _upload_answer(upload)


def _upload_answer(upload: BlobUpload) -> HttpResponse:
    """The state of this upload (verified, or pending while a worker hashes it); never of anyone else's bytes."""
    state = "verified" if upload.state == BlobUpload.State.VERIFIED else "pending"
    return JsonResponse({"oid": upload.sha256, "size": upload.size, "state": state}, content_type=GIT_LFS_CONTENT_TYPE)


@require_http_methods(["POST"])
@hf_view
def lfs_complete(request: HttpRequest, principal: Principal, token: str) -> HttpResponse:
    """Multipart completion. No auth (the client sends none): the signed token names blob and upload."""
    try:
        claims = signing.loads(token, salt=COMPLETION_SALT, max_age=settings.UPLOAD_GRACE_HOURS * 3600)
    except signing.BadSignature:
        return error_response(
            403,
            "InvalidUploadToken",
            "this completion URL is invalid or has expired; ask the LFS batch endpoint again",
        )
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.filter(pk=claims.get("a")).first()
    body = json_body(request)
    upload = uploads.lfs_multipart_complete(
        actor=actor,
        upload_pk=claims.get("p"),
        upload_id=claims.get("u"),
        oid=body.get("oid"),
        parts=body.get("parts"),
        ip=client_ip(request),
    )
    return _upload_answer(upload)


# --- commit ---------------------------------------------------------------------------------------


def _parse_commit(request: HttpRequest) -> tuple[dict[str, Any], list[Operation]]:
    """Read the NDJSON body line by line: a header, then one operation per line."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > COMMIT_MAX_BODY_SIZE:
        raise TooLarge(
            f"the commit body is {length} bytes; at most {COMMIT_MAX_BODY_SIZE} are accepted "
            "(upload large files through LFS)"
        )
    max_line = (settings.INLINE_FILE_MAX_SIZE + 2) // 3 * 4 + COMMIT_LINE_OVERHEAD
    header: dict[str, Any] | None = None
    operations: list[Operation] = []
    number = 0
    while True:
        line = request.readline(max_line + 1)
        if not line:
            break
        number += 1
        if len(line) > max_line and not line.endswith(b"\n"):
            raise TooLarge(
                f"line {number} of the commit is too long: files over "
                f"{settings.INLINE_FILE_MAX_SIZE} bytes must be uploaded through Xet or LFS "
                "(the client does so for the files preupload marks 'lfs')"
            )
        if not line.strip():
            continue
        try:
            item = parse_json(line)
        except InvalidInput as exc:
            raise InvalidInput(f"line {number} of the commit: {exc.message}") from exc
        if not isinstance(item, dict) or not isinstance(item.get("value"), dict):
            raise InvalidInput(f'line {number}: expected {{"key": ..., "value": {{...}}}}')
        key, value = item.get("key"), item["value"]
        if key == "header":
            if header is not None or operations:
                raise InvalidInput(f"line {number}: the header must come first, once")
            header = value
            continue
        if header is None:
            raise InvalidInput("the commit must start with a header line")
        operations.append(_operation(number, key, value))
    if header is None:
        raise InvalidInput("empty commit request: expected a header line")
    return header, operations


def _path(number: int, value: dict[str, Any]) -> str:
    path = value.get("path")
    if not isinstance(path, str) or not path:
        raise InvalidInput(f"line {number}: a path is required")
    return path


def _operation(number: int, key: Any, value: dict[str, Any]) -> Operation:
    if key == "file":
        path = _path(number, value)
        content = uploads.inline_content_decode(
            path=path, content=value.get("content"), encoding=value.get("encoding")
        )
        return AddInline(path=path, content=content)
    if key == "lfsFile":
        path = _path(number, value)
        if value.get("algo", "sha256") != "sha256":
            raise InvalidInput(f"line {number}: only sha256 LFS objects are supported")
        oid, size = value.get("oid"), value.get("size")
        if not isinstance(oid, str):
            raise InvalidInput(f"line {number}: lfsFile needs an oid")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise InvalidInput(f"line {number}: size must be a non-negative integer")
        return AddBlob(path=path, sha256=oid, size=size)  # no size: a copy of a stored object
    if key == "deletedFile":
        return Delete(path=_path(number, value))
    if key == "deletedFolder":
        return DeleteFolder(path=_path(number, value))
    raise InvalidInput(
        f"line {number}: unknown key {key!r} (expected file, lfsFile, deletedFile, deletedFolder)"
    )


@require_http_methods(["POST"])
@hf_view
def commit(request: HttpRequest, principal: Principal, namespace: str, name: str, rest: str) -> HttpResponse:
    repo = get_repo(principal, namespace, name)
    branch = _revision(request, rest, "commit")
    header, operations = _parse_commit(request)
    summary, description, parent = (
        header.get("summary"),
        header.get("description") or "",
        header.get("parentCommit"),
    )
    if not isinstance(summary, str) or not isinstance(description, str):
        raise InvalidInput("the header needs a summary (and optionally a description) as strings")
    if parent is not None and not isinstance(parent, str):
        raise InvalidInput("parentCommit must be a commit id")
    pr_url = None
    if _create_pr(request):
        # A pull request against `branch`: the commit lands on its refs/pr/N, never on the branch.
        discussion, new = pulls.pr_commit_open(
            actor=principal.user, repo=repo, operations=operations, title=summary, message=description,
            target_branch=branch, parent_oid=parent, api_key=principal.api_key, ip=client_ip(request),
        )
        pr_url = absolute(request, f"/{repo.namespace}/{repo.name}/discussions/{discussion.num}")
    else:
        new = uploads.commit_from_upload(
            actor=principal.user,
            repo=repo,
            operations=operations,
            title=summary,
            message=description,
            branch=branch,
            parent_oid=parent,
            api_key=principal.api_key,
            ip=client_ip(request),
        )
    return JsonResponse(
        {
            "commitOid": new.oid,
            "commitUrl": absolute(request, f"/{repo.namespace}/{repo.name}/commit/{new.oid}"),
            "pullRequestUrl": pr_url,
            "commitMessage": summary,
        }
    )


# --- Xet ------------------------------------------------------------------------------------------


def _xet_token_response(request: HttpRequest, principal: Principal, namespace: str, name: str, rest: str,
                        scope: str) -> HttpResponse:
    """The CAS token as JSON (hf_xet's upload path reads it) and as X-Xet-* headers (the download path does)."""
    repo = get_repo(principal, namespace, name)  # the usual 401/404 for repos the caller can't see
    if scope == "read":
        check_downloadable(request, principal, repo)  # gated: the same error as /resolve
    revision = _revision(request, rest, f"xet-{scope}-token")
    if revision in ("", "None"):  # the client sends the literal "None" when no revision was given
        revision = "main"
    token = xet_hub.xet_token_issue(principal=principal, repo=repo, scope=scope, revision=revision,
                                    base_url=absolute(request, "/"),
                                    create_pr=scope == "write" and _create_pr(request))
    response = JsonResponse({"accessToken": token.access_token, "exp": token.exp, "casUrl": token.cas_url})
    response["X-Xet-Cas-Url"] = token.cas_url
    response["X-Xet-Access-Token"] = token.access_token
    response["X-Xet-Token-Expiration"] = str(token.exp)
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET"])
@hf_view
def xet_write_token(
    request: HttpRequest, principal: Principal, namespace: str, name: str, rest: str
) -> HttpResponse:
    return _xet_token_response(request, principal, namespace, name, rest, "write")


@require_http_methods(["GET"])
@hf_view
def xet_read_token(
    request: HttpRequest, principal: Principal, namespace: str, name: str, rest: str
) -> HttpResponse:
    return _xet_token_response(request, principal, namespace, name, rest, "read")
