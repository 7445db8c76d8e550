"""registry.lineage: base models and their relation from a card (given or inferred), the tags they add, and the
base-model filter syntax."""

from __future__ import annotations

import pytest

from registry.cards import card_fields
from registry.lineage import (
    MAX_BASE_MODELS,
    Lineage,
    base_model_ids,
    card_datasets,
    card_lineage,
    derived_tags,
    display_tags,
    parse_base_model_filter,
)


@pytest.mark.parametrize(("value", "expected"), [
    ("acme/base", ["acme/base"]),
    ("  acme/base ", ["acme/base"]),
    (["acme/a", "other/b"], ["acme/a", "other/b"]),
    (["acme/a", "ACME/A", "acme/a"], ["acme/a"]),  # once, whatever the case: the first spelling is kept
    (["bert-base-uncased", "a/b/c", "a/-b", "", None, 3, {"id": "x/y"}, "ok/fine"], ["ok/fine"]),
    (None, []), (42, []), ({"a": "b"}, []), ("a/b\x00", []),
])
def test_base_model_ids_keeps_valid_repo_ids_in_order_once(value, expected):
    assert base_model_ids(value) == expected


def test_base_model_ids_are_capped():
    assert len(base_model_ids([f"org/m{i}" for i in range(100)])) == MAX_BASE_MODELS


@pytest.mark.parametrize(("card", "paths", "relation"), [
    ({"base_model": "a/b"}, ["README.md", "config.json", "model.safetensors"], "finetune"),
    ({"base_model": "a/b"}, ["README.md", "adapter_config.json", "adapter_model.safetensors"], "adapter"),
    ({"base_model": "a/b"}, ["README.md", "gguf/model-Q4_K_M.GGUF"], "quantized"),
    ({"base_model": "a/b"}, ["README.md", "quantize_config.json"], "quantized"),
    ({"base_model": ["a/b", "c/d"]}, ["README.md"], "merge"),
    ({"base_model": ["a/b", "c/d"]}, ["adapter_config.json"], "adapter"),
    ({"base_model": "a/b", "base_model_relation": "merge"}, ["adapter_config.json"], "merge"),  # given wins
    ({"base_model": "a/b", "base_model_relation": "Quantized"}, [], "quantized"),
    ({"base_model": "a/b", "base_model_relation": "distilled"}, [], "finetune"),  # unknown: inferred
    ({"base_model": "a/b"}, ["sub/adapter_config.json"], "finetune"),  # an adapter sits at the root
])
def test_relation_is_the_cards_or_inferred_from_the_files(card, paths, relation):
    assert card_lineage(card, paths).relation == relation


@pytest.mark.parametrize("card", [{}, {"base_model": ""}, {"base_model": "not-an-id"}, {"base_model": []}, None])
def test_no_lineage_without_a_valid_base(card):
    assert card_lineage(card, ["adapter_config.json"]) is None


def test_derived_tags_per_base_and_dataset():
    lineage = Lineage("merge", ("a/b", "c/d"))
    assert derived_tags({"datasets": ["wiki", "wiki", "acme/ko-corpus"]}, lineage) == [
        "dataset:wiki", "dataset:acme/ko-corpus",
        "base_model:a/b", "base_model:merge:a/b", "base_model:c/d", "base_model:merge:c/d"]
    assert card_datasets({"datasets": "wiki"}) == ["wiki"]
    assert card_datasets({"datasets": [1, None, ""]}) == []


def test_card_fields_add_the_derived_tags_after_the_cards_own():
    fields = card_fields({"tags": ["llm", "base_model:forged/claim"], "base_model": "Org/Base", "datasets": "wiki"},
                         paths=["adapter_config.json"])
    assert fields["tags"] == ["llm", "dataset:wiki", "base_model:Org/Base", "base_model:adapter:Org/Base"]
    assert display_tags(fields["tags"]) == ["llm"]


@pytest.mark.parametrize(("value", "parsed"), [
    ("base_model:org/m", (None, "org/m")),
    ("base_model:finetune:org/m", ("finetune", "org/m")),
    ("base_model:adapter:Org/M", ("adapter", "Org/M")),
    ("license:mit", None), ("llm", None),
])
def test_base_model_filters_parse(value, parsed):
    assert parse_base_model_filter(value) == parsed


@pytest.mark.parametrize("value", ["base_model:", "base_model:distilled:org/m", "base_model:finetune:org",
                                   "base_model:org/m/x", "base_model:finetune:"])
def test_malformed_base_model_filters_say_why(value):
    with pytest.raises(ValueError, match="base_model"):
        parse_base_model_filter(value)
