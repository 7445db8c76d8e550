"""Reads of tensor tables (registry.models.ContentTensor): whole tables for the repo checks, a page for viewers."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext

from registry.exceptions import Conflict, EntryNotFound, InvalidInput, PermissionDenied
from registry.models import Blob, Commit, CommitFile, ContentTensor, ModelRepo
from registry.selectors.blobs import file_granted
from registry.selectors.validation import file_quarantine, with_quarantine
from registry.storage import get_store
from registry.validation.strict_json import JsonInvalid, loads_strict
from registry.validation.types import TensorInfo

BATCH = 2000  # rows per query when a table is read whole (10k-tensor files: five queries, bounded memory)
IN_CHUNK = 500


def shas_with_tables(shas: Sequence[str]) -> set[str]:
    """Which of these contents have a stored table (one indexed query per 500)."""
    found: set[str] = set()
    unique = sorted(set(shas))
    for start in range(0, len(unique), IN_CHUNK):
        found.update(ContentTensor.objects.filter(sha256__in=unique[start:start + IN_CHUNK], ordinal=0)
                     .values_list("sha256", flat=True))
    return found


def tensor_table(sha256: str) -> Iterator[TensorInfo]:
    """A content's whole table, read lazily in keyset batches by ordinal."""
    after = -1
    while True:
        rows = list(ContentTensor.objects.filter(sha256=sha256, ordinal__gt=after).order_by("ordinal")
                    .values_list("ordinal", "name", "dtype", "shape", "nbytes")[:BATCH])
        for ordinal, name, dtype, shape, nbytes in rows:
            yield TensorInfo(name, dtype, tuple(shape), nbytes)
            after = ordinal
        if len(rows) < BATCH:
            return


def tensor_tables(sha_by_path: Mapping[str, str]) -> Callable[[str], Iterable[TensorInfo] | None]:
    """`tensors(path)` for `check_repo`: the table of the content at `path`, or None when none is stored.

    Only weight files are looked up (one query for which have tables); each table is read when iterated."""
    weights = {p: s for p, s in sha_by_path.items() if p.endswith((".safetensors", ".gguf"))}
    stored = shas_with_tables(list(weights.values()))

    def tensors(path: str) -> Iterable[TensorInfo] | None:
        sha = weights.get(path)
        return tensor_table(sha) if sha in stored else None

    return tensors


def tensor_page(*, sha256: str, after: int = -1, size: int = 100) -> tuple[list[ContentTensor], int | None]:
    """One page of a table after ordinal `after`, and the cursor (last ordinal) of the next page, if any."""
    rows = list(ContentTensor.objects.filter(sha256=sha256, ordinal__gt=after).order_by("ordinal")[:size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].ordinal if more and rows else None)


def commit_parameters(*, commit_id: int) -> tuple[bool, dict[str, object] | None]:
    """(known, field): the commit's `safetensors` field (HF_COMMUNITY.md §3), `{"parameters": {DTYPE: n}, "total":
    n}` from its validation run, None when it holds no counted safetensors weights; known is False until the
    headers are counted or the run finishes. Runs finished before the counts had columns keep them in their summary."""
    from registry.models import VALIDATION_FINISHED, ValidationRun

    row = (ValidationRun.objects.filter(commit_id=commit_id)
           .values_list("status", "parameter_count", "parameter_dtypes", "summary__parameter_count",
                        "summary__parameter_dtypes").first())
    if row is None:
        return False, None
    status, total, dtypes, old_total, old_dtypes = row
    if total is not None:  # counted as soon as the headers were read, maybe before the run finished
        return True, {"parameters": dict(dtypes) if isinstance(dtypes, dict) else {}, "total": total}
    total, dtypes = old_total, old_dtypes
    if not isinstance(total, int) or isinstance(total, bool):
        return status in VALIDATION_FINISHED, None
    return True, {"parameters": dict(dtypes) if isinstance(dtypes, dict) else {}, "total": total}


def content_tensor_stats(*, sha256: str) -> dict[str, object] | None:
    """What validation counted in a content's header (tensors, parameters, per dtype), from its verdict; None if
    it was never read."""
    from registry.models import ContentVerdict

    summary = ContentVerdict.objects.filter(sha256=sha256).values_list("summary", flat=True).first()
    if not isinstance(summary, dict) or "tensor_count" not in summary:
        return None
    dtypes = summary.get("dtypes") or summary.get("types") or {}
    return {"tensor_count": summary.get("tensor_count"), "parameter_count": summary.get("parameter_count"),
            "dtypes": sorted(dtypes.items(), key=lambda item: -item[1]) if isinstance(dtypes, dict) else []}


MAX_HEADER = 25_000_000  # what huggingface_hub accepts (SAFETENSORS_MAX_HEADER_LENGTH)
MAX_INDEX = 16 * 1024 * 1024
JSON_DEPTH = 64  # uploaded headers and indexes are parsed as validation parses them (strict, bounded nesting)


@dataclass(frozen=True)
class ShardedMetadata:
    index_metadata: dict[str, Any] | None
    headers: dict[str, dict[str, Any]]  # shard name, as the weight_map writes it -> its parsed header


def _file_bytes(entry: CommitFile, *, start: int, end: int) -> bytes:
    """Bytes [start, end) of a committed file: inline content, or a ranged read of its blob."""
    if entry.blob_id is None:
        return bytes(entry.content or b"")[start:end]
    if end <= start:
        return b""
    return b"".join(get_store().iter_bytes(entry.blob.storage_key, start=start, end=end - 1))


def _servable(repo: ModelRepo, entry: CommitFile, path: str) -> None:
    """The same refusals as /resolve: bytes the repo does not hold, quarantined or rejected content, bytes still
    being checked (those are a 503 there; here a 409 the caller may retry)."""
    if not file_granted(repo=repo, commit_file=entry):
        raise PermissionDenied(gettext("%(path)s is not verified for this repository")
            % {"path": path}, code="BlobNotVerified")
    reason = file_quarantine(commit_file=entry)
    if reason is not None:
        raise PermissionDenied(gettext("%(path)s failed validation and is quarantined: %(reason)s")
            % {"path": path, "reason": reason}, code="FileQuarantined")
    if entry.blob_id is not None and entry.blob.state != Blob.State.VERIFIED:
        raise Conflict(gettext("%(path)s was just uploaded and is still being checked; retry in a few seconds")
            % {"path": path})


def safetensors_header(*, repo: ModelRepo, entry: CommitFile) -> dict[str, Any]:
    """A safetensors file's parsed header (`__metadata__` and every tensor's dtype, shape, data_offsets), read with
    two ranged reads as `get_safetensors_metadata` does on the client."""
    _servable(repo, entry, entry.path)
    prefix = _file_bytes(entry, start=0, end=8)
    if len(prefix) < 8:
        raise InvalidInput(gettext("%(path)s is not a safetensors file (too short)") % {"path": entry.path})
    (length,) = struct.unpack("<Q", prefix)
    if length > MAX_HEADER or length + 8 > entry.size:
        raise InvalidInput(gettext("%(path)s: safetensors header length %(length)s is not plausible")
            % {"path": entry.path, "length": length})
    try:
        header = loads_strict(_file_bytes(entry, start=8, end=8 + length), max_depth=JSON_DEPTH)
    except JsonInvalid as exc:
        raise InvalidInput(gettext("%(path)s: the safetensors header is not JSON: %(exc)s")
            % {"path": entry.path, "exc": exc}) from exc
    if not isinstance(header, dict):
        raise InvalidInput(gettext("%(path)s: the safetensors header is not an object") % {"path": entry.path})
    return header


def sharded_safetensors_metadata(*, repo: ModelRepo, commit: Commit, index_path: str) -> ShardedMetadata:
    """What `get_sharded_safetensors_metadata` asks for in one request: the index's metadata and each shard's
    header. The caller has checked download access; each file is refused as /resolve would refuse it."""
    from registry.validation.sharded import resolve_shard_path

    files = with_quarantine(CommitFile.objects.select_related("blob").filter(commit=commit))
    index = files.filter(path=index_path).first()
    if index is None:
        raise EntryNotFound(gettext("%(index_path)s does not exist in revision %(oid)s")
            % {"index_path": index_path, "oid": commit.oid})
    _servable(repo, index, index_path)
    if index.size > MAX_INDEX:
        raise InvalidInput(gettext("%(index_path)s is larger than %(MAX_INDEX)s bytes")
            % {"index_path": index_path, "MAX_INDEX": MAX_INDEX})
    try:
        root = loads_strict(_file_bytes(index, start=0, end=index.size), max_depth=JSON_DEPTH)
    except JsonInvalid as exc:
        raise InvalidInput(gettext("%(index_path)s is not JSON: %(exc)s")
            % {"index_path": index_path, "exc": exc}) from exc
    weight_map = root.get("weight_map") if isinstance(root, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) and v for v in weight_map.values()):
        raise InvalidInput(gettext("%(index_path)s has no weight_map of shard names") % {"index_path": index_path})
    shards = {name: resolve_shard_path(index_path, name) for name in sorted(set(weight_map.values()))}
    entries = {e.path: e for e in files.filter(path__in=list(shards.values()))}
    headers = {}
    for name, path in shards.items():
        if path not in entries:
            raise EntryNotFound(gettext("%(path)s, named by %(index_path)s, does not exist in revision %(oid)s")
                % {"path": path, "index_path": index_path, "oid": commit.oid})
        headers[name] = safetensors_header(repo=repo, entry=entries[path])
    metadata = root.get("metadata")
    return ShardedMetadata(index_metadata=metadata if isinstance(metadata, dict) else None, headers=headers)
