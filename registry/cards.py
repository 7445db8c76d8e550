"""Model cards: README.md with YAML front matter, as on the Hugging Face Hub."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from registry.lineage import card_lineage, derived_tags, is_derived_tag

FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^---[ \t]*\r?$\n?", re.S | re.M)


# Bounds on the metadata: a card's YAML may be at most CARD_YAML_MAX_BYTES, and what it expands to (aliases count
# each time they are used; about the size of its JSON) at most CARD_EXPANDED_MAX characters, so a 400-byte alias
# bomb can't become a 39 MB model_info answer; nesting at most CARD_MAX_DEPTH levels.
CARD_YAML_MAX_BYTES = 64 * 1024
CARD_EXPANDED_MAX = 256 * 1024
CARD_MAX_DEPTH = 64


class CardError(ValueError):
    pass


def _refuse(what: str):  # noqa: ANN202
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        raise CardError(f"{what} are not allowed in the model card metadata (line {node.start_mark.line + 1})")

    return construct


def _finite_float(loader: yaml.SafeLoader, node: yaml.Node) -> float:
    value = yaml.SafeLoader.construct_yaml_float(loader, node)
    if not math.isfinite(value):
        raise CardError(f"non-finite numbers (.nan, .inf) are not allowed in the model card metadata "
                        f"(line {node.start_mark.line + 1})")
    return value


class CardLoader(yaml.SafeLoader):
    """safe_load, minus what JSON can't hold: dates stay strings (as the Hub keeps them), binary values, sets and
    non-finite numbers are refused."""


CardLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
CardLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_scalar)
CardLoader.add_constructor("tag:yaml.org,2002:float", _finite_float)
CardLoader.add_constructor("tag:yaml.org,2002:binary", _refuse("binary values (!!binary)"))
CardLoader.add_constructor("tag:yaml.org,2002:set", _refuse("sets (!!set)"))


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose expansion (every alias counted where it is used) is too large, too deep or
    recursive. One pass over the distinct nodes: each node's expanded size is remembered."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            # Roughly the characters of its JSON: a scalar with quotes and separator, brackets for collections.
            if isinstance(node, yaml.ScalarNode):
                size = len(node.value) + 4
            elif isinstance(node, yaml.SequenceNode):
                size = 2 + sum(sizes[id(child)] for child in node.value)
            else:
                size = 2 + sum(sizes[id(k)] + sizes[id(v)] for k, v in node.value)
            if size > CARD_EXPANDED_MAX:
                raise CardError(f"the model card metadata expands to more than {CARD_EXPANDED_MAX} characters "
                                "(YAML aliases are counted each time they are used)")
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise CardError("the model card metadata refers to itself (a recursive YAML alias)")
        if depth > CARD_MAX_DEPTH:
            raise CardError(f"the model card metadata is nested deeper than {CARD_MAX_DEPTH} levels")
        on_path.add(key)
        stack.append((node, depth, True))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1, False) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend((item, depth + 1, False) for pair in node.value for item in pair)


def load_card_yaml(text: str) -> Any:
    """The front matter's YAML as JSON-compatible data (what card_data stores and model_info returns)."""
    if len(text.encode("utf-8", errors="surrogatepass")) > CARD_YAML_MAX_BYTES:
        raise CardError(f"the model card metadata is larger than {CARD_YAML_MAX_BYTES} bytes")
    loader = None
    try:
        loader = CardLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        data = loader.construct_document(node)
        # JSON is what the data becomes (card_data, model_info): keys become strings, nothing else may remain.
        return json.loads(json.dumps(data, allow_nan=False))
    except CardError:
        raise
    except yaml.YAMLError as exc:
        raise CardError(f"Invalid YAML in the model card metadata: {exc}") from exc
    except RecursionError as exc:
        raise CardError(f"the model card metadata is nested deeper than {CARD_MAX_DEPTH} levels") from exc
    except (ValueError, TypeError) as exc:  # an integer of more than 4,300 digits, a value JSON can't hold
        raise CardError(f"the model card metadata holds a value that can't be stored: {exc}") from exc
    finally:
        if loader is not None:
            loader.dispose()


@dataclass
class Card:
    data: dict[str, Any] = field(default_factory=dict)
    body: str = ""


def parse_card(text: str) -> Card:
    """Split front matter from the body. Raises CardError for metadata that is not a YAML mapping the hub can
    store: invalid YAML, too large, alias bombs, binary values, non-finite numbers."""
    match = FRONT_MATTER_RE.match(text)
    if not match:
        return Card({}, text)
    data = load_card_yaml(match.group(1)) or {}
    if not isinstance(data, dict):
        raise CardError("The model card metadata must be a YAML mapping")
    return Card(data, text[match.end():])


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def card_fields(data: dict[str, Any], *, paths: Iterable[str] = ()) -> dict[str, Any]:
    """The repo fields cached from card metadata; `paths`: the files of the default branch, from which a missing
    base_model_relation is inferred (registry.lineage). The tags are the card's own, then the derived ones
    (`dataset:…`, `base_model:…`), as the Hub lists them."""
    license_value = data.get("license")
    own_tags = [t for t in _as_list(data.get("tags")) if not is_derived_tag(t)]
    return {
        "card_data": data,
        "tags": own_tags + [t for t in derived_tags(data, card_lineage(data, paths)) if t not in own_tags],
        "pipeline_tag": str(data.get("pipeline_tag") or "")[:64],
        "library_name": str(data.get("library_name") or "")[:64],
        "languages": _as_list(data.get("language")),
        "card_license": str(license_value[0] if isinstance(license_value, list) and license_value
                          else license_value or "")[:64],
    }


def card_summary(body: str, limit: int = 300) -> str:
    """First paragraph of prose, for listings."""
    for block in re.split(r"\n\s*\n", body):
        stripped = block.strip()
        if stripped and not stripped.startswith(("#", "<", "|", "```", "!", "-", "*")):
            return stripped[:limit]
    return ""
