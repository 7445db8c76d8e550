"""Index use of the catalogue's queries, read from the database's plans.

The tables here are tiny, so the planner would rightly read them whole; these tests turn sequential scans off
(and, where the question is whether a GIN index matches at all, plain index scans too) and check that an index
answers: the queries' expressions match the indexes' (LOWER() for names, UPPER() trigrams, the search document).
PostgreSQL, except the case-insensitive name lookup, whose functional unique index SQLite uses too.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext

from registry.models import ModelRepo, Organization
from registry.selectors.catalogue import RepoQuery, catalogue_facets, namespace_suggestions, repo_page, repo_search
from registry.selectors.repos import lower_is, repo_by_name
from registry.services.catalogue import catalogue_rebuild

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL plans (GIN, pg_trgm)")


def explain(sql: str, *, bitmap_only: bool = False) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = off")
        if bitmap_only:
            cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def plans_of(run) -> list[str]:  # noqa: ANN001
    """The plans of the SELECTs that `run()` sends."""
    with CaptureQueriesContext(connection) as captured:
        run()
    return [explain(query["sql"]) for query in captured.captured_queries if query["sql"].startswith("SELECT")]


def matching_plan(qs: QuerySet) -> str:
    """The plan of the rows a queryset matches, without its order (a GIN index answers WHERE, not ORDER BY)."""
    sql, params = qs.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        mogrified = cursor.mogrify(sql, params) if connection.vendor == "postgresql" else sql
    return explain(mogrified if isinstance(mogrified, str) else mogrified.decode(), bitmap_only=True)


@pytest.fixture
def catalogue(personas, make_repo):  # noqa: ANN001, ANN201
    for name in ("kestrel-7b", "falcon-mini", "hanbit-ko"):
        make_repo(name)
    ModelRepo.objects.update(tags=["llama"], languages=["ko"], description="한국어 모델")
    catalogue_rebuild()


def test_the_case_insensitive_repo_lookup_uses_the_functional_unique_index(catalogue):
    [plan] = plans_of(lambda: repo_by_name(namespace="ACME", name="Kestrel-7B"))
    assert "uniq_repo_id_ci" in plan, plan


def test_the_case_insensitive_organisation_lookup_uses_its_functional_unique_index(catalogue):
    [plan] = plans_of(lambda: Organization.objects.filter(lower_is("slug", "ACME")).first())
    assert "uniq_org_slug_ci" in plan, plan


@postgres_only
def test_a_next_page_is_an_index_range_of_its_order(catalogue, personas):
    first = repo_page(viewer=personas.anonymous, query=RepoQuery(), size=1)
    [plan] = plans_of(lambda: repo_page(viewer=personas.anonymous, query=RepoQuery(), cursor=first.next, size=1))
    assert "Index Scan Backward using repo_downloads_id" in plan, plan
    assert "Index Cond: (ROW(" in plan, plan  # the row comparison is the index range, not a filter
    assert "Sort" not in plan, plan


@postgres_only
@pytest.mark.parametrize(("query", "index"), [
    (RepoQuery(namespace="ACME"), "uniq_repo_id_ci"),
    (RepoQuery(text="kestre", in_card=False), "repo_name_trgm"),
    (RepoQuery(text="kestre", in_card=False), "repo_namespace_trgm"),
    (RepoQuery(text="acme/kes", in_card=False), "repo_name_trgm|repo_namespace_trgm"),
    (RepoQuery(text="모델"), "repo_search_vector"),
    (RepoQuery(text="kestral", fuzzy=True), "repo_name_trgm"),
    (RepoQuery(filters=("llama",)), "repo_tags_gin"),
    (RepoQuery(tag="llama"), "repo_tags_gin"),
    (RepoQuery(language="ko"), "repo_languages_gin"),
    (RepoQuery(task="text-generation"), "repo_pipeline_tag"),
    (RepoQuery(library="transformers"), "repo_library_name"),
])
def test_search_and_filters_are_answered_by_an_index(catalogue, personas, query, index):
    qs, _ordering = repo_search(viewer=personas.anonymous, query=query)
    plan = matching_plan(qs)
    assert any(name in plan for name in index.split("|")), plan


@postgres_only
def test_each_best_match_tier_is_answered_by_an_index(catalogue, personas):
    from registry.selectors.catalogue import _relevance_tiers, _search

    qs, match, _ordering = _search(viewer=personas.anonymous, query=RepoQuery(text="kestrel-7b", sort="relevance"))
    exact, in_id, rest = (matching_plan(tier) for tier in _relevance_tiers(qs, match, "kestrel-7b"))
    assert "repo_name_ci" in exact, exact
    assert "repo_name_trgm" in in_id, in_id
    assert "repo_search_vector" in rest, rest


@postgres_only
def test_facets_and_the_organisation_autocomplete_read_index_ranges(catalogue):
    plans = plans_of(lambda: catalogue_facets(limit=5))
    assert all("catalogue_facet_top" in plan or "uniq_catalogue_facet" in plan for plan in plans), plans
    [plan] = plans_of(lambda: namespace_suggestions(text="acm"))
    assert "catalogue_facet_value_trgm" in plan or "catalogue_facet_top" in plan, plan


@postgres_only
def test_lineage_reads_come_from_the_children_index(personas, make_repo):
    """A base's children (the base_model filter, the per-relation counts) are an index range of
    (base_key, relation, repo), not a scan of the lineage rows."""
    from registry.models import RepoBaseModel
    from registry.selectors.lineage import base_model_filter, children_counts

    base = make_repo("base")
    for i, relation in enumerate(["finetune", "adapter", "finetune"]):
        RepoBaseModel.objects.create(repo=make_repo(f"child-{i}"), base_id="acme/base", base_key="acme/base",
                                     relation=relation)
    filtered = matching_plan(ModelRepo.objects.filter(base_model_filter("finetune", "ACME/Base")))
    assert "repo_base_model_children" in filtered
    [plan] = plans_of(lambda: children_counts(viewer=None, repos=[base]))
    assert "repo_base_model_children" in plan


@postgres_only
def test_a_next_page_by_likes_is_an_index_range_of_the_likes_order(catalogue, personas):
    query = RepoQuery(sort="likes")
    first = repo_page(viewer=personas.anonymous, query=query, size=1)
    [plan] = plans_of(lambda: repo_page(viewer=personas.anonymous, query=query, cursor=first.next, size=1))
    assert "Index Scan Backward using repo_likes_id" in plan, plan
    assert "Index Cond: (ROW(" in plan and "Sort" not in plan, plan


@postgres_only
def test_likes_lists_page_by_their_indexes(catalogue, personas):
    from registry.selectors.likes import repo_likers_page, user_likes_page
    from registry.services.likes import repo_like

    repos = list(ModelRepo.objects.all())
    for repo in repos:
        repo_like(user=personas.member, repo=repo)
        repo_like(user=personas.reader, repo=repo)
    first = user_likes_page(viewer=personas.outsider, user=personas.member, cursor=None, size=1)
    [plan] = plans_of(lambda: user_likes_page(viewer=personas.outsider, user=personas.member, cursor=first.next,
                                              size=1))
    # The index answers the user and the row range (a tiny table may still be sorted after a bitmap scan).
    assert "on repolike_user_created" in plan and "Index Cond: ((user_id = " in plan and "ROW(" in plan, plan
    first = repo_likers_page(repo=repos[0], cursor=None, size=1)
    [plan] = plans_of(lambda: repo_likers_page(repo=repos[0], cursor=first.next, size=1))
    assert "on repolike_repo_created" in plan and "Index Cond: ((repo_id = " in plan and "ROW(" in plan, plan
