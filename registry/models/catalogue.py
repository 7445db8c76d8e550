"""The catalogue's derived data: how many public repos carry each filter value (the list pages' facets), and the
search document of a repo (ModelRepo.search_vector, on PostgreSQL).

`CatalogueFacet` rows are maintained on write by registry.services.catalogue, in the transaction of the change
(repo created, deleted, moved, made private or public, its license or card changed), and recomputed from the base
tables by `catalogue_rebuild()`. They count **public** repos only, so every viewer may see them: a private repo's
organisation, tags or license never show up in a filter list or a count for someone who can't see it.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchVector
from django.db import models
from django.db.models.functions import Upper

from registry.lineage import is_derived_tag

FACET_VALUE_MAX = 100  # longer values (a tag that is a sentence) are not offered as filters


class CatalogueFacet(models.Model):
    class Kind(models.TextChoices):
        ALL = "all", "All public repos"  # one row, value "": the number of public repos
        NAMESPACE = "namespace", "Organisation or user"
        TASK = "task", "Pipeline task"
        LICENSE = "license", "License"
        LANGUAGE = "language", "Language"
        TAG = "tag", "Tag"
        LIBRARY = "library", "Library"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=FACET_VALUE_MAX, blank=True)
    count = models.BigIntegerField(default=0, help_text="Public repos carrying the value.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="uniq_catalogue_facet")]
        # The filter lists read the most common values of one kind: an index range, not a table scan.
        indexes = [models.Index(fields=["kind", "-count", "value"], name="catalogue_facet_top")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value} ({self.count})"


# The repo fields a facet is made of, as `.values()` names them (registry.services.catalogue reads them).
FACET_FIELDS = ("private", "namespace", "license__slug", "card_license", "pipeline_tag", "library_name",
                "languages", "tags")


def _facet_value(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > FACET_VALUE_MAX or "\x00" in value:
        return None
    return value


def facet_values(row: dict[str, object] | None) -> set[tuple[str, str]]:
    """(kind, value) pairs a repo adds to the facet counts: none when it is private (or gone)."""
    if row is None or row["private"]:
        return set()
    kind = CatalogueFacet.Kind
    pairs: set[tuple[str, str]] = {(str(kind.ALL), "")}
    singles = [(kind.NAMESPACE, row["namespace"]), (kind.TASK, row["pipeline_tag"]),
               (kind.LIBRARY, row["library_name"]), (kind.LICENSE, row["license__slug"]),
               (kind.LICENSE, row["card_license"])]
    # Derived tags (base_model:…, dataset:…) are filters of their own, not entries of the tag list.
    tags = [t for t in row["tags"] if not is_derived_tag(t)] if isinstance(row["tags"], list) else []
    lists = [(kind.LANGUAGE, row["languages"]), (kind.TAG, tags)]
    for facet_kind, value in singles + [(k, v) for k, values in lists if isinstance(values, list) for v in values]:
        kept = _facet_value(value)
        if kept is not None:
            pairs.add((str(facet_kind), kept))
    return pairs


# --- PostgreSQL-only indexes -----------------------------------------------------------------------------------
# Created by migration 0012 on PostgreSQL only (SQLite has neither GIN nor pg_trgm, and keeps plain scans), so they
# are not in the models' Meta: a SQLite table rebuild (any later AlterField) would try to create them. The queries
# in registry.selectors.catalogue use these very expressions, so the planner can match them; tests/registry/
# selectors/test_catalogue_plans.py checks with EXPLAIN that it does.


def search_document() -> SearchVector:
    """The full-text document of a repo, stored in ModelRepo.search_vector: its id (weight A), task, library and tags
    (B), description (C), parsed with the `simple` configuration (no stemming, no stop words), so Korean and English
    words are both kept as written. Stored rather than computed in the query: a page that walks the downloads index
    checks each row's match, and parsing every description there would cost more than the whole page."""
    return (SearchVector("namespace", "name", config="simple", weight="A")
            + SearchVector("pipeline_tag", "library_name", "tags", config="simple", weight="B")
            + SearchVector("description", config="simple", weight="C"))


def postgres_indexes() -> dict[str, list[models.Index]]:
    """model name → its PostgreSQL-only indexes."""
    from django.contrib.postgres.indexes import GinIndex, OpClass

    return {
        "modelrepo": [
            # Substring (icontains: UPPER(col) LIKE '%Q%') and typo-tolerant (%>) name search, by trigrams.
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="repo_name_trgm"),
            GinIndex(OpClass(Upper("namespace"), name="gin_trgm_ops"), name="repo_namespace_trgm"),
            GinIndex(fields=["search_vector"], name="repo_search_vector"),
            # Tag and language filters (JSON containment, @>).
            GinIndex(fields=["tags"], opclasses=["jsonb_path_ops"], name="repo_tags_gin"),
            GinIndex(fields=["languages"], opclasses=["jsonb_path_ops"], name="repo_languages_gin"),
        ],
        "cataloguefacet": [
            # The organisation autocomplete (icontains on the value).
            GinIndex(OpClass(Upper("value"), name="gin_trgm_ops"), name="catalogue_facet_value_trgm"),
        ],
    }
