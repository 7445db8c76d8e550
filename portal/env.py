"""Typed readers for configuration from the environment.

Every bad value stops start-up with a message naming the variable, so a typo in a
deployment never turns into a silently wrong default.
"""

from __future__ import annotations

import os
from pathlib import Path


class ConfigError(Exception):
    pass


def _raw(name: str) -> str | None:
    """The value of NAME, or the contents of the file named by NAME_FILE (docker secrets)."""
    value = os.environ.get(name)
    if value is None and os.environ.get(f"{name}_FILE"):
        path = Path(os.environ[f"{name}_FILE"])
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={path}: cannot read it ({exc.strerror})") from exc
    return value


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r} is not an integer") from exc
    if minimum is not None and number < minimum:
        raise ConfigError(f"{name}={number} must be at least {minimum}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = env_str(name, default).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name}={value!r} must be one of: {', '.join(sorted(choices))}")
    return value
