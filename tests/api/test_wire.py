"""api/wire.py: error headers every client and gunicorn can carry, strict JSON bodies, and the middleware that
holds the error contract on routes no view answers (Django's 404, 405, 416) or where parsing blew up."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from gunicorn.http.wsgi import HEADER_VALUE_RE

from api.wire import header_text, header_text_decoded, parse_json
from registry.exceptions import InvalidInput
from tests.fixtures.fuzz import wire_safe
from tests.fixtures.personas import make_key

# --- header_text ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("message", "shown"), [
    ("Invalid rev id: main", "Invalid rev id: main"),
    ("a\r\nX-Injected: 1", "a X-Injected: 1"),
    ("nul\x00here", "nul\\x00here"),
    ("bell\x07 del\x7f c1\x85", "bell\\x07 del\\x7f c1"),  # \x85 is whitespace to str.split(): a space
    ("rtl main\u202e", "rtl main\\u202e"),
    ("lone \udcff surrogate", "lone \\udcff surrogate"),
    ("tabs\tand\nnewlines", "tabs and newlines"),
    ("모델 브랜치를 찾을 수 없습니다", "모델 브랜치를 찾을 수 없습니다"),
    ("café", "café"),
])
def test_header_text_is_one_printable_line_a_utf8_client_reads(message, shown):
    value = header_text(message)
    assert HEADER_VALUE_RE.fullmatch(value)
    assert header_text_decoded(value) == shown


def test_header_text_is_bounded():
    value = header_text_decoded(header_text("x" * 5000))
    assert len(value) == 1000 and value.endswith("…")


@pytest.mark.parametrize(("raw", "reason"), [
    (b"[" * 5000 + b"]" * 5000, "nesting deeper than 32"),
    (b'{"a": "nul\\u0000"}', "NUL"),
    (b'{"a": "\\udcff"}', "surrogate"),
    (b'{"a": 1, "a": 2}', "duplicate key"),
    (b'{"a": NaN}', "non-standard constant"),
    (b"\xff\xfe", "UTF-8"),
    (b"{", "not valid JSON"),
])
def test_parse_json_refuses_with_a_reason(raw, reason):
    with pytest.raises(InvalidInput, match=reason):
        parse_json(raw)


# --- the middleware over real routes ------------------------------------------------------------------------

@pytest.fixture
def anon():
    return Client(raise_request_exception=False)


@pytest.mark.parametrize(("method", "url", "status", "code"), [
    ("get", "/api/models/acme/tiny/no-such-route", 404, "NotFound"),
    ("head", "/api/models/acme/tiny/no-such-route", 404, "NotFound"),
    ("get", "/api/datasets/acme/tiny", 404, "RepoNotFound"),
    ("get", "/api/spaces/acme/tiny", 404, "RepoNotFound"),
    ("head", "/datasets/acme/tiny/resolve/main/x.json", 404, "RepoNotFound"),
    ("get", "/api/models/a--b/tiny", 404, "RepoNotFound"),
    ("head", "/a--b/tiny/resolve/main/config.json", 404, "RepoNotFound"),
    ("get", "/acme/tiny/resolve", 404, "NotFound"),
    ("get", "/cas/v1/nothing-here", 404, "NotFound"),
    ("get", "/api/v1/models/acme/a..b", 404, "NotFound"),
    ("put", "/api/models", 405, "MethodNotAllowed"),
    ("get", "/api/repos/create", 405, "MethodNotAllowed"),
])
def test_every_4xx_on_hf_shaped_routes_carries_the_error_headers(db, anon, method, url, status, code):
    response = getattr(anon, method)(url)
    assert response.status_code == status
    assert response["X-Error-Code"] == code
    assert response["X-Error-Message"]
    assert wire_safe(response)
    if method == "get":
        assert response["Content-Type"] == "application/json" or response.json()
        assert json.loads(response.content)["error"]
        # A replaced body with the old length would leave the client waiting (or poison a kept-alive connection).
        assert int(response.get("Content-Length", len(response.content))) == len(response.content)


def test_pages_keep_their_own_404(db, anon):
    response = anon.get("/acme/tiny/no-such-page/at/all")
    assert response.status_code == 404
    assert "X-Error-Code" not in response and "text/html" in response["Content-Type"]


@pytest.mark.parametrize("url", [
    "/acme/tiny/resolve/main/a%00b", "/api/models/acme/tiny/tree/ma%00in", "/api/models?search=a%00b",
    "/api/v1/models?search=%00", "/models?q=a%00b", "/acme%00", "/api/models/acme/tiny/revision/main?x=%00",
])
def test_a_nul_anywhere_in_the_url_is_a_400(db, anon, url):
    response = anon.get(url)
    assert response.status_code == 400
    assert response["X-Error-Code"] == "BadRequest" and "NUL" in response["X-Error-Message"]


def test_a_raw_nul_in_the_query_string_is_a_400(db, anon):
    response = anon.get("/api/models", QUERY_STRING="search=a\x00b")
    assert response.status_code == 400 and response["X-Error-Code"] == "BadRequest"


def test_input_errors_that_escape_a_view_are_a_400_not_a_500(personas, make_repo, anon, monkeypatch):
    """The safety net: whatever the view, a RecursionError, UnicodeError or a NUL the database refuses is the
    client's input, answered 400 with the error headers (each real cause is fixed where it starts too)."""
    from api.hf import repos

    make_repo("tiny")
    for error in (RecursionError("deep"), UnicodeEncodeError("utf-8", "\udcff", 0, 1, "surrogates not allowed"),
                  ValueError("A string literal cannot contain NUL (0x00) characters."), OverflowError("big")):
        def boom(*args, error=error, **kwargs):  # noqa: ANN002, ANN003, ANN202
            raise error

        monkeypatch.setattr(repos, "revision_resolve", boom)
        response = anon.get("/api/models/acme/tiny")
        assert response.status_code == 400, error
        assert response["X-Error-Code"] == "BadRequest" and wire_safe(response)


def test_other_errors_still_surface(personas, make_repo, anon, monkeypatch):
    from api.hf import repos

    make_repo("tiny")
    monkeypatch.setattr(repos, "revision_resolve", lambda **kwargs: 1 / 0)
    assert anon.get("/api/models/acme/tiny").status_code == 500


def test_an_unsatisfiable_range_is_a_416_with_the_error_headers(personas, make_repo, anon):
    make_repo("tiny")
    response = anon.get("/acme/tiny/resolve/main/.gitattributes", HTTP_RANGE="bytes=999999-")
    assert response.status_code == 416
    assert response["X-Error-Code"] == "RangeNotSatisfiable"
    assert "not satisfiable" in response["X-Error-Message"]
    assert response["X-Repo-Commit"]  # the resolve headers stay


@pytest.mark.parametrize("revision", ["a%0D%0Ab", "x%01y", "main%E2%80%AE", "%EB%B8%8C%EB%9E%9C%EC%B9%98"])
def test_hostile_revisions_echoed_into_messages_stay_wire_safe(personas, make_repo, revision):
    make_repo("tiny")
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {make_key(personas.owner)}")
    for url in (f"/api/models/acme/tiny/revision/{revision}", f"/acme/tiny/resolve/{revision}/config.json",
                f"/api/v1/models/acme/tiny/validation?revision={revision}",
                f"/api/v1/models/acme/tiny/inference-checks?revision={revision}"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response["X-Error-Code"] == "RevisionNotFound", url
        assert wire_safe(response), url
        message = header_text_decoded(response["X-Error-Message"])
        assert message.isprintable() and "\r" not in message and "\n" not in message
