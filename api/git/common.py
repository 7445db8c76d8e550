"""Plumbing of the git routes: who is calling, the repo, and errors as git shows them.

Git sends credentials as HTTP Basic (`git clone https://user:<API key>@hub/org/model`, a credential helper, or
`http.extraHeader`), the password being an API key as with HF tokens; a bearer key works too. The session cookie is
never read here: git routes act only on credentials a browser does not send on its own, and every POST must carry
git's own content type (a cross-site form can't send one without a CORS preflight, which the hub never allows).

Errors: git prints the body of a `text/plain` error response as "remote: …" lines, so every refusal says why in
one line. An anonymous caller refused a private or gated repo gets 401 with a Basic challenge (git then asks for
credentials, as on the HF Hub); a signed-in one 404 (private: the same as a missing repo) or 403 (gated).
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from dulwich.protocol import pkt_line

from api.auth import INVALID_CREDENTIALS, InvalidToken, Principal
from api.ratelimit import rate_limit_request, too_many_requests_message
from registry.exceptions import GatedRepo, HubError, RepoNotFound
from registry.services.keys import api_key_authenticate

REALM = 'Basic realm="Consortium Model Hub", charset="UTF-8"'
UPLOAD_PACK = "git-upload-pack"
RECEIVE_PACK = "git-receive-pack"
FLUSH = b"0000"
SIDEBAND_DATA_MAX = 65515  # a pkt-line is 65520 bytes at most: 4 of length, 1 of band


def sideband_lines(chunks: Iterable[bytes], band: int = 1) -> Iterator[bytes]:
    """Data in side-band pkt-lines of at most SIDEBAND_DATA_MAX bytes, merged from small pieces."""
    prefix = bytes([band])
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= SIDEBAND_DATA_MAX:
            yield pkt_line(prefix + bytes(buffer[:SIDEBAND_DATA_MAX]))
            del buffer[:SIDEBAND_DATA_MAX]
    if buffer:
        yield pkt_line(prefix + bytes(buffer))


def no_cache(response: HttpResponse | StreamingHttpResponse) -> HttpResponse | StreamingHttpResponse:
    """What git-http-backend sends: answers about refs and packs are never cached."""
    response["Cache-Control"] = "no-cache, max-age=0, must-revalidate"
    response["Expires"] = "Fri, 01 Jan 1980 00:00:00 GMT"
    response["Pragma"] = "no-cache"
    return response


def git_secret(request: HttpRequest) -> str | None:
    """The API key in `Authorization: Basic base64(<any user>:<key>)` or `Bearer <key>`; None when there is none.
    InvalidToken when the header is there but malformed."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidToken(INVALID_CREDENTIALS) from exc
        _user, colon, password = decoded.partition(":")
        if colon and password:
            return password
    raise InvalidToken(INVALID_CREDENTIALS)


def git_principal(request: HttpRequest) -> Principal:
    """The caller: the API key's user, or anonymous (never the session). Raises InvalidToken for a key that is
    unknown, revoked or expired."""
    from django.contrib.auth.models import AnonymousUser

    secret = git_secret(request)
    if secret is None:
        return Principal(AnonymousUser(), None)
    key = api_key_authenticate(secret=secret)
    if key is None:
        raise InvalidToken(INVALID_CREDENTIALS)
    return Principal(key.user, key)


def git_error(status: int, message: str, *, challenge: bool = False) -> HttpResponse:
    """A refusal git prints ("remote: <message>"): text/plain, one line, the status that says what happened."""
    response = HttpResponse(message.rstrip("\n") + "\n", status=status, content_type="text/plain; charset=utf-8")
    if challenge:
        response["WWW-Authenticate"] = REALM
    response["Cache-Control"] = "no-cache, max-age=0, must-revalidate"
    return response


def git_hub_error(exc: HubError, principal: Principal) -> HttpResponse:
    """A domain refusal as git shows it: anonymous callers refused a private or gated repo are asked for
    credentials (401 + challenge); others get the error's own status and message."""
    if isinstance(exc, RepoNotFound | GatedRepo) and not principal.is_authenticated:
        return git_error(401, exc.message, challenge=True)
    return git_error(exc.status, exc.message)


def git_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Authenticate (Basic/Bearer API key, never the session), rate limit, and turn domain errors into responses
    git prints. The view gets (request, principal, namespace, name)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            principal = git_principal(request)
        except InvalidToken:
            return git_error(401, "Invalid username or password (use an API key as the password).", challenge=True)
        limit = rate_limit_request(request, principal)
        if limit is not None and not limit.allowed:
            response = git_error(429, too_many_requests_message(limit))
            for name, value in limit.headers().items():
                response[name] = value
            return response
        try:
            return view(request, principal, *args, **kwargs)
        except HubError as exc:
            return git_hub_error(exc, principal)

    wrapper.csrf_exempt = True  # type: ignore[attr-defined]  # no cookie is read; POSTs need git's content type
    return wrapper


def require_git_post(request: HttpRequest, service: str) -> HttpResponse | None:
    """A refusal unless the request is a POST with git's request content type for `service`."""
    if request.method != "POST":
        return git_error(405, f"{service} takes POST")
    expected = f"application/x-{service}-request"
    if request.content_type != expected:
        return git_error(415, f"{service} needs Content-Type: {expected}")
    return None
