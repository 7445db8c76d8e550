"""Reads of tensor tables (registry.models.ContentTensor): whole tables for the repo checks, a page for viewers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from registry.models import ContentTensor
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
