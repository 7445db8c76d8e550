"""JSON parsing that refuses what lenient parsers let through: duplicate keys, NaN/Infinity, lone surrogates,
invalid UTF-8 and deep nesting (and, for request bodies, NUL characters, which no database column can hold). Two
parsers disagreeing on a duplicate key is how headers get smuggled."""

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


def _check_text(value: str, allow_nul: bool = True) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise JsonInvalid(f"string contains a lone surrogate: {value[:40]!r}") from exc
    if not allow_nul and "\x00" in value:
        raise JsonInvalid(f"string contains a NUL character: {value[:40]!r}")


def _check_tree(root: Any, *, max_depth: int, allow_nul: bool = True) -> None:
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list) and depth > max_depth:
            raise JsonInvalid(f"nesting deeper than {max_depth} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, allow_nul)
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_text(value, allow_nul)


def loads_strict(data: bytes, *, max_depth: int, allow_nul: bool = True) -> Any:
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
    _check_tree(value, max_depth=max_depth, allow_nul=allow_nul)
    return value
