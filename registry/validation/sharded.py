"""Sharded safetensors checkpoints: the `*.safetensors.index.json` weight_map against the shards' headers.

The index and its shards are validated separately (each shard by `validate_stream`); this check runs once all
shard headers are known and needs only their `summary["tensors"]` (tensor name -> byte size).
"""

from __future__ import annotations

import functools
import hashlib
import posixpath
import re
from collections.abc import Collection, Mapping

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


@functools.lru_cache(maxsize=4096)  # an index names a few shards 10k times over
def resolve_shard_path(index_path: str, shard: str) -> str:
    """The repository path of `shard`, which the index names relative to its own folder."""
    return posixpath.normpath(posixpath.join(posixpath.dirname(index_path), shard))


_SHARD_NAME = re.compile(r"^(?P<stem>.+)-\d+-of-(?P<count>\d+)\.safetensors$")


def _forgotten_shards(by_shard: Mapping[str, object], paths: Collection[str]) -> list[str]:
    """Files named like the indexed shards (same folder, `<stem>-NNNNN-of-<count>`) that the map never names."""
    sets = set()
    for path in by_shard:
        folder, name = posixpath.split(path)
        match = _SHARD_NAME.match(name)
        if match:
            sets.add((folder, match["stem"], match["count"]))
    forgotten = []
    for path in paths:
        if path in by_shard:
            continue
        folder, name = posixpath.split(path)
        match = _SHARD_NAME.match(name)
        if match and (folder, match["stem"], match["count"]) in sets:
            forgotten.append(path)
    return sorted(forgotten)


def validate_safetensors_index(
    index: bytes,
    *,
    index_path: str,
    shards: Mapping[str, Mapping[str, int]],
    present: Collection[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> FileReport:
    """Check an index against its shards.

    `shards` maps repository paths of shard files to their tensors (name -> byte size), i.e. each shard's
    `FileReport.summary["tensors"]`. Shards the index does not reference are ignored: a repository may hold
    other safetensors files (a consolidated copy, say) beside a sharded set. `present` (the commit's paths, when
    known) tells a shard that is not in the commit from one whose header is unknown.
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
    for path in missing:
        named = _listing(sorted(by_shard[path]))
        if present is not None and path in present:
            fail(f"missing shards: the header of {path!r} could not be read (the file failed validation or was "
                 f"never checked), so the weight_map's tensors there are unverified: {named}")
        else:
            fail(f"missing shards: {path!r} is not in this commit, but the weight_map puts tensors there: {named}")

    mapped = {tensor: resolve_shard_path(index_path, shard) for tensor, shard in weight_map.items()}
    located: dict[str, list[str]] = {}
    total = 0
    unlisted: dict[str, list[str]] = {}
    for path in sorted(by_shard):
        if path not in shards:
            continue
        for tensor, nbytes in shards[path].items():
            located.setdefault(tensor, []).append(path)
            total += nbytes
            if tensor not in mapped:
                unlisted.setdefault(path, []).append(tensor)
    for path, names in unlisted.items():
        fail(f"shard {path!r} holds tensors the weight_map does not list: {_listing(sorted(names))}")
    misplaced = sorted((tensor, paths, mapped[tensor]) for tensor, paths in located.items()
                       if tensor in mapped and mapped[tensor] not in paths and mapped[tensor] in shards)
    if misplaced:
        shown = "; ".join(f"{tensor!r} is in {', '.join(map(repr, paths))}, not {want!r}"
                          for tensor, paths, want in misplaced[:_SHOWN])
        more = f" and {len(misplaced) - _SHOWN} more" if len(misplaced) > _SHOWN else ""
        fail(f"the weight_map names the wrong shard for {len(misplaced)} tensor(s): {shown}{more}")
    absent: dict[str, list[str]] = {}
    for tensor, path in mapped.items():
        if path in shards and tensor not in located:
            absent.setdefault(path, []).append(tensor)
    if absent:  # the tensors may sit in a file the index does not reference (the wrong shard named, say)
        wanted = {tensor for names in absent.values() for tensor in names}
        elsewhere: dict[str, list[str]] = {}
        for path in sorted(set(shards) - set(by_shard)):
            for tensor in wanted.intersection(shards[path]):
                elsewhere.setdefault(tensor, []).append(path)
        moved = sorted(tensor for tensor in wanted if tensor in elsewhere)
        if moved:
            shown = "; ".join(f"{tensor!r} is in {', '.join(map(repr, elsewhere[tensor]))}, not {mapped[tensor]!r}"
                              for tensor in moved[:_SHOWN])
            more = f" and {len(moved) - _SHOWN} more" if len(moved) > _SHOWN else ""
            fail(f"the weight_map names the wrong shard for {len(moved)} tensor(s): {shown}{more}")
        for path, names in sorted(absent.items()):
            nowhere = sorted(name for name in names if name not in elsewhere)
            if nowhere:
                fail(f"weight_map assigns tensors to {path!r} that no shard holds: {_listing(nowhere)}")
    for path in _forgotten_shards(by_shard, shards if present is None else set(shards) | set(present)):
        held = _listing(sorted(shards[path])) if path in shards else "(header unknown)"
        fail(f"shard {path!r} belongs to the same set as the indexed shards but the weight_map lists none of "
             f"its tensors: {held}")
    doubled = sorted(name for name, paths in located.items() if len(paths) > 1)
    if doubled:
        shown = "; ".join(f"{name!r} in {', '.join(map(repr, located[name]))}" for name in doubled[:_SHOWN])
        more = f" and {len(doubled) - _SHOWN} more" if len(doubled) > _SHOWN else ""
        fail(f"tensors stored in more than one shard: {shown}{more}")

    summary.update(shard_count=len(by_shard), tensor_count=len(weight_map), total_size=total)
    declared = metadata.get("total_size")
    if declared is None:
        checks.append(CheckResult(CHECK, WARNING, "index metadata has no total_size"))
    elif not isinstance(declared, int) or isinstance(declared, bool):
        fail(f"metadata total_size must be an integer, got {declared!r}")
    elif not missing and declared != total:
        fail(f"metadata total_size is {declared} but the shards' tensors add up to {total} bytes "
             f"({declared - total:+,} bytes)")
    return report()
