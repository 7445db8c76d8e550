"""Shared plumbing of the HF-compatible API: errors in the client's vocabulary, callers, repo lookup.

The huggingface_hub client reads errors from headers (HEAD has no body): every 4xx carries
X-Error-Code and X-Error-Message. Missing or private repos answer 401 to anonymous callers and
404 to signed-in ones, both with RepoNotFound — the same answer whether the repo exists or not.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse, JsonResponse

from api.auth import INVALID_CREDENTIALS, InvalidToken, Principal, principal_for, session_csrf_failure
from api.ratelimit import rate_limit_request, too_many_requests_message
from api.wire import header_text, parse_json
from registry.exceptions import GatedRepo, HubError, RepoNotFound
from registry.models import Branch, ModelRepo, Tag
from registry.selectors.repos import repo_get


def error_response(status: int, code: str | None, message: str, *, headers: dict[str, str] | None = None,
                   head: bool = False, extra: dict[str, Any] | None = None) -> HttpResponse:
    """`extra` adds keys to the JSON body (create_repo's 409 carries the repo's "url")."""
    response: HttpResponse
    if head:
        response = HttpResponse(status=status)
    else:
        response = JsonResponse({"error": message, **(extra or {})}, status=status)
    if code:
        response["X-Error-Code"] = code
    response["X-Error-Message"] = header_text(message)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def hub_error_response(exc: HubError, principal: Principal | None, *, head: bool = False,
                       headers: dict[str, str] | None = None) -> HttpResponse:
    status = exc.status
    anonymous = principal is None or not principal.is_authenticated
    if isinstance(exc, RepoNotFound | GatedRepo) and anonymous:
        status = 401
    return error_response(status, exc.code, exc.message, headers=headers, head=head)


GIT_LFS_CONTENT_TYPE = "application/vnd.git-lfs+json"


def _basic(request: HttpRequest) -> bool:
    return request.META.get("HTTP_AUTHORIZATION", "").partition(" ")[0].lower() == "basic"


def lfs_principal(request: HttpRequest) -> Principal:
    """`principal_for`, and also `Basic base64(user:<API key>)`: git-lfs sends the credentials git uses. Only the
    git-lfs routes take it (api.git.common.git_principal: an API key, never a password)."""
    if not _basic(request):
        return principal_for(request)
    from api.git.common import git_principal

    principal = git_principal(request)
    request._hub_principal = principal  # type: ignore[attr-defined]
    return principal


def hf_view(view: Callable[..., HttpResponse] | None = None, *, git_basic: bool = False) -> Any:
    """Authenticate the bearer key (or the session, whose writes must pass the CSRF check) and turn domain errors
    into HF-shaped responses. `git_basic` (the git-lfs routes): HTTP Basic with an API key as the password too; a
    browser may have cached those credentials, so a POST signed that way must carry git-lfs's JSON content type,
    which no cross-site form can send."""
    if view is None:
        return functools.partial(hf_view, git_basic=git_basic)

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        head = request.method == "HEAD"
        try:
            principal = lfs_principal(request) if git_basic else principal_for(request)
        except InvalidToken:
            principal = None
        # Rate limit (api/ratelimit.py): per key, or per IP for anonymous and bad-token callers.
        limit = rate_limit_request(request, principal)
        if limit is not None and not limit.allowed:
            message = too_many_requests_message(limit)
            return error_response(429, "RateLimited", message, headers=limit.headers(), head=head)
        if principal is None:
            return error_response(401, None, INVALID_CREDENTIALS, head=head)
        if git_basic and _basic(request) and request.method == "POST" and request.content_type != GIT_LFS_CONTENT_TYPE:
            return error_response(415, "UnsupportedMediaType", f"send Content-Type: {GIT_LFS_CONTENT_TYPE} with "
                                  "HTTP Basic credentials", head=head)
        csrf_failure = session_csrf_failure(request, principal)
        if csrf_failure is not None:
            return error_response(403, "CsrfFailed", f"CSRF check failed ({csrf_failure}): a write signed in with the "
                                  "session cookie needs the page's CSRF token (X-CSRFToken header). Scripts and the "
                                  "hf client authenticate with 'Authorization: Bearer <API key>' instead.", head=head)
        try:
            response = view(request, principal, *args, **kwargs)
        except HubError as exc:
            response = hub_error_response(exc, principal, head=head)
        for name, value in (limit.headers() if limit is not None else {}).items():
            response.headers.setdefault(name, value)
        return response

    # Django's middleware must not refuse bearer-key writes (no token there); session writes are checked above.
    wrapper.csrf_exempt = True  # type: ignore[attr-defined]
    return wrapper


def get_repo(principal: Principal, namespace: str, name: str) -> ModelRepo:
    return repo_get(viewer=principal.user, namespace=namespace, name=name)


def json_body(request: HttpRequest) -> dict[str, Any]:
    from registry.exceptions import InvalidInput

    data = parse_json(request.body or b"{}")
    if not isinstance(data, dict):
        raise InvalidInput("request body must be a JSON object")
    return data


def split_revision(request: HttpRequest, repo: ModelRepo, rest: str, marker: str) -> tuple[str, str]:
    """Split `<rev>/<path>` after `/{marker}/` into (revision, path).

    The client sends the revision quoted with safe="" (refs/pr/1 → refs%2Fpr%2F1) and the path
    with '/' kept, so the raw URI splits cleanly; WSGI servers hand Django a decoded path, so we
    use the raw URI when the server passes it (gunicorn's RAW_URI, REQUEST_URI) and otherwise try
    the longest branch or tag name that prefixes `rest`.
    """
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    if raw:
        raw_path = raw.split("?", 1)[0]
        token = f"/{marker}/"
        if token in raw_path:
            raw_rest = raw_path.split(token, 1)[1]
            rev, _, path = raw_rest.partition("/")
            return unquote(rev), unquote(path)
    if "/" not in rest:
        return rest, ""
    names = set(Branch.objects.filter(repo=repo).values_list("name", flat=True))
    names |= set(Tag.objects.filter(repo=repo).values_list("name", flat=True))
    parts = rest.split("/")
    for cut in range(len(parts), 0, -1):  # the whole rest too: a tree's root at `refs/pr/1` has no path
        candidate = "/".join(parts[:cut])
        if candidate in names:
            return candidate, "/".join(parts[cut:])
    return parts[0], "/".join(parts[1:])


def absolute(request: HttpRequest, url: str) -> str:
    return request.build_absolute_uri(url)


# --- revision splits and pagination (repos/files views) -----------------------------------------


def revision_candidates(request: HttpRequest, rest: str, marker: str) -> list[tuple[str, str]]:
    """Every way to split `<rev>/<path>` after `/{marker}/`, the longest revision first.

    With the raw URI (gunicorn) the quoted revision splits cleanly and there is one candidate;
    otherwise the selector tries them all in one query instead of listing the repo's refs first.
    """
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    token = f"/{marker}/"
    if raw and token in raw.split("?", 1)[0]:
        rev, _, path = raw.split("?", 1)[0].split(token, 1)[1].partition("/")
        return [(unquote(rev), unquote(path))]
    parts = rest.split("/")
    splits = [("/".join(parts[:cut]), "/".join(parts[cut:])) for cut in range(len(parts) - 1, 0, -1)]
    return splits or [(rest, "")]


CURSOR_MAX_OFFSET = 10**9


def cursor_decode(request: HttpRequest) -> int:
    """The offset a `cursor` query parameter stands for (0 when absent or malformed)."""
    import base64

    raw = request.GET.get("cursor", "")
    if not raw:
        return 0
    from registry.exceptions import InvalidInput

    try:
        value = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        offset = int(value.removeprefix("o:"))
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("invalid cursor") from None
    if offset > CURSOR_MAX_OFFSET:  # no page is that far; the database can't even take the number (10**20)
        raise InvalidInput("invalid cursor: past the end of any listing")
    return max(offset, 0)


def next_page_link(request: HttpRequest, offset: int) -> str:
    """`Link: <absolute URL>; rel="next"` carrying the whole query string, with a cursor for `offset`.

    The client re-sends no parameters on the next page, so everything must be in the URL.
    """
    return _link_with_cursor(request, f"o:{offset}")


def _link_with_cursor(request: HttpRequest, token: str) -> str:
    import base64

    return page_link(request, base64.urlsafe_b64encode(token.encode()).decode().rstrip("="))


def page_link(request: HttpRequest, cursor: str, **replaced: str) -> str:
    """`Link: <absolute URL>; rel="next"` for a keyset cursor: the request's whole query string, `cursor` (and any
    parameter in `replaced`) replaced."""
    query = request.GET.copy()
    query["cursor"] = cursor
    for key, value in replaced.items():
        query[key] = value
    return f'<{absolute(request, request.path + "?" + query.urlencode())}>; rel="next"'


def cursor_key(request: HttpRequest) -> str:
    """The key a keyset `cursor` carries ('' when absent): where the next page starts (the last path of a tree
    page, the first commit of a history page), so a page is read by index instead of skipping an offset."""
    import base64

    from registry.exceptions import InvalidInput
    from registry.names import lookup_ok

    raw = request.GET.get("cursor", "")
    if not raw:
        return ""
    try:
        value = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("invalid cursor") from None
    if not value.startswith("k:") or not lookup_ok(value[2:]):
        raise InvalidInput("invalid cursor")
    return value[2:]


def next_key_link(request: HttpRequest, key: str) -> str:
    """`Link: <absolute URL>; rel="next"` (the whole query string) with a keyset cursor for `key` (`cursor_key`)."""
    return _link_with_cursor(request, f"k:{key}")


def iso(value: datetime | None) -> str | None:
    """A timestamp as the Hub writes it: UTC, milliseconds, `Z`."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
