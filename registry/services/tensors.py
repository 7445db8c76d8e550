"""Tensor tables: each safetensors/GGUF content's header, stored once as rows (registry.models.ContentTensor).

Written by validation when it reads a header (registry.services.validation, and the bulk seeder through
`content_tensor_rows`); read by the repo checks and the tensor viewer (registry.selectors.tensors).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from registry.models import ContentTensor
from registry.validation.types import TensorInfo

BATCH = 1000


def content_tensor_rows(*, sha256: str, tensors: Sequence[TensorInfo]) -> list[ContentTensor]:
    """Unsaved rows for a content's table, in the order the checker gives it (by name): ordinal = rank."""
    return [ContentTensor(sha256=sha256, ordinal=n, name=t.name, dtype=t.dtype, shape=list(t.shape), nbytes=t.nbytes)
            for n, t in enumerate(tensors)]


def content_tensors_store(*, sha256: str, tensors: Sequence[TensorInfo]) -> bool:
    """Store the table of content `sha256` unless it is there already; True when rows were written.

    Idempotent: a content's header never changes, so a re-validation, or two runs reading the same content at
    once, write it once (all rows in one transaction; a concurrent writer's rows make the other's conflict-free)."""
    if not tensors or ContentTensor.objects.filter(sha256=sha256, ordinal=0).exists():
        return False
    rows = content_tensor_rows(sha256=sha256, tensors=tensors)
    with transaction.atomic():
        for start in range(0, len(rows), BATCH):
            ContentTensor.objects.bulk_create(rows[start:start + BATCH], ignore_conflicts=True)
    return True
