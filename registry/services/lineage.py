"""Keeping a repo's lineage rows (registry.models.lineage.RepoBaseModel) in step with its card.

`lineage_replace` runs inside the transaction that changes the default branch's card, or the files a relation is
inferred from (registry.services.commits); `lineage_rows` gives the same rows unsaved, for the bulk seeder.
"""

from __future__ import annotations

from registry.lineage import Lineage
from registry.models import RepoBaseModel


def lineage_rows(*, repo_id: int, lineage: Lineage | None) -> list[RepoBaseModel]:
    if lineage is None:
        return []
    return [RepoBaseModel(repo_id=repo_id, position=i, base_id=base, base_key=base.lower(), relation=lineage.relation)
            for i, base in enumerate(lineage.bases)]


def lineage_replace(*, repo_id: int, lineage: Lineage | None) -> None:
    """The repo's rows become those of `lineage` (none when None). Two statements at most; none when unchanged."""
    wanted = [(r.position, r.base_id, r.relation) for r in lineage_rows(repo_id=repo_id, lineage=lineage)]
    current = list(RepoBaseModel.objects.filter(repo_id=repo_id).order_by("position")
                   .values_list("position", "base_id", "relation"))
    if current == wanted:
        return
    if current:
        RepoBaseModel.objects.filter(repo_id=repo_id).delete()
    RepoBaseModel.objects.bulk_create(lineage_rows(repo_id=repo_id, lineage=lineage))
