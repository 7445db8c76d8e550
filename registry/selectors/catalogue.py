"""The catalogue: every list and search of repos (the portal's /models and namespace pages, HF `list_models`,
/api/v1/models), and the facets the list pages offer as filters.

Cost is flat in the catalogue's size:
* **Pages are keyset pages** (registry.selectors.keyset) in a stable order backed by an index — downloads, last
  update, creation or likes, each with the id as tie-breaker, or the repo id — never OFFSET, never COUNT(*).
* **Search** on PostgreSQL uses indexes only (registry.models.catalogue.postgres_indexes): the repo id as a
  substring (trigram GIN on UPPER(namespace) and UPPER(name), which serve Django's icontains), the card text as
  full text (ModelRepo.search_vector, a `simple`-configuration tsvector of id, task, library, tags and description
  with a GIN index, so Korean and English words both match; each word also as a prefix, so '모델' finds '모델은'),
  and, for people typing in the portal, names within a typo (trigram word similarity). SQLite keeps plain
  substring matches (icontains).
* **Best match** ranks in tiers: the very name first, then other repo ids containing the text, then card-text and
  typo matches; by downloads within a tier. Each tier is its own keyset walk (registry.selectors.keyset), so a
  ranked page costs what a plain one does. (A ts_rank order would score every match: a common word matches a fixed
  share of the catalogue, so its cost would grow with it.)
* **Facets** come from CatalogueFacet, a small table of public-repo counts maintained on write
  (registry.services.catalogue): a few index ranges, whatever the number of repos.
* **Names** are matched case-insensitively with LOWER(), the expression of the unique constraints, whose indexes
  answer the lookups.

Every list applies the viewer's visibility (registry.selectors.repos.repo_visible_queryset).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from django.contrib.postgres.lookups import TrigramWordSimilar
from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.functions import Upper
from django.utils.translation import gettext

from registry.exceptions import InvalidInput
from registry.lineage import parse_base_model_filter
from registry.models import CatalogueFacet, ModelRepo
from registry.names import lookup_ok, name_ok, search_text
from registry.selectors.keyset import KeysetPage, Ordering, keyset_page
from registry.selectors.lineage import base_model_filter
from registry.selectors.repos import lower_is, repo_id_ci, repo_visible_queryset

ORDERINGS = {
    "downloads": Ordering("downloads", (("downloads", "int"), ("id", "int"))),
    "likes": Ordering("likes", (("likes", "int"), ("id", "int"))),  # the maintained count (services.likes)
    "updated": Ordering("updated", (("updated_at", "datetime"), ("id", "int"))),
    "created": Ordering("created", (("created_at", "datetime"), ("id", "int"))),
    "name": Ordering("name", (("namespace", "str"), ("name", "str")), descending=False),
    # Best match first (search only): by downloads within each tier of _relevance_tiers.
    "relevance": Ordering("relevance", (("downloads", "int"), ("id", "int"))),
}
MAX_PAGE_SIZE = 1000
FUZZY_MIN_LENGTH = 4  # shorter words have too few trigrams for "within a typo" to mean anything
TSQUERY_WORDS = 8
PREFIX_MIN_LENGTH = 2  # a one-letter prefix would match half the dictionary


@dataclass(frozen=True)
class RepoQuery:
    """What a list asks for. Text and values come from requests: they are checked here, not trusted."""

    text: str = ""
    in_card: bool = True  # search the card text too (description, tags, task), not only the repo id (HF: id only)
    fuzzy: bool = False  # also names within a typo of the text (PostgreSQL)
    namespace: str = ""  # an organisation or user, any case
    filters: tuple[str, ...] = ()  # HF `filter`: each a tag, task, library or language; "license:x" a license;
    # "base_model:[<relation>:]<id>" the models derived from <id>
    tag: str = ""
    task: str = ""
    license: str = ""
    language: str = ""
    library: str = ""
    gated: bool | None = None
    min_parameters: int | None = None
    max_parameters: int | None = None
    sort: str = "downloads"  # a key of ORDERINGS; "relevance" only with text (else downloads)
    ascending: bool = False  # the sort reversed (HF direction=1)


def repo_page(*, viewer: Any, query: RepoQuery, cursor: str | None = None, size: int = 24) -> KeysetPage:
    """One page of the repos the viewer may see that match `query`, with cursors for the pages around it.

    InvalidInput when the cursor is not one a page of the same sort gave.
    """
    qs, match, ordering = _search(viewer=viewer, query=query)
    if match is None:
        pages: QuerySet[ModelRepo] | list[QuerySet[ModelRepo]] = qs
    elif ordering.name == "relevance":
        pages = _relevance_tiers(qs, match, search_text(query.text))
    else:
        pages = qs.filter(match)
    return keyset_page(pages, ordering=ordering, cursor=cursor, size=max(1, min(size, MAX_PAGE_SIZE)))


def repo_search(*, viewer: Any, query: RepoQuery) -> tuple[QuerySet[ModelRepo], Ordering]:
    """The matching repos (license joined in) and the order to page them in ("relevance": by downloads within the
    tiers of _relevance_tiers).

    Owners are not joined: a list shows `namespace/name`, and joining the organisations before the sort would cost
    a hash of every organisation per page (PostgreSQL joins all matches, then keeps the first page). Nor is the
    search document read: it is for matching.
    """
    qs, match, ordering = _search(viewer=viewer, query=query)
    return (qs if match is None else qs.filter(match)), ordering


def _search(*, viewer: Any, query: RepoQuery) -> tuple[QuerySet[ModelRepo], Q | None, Ordering]:
    """The visible repos through every filter but the text, the text's match (None without text), the order."""
    qs = repo_visible_queryset(viewer=viewer).select_related(None).select_related("license").defer("search_vector")
    text = search_text(query.text)
    postgres = connection.vendor == "postgresql"
    tsquery = _tsquery(text) if postgres and text and query.in_card else None
    match = _text_match(text, tsquery=tsquery, card=query.in_card, fuzzy=query.fuzzy and postgres) if text else None
    if query.namespace:
        if not name_ok(query.namespace):
            return qs.none(), None, ORDERINGS["downloads"]
        qs = qs.filter(lower_is("namespace", query.namespace))
    values = [*query.filters, query.tag, query.task, query.license, query.language, query.library]
    if not all(lookup_ok(value) for value in values):
        return qs.none(), None, ORDERINGS["downloads"]  # NUL or surrogates: nothing stored looks like that
    for value in query.filters:
        qs = qs.filter(_any_facet(value))
    if query.tag:
        qs = qs.filter(_json_list_has("tags", query.tag))
    if query.task:
        qs = qs.filter(pipeline_tag=query.task)
    if query.license:
        qs = qs.filter(_license_is(query.license))
    if query.language:
        qs = qs.filter(_json_list_has("languages", query.language))
    if query.library:
        qs = qs.filter(library_name=query.library)
    if query.gated is not None:
        qs = qs.exclude(gating=ModelRepo.Gating.NONE) if query.gated else qs.filter(gating=ModelRepo.Gating.NONE)
    if query.min_parameters is not None:
        qs = qs.filter(parameter_count__gte=query.min_parameters)
    if query.max_parameters is not None:
        qs = qs.filter(parameter_count__lte=query.max_parameters)
    sort = query.sort if query.sort in ORDERINGS else "downloads"
    if sort == "relevance" and not text:
        sort = "downloads"
    ordering = ORDERINGS[sort]
    if query.ascending:
        ordering = replace(ordering, name=f"{ordering.name}-reversed", descending=not ordering.descending)
    return qs, match, ordering


# --- matching -------------------------------------------------------------------------------------------------


def _id_match(text: str) -> Q:
    """`text` is a substring of the repo id `namespace/name` (any case)."""
    if "/" not in text:
        return Q(namespace__icontains=text) | Q(name__icontains=text)
    namespace, _, name = text.partition("/")
    if "/" in name:
        return Q(pk__in=[])
    return Q(namespace__iendswith=namespace, name__istartswith=name)


def _text_match(text: str, *, tsquery: SearchQuery | None, card: bool, fuzzy: bool) -> Q:
    match = _id_match(text)
    if card:
        if tsquery is not None:
            match |= Q(search_vector=tsquery)
        elif connection.vendor != "postgresql":
            match |= (Q(description__icontains=text) | Q(pipeline_tag__icontains=text)
                      | Q(library_name__icontains=text) | Q(tags__icontains=text))
    if fuzzy and len(text) >= FUZZY_MIN_LENGTH and "/" not in text:
        match |= Q(TrigramWordSimilar(Upper("name"), text))
    return match


def _tsquery(text: str) -> SearchQuery | None:
    """Every word of the text (letters and digits, any script), the longer ones also as prefixes, all required."""
    words = re.findall(r"[^\W_]+", text)[:TSQUERY_WORDS]
    if not words:
        return None
    terms = [f"{word}:*" if len(word) >= PREFIX_MIN_LENGTH else word for word in words]
    return SearchQuery(" & ".join(terms), search_type="raw", config="simple")


def _relevance_tiers(qs: QuerySet[ModelRepo], match: Q, text: str) -> list[QuerySet[ModelRepo]]:
    """The matches in disjoint tiers, best first: the very name (or id), other repo ids containing the text, the
    rest (card text, typos). Each is answered by an index (the name's LOWER() B-tree, trigrams, the documents').
    Each tier states only its own condition (exact ⊂ id match ⊂ match), so the planner estimates it well."""
    exact = lower_is("name", text)
    if "/" in text:
        namespace, _, name = text.partition("/")
        exact = repo_id_ci(namespace, name)
    in_id = _id_match(text)
    return [qs.filter(exact), qs.filter(in_id).exclude(exact), qs.filter(match).exclude(in_id)]


def _json_list_has(field_name: str, value: str) -> Q:
    """The JSON list in `field_name` holds `value`: containment (@>, GIN-indexed) on PostgreSQL; on SQLite, which
    has no JSON containment, the value as JSON text inside the list's text."""
    if connection.features.supports_json_field_contains:
        return Q(**{f"{field_name}__contains": [value]})
    return Q(**{f"{field_name}__icontains": json.dumps(value)})


def _license_is(value: str) -> Q:
    return Q(license__slug=value) | Q(card_license=value)


def _any_facet(value: str) -> Q:
    """An HF `filter` value: a tag, a task, a library or a language; `license:x` also the license x;
    `base_model:[<relation>:]<id>` the models derived from that one (registry.selectors.lineage, any case).
    InvalidInput for a malformed base-model filter."""
    try:
        lineage = parse_base_model_filter(value)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if lineage is not None:
        return base_model_filter(*lineage)
    match = (_json_list_has("tags", value) | Q(pipeline_tag=value) | Q(library_name=value)
             | _json_list_has("languages", value))
    if value.startswith("license:"):
        match |= _license_is(value.removeprefix("license:"))
    return match


# --- facets ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FacetOption:
    value: str
    count: int


@dataclass
class CatalogueFacets:
    """Filter values with their public repo counts, most common first."""

    total: int = 0  # public repos
    namespaces: list[FacetOption] = field(default_factory=list)
    tasks: list[FacetOption] = field(default_factory=list)
    licenses: list[FacetOption] = field(default_factory=list)
    languages: list[FacetOption] = field(default_factory=list)
    tags: list[FacetOption] = field(default_factory=list)
    libraries: list[FacetOption] = field(default_factory=list)


FACET_LISTS = {
    "namespaces": CatalogueFacet.Kind.NAMESPACE, "tasks": CatalogueFacet.Kind.TASK,
    "licenses": CatalogueFacet.Kind.LICENSE, "languages": CatalogueFacet.Kind.LANGUAGE,
    "tags": CatalogueFacet.Kind.TAG, "libraries": CatalogueFacet.Kind.LIBRARY,
}


def catalogue_facets(*, limit: int = 50, kinds: tuple[str, ...] = tuple(FACET_LISTS)) -> CatalogueFacets:
    """The most common values of each facet kind (`kinds`: names of CatalogueFacets' lists), one index range each.

    Counts are of public repos, for every viewer: a private repo's values never show (members still find their
    private repos in the lists, and filter them by any value they type or pick).
    """
    facets = CatalogueFacets()
    total = CatalogueFacet.objects.filter(kind=CatalogueFacet.Kind.ALL, value="").values_list("count", flat=True)
    facets.total = next(iter(total), 0)
    for name in kinds:
        setattr(facets, name, _top(FACET_LISTS[name], limit=limit))
    return facets


def namespace_suggestions(*, text: str, limit: int = 10) -> list[FacetOption]:
    """Organisations and users with public repos whose name contains `text` (any case), most repos first: the
    organisation filter's autocomplete."""
    text = search_text(text)
    if len(text) > 96:
        return []
    return _top(CatalogueFacet.Kind.NAMESPACE, limit=limit, contains=text)


def _top(kind: str, *, limit: int, contains: str = "") -> list[FacetOption]:
    rows = CatalogueFacet.objects.filter(kind=kind, count__gt=0)
    if contains:
        rows = rows.filter(value__icontains=contains)
    return [FacetOption(value, count)
            for value, count in rows.order_by("-count", "value").values_list("value", "count")[:limit]]


def parameters_range(value: str) -> tuple[int | None, int | None]:
    """HF `num_parameters`: "min:6B,max:128B" (either part optional; K, M, B, T suffixes) → (min, max)."""
    bounds: dict[str, int] = {}
    for part in value.split(","):
        key, sep, amount = part.strip().partition(":")
        match = re.fullmatch(r"(\d{1,15}(?:\.\d{1,6})?)([KMBT]?)", amount.strip().upper())
        if not sep or key not in ("min", "max") or match is None:
            raise InvalidInput(gettext('num_parameters must look like "min:6B,max:128B"'))
        scale = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}[match.group(2)]
        bounds[key] = min(int(float(match.group(1)) * scale), 2**63 - 1)
    return bounds.get("min"), bounds.get("max")
