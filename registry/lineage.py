"""Model lineage from the card: which models this one derives from (`base_model`) and how (`base_model_relation`).

Pure functions (no database): the commit service, the bulk seeder and the backfill migration all derive the same
lineage and tags from the same inputs — the card's metadata and the paths of the default branch's tree.

As on the Hugging Face Hub (docs/HF_MODELS_API.md, "Lineage"):
* `base_model` is a repo id or a list of them. Ids are checked with the hub's name rule (`namespace/name`, each
  part a valid name); others are dropped. They may name repos that are not on this hub (a model fine-tuned from a
  Hugging Face model): the id is kept as written, and matched case-insensitively.
* `base_model_relation` is one of RELATIONS; when it is missing (or not one of them) it is inferred: an adapter
  (`adapter_config.json` at the root) → adapter; GGUF weights or a GPTQ `quantize_config.json` → quantized;
  several bases → merge; else finetune.
* Each base adds the tags `base_model:<id>` and `base_model:<relation>:<id>`; each card dataset `dataset:<id>`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from registry.names import repo_id_ok

FINETUNE, ADAPTER, QUANTIZED, MERGE = "finetune", "adapter", "quantized", "merge"
RELATIONS = (FINETUNE, ADAPTER, QUANTIZED, MERGE)
MAX_BASE_MODELS = 20  # more bases than this in one card are not kept (a merge of twenty models is already rare)
MAX_DATASETS = 50
DATASET_MAX_LENGTH = 200
# Tag prefixes the hub derives from the card (never offered as plain tags in the portal's tag filter).
DERIVED_TAG_PREFIXES = ("base_model:", "dataset:")

ADAPTER_FILES = frozenset({"adapter_config.json"})  # PEFT, at the repo root
QUANTIZED_FILES = frozenset({"quantize_config.json"})  # AutoGPTQ, at the repo root
QUANTIZED_SUFFIXES = (".gguf",)  # anywhere in the tree


@dataclass(frozen=True)
class Lineage:
    relation: str
    bases: tuple[str, ...]  # repo ids as the card writes them, in its order, without case-insensitive repeats


def base_model_ids(value: Any) -> list[str]:
    """The valid repo ids of a card's `base_model` (a string or a list), in order, each once (any case), at most
    MAX_BASE_MODELS."""
    values = value if isinstance(value, list) else [value]
    seen: set[str] = set()
    ids: list[str] = []
    for item in values:
        if not isinstance(item, str):
            continue
        item = item.strip()
        if not repo_id_ok(item) or item.lower() in seen:
            continue
        seen.add(item.lower())
        ids.append(item)
        if len(ids) == MAX_BASE_MODELS:
            break
    return ids


def is_relation_hint(path: str) -> bool:
    """Does this path take part in inferring a relation (an adapter or quantised weights)?"""
    return path in ADAPTER_FILES or path in QUANTIZED_FILES or path.lower().endswith(QUANTIZED_SUFFIXES)


def inferred_relation(bases: list[str] | tuple[str, ...], paths: Iterable[str]) -> str:
    hints = [p for p in paths if is_relation_hint(p)]
    if any(p in ADAPTER_FILES for p in hints):
        return ADAPTER
    if any(p in QUANTIZED_FILES or p.lower().endswith(QUANTIZED_SUFFIXES) for p in hints):
        return QUANTIZED
    return MERGE if len(bases) > 1 else FINETUNE


def card_lineage(data: dict[str, Any] | None, paths: Iterable[str] = ()) -> Lineage | None:
    """The lineage a card states (None without a valid base model); `paths`: the files of the default branch."""
    data = data if isinstance(data, dict) else {}
    bases = base_model_ids(data.get("base_model"))
    if not bases:
        return None
    given = data.get("base_model_relation")
    relation = given.strip().lower() if isinstance(given, str) else ""
    if relation not in RELATIONS:
        relation = inferred_relation(bases, paths)
    return Lineage(relation=relation, bases=tuple(bases))


def card_datasets(data: dict[str, Any] | None) -> list[str]:
    """The card's `datasets` (a string or a list of ids), each once, bounded."""
    value = (data or {}).get("datasets") if isinstance(data, dict) else None
    values = value if isinstance(value, list) else [value]
    found: list[str] = []
    for item in values:
        if isinstance(item, str) and (item := item.strip()) and len(item) <= DATASET_MAX_LENGTH \
                and "\x00" not in item and item not in found:
            found.append(item)
        if len(found) == MAX_DATASETS:
            break
    return found


def derived_tags(data: dict[str, Any] | None, lineage: Lineage | None) -> list[str]:
    """The tags the hub adds to a card's own: `dataset:<id>` per dataset, `base_model:<id>` and
    `base_model:<relation>:<id>` per base model."""
    tags = [f"dataset:{d}" for d in card_datasets(data)]
    if lineage is not None:
        for base in lineage.bases:
            tags += [f"base_model:{base}", f"base_model:{lineage.relation}:{base}"]
    return tags


def is_derived_tag(tag: object) -> bool:
    return isinstance(tag, str) and tag.startswith(DERIVED_TAG_PREFIXES)


def parse_base_model_filter(value: str) -> tuple[str | None, str] | None:
    """`base_model:<id>` → (None, id); `base_model:<relation>:<id>` → (relation, id); None when `value` is not a
    base-model filter. ValueError with the reason when it is one but malformed."""
    if not value.startswith("base_model:"):
        return None
    rest = value.removeprefix("base_model:")
    relation, sep, repo_id = rest.partition(":")
    if not sep:
        relation, repo_id = None, rest  # type: ignore[assignment]
    elif relation not in RELATIONS:
        raise ValueError(f"unknown base model relation {relation!r} in filter {value!r}: use one of "
                         f"{', '.join(RELATIONS)} (base_model:<relation>:<namespace>/<name>)")
    if not repo_id_ok(repo_id):
        raise ValueError(f"filter {value!r} must name a model as base_model:[<relation>:]<namespace>/<name>")
    return relation, repo_id


def display_tags(tags: Iterable[Any]) -> list[str]:
    """A repo's tags as a page shows them: the card's own, without the derived ones."""
    return [t for t in tags if isinstance(t, str) and not is_derived_tag(t)]
