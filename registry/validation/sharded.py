"""Sharded safetensors checkpoints: the `*.safetensors.index.json` weight_map against the shards' headers.

The index and its shards are validated separately (each shard by `validate_stream`); this check runs once all
shard headers are known and needs only their `summary["tensors"]` (tensor name -> byte size).
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping

from registry.validation.strict_json import JsonInvalid, loads_strict
from registry.validation.types import (
    DEFAULT_LIMITS,
    FAILED,
    PASSED,
    WARNING,
    CheckResult,
    FileReport,
    Limits,
    worst,
)

CHECK = "safetensors_index"
_SHOWN = 5


def _listing(items: list[str]) -> str:
    shown = ", ".join(repr(item) for item in items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _shard_path_problem(name: str) -> str | None:
    if not name:
        return "is empty"
    if "\\" in name or "\x00" in name:
        return "contains a backslash or NUL"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is absolute"
    if ".." in name.split("/"):
        return "leaves the repository ('..')"
    return None


def resolve_shard_path(index_path: str, shard: str) -> str:
    """The repository path of `shard`, which the index names relative to its own folder."""
    return posixpath.normpath(posixpath.join(posixpath.dirname(index_path), shard))


def validate_safetensors_index(
    index: bytes,
    *,
    index_path: str,
    shards: Mapping[str, Mapping[str, int]],
    limits: Limits = DEFAULT_LIMITS,
) -> FileReport:
    """Check an index against its shards.

    `shards` maps repository paths of shard files to their tensors (name -> byte size), i.e. each shard's
    `FileReport.summary["tensors"]`. Shards the index does not reference are ignored: a repository may hold
    other safetensors files (a consolidated copy, say) beside a sharded set.
    """
    checks: list[CheckResult] = []
    summary: dict[str, object] = {}

    def report() -> FileReport:
        if not checks:
            checks.append(CheckResult(CHECK, PASSED, "weight_map matches the shards"))
        return FileReport(
            sha256=hashlib.sha256(index).hexdigest(),
            size=len(index),
            status=worst([c.status for c in checks]),
            checks=checks,
            summary=summary,
        )

    def fail(message: str) -> None:
        checks.append(CheckResult(CHECK, FAILED, message))

    try:
        root = loads_strict(index, max_depth=limits.max_json_depth)
    except JsonInvalid as exc:
        fail(f"index: {exc}")
        return report()
    if not isinstance(root, dict):
        fail("index root must be an object")
        return report()
    weight_map = root.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        fail("index has no weight_map object")
        return report()
    bad_entries = [k for k, v in weight_map.items() if not k or not isinstance(v, str)]
    if bad_entries:
        fail(f"weight_map entries must map non-empty tensor names to shard paths: {_listing(bad_entries)}")
        return report()
    metadata = root.get("metadata", {})
    if not isinstance(metadata, dict):
        fail("index metadata must be an object")
        return report()

    # shard path -> tensors the map assigns to it
    by_shard: dict[str, set[str]] = {}
    for tensor, shard in weight_map.items():
        problem = _shard_path_problem(shard)
        if problem:
            fail(f"shard path {shard!r} {problem}")
            continue
        by_shard.setdefault(resolve_shard_path(index_path, shard), set()).add(tensor)
    if any(c.status == FAILED for c in checks):
        return report()

    missing = sorted(path for path in by_shard if path not in shards)
    if missing:
        fail(f"missing shards: {_listing(missing)}")

    located: dict[str, list[str]] = {}
    total = 0
    for path in sorted(by_shard):
        if path not in shards:
            continue
        actual = shards[path]
        for tensor, nbytes in actual.items():
            located.setdefault(tensor, []).append(path)
            total += nbytes
        unnamed = sorted(set(actual) - by_shard[path])
        if unnamed:
            fail(
                f"shard {path!r} holds tensors the weight_map assigns elsewhere or not at all: "
                f"{_listing(unnamed)}"
            )
        absent = sorted(by_shard[path] - set(actual))
        if absent:
            fail(f"weight_map assigns tensors to {path!r} that it does not hold: {_listing(absent)}")
    doubled = sorted(name for name, paths in located.items() if len(paths) > 1)
    if doubled:
        fail(f"tensors stored in more than one shard: {_listing(doubled)}")

    summary.update(shard_count=len(by_shard), tensor_count=len(weight_map), total_size=total)
    declared = metadata.get("total_size")
    if declared is None:
        checks.append(CheckResult(CHECK, WARNING, "index metadata has no total_size"))
    elif not isinstance(declared, int) or isinstance(declared, bool):
        fail(f"metadata total_size must be an integer, got {declared!r}")
    elif not missing and declared != total:
        fail(f"metadata total_size is {declared} but the shards' tensors add up to {total} bytes")
    return report()
