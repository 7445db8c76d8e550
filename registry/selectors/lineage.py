"""Reads of model lineage: a repo's base models, its children per relation (as the viewer may see them), and the
catalogue filter `base_model:[<relation>:]<id>`.

Children are counted per viewer, never cached: a count kept for everyone would count private children, and tell
an outsider that they exist. Each read is one query, answered by the index (base_key, relation, repo) and the
child repos' primary keys, whatever the page size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Count, Q

from registry.lineage import RELATIONS
from registry.models import Membership, ModelRepo, RepoBaseModel
from registry.selectors.repos import repo_id_ci


def visible_repo_q(viewer: Any, prefix: str = "") -> Q:
    """The repos the viewer may read (registry.selectors.repos.repo_visible_queryset), as a condition on the
    relation `prefix` (e.g. "repo__") leads to."""
    if viewer is not None and getattr(viewer, "is_superuser", False):
        return Q()
    if viewer is None or not getattr(viewer, "is_authenticated", False):
        return Q(**{f"{prefix}private": False})
    org_ids = Membership.objects.filter(user=viewer).values("organization_id")
    return (Q(**{f"{prefix}private": False}) | Q(**{f"{prefix}owner_user": viewer})
            | Q(**{f"{prefix}owner_org__in": org_ids}))


def base_model_filter(relation: str | None, base_id: str) -> Q:
    """Repos deriving from `base_id` (any case), with `relation` when given: a semi-join on the lineage rows."""
    rows = RepoBaseModel.objects.filter(base_key=base_id.lower())
    if relation is not None:
        rows = rows.filter(relation=relation)
    return Q(pk__in=rows.values("repo_id"))


@dataclass(frozen=True)
class BaseModels:
    relation: str
    ids: list[str]

    def wire(self) -> dict[str, Any]:
        """model_info's `baseModels`."""
        return {"relation": self.relation, "models": [{"id": base} for base in self.ids]}


def base_models_of(*, repo_ids: Sequence[int]) -> dict[int, BaseModels]:
    """repo id → its base models (those without a base model are absent), in one query."""
    found: dict[int, BaseModels] = {}
    rows = (RepoBaseModel.objects.filter(repo_id__in=list(repo_ids)).order_by("repo_id", "position")
            .values_list("repo_id", "base_id", "relation"))
    for repo_id, base_id, relation in rows:
        found.setdefault(repo_id, BaseModels(relation, [])).ids.append(base_id)
    return found


def children_counts(*, viewer: Any, repos: Sequence[ModelRepo]) -> dict[int, dict[str, int]]:
    """repo id → {relation: number of its children the viewer may see} (every repo of `repos` present), in one
    grouped query."""
    keys = {repo.repo_id.lower(): repo.pk for repo in repos}
    counts: dict[int, dict[str, int]] = {repo.pk: {} for repo in repos}
    if not keys:
        return counts
    rows = (RepoBaseModel.objects.filter(visible_repo_q(viewer, "repo__"), base_key__in=list(keys))
            .values_list("base_key", "relation").annotate(n=Count("id")).order_by())
    for base_key, relation, n in rows:
        counts[keys[base_key]][relation] = n
    return counts


@dataclass
class ModelTree:
    """What a model page shows of its lineage."""

    relation: str | None = None
    bases: list[tuple[str, ModelRepo | None]] = field(default_factory=list)  # (id, the repo when viewable here)
    children: list[tuple[str, int]] = field(default_factory=list)  # (relation, count), in RELATIONS order

    @property
    def children_total(self) -> int:
        return sum(n for _r, n in self.children)

    @property
    def is_empty(self) -> bool:
        return not self.bases and not self.children


def model_tree(*, viewer: Any, repo: ModelRepo) -> ModelTree:
    """The repo's bases (each with its repo here when the viewer may see it) and its visible children per relation:
    three queries at most."""
    tree = ModelTree()
    mine = base_models_of(repo_ids=[repo.pk]).get(repo.pk)
    if mine is not None:
        tree.relation = mine.relation
        here = repos_by_ids(viewer=viewer, ids=mine.ids)
        tree.bases = [(base, here.get(base.lower())) for base in mine.ids]
    counts = children_counts(viewer=viewer, repos=[repo])[repo.pk]
    tree.children = [(relation, counts[relation]) for relation in RELATIONS if counts.get(relation)]
    return tree


def repos_by_ids(*, viewer: Any, ids: Sequence[str]) -> dict[str, ModelRepo]:
    """lower-case repo id → the repo, for those of `ids` on this hub that the viewer may see; one query."""
    pairs = [tuple(i.split("/", 1)) for i in ids if i.count("/") == 1]
    if not pairs:
        return {}
    match = reduce(or_, (repo_id_ci(ns, name) for ns, name in pairs))
    rows = ModelRepo.objects.filter(match).filter(visible_repo_q(viewer)).only("namespace", "name", "private")
    return {row.repo_id.lower(): row for row in rows}
