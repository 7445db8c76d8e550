"""Model cards: README.md with YAML front matter, as on the Hugging Face Hub."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^---[ \t]*\r?$\n?", re.S | re.M)


class CardError(ValueError):
    pass


@dataclass
class Card:
    data: dict[str, Any] = field(default_factory=dict)
    body: str = ""


def parse_card(text: str) -> Card:
    """Split front matter from the body. Raises CardError for YAML that is not a mapping."""
    match = FRONT_MATTER_RE.match(text)
    if not match:
        return Card({}, text)
    try:
        data = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise CardError(f"Invalid YAML in the model card metadata: {exc}") from exc
    if not isinstance(data, dict):
        raise CardError("The model card metadata must be a YAML mapping")
    return Card(data, text[match.end():])


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def card_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The repo fields cached from card metadata."""
    license_value = data.get("license")
    return {
        "card_data": data,
        "tags": _as_list(data.get("tags")),
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
