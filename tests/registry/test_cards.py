"""Model cards: front matter parsing, the fields cached on the repo, the listing summary. No database."""

from __future__ import annotations

import pytest

from registry.cards import CardError, card_fields, card_summary, parse_card


@pytest.mark.parametrize(("text", "data", "body"), [
    ("# Title\n\nBody\n", {}, "# Title\n\nBody\n"),
    ("", {}, ""),
    ("---\nlicense: mit\n---\n# Hi\n", {"license": "mit"}, "# Hi\n"),
    ("---\nlicense: mit\ntags:\n- a\n- b\n---\nbody", {"license": "mit", "tags": ["a", "b"]}, "body"),
    ("---\n---\nbody", {}, "body"),
    ("---\n\n---\nbody", {}, "body"),
    ("---\nlicense: mit\n---", {"license": "mit"}, ""),
    ("---   \nlicense: mit\n---\t\nbody", {"license": "mit"}, "body"),
    # CRLF line endings (cards written on Windows)
    ("---\r\nlicense: mit\r\ntags:\r\n- a\r\n---\r\n# Hi\r\n", {"license": "mit", "tags": ["a"]}, "# Hi\r\n"),
    ("---\r\n---\r\nbody", {}, "body"),
    # only the first block is front matter; a later '---' is a horizontal rule in the body
    ("---\na: 1\n---\ntext\n---\nmore\n", {"a": 1}, "text\n---\nmore\n"),
    # front matter must start on the first line
    ("\n---\na: 1\n---\nbody", {}, "\n---\na: 1\n---\nbody"),
    ("text\n---\na: 1\n---\n", {}, "text\n---\na: 1\n---\n"),
    # unterminated: no front matter at all
    ("---\na: 1\nbody", {}, "---\na: 1\nbody"),
    # the closing fence must be exactly '---'
    ("---\na: 1\n--- x\nbody", {}, "---\na: 1\n--- x\nbody"),
    ("---\nname: 모델\n---\n본문", {"name": "모델"}, "본문"),
])
def test_parse_card(text, data, body):
    card = parse_card(text)
    assert card.data == data
    assert card.body == body


@pytest.mark.parametrize("text", [
    "---\ntags: [unclosed\n---\nbody",
    "---\na: b: c\n---\n",
    "---\n\tbad: indent\n---\n",
    "---\r\nkey: [\r\n---\r\n",
])
def test_invalid_yaml_is_a_card_error(text):
    with pytest.raises(CardError, match="Invalid YAML"):
        parse_card(text)


@pytest.mark.parametrize("text", ["---\n- a\n- b\n---\n", "---\njust a string\n---\n", "---\n42\n---\n"])
def test_non_mapping_front_matter_is_a_card_error(text):
    with pytest.raises(CardError, match="mapping"):
        parse_card(text)


def test_yaml_tags_that_build_objects_are_refused():
    with pytest.raises(CardError):
        parse_card("---\nx: !!python/object/apply:os.system ['true']\n---\n")


@pytest.mark.parametrize(("data", "expected"), [
    ({}, {"tags": [], "pipeline_tag": "", "library_name": "", "languages": [], "card_license": ""}),
    ({"tags": "single", "language": "ko", "license": "mit"},
     {"tags": ["single"], "pipeline_tag": "", "library_name": "", "languages": ["ko"],
      "card_license": "mit"}),
    ({"tags": ["a", None, 3], "language": ["ko", "en"], "license": ["apache-2.0", "mit"],
      "pipeline_tag": "text-generation", "library_name": "transformers"},
     {"tags": ["a", "3"], "pipeline_tag": "text-generation", "library_name": "transformers",
      "languages": ["ko", "en"], "card_license": "apache-2.0"}),
    ({"license": [], "pipeline_tag": None},
     {"tags": [], "pipeline_tag": "", "library_name": "", "languages": [], "card_license": ""}),
    ({"pipeline_tag": "x" * 100}, {"tags": [], "pipeline_tag": "x" * 64, "library_name": "", "languages": [],
                                   "card_license": ""}),
])
def test_card_fields(data, expected):
    fields = card_fields(data)
    assert fields.pop("card_data") == data
    assert fields == expected


@pytest.mark.parametrize(("body", "summary"), [
    ("# Title\n\nFirst paragraph.\n\nSecond.", "First paragraph."),
    ("# Title\r\n\r\nWindows paragraph.\r\n", "Windows paragraph."),
    ("# Only a heading\n", ""),
    ("<img src=x>\n\n| a | b |\n\n```\ncode\n```\n\n- item\n\nReal text.", "Real text."),
    ("", ""),
    ("word " * 100, ("word " * 100).strip()[:300]),
])
def test_card_summary_is_the_first_prose_paragraph(body, summary):
    assert card_summary(body) == summary


# --- hostile metadata: what JSON can't hold, and what would expand without bound ---------------------------

LAUGHS = ("---\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
          "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
          "---\n")


@pytest.mark.parametrize(("text", "data"), [
    # dates and times stay the strings the author wrote (as on the Hub), implicit or tagged
    ("---\ndate: 2024-01-01\n---\n", {"date": "2024-01-01"}),
    ("---\nat: 2024-01-01 10:00:00+09:00\n---\n", {"at": "2024-01-01 10:00:00+09:00"}),
    ("---\nd: !!timestamp 2001-12-14\n---\n", {"d": "2001-12-14"}),
    ("---\n2024-01-01: new year\n---\n", {"2024-01-01": "new year"}),
    # keys become strings, as JSON has them
    ("---\n1: one\nnull: x\n---\n", {"1": "one", "null": "x"}),
    # small anchors and merge keys are fine
    ("---\nbase: &b {license: mit}\nother:\n  <<: *b\n  tags: [x]\n---\n",
     {"base": {"license": "mit"}, "other": {"license": "mit", "tags": ["x"]}}),
    ("---\nx: 1.5\ny: -2.0e+3\n---\n", {"x": 1.5, "y": -2000.0}),
])
def test_metadata_becomes_json_data(text, data):
    assert parse_card(text).data == data


@pytest.mark.parametrize(("text", "reason"), [
    ("---\nx: .nan\n---\n", "non-finite"),
    ("---\nx: .inf\n---\n", "non-finite"),
    ("---\nx: [-.Inf]\n---\n", "non-finite"),
    ("---\nx: !!float nan\n---\n", "non-finite"),
    ("---\nx: !!binary aGVsbG8=\n---\n", "binary"),
    ("---\nx: !!set {a, b}\n---\n", "sets"),
    (LAUGHS, "expands to more than"),
    ("---\nbig: &s " + "x" * 30000 + "\nlist: [*s, *s, *s, *s, *s, *s, *s, *s, *s, *s]\n---\n", "expands to more than"),
    ("---\na: &a [*a]\n---\n", "undefined alias|recursive|refers to itself"),
    ("---\nx: " + "[" * 100 + "]" * 100 + "\n---\n", "nested deeper"),
    ("---\nx: " + "[" * 5000 + "]" * 5000 + "\n---\n", "nested deeper|larger"),
    ("---\nx: '" + "y" * (64 * 1024) + "'\n---\n", "larger than"),
    ("---\nx: " + "1" * 5000 + "\n---\n", "can't be stored"),
    ("---\nx: \x00\n---\n", "Invalid YAML"),
])
def test_metadata_json_cannot_hold_is_a_card_error(text, reason):
    with pytest.raises(CardError, match=reason):
        parse_card(text)


def test_a_400_byte_alias_bomb_is_refused_quickly():
    import time

    started = time.monotonic()
    with pytest.raises(CardError):
        parse_card(LAUGHS)
    assert len(LAUGHS) < 400 and time.monotonic() - started < 1
