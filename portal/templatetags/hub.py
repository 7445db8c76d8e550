"""Template helpers for the browser pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.simple_tag
def repo_url(base: str, kind: str, qrev: str, path: str = "") -> str:
    """`{base}/{kind}/{rev}/{path}` with the revision already quoted as one segment."""
    url = f"{base}/{kind}/{qrev}"
    return f"{url}/{quote(path)}" if path else url


@register.filter
def params(value: int | None) -> str:
    """A parameter count the way model cards write it: 7B, 1.3B, 350M, 12K."""
    if value is None:
        return ""
    number = float(value)
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if number >= size:
            scaled = number / size
            text = f"{scaled:.1f}".rstrip("0").rstrip(".") if scaled < 100 else f"{scaled:.0f}"
            return f"{text}{unit}"
    return str(int(number))


@register.filter
def main_dtype(dtypes: dict[str, int] | None) -> str:
    """The dtype holding most parameters ({"BF16": 7e9, "F32": 1e5} → "BF16"); "" when unknown."""
    if not isinstance(dtypes, dict) or not dtypes:
        return ""
    return max(dtypes.items(), key=lambda item: (item[1], item[0]))[0]


@register.filter
def shape(value: list[int] | None) -> str:
    """A tensor shape as people write it: [4096, 11008]; a scalar is []."""
    return "[" + ", ".join(str(d) for d in (value or [])) + "]"


@register.filter
def shortoid(value: str | None) -> str:
    return (value or "")[:7]


@register.filter
def lang_name(code: str) -> str:
    """A language code from a card, with a readable name where we know it."""
    names = {"ko": _("Korean"), "en": _("English"), "ja": _("Japanese"), "zh": _("Chinese")}
    return f"{names[code]} ({code})" if code in names else code


@register.filter
def own_tags(tags: object) -> list[str]:
    """A repo's tags without the ones the hub derives from the card (base_model:…, dataset:…)."""
    from registry.lineage import display_tags

    return display_tags(tags if isinstance(tags, list) else [])


@register.filter
def checklist_detail(item: Any) -> str:
    """A release checklist item's detail in the viewer's language: its `detail_msgid` translated and filled with
    `detail_args` (registry.services.releases._item); the stored English `detail` for older items and free text."""
    if not isinstance(item, dict):  # a ChecklistItem not stored yet
        item = item.as_dict()
    msgid, args = item.get("detail_msgid"), item.get("detail_args")
    if not msgid:
        return item.get("detail") or ""
    try:
        return _(msgid) % args if args else _(msgid)
    except (KeyError, TypeError, ValueError):  # a translation that doesn't fit its arguments: the English
        return item.get("detail") or ""
