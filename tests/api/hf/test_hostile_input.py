"""Hostile input on the HF-compatible routes: each request an attack pass turned into a 5xx, and the clear 4xx it
gets now (with X-Error-Code and a wire-safe X-Error-Message). In-process client, so a 500 shows as a status."""

from __future__ import annotations

import base64
import json
from urllib.parse import unquote

import pytest
from django.test import Client

from api.wire import header_text_decoded
from registry.models import Branch, CommitFile, ModelRepo, Tag
from registry.services.commits import AddInline, commit_create
from tests.fixtures.fuzz import assert_error_contract
from tests.fixtures.personas import make_key

DEEP = "[" * 5000 + "]" * 5000
BIG_CURSOR = base64.urlsafe_b64encode(b"o:" + b"1" + b"0" * 20).decode()
LAUGHS = ("---\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
          "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n---\n")


@pytest.fixture
def owner(personas, make_repo):
    repo = make_repo("tiny")
    commit_create(actor=personas.owner, repo=repo, title="seed",
                  operations=[AddInline("README.md", b"---\nlicense: mit\n---\n# Tiny\n"),
                              AddInline("config.json", b"{}")])
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {make_key(personas.owner)}")


def check(response, status: int, code: str | None = None):  # noqa: ANN201
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert_error_contract(response)
    if code is not None:
        assert response["X-Error-Code"] == code
    return response


def post_json(client: Client, url: str, data) -> object:  # noqa: ANN001
    body = data if isinstance(data, str) else json.dumps(data)
    return client.post(url, body, content_type="application/json")


def ndjson(*lines: dict) -> str:
    return "\n".join(json.dumps(line) for line in lines)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def commit(client: Client, *ops: dict, summary: str = "s", rev: str = "main") -> object:
    body = ndjson({"key": "header", "value": {"summary": summary}}, *ops)
    return client.post(f"/api/models/acme/tiny/commit/{rev}", body, content_type="application/x-ndjson")


def add(path: str, content: bytes = b"x") -> dict:
    return {"key": "file", "value": {"path": path, "content": b64(content), "encoding": "base64"}}


# --- JSON nested 5,000 deep: every JSON write route ------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "/api/repos/create", "/api/repos/move", "/api/validate-yaml", "/api/models/acme/tiny/branch/dev",
    "/api/models/acme/tiny/tag/main", "/api/models/acme/tiny/preupload/main", "/acme/tiny.git/info/lfs/objects/batch",
    "/api/lfs/verify/acme/tiny",
])
def test_deeply_nested_json_is_a_400(owner, url):
    check(post_json(owner, url, DEEP), 400, "BadRequest")


@pytest.mark.parametrize("method", ["put", "delete"])
def test_deeply_nested_json_on_settings_and_delete_is_a_400(owner, method):
    url = "/api/models/acme/tiny/settings" if method == "put" else "/api/repos/delete"
    check(getattr(owner, method)(url, DEEP, content_type="application/json"), 400, "BadRequest")
    assert ModelRepo.objects.filter(name="tiny").exists()


def test_a_deeply_nested_commit_line_is_a_400(owner):
    body = json.dumps({"key": "header", "value": {"summary": "s"}}) + "\n" + DEEP
    check(owner.post("/api/models/acme/tiny/commit/main", body, content_type="application/x-ndjson"), 400)


# --- lone surrogates and NUL characters in JSON bodies -----------------------------------------------------

@pytest.mark.parametrize(("url", "data"), [
    ("/api/repos/create", {"name": "\udcff"}),
    ("/api/repos/create", {"name": "ok", "organization": "ac\udcffme"}),
    ("/api/repos/create", {"name": "a\x00b"}),
    ("/api/models/acme/tiny/tag/main", {"tag": "\udcff"}),
    ("/api/models/acme/tiny/tag/main", {"tag": "v1", "message": "nul\x00"}),
    ("/api/models/acme/tiny/branch/dev", {"startingPoint": "ma\udcffin"}),
    ("/api/models/acme/tiny/preupload/main", {"files": [{"path": "\udcff", "sample": "", "size": 1}]}),
    ("/api/validate-yaml", {"content": "---\nx: \udcff\n---\n"}),
])
def test_surrogates_and_nul_in_json_bodies_are_a_400(owner, url, data):
    check(post_json(owner, url, data), 400, "BadRequest")
    assert not Tag.objects.exists()


@pytest.mark.parametrize("ops", [
    [add("\udcff")], [add("a/\udcffb")], [add("nul\x00")],
    [{"key": "deletedFile", "value": {"path": "\udcff"}}],
    [{"key": "lfsFile", "value": {"path": "w\udcff.bin", "oid": "0" * 64, "size": 1}}],
])
def test_commit_paths_with_surrogates_or_nul_are_a_400(owner, ops):
    check(commit(owner, *ops), 400, "BadRequest")


@pytest.mark.parametrize("summary", ["\udcff", "nul\x00"])
def test_commit_summaries_with_surrogates_or_nul_are_a_400(owner, summary):
    check(commit(owner, add("a.txt"), summary=summary), 400, "BadRequest")


# --- paths: control characters, traversal, file/folder collisions ----------------------------------------

@pytest.mark.parametrize("path", ["a\x01b", "line\nbreak", "../x", "/abs", "a\\b", "a//b", ".git/config", "a/./b"])
def test_commit_paths_breaking_the_path_rule_are_a_400(owner, path):
    check(commit(owner, add(path)), 400, "BadRequest")


def test_a_file_and_a_folder_of_the_same_name_in_one_commit_is_a_409(owner):
    response = check(commit(owner, add("a"), add("a/b")), 409, "PathConflict")
    assert "both" in header_text_decoded(response["X-Error-Message"])
    assert not CommitFile.objects.filter(path__in=["a", "a/b"]).exists()


@pytest.mark.parametrize(("first", "second"), [("a", "a/b"), ("a/b", "a"), ("config.json", "config.json/x")])
def test_a_file_and_a_folder_of_the_same_name_across_commits_is_a_409(owner, first, second):
    check(commit(owner, add(first)), 200)
    check(commit(owner, add(second)), 409, "PathConflict")


# --- revisions, refs and names ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["HEAD", "main%E2%80%AE", "%EF%BD%8D%EF%BD%81%EF%BD%89%EF%BD%8E", "-x", "a..b",
                                  "x.lock", "%E2%80%AEniam", "dev%0Ax", "%ED%95%9C"])
def test_refused_branch_and_tag_names_are_a_400(owner, name):
    check(post_json(owner, f"/api/models/acme/tiny/branch/{name}", {}), 400, "BadRequest")
    check(post_json(owner, "/api/models/acme/tiny/tag/main", {"tag": unquote(name)}), 400, "BadRequest")
    assert set(Branch.objects.values_list("name", flat=True)) == {"main"}


@pytest.mark.parametrize("start", [["main"], {"rev": "main"}, 7, True])
def test_a_starting_point_that_is_not_a_string_is_a_400(owner, start):
    check(post_json(owner, "/api/models/acme/tiny/branch/dev", {"startingPoint": start}), 400, "BadRequest")


@pytest.mark.parametrize("revision", ["ma%01in", "m%0D%0Ain", "%ED%B3%BF", "x" * 3000])
@pytest.mark.parametrize("url", ["/api/models/acme/tiny/revision/{}", "/api/models/acme/tiny/tree/{}",
                                 "/api/models/acme/tiny/commits/{}", "/acme/tiny/resolve/{}/config.json"])
def test_hostile_revisions_are_revision_not_found(owner, url, revision):
    check(owner.get(url.format(revision)), 404, "RevisionNotFound")


@pytest.mark.parametrize("name", ["\udcff", "a\x00b", "ab\n", ".", "-x", "a--b", "x" * 97, "ｍａｉｎ"])
def test_refused_repo_names_are_a_clear_400_at_create(owner, name):
    response = owner.post("/api/repos/create", json.dumps({"name": name, "organization": "acme"}),
                          content_type="application/json")
    check(response, 400, "BadRequest")


def test_a_repo_named_with_a_leading_underscore_is_routed_everywhere(owner, personas):
    """`_x` passed the name check but not the URL patterns, and / and /models answered 500 for everyone."""
    check(post_json(owner, "/api/repos/create", {"name": "_x", "organization": "acme"}), 200)
    anonymous = Client(raise_request_exception=False)
    for url in ("/", "/models", "/acme/_x", "/acme", "/api/models/acme/_x", "/api/models?search=_x",
                "/acme/_x/resolve/main/.gitattributes", "/api/v1/models/acme/_x", "/acme/_x/tree/main"):
        check(anonymous.get(url), 200)


# --- listings: cursors and search terms ---------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/api/models?cursor={}", "/api/models/acme/tiny/commits/main?cursor={}",
                                 "/api/models/acme/tiny/tree/main?cursor={}"])
def test_a_cursor_of_ten_to_the_twenty_is_a_400(owner, url):
    check(owner.get(url.format(BIG_CURSOR)), 400, "BadRequest")


@pytest.mark.parametrize("query", ["search=%01%02", "search=" + "x" * 5000, "author=a%0Ab", "filter=%ED%B3%BF",
                                   "limit=99999999999999999999999", "limit=-5", "sort=%0A", "cursor=%%%%"])
def test_odd_listing_queries_never_fail(owner, query):
    response = owner.get(f"/api/models?{query}")
    assert response.status_code in (200, 400)
    check(response, response.status_code)


def test_paths_info_with_nul_or_too_many_paths(owner):
    ok = owner.post("/api/models/acme/tiny/paths-info/main", {"paths": ["config.json", "a\x00b", "\x01"]})
    assert [e["path"] for e in check(ok, 200).json()] == ["config.json"]
    many = owner.post("/api/models/acme/tiny/paths-info/main", {"paths": [f"f{i}" for i in range(1001)]})
    check(many, 400, "BadRequest")


# --- model cards ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("card", "reason"), [
    ("---\nx: .nan\n---\n", "non-finite"), ("---\nx: !!binary aGVsbG8=\n---\n", "binary"),
    (LAUGHS, "expands"), ("---\nx: " + "[" * 3000 + "]" * 3000 + "\n---\n", "nested deeper"),
])
def test_cards_the_hub_cannot_store_are_refused_at_commit_and_by_validate_yaml(owner, card, reason):
    response = check(commit(owner, add("README.md", card.encode())), 400, "InvalidCard")
    assert reason in header_text_decoded(response["X-Error-Message"])
    verdict = post_json(owner, "/api/validate-yaml", {"content": card, "repoType": "model"})
    assert verdict.status_code == 400 and reason in verdict.json()["errors"][0]["message"]


def test_a_card_with_dates_is_stored_and_served(owner):
    check(commit(owner, add("README.md", b"---\ndate: 2024-01-01\nlicense: mit\n---\n# Hi\n")), 200)
    info = check(owner.get("/api/models/acme/tiny"), 200).json()
    assert info["cardData"] == {"date": "2024-01-01", "license": "mit"}


def test_an_existing_bad_card_never_breaks_a_page(owner, personas):
    """Cards committed before the checks (or through a path that skipped them) render without a 5xx."""
    repo = ModelRepo.objects.get(name="tiny")
    head = Branch.objects.get(repo=repo, name="main").head
    CommitFile.objects.filter(commit=head, path="README.md").update(content=LAUGHS.encode() + b"# body\n")
    anonymous = Client(raise_request_exception=False)
    for url in ("/acme/tiny", "/acme/tiny/blob/main/README.md", "/models", "/", "/api/models/acme/tiny",
                "/acme/tiny/resolve/main/README.md"):
        check(anonymous.get(url), 200)


# --- deleting a repo that has a release --------------------------------------------------------------------

def test_deleting_a_repo_with_a_release_request_through_the_client_route(personas, ready):
    from registry.models import Release
    from tests.fixtures.releases import request

    repo, _ = ready
    request(personas, repo)
    owner = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {make_key(personas.owner)}")
    response = owner.delete("/api/repos/delete", json.dumps({"name": "tiny", "organization": "acme"}),
                            content_type="application/json")
    check(response, 200)
    assert not ModelRepo.objects.filter(pk=repo.pk).exists() and not Release.objects.exists()
