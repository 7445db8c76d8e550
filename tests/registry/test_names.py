"""The one name policy (registry.names): tables of good and bad names, refs and paths. No database."""

from __future__ import annotations

import re

import pytest

from registry.exceptions import InvalidInput
from registry.names import (
    NAME_PATTERN,
    check_name,
    check_namespace,
    check_path,
    check_ref_name,
    check_text,
    folder_collisions,
    lookup_ok,
    name_ok,
    search_text,
)

GOOD_NAMES = ["a", "A", "0", "Llama-3.1-8B", "model_v2", "x" * 96, "a-b.c_d", "_x", "x_", "__init__", "a.b.c",
              "v1.0", "git", "x.gitx", "UPPER"]
BAD_NAMES = ["", "-lead", "trail-", ".dot", "dot.", "a--b", "a..b", "a/b", "a b", "x" * 97, "model.git",
             "MODEL.GIT", "m.Git", "한글", "ｍａｉｎ", "a\x00b", "ab\n", "\nab", "a\tb", "\udcff", "a\u202eb",
             "a%b", "a:b", "a@b", "é", None, 42, ["a"]]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names_are_accepted(name):
    assert check_name(name) == name
    assert name_ok(name)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_with_the_rule(name):
    assert not name_ok(name)
    with pytest.raises(InvalidInput, match="not a valid name: use ASCII letters"):
        check_name(name)


def test_a_trailing_newline_is_not_a_name():
    # `$` matches before a final newline: the old pattern accepted "ab\n" and the repo's pages then broke.
    assert not name_ok("ab\n")


@pytest.mark.parametrize("name", GOOD_NAMES + [n for n in BAD_NAMES if isinstance(n, str)])
def test_the_url_pattern_accepts_exactly_the_names_the_validator_accepts(name):
    routed = re.fullmatch(NAME_PATTERN, name) is not None
    assert routed == name_ok(name)


def test_the_url_pattern_does_not_look_past_the_name():
    # Embedded in a route, the '--' lookahead must stop at the name: a revision or path may hold '--'.
    route = re.compile(rf"^(?P<ns>{NAME_PATTERN})/(?P<name>{NAME_PATTERN})/resolve/(?P<rest>.+)$")
    match = route.match("acme/tiny/resolve/main/a--b..c")
    assert match is not None and match.group("name") == "tiny"
    git = re.compile(rf"^(?P<ns>{NAME_PATTERN})/(?P<name>{NAME_PATTERN})\.git/info$")
    assert git.match("acme/tiny.git/info").group("name") == "tiny"


@pytest.mark.parametrize("namespace", ["admin", "Admin", "api", "models", "_blobs", "cas", "v1", ".well-known",
                                       "datasets", "spaces", "settings"])
def test_reserved_namespaces_are_refused(namespace):
    with pytest.raises(InvalidInput):
        check_namespace(namespace)


GOOD_REFS = ["main", "dev", "feature/x", "v1.0", "release-2024_01", "user/feature/deep", "a@b", "x.y", "A" * 200,
             "0" * 39, "ab" * 21, "dev-", "a+b", "a#b", "a%2Fb"]
BAD_REFS = [
    "", "/lead", "trail/", "a//b", "a..b", "a@{b", "@", "has space", "tab\tname", "a~b", "a^b", "a:b", "a?b",
    "a*b", "a[b", "a\\b", "del\x7f", "nul\x00", "cr\rlf\n", "name.lock", "dir/x.lock/y", ".hidden", "a/.b",
    "refs/heads/x", "dot.", "a" * 201, "0" * 40, "0123456789abcdef0123456789abcdef01234567", "HEAD", "-dash",
    # confusables: a right-to-left override, fullwidth letters, Cyrillic 'а', Hangul
    "main\u202e", "\u202emain", "ｍａｉｎ", "mаin", "한국어", "\udcff", "zero\u200bwidth", None, ["main"],
]


@pytest.mark.parametrize("name", GOOD_REFS)
def test_good_ref_names_are_accepted(name):
    assert check_ref_name(name) == name


@pytest.mark.parametrize("name", BAD_REFS)
def test_bad_ref_names_are_refused(name):
    with pytest.raises(InvalidInput, match="not a valid branch or tag name"):
        check_ref_name(name)


@pytest.mark.parametrize("name", ["main\u202e", "nul\x00", "cr\rlf\n", "\udcff"])
def test_refusals_quote_the_name_escaped(name):
    with pytest.raises(InvalidInput) as info:
        check_ref_name(name)
    assert info.value.message.isprintable()
    assert info.value.message.encode("utf-8")  # no lone surrogate left to break an encoder


GOOD_PATHS = ["a", "README.md", "a/b/c.txt", "모델/설명.md", "with space.txt", "a..b", ".gitattributes", "x/.hidden",
              "é" * 500]
BAD_PATHS = ["", "/abs", "a//b", "a/./b", "./a", "a/..", "../x", "a/../b", "a\\b", ".git/config", "x/.git/y",
             "nul\x00", "tab\tname", "line\nbreak", "del\x7f", "c1\x85", "sep\u2028", "\udcff", "a/\ud800/b",
             "trail/", "é" * 501, None, 3]


@pytest.mark.parametrize("path", GOOD_PATHS)
def test_good_paths_are_accepted_unchanged(path):
    assert check_path(path) == path


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_paths_are_refused(path):
    with pytest.raises(InvalidInput):
        check_path(path)


@pytest.mark.parametrize(("tree", "touched", "clash"), [
    ({"a", "a/b"}, ["a/b"], "'a'"),
    ({"a", "a/b"}, ["a"], "'a'"),
    ({"x/a", "x/a/b/c"}, ["x/a/b/c"], "'x/a'"),
    ({"a/b", "a/c"}, ["a/c"], None),
    ({"a", "ab/c"}, ["ab/c"], None),  # a prefix of a name is not a folder
    ({"a.txt", "a/b"}, ["a/b"], None),
    ({"a", "a/b"}, ["c"], None),  # only what the commit touches is judged
])
def test_folder_collisions(tree, touched, clash):
    found = folder_collisions(tree, touched)
    if clash is None:
        assert found is None
    else:
        assert found is not None and clash in found


@pytest.mark.parametrize(("value", "ok"), [("main", True), ("", True), ("a" * 2048, True), ("a" * 2049, False),
                                            ("a\x00", False), ("\udcff", False), (None, False), (["x"], False)])
def test_lookup_ok(value, ok):
    assert lookup_ok(value) is ok


@pytest.mark.parametrize(("value", "term"), [("llama", "llama"), ("  llama ", "llama"), ("a\x00b", "ab"),
                                              ("\udcffx", "x"), ("x" * 500, "x" * 200), (None, ""), (["a"], "")])
def test_search_text(value, term):
    assert search_text(value) == term


@pytest.mark.parametrize("value", ["a\x00b", "\udcff", 3, None])
def test_check_text_refuses_what_no_column_can_hold(value):
    with pytest.raises(InvalidInput):
        check_text(value, what="the summary")


def test_check_text_single_line_refuses_controls():
    assert check_text("multi\nline\tok", what="x") == "multi\nline\tok"
    with pytest.raises(InvalidInput):
        check_text("multi\nline", what="x", single_line=True)


@pytest.mark.parametrize(("value", "ok"), [("acme/tiny", True), ("_x/y.z", True), ("a/b/c", False), ("ab", False),
                                            ("a--b/c", False), ("a/b\n", False), ("/b", False), (None, False)])
def test_repo_id_ok(value, ok):
    from registry.names import repo_id_ok

    assert repo_id_ok(value) is ok
