"""Wire hygiene shared by the HF-compatible API, the native API and the CAS: strict JSON request bodies,
error headers a client (and gunicorn) can carry, and the middleware that holds the error contract.

The error contract (HF_PROTOCOL.md §1, §9): every 4xx on an HF-shaped route carries `X-Error-Code` and
`X-Error-Message`, because huggingface_hub reads errors from headers (a HEAD has no body) and prints `None`
otherwise; and no input ever turns into a 5xx. Views raise domain errors that api/hf/common.py and
api/v1/errors.py map; `ErrorContractMiddleware` covers what never reaches a view (Django's own 404 for a URL no
pattern matches, a 405, the 416 of an unsatisfiable Range) and is the safety net for parsing errors that escape
one (RecursionError, UnicodeError, a NUL the database refuses).
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from django.db import DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation

from registry.exceptions import InvalidInput
from registry.names import name_ok
from registry.validation.strict_json import JsonInvalid, loads_strict

logger = logging.getLogger(__name__)

HEADER_MESSAGE_MAX = 1000  # characters of X-Error-Message; the JSON body has the whole message
JSON_MAX_DEPTH = 32  # request bodies of the HF and native APIs are a few levels deep

# What gunicorn lets through in a header value (RFC 9110 field-vchar + obs-text, SP and HTAB): anything else makes
# it drop the response, which the client sees as a 500.
_WIRE_SAFE = re.compile(r"[ \t\x21-\x7e\x80-\xff]*")
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def _escaped(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def header_text(message: object, *, limit: int = HEADER_MESSAGE_MAX) -> str:
    """`message` as a header value: one line, control and format characters (CR/LF, NUL, bidi overrides) and lone
    surrogates shown escaped, at most `limit` characters, and non-ASCII text sent as UTF-8 bytes.

    WSGI header values are latin-1 strings, so the UTF-8 bytes travel as their latin-1 characters; httpx (the
    huggingface_hub client) decodes header bytes as UTF-8 when they are valid UTF-8, so a Korean message reads
    as Korean. A client that reads the raw header sees the same bytes any UTF-8 server would send.
    """
    text = " ".join(str(message).split())  # CR, LF, tabs and other whitespace runs become one space
    text = "".join(_escaped(ch) if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch for ch in text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.encode("utf-8").decode("latin-1")


def header_text_decoded(value: str) -> str:
    """What a UTF-8 client reads from a header_text value (tests and the middleware's own checks)."""
    return value.encode("latin-1").decode("utf-8")


def parse_json(raw: bytes) -> Any:
    """A request body as JSON, strictly: UTF-8, no duplicate keys, no NaN, no lone surrogates or NUL characters
    (which no database column or header can hold), at most JSON_MAX_DEPTH levels (a 5,000-deep body was a
    RecursionError). InvalidInput with the reason otherwise."""
    try:
        return loads_strict(raw, max_depth=JSON_MAX_DEPTH, allow_nul=False)
    except JsonInvalid as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from exc


# --- the middleware ----------------------------------------------------------------------------------------

# Paths the HF client, hf_xet or a Git LFS client may call: their 4xx must carry the error headers.
_HF_SHAPED = re.compile(
    r"^/(?:api/|cas/|_blobs/|v1/telemetry|(?:datasets|spaces|kernels)/|[^/]*/[^/]*(?:/resolve(?:/|$)|\.git/))"
)
_OTHER_REPO_TYPES = re.compile(r"^/(?:api/)?(?:datasets|spaces|kernels)(?:/|$)")
_API_REPO = re.compile(r"^/api/models/([^/]*)/([^/]*)|^/([^/]*)/([^/]*)(?:/resolve(?:/|$)|\.git/)")
_CODES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
          409: "Conflict", 411: "LengthRequired", 412: "PreconditionFailed", 413: "TooLarge",
          415: "UnsupportedMediaType", 416: "RangeNotSatisfiable", 422: "Unprocessable", 429: "RateLimited"}
# Errors that only bad input can cause once the views have done their checks: the net answers 400, not 500.
_INPUT_ERRORS = (RecursionError, UnicodeError, OverflowError, DataError)


def _is_input_error(exc: BaseException) -> bool:
    if isinstance(exc, _INPUT_ERRORS):
        return True
    # psycopg: "A string literal cannot contain NUL (0x00) characters."
    return isinstance(exc, ValueError) and "NUL (0x00)" in str(exc)


def _default_error(request: HttpRequest, response: HttpResponse) -> tuple[str, str]:
    status = response.status_code
    path = request.path
    if status == 404:
        if _OTHER_REPO_TYPES.match(path):
            return "RepoNotFound", "Repository not found: this hub only hosts models"
        repo = _API_REPO.match(path)
        if repo is not None and not all(name_ok(part) for part in repo.groups() if part is not None):
            return "RepoNotFound", "Repository not found"
        return "NotFound", f"No such route: {request.method} {path}"
    if status == 405:
        return "MethodNotAllowed", f"{request.method} is not allowed here (allowed: {response.get('Allow', '')})"
    if status == 416:
        size = response.get("Content-Range", "").rpartition("/")[2]
        return "RangeNotSatisfiable", f"The requested range is not satisfiable (the file has {size} bytes)"
    return _CODES.get(status, "Error"), f"{status} {getattr(response, 'reason_phrase', '')}".strip()


def _error(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    if _HF_SHAPED.match(request.path) or request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"error": message, "code": code}, status=status)
    else:
        response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    if request.method == "HEAD":
        response.content = b""
    response["X-Error-Code"] = code
    response["X-Error-Message"] = header_text(message)
    return response


class ErrorContractMiddleware:
    """Holds the error contract for every response (see the module docstring). Place it first in MIDDLEWARE so it
    sees the final response of every other middleware and view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            # A NUL names nothing (names, refs and paths refuse it) and PostgreSQL can't even look it up.
            response = _error(request, 400, "BadRequest", "the URL holds a NUL character")
        else:
            response = self.get_response(request)
        return self.finish(request, response)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not _is_input_error(exception):
            return None
        logger.warning("bad input reached %s %s: %r", request.method, request.path, exception)
        return _error(request, 400, "BadRequest", f"the request could not be read: {type(exception).__name__}")

    def finish(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        message = response.get("X-Error-Message")
        if message is not None and not _WIRE_SAFE.fullmatch(message):
            response["X-Error-Message"] = header_text(message)
        if 400 <= response.status_code < 500 and _HF_SHAPED.match(request.path):
            if "X-Error-Code" not in response or "X-Error-Message" not in response:
                code, text = _default_error(request, response)
                response.headers.setdefault("X-Error-Code", code)
                response.headers.setdefault("X-Error-Message", header_text(text))
                if "text/html" in response.get("Content-Type", "") and not getattr(response, "streaming", False):
                    body = b"" if request.method == "HEAD" else json.dumps({"error": text, "code": code}).encode()
                    response.content = body
                    response["Content-Type"] = "application/json"
                    if response.has_header("Content-Length"):  # set by CommonMiddleware for the old body
                        response["Content-Length"] = str(len(body))
        return response


class ApiLanguageMiddleware:
    """The machine interfaces (the HF API, the native API, the CAS, Git LFS) answer in English whatever the
    request's Accept-Language or language cookie says: domain errors are translated when raised (the portal shows
    them in the viewer's language), but huggingface_hub matches some X-Error-Message texts ("Invalid rev id",
    "Invalid credentials in Authorization header") and scripts and tests read the English. Place it right after
    LocaleMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _HF_SHAPED.match(request.path):  # /api/… included
            translation.activate("en")
            request.LANGUAGE_CODE = "en"
        return self.get_response(request)
