"""JSON parsing that refuses what lenient parsers let through: duplicate keys, NaN/Infinity, lone surrogates,
invalid UTF-8 and deep nesting. Two parsers disagreeing on a duplicate key is how headers get smuggled."""

from __future__ import annotations

import json
from typing import Any


class JsonInvalid(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JsonInvalid(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise JsonInvalid(f"non-standard constant {name}")


def _check_text(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise JsonInvalid(f"string contains a lone surrogate: {value[:40]!r}") from exc


def _check_tree(root: Any, *, max_depth: int) -> None:
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list) and depth > max_depth:
            raise JsonInvalid(f"nesting deeper than {max_depth} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key)
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_text(value)


def loads_strict(data: bytes, *, max_depth: int) -> Any:
    """Parse strict UTF-8 JSON; raises JsonInvalid with a reason a person can act on."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonInvalid(f"invalid UTF-8 at byte {exc.start}") from exc
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except JsonInvalid:
        raise
    except RecursionError as exc:
        raise JsonInvalid(f"nesting deeper than {max_depth} levels") from exc
    except ValueError as exc:
        raise JsonInvalid(f"not valid JSON: {exc}") from exc
    _check_tree(value, max_depth=max_depth)
    return value
