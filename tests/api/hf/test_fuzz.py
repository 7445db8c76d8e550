"""Hypothesis fuzz of the HF-compatible routes: paths, revisions, repo names, query parameters, JSON bodies, NDJSON
commit lines, LFS batch, verify and preupload bodies. Every answer must be below 500, carry X-Error-Code and
X-Error-Message when it is a 4xx, and have header values gunicorn can send (else it would be a 500 there).

Bounded for CI: fixed max_examples, derandomized (the same examples on every run), no example database. Each
example runs in a savepoint that is rolled back, so the repo under test is the same for every example.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest
from django.db import transaction
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from registry import generation
from registry.models import Branch
from registry.services.commits import AddInline, commit_create
from registry.services.refs import branch_create, tag_create
from tests.fixtures.fuzz import assert_error_contract, fuzz_settings
from tests.fixtures.personas import make_key

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

FUZZ = fuzz_settings(500)

# Text as an attacker sends it: any code point, lone surrogates and controls included.
any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=40)
hostile = st.sampled_from(["", ".", "..", "../x", "/abs", "a//b", "a\\b", "\x00", "\r\n", "\udcff", "main\u202e",
                           "ｍａｉｎ", "HEAD", "-x", "a" * 300, "%00", "%2F", "refs/pr/1", ".git/config", "a/b/../c"])
text = st.one_of(any_text, hostile, st.sampled_from(["main", "dev", "v1", "README.md", "config.json", "sub/a.txt"]))
# Repo ids as the client sends them: two segments (it refuses ids with more slashes before sending anything).
segment = text.filter(lambda t: "/" not in t)
names = st.one_of(st.sampled_from(["acme/tiny"] * 6 + ["acme/missing", "oscar/tiny", "acme/_x"]),
                  st.tuples(segment, segment).map("/".join))
oids = st.one_of(st.sampled_from(["0" * 64, "a" * 64, "A" * 64, "0" * 40, "g" * 64]), text)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)


def q(value: str, safe: str = "") -> str:
    return quote(value, safe=safe, errors="surrogatepass")


def body_of(value: object) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass") if not isinstance(value, bytes) else value


@pytest.fixture
def hub(personas, make_repo, settings):
    settings.RATE_LIMIT_API_PER_MINUTE = 0
    settings.RATE_LIMIT_RESOLVE_PER_MINUTE = 0
    repo = make_repo("tiny")
    commit_create(actor=personas.owner, repo=repo, title="seed", operations=[
        AddInline("README.md", b"---\nlicense: mit\n---\n# Tiny\n"), AddInline("config.json", b"{}"),
        AddInline("sub/a.txt", b"a")])
    branch_create(actor=personas.owner, repo=repo, name="dev")
    tag_create(actor=personas.owner, repo=repo, name="v1")
    clients = {
        "owner": Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {make_key(personas.owner)}"),
        "outsider": Client(raise_request_exception=False,
                           HTTP_AUTHORIZATION=f"Bearer {make_key(personas.outsider)}"),
        "anonymous": Client(raise_request_exception=False),
        "bad-token": Client(raise_request_exception=False, HTTP_AUTHORIZATION="Bearer hub_nope\x7f"),
    }
    return clients


def run(hub: dict[str, Client], who: str, method: str, url: str, **kwargs) -> None:
    """One request in a savepoint rolled back afterwards. The URL is made absolute: the test client would read a
    path starting with '//' (empty names) as a host name."""
    with transaction.atomic():
        generation.forget()
        response = getattr(hub[who], method.lower())(f"http://testserver{url}", **kwargs)
        assert_error_contract(response, f"{who} {method} {url!r}")
        transaction.set_rollback(True)


who = st.sampled_from(["owner", "owner", "owner", "outsider", "anonymous", "bad-token"])


@FUZZ
@given(who=who, method=st.sampled_from(["GET", "HEAD"]), repo=names, rev=text, path=text,
       raw=st.booleans(), route=st.sampled_from(["resolve", "tree", "revision", "commits", "xet-read-token"]))
def test_read_routes_with_hostile_paths_and_revisions(hub, who, method, repo, rev, path, raw, route):
    rev_part = q(rev, safe="/" if raw else "")
    repo_part = q(repo, safe="/")
    url = {
        "resolve": f"/{repo_part}/resolve/{rev_part}/{q(path, safe='/')}",
        "tree": f"/api/models/{repo_part}/tree/{rev_part}/{q(path, safe='' if raw else '/')}",
        "revision": f"/api/models/{repo_part}/revision/{rev_part}",
        "commits": f"/api/models/{repo_part}/commits/{rev_part}",
        "xet-read-token": f"/api/models/{repo_part}/xet-read-token/{rev_part}",
    }[route]
    run(hub, who, method, url)


@FUZZ
@given(who=who, params=st.lists(st.tuples(
    st.sampled_from(["search", "author", "filter", "sort", "limit", "cursor", "full", "cardData", "direction",
                     "expand", "recursive", "include_prs", "blobs"]), text), max_size=5),
       route=st.sampled_from(["/api/models", "/api/models/acme/tiny", "/api/models/acme/tiny/tree/main",
                              "/api/models/acme/tiny/commits/main", "/api/models/acme/tiny/refs",
                              "/api/models/acme/tiny/auth-check", "/api/models/acme/tiny/auth-check/write",
                              "/api/whoami-v2"]))
def test_query_parameters(hub, who, params, route):
    query = urlencode([(k, v.encode("utf-8", "surrogatepass")) for k, v in params])
    run(hub, who, "GET", f"{route}?{query}")


@FUZZ
@given(who=who, route=st.sampled_from(["create", "delete", "move", "validate-yaml", "settings", "branch", "tag",
                                       "branch-delete", "tag-delete", "lfs-verify", "lfs-complete"]),
       body=st.one_of(json_values, st.binary(max_size=60),
                      st.fixed_dictionaries({}, optional={
                          "name": text, "organization": text, "type": json_values, "visibility": json_values,
                          "private": json_values, "fromRepo": names, "toRepo": names, "content": text,
                          "repoType": text, "gated": json_values, "startingPoint": json_values, "tag": text,
                          "message": json_values, "oid": oids, "size": json_values, "parts": json_values})),
       rev=text, repo=names)
def test_json_write_routes(hub, who, route, body, rev, repo):
    repo_part, rev_part = q(repo, safe="/"), q(rev)
    method, url = {
        "create": ("POST", "/api/repos/create"), "delete": ("DELETE", "/api/repos/delete"),
        "move": ("POST", "/api/repos/move"), "validate-yaml": ("POST", "/api/validate-yaml"),
        "settings": ("PUT", f"/api/models/{repo_part}/settings"),
        "branch": ("POST", f"/api/models/{repo_part}/branch/{rev_part}"),
        "tag": ("POST", f"/api/models/{repo_part}/tag/{rev_part}"),
        "branch-delete": ("DELETE", f"/api/models/{repo_part}/branch/{rev_part}"),
        "tag-delete": ("DELETE", f"/api/models/{repo_part}/tag/{rev_part}"),
        "lfs-verify": ("POST", f"/api/lfs/verify/{repo_part}"),
        "lfs-complete": ("POST", f"/api/lfs/complete/{rev_part}"),
    }[route]
    run(hub, who, method, url, data=body_of(body), content_type="application/json")


entries = st.fixed_dictionaries({}, optional={"path": text, "sample": st.one_of(text, st.just("aGVsbG8=")),
                                              "size": json_values})
lfs_objects = st.fixed_dictionaries({}, optional={"oid": oids, "size": st.one_of(
    st.integers(min_value=-1, max_value=2**70), json_values)})


@FUZZ
@given(who=who, repo=names, rev=text, kind=st.sampled_from(["preupload", "batch"]), body=st.one_of(
    st.fixed_dictionaries({}, optional={"files": st.one_of(st.lists(entries, max_size=4), json_values),
                                        "gitIgnore": json_values}),
    st.fixed_dictionaries({}, optional={"operation": st.one_of(st.just("upload"), text),
                                        "transfers": st.one_of(st.just(["basic", "multipart"]), json_values),
                                        "objects": st.one_of(st.lists(lfs_objects, max_size=4), json_values),
                                        "hash_algo": text, "ref": json_values}),
    json_values, st.binary(max_size=40)), create_pr=st.booleans())
def test_preupload_and_lfs_batch_bodies(hub, who, repo, rev, kind, body, create_pr):
    repo_part = q(repo, safe="/")
    url = (f"/api/models/{repo_part}/preupload/{q(rev)}" if kind == "preupload"
           else f"/{repo_part}.git/info/lfs/objects/batch")
    if create_pr:
        url += "?create_pr=1"
    run(hub, who, "POST", url, data=body_of(body), content_type="application/vnd.git-lfs+json")


operations = st.one_of(
    st.fixed_dictionaries({"key": st.just("file"), "value": st.fixed_dictionaries(
        {"path": text}, optional={"content": st.one_of(st.just("aGVsbG8="), text), "encoding": text})}),
    st.fixed_dictionaries({"key": st.just("lfsFile"), "value": st.fixed_dictionaries(
        {"path": text}, optional={"oid": oids, "size": json_values, "algo": text})}),
    st.fixed_dictionaries({"key": st.sampled_from(["deletedFile", "deletedFolder"]),
                           "value": st.fixed_dictionaries({}, optional={"path": text})}),
    st.fixed_dictionaries({"key": json_values, "value": json_values}),
)
headers = st.fixed_dictionaries({"key": st.just("header"), "value": st.fixed_dictionaries(
    {}, optional={"summary": st.one_of(text, json_values), "description": st.one_of(text, json_values),
                  "parentCommit": st.one_of(oids, json_values)})})


@FUZZ
@given(who=st.sampled_from(["owner", "owner", "owner", "outsider", "anonymous"]), rev=text, header=headers,
       ops=st.lists(operations, max_size=4), junk=st.one_of(st.none(), st.binary(max_size=30), any_text))
def test_ndjson_commit_lines(hub, who, rev, header, ops, junk):
    lines = [json.dumps(line).encode("utf-8", "surrogatepass") for line in [header, *ops]]
    if isinstance(junk, bytes):
        lines.insert(1, junk.replace(b"\n", b" "))
    elif isinstance(junk, str):
        lines.append(junk.encode("utf-8", "surrogatepass"))
    rev_part = q(rev) if rev else "main"
    run(hub, who, "POST", f"/api/models/acme/tiny/commit/{rev_part}", data=b"\n".join(lines),
        content_type="application/x-ndjson")


@FUZZ
@given(who=who, rev=text, paths=st.lists(text, max_size=6), expand=text)
def test_paths_info_form_bodies(hub, who, rev, paths, expand):
    data = urlencode([("paths", p.encode("utf-8", "surrogatepass")) for p in paths] + [("expand", expand.encode(
        "utf-8", "surrogatepass"))])
    run(hub, who, "POST", f"/api/models/acme/tiny/paths-info/{q(rev)}", data=data,
        content_type="application/x-www-form-urlencoded")


def test_the_fuzzed_repo_is_untouched_between_examples(hub):
    """The savepoints keep every example on the same repo (a sanity check of the harness itself)."""
    run(hub, "owner", "POST", "/api/models/acme/tiny/branch/fuzz", data=b"{}", content_type="application/json")
    assert not Branch.objects.filter(name="fuzz").exists()
