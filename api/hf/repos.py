"""HF-compatible repo endpoints: identity, repo lifecycle, info, listings, refs and history.

Each view parses the client's request, calls one service or selector, and shapes the answer the
way huggingface_hub 2.4 reads it (see /work/shared/docs/HF_PROTOCOL.md §4–5).
"""

from __future__ import annotations

from html import escape
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from api.auth import Principal, client_ip
from api.hf.common import (
    absolute,
    cursor_key,
    error_response,
    get_repo,
    hf_view,
    iso,
    json_body,
    next_key_link,
    page_link,
)
from api.hf.model_fields import (
    INFO_PARAMETERS,
    LIST_PARAMETERS,
    ModelBatch,
    check_parameters,
    expand_properties,
    flag,
    optional_flag,
)
from registry import permissions
from registry.cards import CardError, parse_card
from registry.exceptions import (
    Conflict,
    GatedRepo,
    InvalidInput,
    NotAuthenticated,
    PermissionDenied,
    RepoNotFound,
)
from registry.models import Membership, ModelRepo
from registry.selectors.catalogue import RepoQuery, parameters_range, repo_page
from registry.selectors.history import history_page
from registry.selectors.repos import repo_pr_refs, repo_refs, revision_resolve
from registry.selectors.security import security_status
from registry.selectors.tensors import sharded_safetensors_metadata
from registry.services.refs import branch_create, branch_delete, tag_create, tag_delete
from registry.services.repos import repo_create, repo_delete, repo_move, repo_update_settings

# Page sizes (module constants so tests can make them small).
MODELS_PAGE_SIZE = 100
MODELS_MAX_LIMIT = 1000
COMMITS_PAGE_SIZE = 50
DEFAULT_REVISION = "main"


def repo_url(request: HttpRequest, repo_id: str) -> str:
    return absolute(request, f"/{repo_id}")


def _bool(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes"}


# --- identity -----------------------------------------------------------------------------------


@hf_view
@require_http_methods(["GET"])
def whoami(request: HttpRequest, principal: Principal) -> HttpResponse:
    if not principal.is_authenticated:
        return error_response(401, NotAuthenticated.code, "Invalid user token: sign in with an API key")
    user = principal.user
    memberships = (Membership.objects.filter(user=user).select_related("organization")
                   .order_by("organization__slug"))
    auth: dict[str, Any] = {"type": "access_token"}
    key = principal.api_key
    if key is not None:
        role = next((s for s in ("admin", "write", "read") if s in key.scopes), "read")
        auth["accessToken"] = {"displayName": key.name, "role": role,
                               "createdAt": iso(key.created_at)}
    else:
        auth = {"type": "session"}
    return JsonResponse({
        "type": "user",
        "id": str(user.pk),
        "name": user.get_username(),
        "fullname": user.get_full_name() or user.get_username(),
        "email": user.email or None,
        "emailVerified": True,
        "isPro": False,
        "orgs": [
            {"type": "org", "name": m.organization.slug, "fullname": m.organization.name, "roleInOrg": m.role}
            for m in memberships
        ],
        "auth": auth,
    })


@hf_view
@require_http_methods(["GET"])
def auth_check(request: HttpRequest, principal: Principal, namespace: str, name: str,
               write: str | None = None) -> HttpResponse:
    repo = get_repo(principal, namespace, name)
    if write:
        if not permissions.can_write_repo(principal.user, repo, principal.api_key):
            raise PermissionDenied("You don't have write access to this repository")
    elif not permissions.can_download(principal.user, repo):
        raise GatedRepo(_gated_message(request, repo, principal))
    return JsonResponse({"ok": True})


def _gated_message(request: HttpRequest, repo: ModelRepo, principal: Principal) -> str:
    if not principal.is_authenticated:
        return (f"Access to model {repo.repo_id} is restricted. You must have access to it and be "
                f"authenticated to access it. Please log in, then visit {repo_url(request, repo.repo_id)}.")
    return (f"Access to model {repo.repo_id} is restricted and you are not in the authorized list. "
            f"Visit {repo_url(request, repo.repo_id)} to ask for access.")


# --- repo lifecycle -----------------------------------------------------------------------------


def _check_type(data: dict[str, Any]) -> None:
    repo_type = data.get("type")
    if repo_type not in (None, "model"):
        raise InvalidInput(f"this hub only hosts models, not {repo_type}s")


def _require_signed_in(principal: Principal) -> None:
    if not principal.is_authenticated:
        raise NotAuthenticated("You must be authenticated (Authorization: Bearer <API key>) to do this")


@hf_view
@require_http_methods(["POST"])
def create_repo(request: HttpRequest, principal: Principal) -> HttpResponse:
    data = json_body(request)
    _check_type(data)
    _require_signed_in(principal)
    name = str(data.get("name") or "")
    namespace = str(data.get("organization") or principal.user.get_username())
    visibility = data.get("visibility")
    if visibility not in (None, "public", "private"):
        raise InvalidInput("visibility must be public or private")
    private = visibility == "private" if visibility is not None else bool(data.get("private", False))
    try:
        repo = repo_create(actor=principal.user, namespace=namespace, name=name, private=private,
                           api_key=principal.api_key, ip=client_ip(request))
    except Conflict as exc:
        # The client reads "url" even from the 409 (create_repo(exist_ok=True)).
        try:
            repo_id = get_repo(principal, namespace, name).repo_id
        except RepoNotFound:
            repo_id = f"{namespace}/{name}"
        return error_response(409, exc.code, exc.message, extra={"url": repo_url(request, repo_id)})
    return JsonResponse({"url": repo_url(request, repo.repo_id), "name": repo.repo_id, "id": str(repo.pk)})


def _repo_from_body(principal: Principal, data: dict[str, Any]) -> ModelRepo:
    name = str(data.get("name") or "")
    namespace = data.get("organization")
    if "/" in name and not namespace:
        namespace, name = name.split("/", 1)
    if not namespace:
        _require_signed_in(principal)
        namespace = principal.user.get_username()
    return get_repo(principal, str(namespace), name)


@hf_view
@require_http_methods(["DELETE"])
def delete_repo(request: HttpRequest, principal: Principal) -> HttpResponse:
    data = json_body(request)
    _check_type(data)
    repo = _repo_from_body(principal, data)
    repo_delete(actor=principal.user, repo=repo, api_key=principal.api_key, ip=client_ip(request))
    return JsonResponse({})


@hf_view
@require_http_methods(["POST"])
def move_repo(request: HttpRequest, principal: Principal) -> HttpResponse:
    data = json_body(request)
    _check_type(data)
    source, target = str(data.get("fromRepo") or ""), str(data.get("toRepo") or "")
    if source.count("/") != 1 or target.count("/") != 1:
        raise InvalidInput("fromRepo and toRepo must both be namespace/name")
    repo = get_repo(principal, *source.split("/"))
    to_namespace, to_name = target.split("/")
    repo = repo_move(actor=principal.user, repo=repo, to_namespace=to_namespace, to_name=to_name,
                     api_key=principal.api_key, ip=client_ip(request))
    return JsonResponse({"url": repo_url(request, repo.repo_id)})


@hf_view
@require_http_methods(["PUT"])
def update_settings(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    data = json_body(request)
    repo = get_repo(principal, namespace, name)
    gating = None
    if "gated" in data:
        gated = data["gated"]
        if gated in (False, None, "false", "none"):
            gating = ModelRepo.Gating.NONE
        elif gated in ("auto", "manual"):
            gating = gated
        else:
            raise InvalidInput(f"gated must be one of: auto, manual, false (got {gated!r})")
    private = None
    if data.get("visibility") is not None:
        if data["visibility"] not in ("public", "private"):
            raise InvalidInput("visibility must be public or private")
        private = data["visibility"] == "private"
    elif data.get("private") is not None:
        private = bool(data["private"])
    repo_update_settings(actor=principal.user, repo=repo, private=private, gating=gating,
                         api_key=principal.api_key, ip=client_ip(request))
    return JsonResponse({})


@hf_view
@require_http_methods(["POST"])
def validate_yaml(request: HttpRequest, principal: Principal) -> HttpResponse:
    data = json_body(request)
    content = data.get("content")
    if not isinstance(content, str):
        return JsonResponse({"errors": [{"message": '"content" must be the README text'}], "warnings": []},
                            status=400)
    try:
        parse_card(content)
    except CardError as exc:
        return JsonResponse({"errors": [{"message": str(exc)}], "warnings": []}, status=400)
    return JsonResponse({"errors": [], "warnings": []})


# --- info and listings -------------------------------------------------------------------------


# What every item of list_models and model_info carries (besides its ids), read through the same producers as
# `expand` (api.hf.model_fields), so a property has one definition whichever way it is asked for.
SUMMARY_FIELDS = ("author", "private", "gated", "disabled", "downloads", "likes", "tags", "pipeline_tag",
                  "library_name", "createdAt", "lastModified", "safetensors")


def _repo_summary(repo: ModelRepo, batch: ModelBatch, *, card_data: bool = False) -> dict[str, Any]:
    names = (*SUMMARY_FIELDS, "cardData") if card_data else SUMMARY_FIELDS
    return {"_id": f"{repo.pk:024x}", "id": repo.repo_id, "modelId": repo.repo_id, **batch.fields(repo, names)}


# What model_info adds to the summary without `expand` (each computed as `expand` would).
INFO_EXTRAS = ("sha", "siblings", "usedStorage", "config", "baseModels", "childrenModelCount", "spaces")


@hf_view
@require_http_methods(["GET"])
def model_info(request: HttpRequest, principal: Principal, namespace: str, name: str,
               rest: str | None = None) -> HttpResponse:
    """`expand=<property>` (repeated): only those properties, plus `id`; `securityStatus=true`: the revision's
    `securityRepoStatus` (registry.selectors.security); `blobs=true`: sizes and ids of the siblings."""
    params = request.GET
    check_parameters(params, INFO_PARAMETERS, what="model_info")
    repo = get_repo(principal, namespace, name)
    commit = revision_resolve(repo=repo, revision=rest or DEFAULT_REVISION)
    blobs, security = flag(params, "blobs"), flag(params, "securityStatus")
    expand = expand_properties(params, listing=False)
    if expand and (blobs or security):
        raise InvalidInput("expand cannot be combined with blobs or securityStatus (as in huggingface_hub)")
    batch = ModelBatch(viewer=principal.user, repos=[repo], heads={repo.pk: commit}, single=True, blobs=blobs,
                       pinned=rest is not None)
    if expand:
        return JsonResponse({"id": repo.repo_id, **batch.fields(repo, expand)})
    data = _repo_summary(repo, batch, card_data=True)  # its `safetensors`: the revision's own counts
    data.update(batch.fields(repo, INFO_EXTRAS))
    if security:
        data["securityRepoStatus"] = security_status(commit=commit)
    return JsonResponse(data)


@hf_view
@require_http_methods(["GET"])
def safetensors_metadata(request: HttpRequest, principal: Principal, namespace: str, name: str,
                         rest: str) -> HttpResponse:
    """`get_sharded_safetensors_metadata`: main's index `rest` and every shard's header, with download rights."""
    from api.hf.files import check_downloadable

    repo = get_repo(principal, namespace, name)
    check_downloadable(request, principal, repo)
    commit = revision_resolve(repo=repo, revision=DEFAULT_REVISION)
    found = sharded_safetensors_metadata(repo=repo, commit=commit, index_path=rest)
    index = {"metadata": found.index_metadata} if found.index_metadata is not None else {}
    return JsonResponse({"index": index, "headers": found.headers}, headers={"X-Repo-Commit": commit.oid})


# HF sort names (the client maps last_modified → lastModified …) → the catalogue's orders; likes is the maintained
# count (registry.services.likes).
HF_SORTS = {"downloads": "downloads", "lastModified": "updated", "createdAt": "created", "likes": "likes"}
HF_DIRECTIONS = {"-1": False, "desc": False, "1": True, "asc": True}


def _models_query(params: Any) -> RepoQuery:
    """The list_models parameters the client sends (docs/HF_MODELS_API.md), as a catalogue query; a 400 for a value
    that can't be honoured."""
    minimum, maximum = parameters_range(params["num_parameters"]) if params.get("num_parameters") else (None, None)
    sort = params.get("sort") or "downloads"
    if sort == "trendingScore":
        raise InvalidInput("sort=trendingScore is not available: this hub computes no trending score "
                           f"(sort by one of {', '.join(HF_SORTS)})")
    if sort not in HF_SORTS:
        raise InvalidInput(f"unknown sort {sort!r}: sort by one of {', '.join(HF_SORTS)}")
    direction = params.get("direction") or "-1"
    if direction not in HF_DIRECTIONS:
        raise InvalidInput(f"direction must be -1 (descending) or 1 (ascending), not {direction!r}")
    return RepoQuery(
        text=params.get("search", ""), in_card=False,  # HF: "contained in the returned model ids"
        namespace=params.get("author", "").strip(), filters=tuple(v for v in params.getlist("filter") if v),
        task=params.get("pipeline_tag", ""), language=params.get("language", ""),
        library=params.get("library", ""), license=params.get("license", ""),
        gated=optional_flag(params, "gated"), min_parameters=minimum, max_parameters=maximum,
        sort=HF_SORTS[sort], ascending=HF_DIRECTIONS[direction],
    )


def _limit(params: Any) -> int | None:
    value = params.get("limit")
    if value in (None, ""):
        return None
    try:
        limit = int(value)
    except ValueError:
        raise InvalidInput("limit must be a number") from None
    if limit < 1:
        raise InvalidInput("limit must be at least 1")
    return limit


@hf_view
@require_http_methods(["GET"])
def list_models(request: HttpRequest, principal: Principal) -> HttpResponse:
    """A keyset page of the models the caller may see; `Link: <absolute URL>; rel="next"` carries the whole query
    and the cursor, and the client follows it (it sends no parameters of its own on the next request). `limit` is
    the number of models in all: the next page's link asks for what is left, and there is none once it is 0."""
    params = request.GET
    check_parameters(params, LIST_PARAMETERS, what="list_models")
    limit = _limit(params)
    expand = expand_properties(params, listing=True)
    full, card_data, config = flag(params, "full"), flag(params, "cardData"), flag(params, "config")
    if expand and (full or card_data or config):
        raise InvalidInput("expand cannot be combined with full, cardData or config (as in huggingface_hub)")
    query = _models_query(params)
    page_size = max(1, min(limit or MODELS_PAGE_SIZE, MODELS_PAGE_SIZE, MODELS_MAX_LIMIT))
    page = repo_page(viewer=principal.user, query=query, cursor=params.get("cursor"), size=page_size)
    repos = page.rows
    batch = ModelBatch(viewer=principal.user, repos=repos)
    if expand:
        items = [{"id": r.repo_id, **batch.fields(r, expand)} for r in repos]
    else:
        extras = [name for name, wanted in (("config", config), ("sha", full), ("siblings", full)) if wanted]
        items = [{**_repo_summary(r, batch, card_data=card_data), **batch.fields(r, extras)} for r in repos]
    response = JsonResponse(items, safe=False)
    left = None if limit is None else limit - len(repos)
    if page.next and (left is None or left > 0):
        response["Link"] = page_link(request, page.next, **({"limit": str(left)} if left is not None else {}))
    return response


# --- refs and history ---------------------------------------------------------------------------


@hf_view
@require_http_methods(["GET"])
def refs(request: HttpRequest, principal: Principal, namespace: str, name: str) -> HttpResponse:
    repo = get_repo(principal, namespace, name)
    branches, tags = repo_refs(repo=repo)
    data: dict[str, Any] = {
        "branches": [{"name": b.name, "ref": f"refs/heads/{b.name}", "targetCommit": b.head.oid}
                     for b in branches],
        "converts": [],
        "tags": [{"name": t.name, "ref": f"refs/tags/{t.name}", "targetCommit": t.commit.oid} for t in tags],
    }
    if _bool(request.GET.get("include_prs")):
        data["pullRequests"] = [{"name": b.name, "ref": b.name, "targetCommit": b.head.oid}
                                for _num, b in repo_pr_refs(repo=repo)]
    return JsonResponse(data)


@hf_view
@require_http_methods(["GET"])
def commits(request: HttpRequest, principal: Principal, namespace: str, name: str, rest: str) -> HttpResponse:
    repo = get_repo(principal, namespace, name)
    head = revision_resolve(repo=repo, revision=rest)
    page, following = history_page(repo=repo, start=cursor_key(request) or head.oid, limit=COMMITS_PAGE_SIZE)
    formatted = "formatted" in request.GET.getlist("expand[]") + request.GET.getlist("expand")
    items = []
    for c in page:
        item: dict[str, Any] = {"id": c.oid, "title": c.title, "message": c.message,
                                "date": iso(c.created_at), "authors": [{"user": c.author_name}]}
        if formatted:
            item["formatted"] = {"title": escape(c.title), "message": escape(c.message)}
        items.append(item)
    response = JsonResponse(items, safe=False)
    if following is not None:
        response["Link"] = next_key_link(request, following)
    return response


@hf_view
@require_http_methods(["POST", "DELETE"])
def branch(request: HttpRequest, principal: Principal, namespace: str, name: str, rest: str) -> HttpResponse:
    repo = get_repo(principal, namespace, name)
    if request.method == "DELETE":
        branch_delete(actor=principal.user, repo=repo, name=rest, api_key=principal.api_key,
                      ip=client_ip(request))
        return JsonResponse({})
    data = json_body(request)
    created = branch_create(actor=principal.user, repo=repo, name=rest,
                            start_revision=data.get("startingPoint"), api_key=principal.api_key,
                            ip=client_ip(request))
    return JsonResponse({"name": created.name, "ref": f"refs/heads/{created.name}",
                         "targetCommit": created.head.oid})


@hf_view
@require_http_methods(["POST", "DELETE"])
def tag(request: HttpRequest, principal: Principal, namespace: str, name: str, rest: str) -> HttpResponse:
    """POST /tag/<revision> {"tag", "message"} creates; DELETE /tag/<tag> deletes (as the client sends)."""
    repo = get_repo(principal, namespace, name)
    if request.method == "DELETE":
        tag_delete(actor=principal.user, repo=repo, name=rest, api_key=principal.api_key,
                   ip=client_ip(request))
        return JsonResponse({})
    data = json_body(request)
    tag_name = str(data.get("tag") or "")
    if not tag_name:
        raise InvalidInput('the body needs a "tag" name')
    created = tag_create(actor=principal.user, repo=repo, name=tag_name, revision=rest,
                         message=str(data.get("message") or ""), api_key=principal.api_key,
                         ip=client_ip(request))
    return JsonResponse({"name": created.name, "ref": f"refs/tags/{created.name}",
                         "targetCommit": created.commit.oid})
