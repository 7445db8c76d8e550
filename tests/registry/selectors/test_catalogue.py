"""The catalogue selector (registry.selectors.catalogue): visibility, search, filters, orders, keyset pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from registry.exceptions import InvalidInput
from registry.models import ModelRepo
from registry.selectors.catalogue import RepoQuery, parameters_range, repo_page, repo_search
from registry.selectors.repos import repo_visible_queryset
from registry.services.catalogue import catalogue_rebuild
from tests.fixtures.personas import make_user
from tests.registry.selectors.conftest import ids

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL search (pg_trgm)")


def listed(viewer, **query) -> list[str]:  # noqa: ANN001, ANN003
    """Every repo the query finds, in its order (one page is enough for these tests)."""
    return ids(repo_page(viewer=viewer, query=RepoQuery(**query), size=100).rows)


# --- visibility, search, filters and orders (moved here from test_repos.py with the selector) ---------------

@pytest.mark.parametrize(("who", "expected"), [
    ("owner", {"acme/public-model", "acme/gated-model", "acme/private-model"}),
    ("member", {"acme/public-model", "acme/gated-model", "acme/private-model"}),
    ("reader", {"acme/public-model", "acme/gated-model", "acme/private-model"}),
    ("outsider", {"acme/public-model", "acme/gated-model", "oscar/own-private"}),
    ("anonymous", {"acme/public-model", "acme/gated-model"}),
])
def test_lists_what_each_persona_may_see(personas, repos, who, expected):
    assert set(listed(getattr(personas, who))) == expected
    assert set(ids(repo_visible_queryset(viewer=getattr(personas, who)))) == expected


def test_superuser_lists_everything(personas, repos):
    root = make_user("root", is_superuser=True, is_staff=True)
    assert len(listed(root)) == 4


def test_search_matches_name_namespace_and_description(personas, repos):
    ModelRepo.objects.filter(pk=repos["gated"].pk).update(description="A Korean LLM")
    catalogue_rebuild()  # a change behind the services' back: the search documents follow on a rebuild
    assert listed(personas.anonymous, text="public") == ["acme/public-model"]
    assert listed(personas.anonymous, text="korean") == ["acme/gated-model"]
    assert set(listed(personas.anonymous, text="ACME")) == {"acme/public-model", "acme/gated-model"}
    assert listed(personas.anonymous, text="private") == []
    assert listed(personas.owner, text="private") == ["acme/private-model"]


def test_search_of_ids_only_ignores_the_card(personas, repos):
    ModelRepo.objects.filter(pk=repos["gated"].pk).update(description="the public one")
    assert listed(personas.anonymous, text="public", in_card=False) == ["acme/public-model"]


def test_search_with_a_slash_matches_across_the_namespace_and_the_name(personas, repos):
    """HF's `search`: a substring of the repo id, 'namespace/name'."""
    for text in ("acme/public", "cme/pub", "ACME/PUBLIC-MODEL", "acme/"):
        assert "acme/public-model" in listed(personas.anonymous, text=text, in_card=False), text
    assert listed(personas.anonymous, text="acme/model", in_card=False) == []
    assert listed(personas.anonymous, text="a/b/c", in_card=False) == []


def test_search_finds_korean_and_english_words_of_the_card(personas, repos):
    ModelRepo.objects.filter(pk=repos["public"].pk).update(description="한국어 모델입니다. Kestrel family.")
    catalogue_rebuild()
    assert listed(personas.anonymous, text="한국어") == ["acme/public-model"]
    assert listed(personas.anonymous, text="모델") == ["acme/public-model"]  # a word's start ('모델입니다')
    assert listed(personas.anonymous, text="kestrel family") == ["acme/public-model"]
    assert listed(personas.anonymous, text="영어") == []


def test_author_filter_is_case_insensitive_and_respects_visibility(personas, repos):
    assert set(listed(personas.outsider, namespace="oscar")) == {"oscar/own-private"}
    assert set(listed(personas.outsider, namespace="ACME")) == {"acme/public-model", "acme/gated-model"}
    assert listed(personas.anonymous, namespace="oscar") == []
    assert listed(personas.anonymous, namespace="not a name") == []


def test_hf_filter_values_each_need_a_match(personas, repos):
    ModelRepo.objects.filter(pk=repos["public"].pk).update(tags=["llama", "korean"])
    ModelRepo.objects.filter(pk=repos["gated"].pk).update(tags=["llama"])
    ModelRepo.objects.filter(pk=repos["private"].pk).update(tags=["llama", "korean"])
    assert set(listed(personas.anonymous, filters=("llama",))) == {"acme/public-model", "acme/gated-model"}
    assert listed(personas.anonymous, filters=("llama", "korean")) == ["acme/public-model"]
    assert listed(personas.anonymous, filters=("lla",)) == []


def test_hf_filter_values_match_task_library_language_and_license(personas, repos):
    ModelRepo.objects.filter(pk=repos["public"].pk).update(
        pipeline_tag="text-generation", library_name="transformers", languages=["ko"], card_license="mit")
    ModelRepo.objects.filter(pk=repos["gated"].pk).update(languages=["en"], card_license="apache-2.0")
    for value in ("text-generation", "transformers", "ko", "license:mit"):
        assert listed(personas.anonymous, filters=(value,)) == ["acme/public-model"], value
    assert listed(personas.anonymous, filters=("license:acme-license",)) == ["acme/gated-model"]  # the FK's slug
    assert listed(personas.anonymous, filters=("mit",)) == []


def test_each_facet_filter(personas, repos):
    ModelRepo.objects.filter(pk=repos["public"].pk).update(
        pipeline_tag="fill-mask", library_name="timm", languages=["ko", "en"], tags=["small"],
        card_license="mit", parameter_count=7_000_000)
    ModelRepo.objects.filter(pk=repos["gated"].pk).update(parameter_count=70_000_000_000, tags=["big"])
    anonymous = personas.anonymous
    assert listed(anonymous, task="fill-mask") == ["acme/public-model"]
    assert listed(anonymous, library="timm") == ["acme/public-model"]
    assert listed(anonymous, language="en") == ["acme/public-model"]
    assert listed(anonymous, tag="small") == ["acme/public-model"]
    assert listed(anonymous, license="mit") == ["acme/public-model"]
    assert listed(anonymous, license="acme-license") == ["acme/gated-model"]
    assert listed(anonymous, gated=True) == ["acme/gated-model"]
    assert listed(anonymous, gated=False) == ["acme/public-model"]
    assert listed(anonymous, min_parameters=10**9) == ["acme/gated-model"]
    assert listed(anonymous, max_parameters=10**9) == ["acme/public-model"]
    assert listed(anonymous, tag="small\x00") == []  # names nothing, asks nothing


@pytest.mark.parametrize(("text", "expected"), [
    ("min:6B,max:128B", (6 * 10**9, 128 * 10**9)), ("min:1.5M", (1_500_000, None)), ("max:100", (None, 100)),
])
def test_parameters_range(text, expected):
    assert parameters_range(text) == expected


@pytest.mark.parametrize("text", ["6B", "min:", "min:6X", "least:6B", "min:" + "9" * 400])
def test_parameters_range_refuses_garbage(text):
    with pytest.raises(InvalidInput):
        parameters_range(text)


def test_sorts(personas, repos):
    now = timezone.now()
    ModelRepo.objects.filter(pk=repos["public"].pk).update(downloads=5, updated_at=now - timedelta(days=3),
                                                           created_at=now - timedelta(days=1))
    ModelRepo.objects.filter(pk=repos["gated"].pk).update(downloads=50, updated_at=now - timedelta(days=1),
                                                          created_at=now - timedelta(days=3))
    ModelRepo.objects.filter(pk=repos["private"].pk).update(downloads=10, updated_at=now,
                                                            created_at=now - timedelta(days=2))
    viewer = personas.owner
    assert listed(viewer) == ["acme/gated-model", "acme/private-model", "acme/public-model"]
    assert listed(viewer, sort="updated") == ["acme/private-model", "acme/gated-model", "acme/public-model"]
    assert listed(viewer, sort="created") == ["acme/public-model", "acme/private-model", "acme/gated-model"]
    assert listed(viewer, sort="name") == ["acme/gated-model", "acme/private-model", "acme/public-model"]
    assert listed(viewer, sort="downloads", ascending=True) == ["acme/public-model", "acme/private-model",
                                                                "acme/gated-model"]
    assert listed(viewer, sort="bogus") == listed(viewer)
    assert listed(viewer, sort="relevance") == listed(viewer)  # without a search: downloads


def test_relevance_puts_the_very_name_first_then_id_matches_then_card_matches(personas, make_repo):
    for name, downloads, description in [("llama-tools", 100, ""), ("llama", 1, ""), ("other", 1000, "a llama"),
                                         ("mistral", 5000, "")]:
        ModelRepo.objects.filter(pk=make_repo(name).pk).update(downloads=downloads, description=description)
    catalogue_rebuild()
    assert listed(personas.anonymous, text="llama", sort="relevance") == [
        "acme/llama", "acme/llama-tools", "acme/other"]
    assert listed(personas.anonymous, text="llama", sort="downloads") == [
        "acme/other", "acme/llama-tools", "acme/llama"]


@postgres_only
def test_people_find_a_name_through_a_typo(personas, make_repo):
    make_repo("kestrel-7b-instruct")
    make_repo("falcon-mini")
    assert listed(personas.anonymous, text="kestral", fuzzy=True) == ["acme/kestrel-7b-instruct"]
    assert listed(personas.anonymous, text="kestral") == []  # the APIs match what they are given


@pytest.mark.parametrize("who", ["owner", "member", "reader", "outsider", "anonymous"])
def test_a_page_is_one_query_with_licenses(personas, repos, make_repo, who, django_assert_num_queries):
    make_repo("another-model", gating="manual")
    viewer = getattr(personas, who)
    with django_assert_num_queries(1):
        rows = repo_page(viewer=viewer, query=RepoQuery(text="model"), size=10).rows
        assert len(rows) >= 3
        for repo in rows:
            repo.repo_id and repo.license and repo.license.version  # noqa: B018


# --- keyset pages ------------------------------------------------------------------------------------------


@pytest.fixture
def many(personas, make_repo):  # noqa: ANN001, ANN201
    """Eleven public repos, downloads with ties (the id breaks them), one private, spread in time."""
    now = timezone.now()
    for i in range(11):
        repo = make_repo(f"m{i:02d}")
        ModelRepo.objects.filter(pk=repo.pk).update(downloads=[5, 5, 5, 0, 0, 9, 1, 5, 0, 2, 2][i],
                                                    updated_at=now - timedelta(hours=i % 4),
                                                    created_at=now - timedelta(minutes=i))
    make_repo("m99-private", private=True)


def _walk(viewer, query: RepoQuery, size: int) -> list[list[str]]:  # noqa: ANN001
    pages, cursor = [], None
    while True:
        page = repo_page(viewer=viewer, query=query, cursor=cursor, size=size)
        pages.append((ids(page.rows), page))
        if page.next is None:
            return pages
        cursor = page.next


@pytest.mark.parametrize("query", [
    RepoQuery(), RepoQuery(sort="updated"), RepoQuery(sort="created"), RepoQuery(sort="name"),
    RepoQuery(sort="downloads", ascending=True), RepoQuery(text="m0", sort="relevance"),
], ids=["downloads", "updated", "created", "name", "downloads-ascending", "relevance"])
def test_pages_follow_each_other_without_gaps_or_repeats_and_lead_back(personas, many, query):
    everything = ids(repo_page(viewer=personas.anonymous, query=query, size=100).rows)
    pages = _walk(personas.anonymous, query, size=3)
    assert [repo for names, _ in pages for repo in names] == everything
    assert all(len(names) == 3 for names, _ in pages[:-1])
    assert pages[0][1].previous is None
    # Back from the last page, page by page, through the `previous` cursors.
    back, page = [], pages[-1][1]
    while page.previous is not None:
        page = repo_page(viewer=personas.anonymous, query=query, cursor=page.previous, size=3)
        back.append(ids(page.rows))
    assert back == [names for names, _ in reversed(pages[:-1])]


def test_best_match_pages_walk_across_its_tiers_both_ways(personas, make_repo):
    """Exact name, then other ids containing the text, then card matches: each tier by downloads, and the pages
    cross from one tier to the next (and back) without gaps or repeats."""
    rows = [("kestrel", 1, ""), ("kestrel-a", 50, ""), ("kestrel-b", 40, ""), ("kestrel-c", 30, ""),
            ("hawk", 500, "kin of the kestrel"), ("owl", 400, "eats like a kestrel"), ("crow", 900, "")]
    for name, downloads, description in rows:
        ModelRepo.objects.filter(pk=make_repo(name).pk).update(downloads=downloads, description=description)
    catalogue_rebuild()
    query = RepoQuery(text="kestrel", sort="relevance")
    expected = ["acme/kestrel", "acme/kestrel-a", "acme/kestrel-b", "acme/kestrel-c", "acme/hawk", "acme/owl"]
    assert listed(personas.anonymous, text="kestrel", sort="relevance") == expected
    pages = _walk(personas.anonymous, query, size=2)
    assert [names for names, _ in pages] == [expected[0:2], expected[2:4], expected[4:6]]
    back = repo_page(viewer=personas.anonymous, query=query, cursor=pages[2][1].previous, size=2)
    assert ids(back.rows) == expected[2:4]
    back = repo_page(viewer=personas.anonymous, query=query, cursor=back.previous, size=2)
    assert ids(back.rows) == expected[0:2] and back.previous is None


def test_a_page_does_not_shift_when_repos_are_added_before_it(personas, many, make_repo):
    first = repo_page(viewer=personas.anonymous, query=RepoQuery(), size=4)
    ModelRepo.objects.filter(pk=make_repo("newcomer").pk).update(downloads=1000)
    second = repo_page(viewer=personas.anonymous, query=RepoQuery(), cursor=first.next, size=4)
    assert not set(ids(first.rows)) & set(ids(second.rows))
    assert "acme/newcomer" not in ids(second.rows)


@pytest.mark.parametrize("cursor", [
    "garbage", "W10", "x" * 2000,
    "WyJuYW1lIiwibiIsMCxbMSwyXV0",  # another order's
    "WyJkb3dubG9hZHMiLCJuIiwwLFt0cnVlLDFdXQ",  # a boolean for a count
    "WyJkb3dubG9hZHMiLCJuIiwzLFsxLDFdXQ",  # a tier the order doesn't have
    "WyJkb3dubG9hZHMiLCJ4IiwwLFsxLDFdXQ",  # neither next nor previous
], ids=["garbage", "empty-list", "too-long", "other-order", "bool", "tier", "direction"])
def test_a_cursor_of_another_order_or_garbage_is_invalid_input(personas, many, cursor):
    with pytest.raises(InvalidInput):
        repo_page(viewer=personas.anonymous, query=RepoQuery(), cursor=cursor, size=3)


def test_repo_search_returns_the_order_it_pages_in(personas, many):
    qs, ordering = repo_search(viewer=personas.anonymous, query=RepoQuery(sort="name"))
    assert ordering.order_by == ["namespace", "name"]
    assert qs.count() == 11
