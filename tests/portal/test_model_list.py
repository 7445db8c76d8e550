from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from registry.models import ModelRepo
from registry.services.catalogue import catalogue_rebuild
from registry.services.repos import repo_create, repo_update_settings

pytestmark = pytest.mark.django_db


def _ids(response) -> list[str]:
    return [repo.repo_id for repo in response.context["page"].rows]


def _link(response, rel: str) -> str | None:
    """The href of the page's rel="next"/"prev" link (None when there is none)."""
    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', response.content.decode())
    return response.request["PATH_INFO"] + unescape(found.group(1)) if found else None


def test_lists_public_models_for_anonymous(client, seed):
    response = client.get(reverse("models"))
    assert response.status_code == 200
    assert set(_ids(response)) == {"acme/tiny", "acme/gated-auto", "acme/gated-manual"}
    assert b"acme/secret-model" not in response.content


@pytest.mark.parametrize("who, sees_private", [
    ("anonymous", False), ("outsider", False), ("reader", True), ("member", True), ("owner", True),
])
def test_private_models_listed_only_for_the_owning_org(as_user, personas, seed, who, sees_private):
    response = as_user(getattr(personas, who)).get(reverse("models"))
    assert ("acme/secret-model" in _ids(response)) is sees_private


@pytest.mark.parametrize("who", ["anonymous", "outsider"])
@pytest.mark.parametrize("params", [
    {"q": "secret"}, {"q": "Only for acme"}, {"q": "acme/secret"}, {"organization": "acme"},
    {"tag": "hidden"}, {"pipeline_tag": "hidden-task"}, {"sort": "updated"}, {"sort": "name"}, {"gated": "open"},
])
def test_a_private_repo_is_in_no_list_or_search_for_outsiders(as_user, personas, seed, who, params):
    """Guard (held before the catalogue change too): whatever the search, filter or order."""
    ModelRepo.objects.filter(pk=seed.private.pk).update(tags=["hidden"], pipeline_tag="hidden-task")
    catalogue_rebuild()
    response = as_user(getattr(personas, who)).get(reverse("models"), params)
    assert "acme/secret-model" not in _ids(response) and b"secret-model" not in response.content
    offered = {(o.value, o.count) for field in response.context["options"].values() for o in field}
    assert ("hidden", 1) not in offered and ("hidden-task", 1) not in offered  # a value typed in comes back, uncounted


def test_search_matches_name_description_and_tags(client, seed):
    assert _ids(client.get(reverse("models"), {"q": "manual"})) == ["acme/gated-manual"]
    assert _ids(client.get(reverse("models"), {"q": "Reviewed by hand"})) == ["acme/gated-manual"]
    assert set(_ids(client.get(reverse("models"), {"q": "korean"}))) == {"acme/tiny", "acme/gated-auto"}
    assert set(_ids(client.get(reverse("models"), {"q": "KORE"}))) == {"acme/tiny", "acme/gated-auto"}
    assert _ids(client.get(reverse("models"), {"q": "nothing-like-this"})) == []


def test_filters(client, personas, seed, make_repo):
    other = make_repo("other-org-model")
    ModelRepo.objects.filter(pk=other.pk).update(pipeline_tag="fill-mask", languages=["en"])
    url = reverse("models")
    assert set(_ids(client.get(url, {"gated": "gated"}))) == {"acme/gated-auto", "acme/gated-manual"}
    assert set(_ids(client.get(url, {"gated": "open"}))) == {"acme/tiny", "acme/other-org-model"}
    assert _ids(client.get(url, {"pipeline_tag": "fill-mask"})) == ["acme/other-org-model"]
    assert set(_ids(client.get(url, {"language": "ko"}))) == {"acme/tiny", "acme/gated-auto"}
    assert set(_ids(client.get(url, {"license": "acme-license"}))) == {"acme/gated-auto", "acme/gated-manual"}
    assert set(_ids(client.get(url, {"license": "apache-2.0"}))) == {"acme/tiny", "acme/gated-auto"}
    assert len(_ids(client.get(url, {"organization": "acme"}))) == 4
    assert _ids(client.get(url, {"organization": "nobody"})) == []


def _values(options) -> list[str]:
    return [option.value for option in options]


def test_facets_offer_only_visible_values(client, personas, seed):
    ModelRepo.objects.filter(pk=seed.private.pk).update(pipeline_tag="secret-task")
    catalogue_rebuild()
    facets = client.get(reverse("models")).context["facets"]
    assert "secret-task" not in _values(facets.tasks)
    assert "text-generation" in _values(facets.tasks)
    assert _values(facets.languages) == ["en", "ko"]


@pytest.mark.parametrize("who", ["anonymous", "outsider", "reader", "member", "owner"])
def test_facets_count_public_repos_only_whoever_looks(as_user, personas, seed, who):
    """Counts are shared by every viewer: a private repo's task, tags or namespace never show, even to its own
    organisation (whose members still see the repo in the list and can filter it by any value)."""
    repo_create(actor=personas.outsider, namespace="oscar", name="hidden", private=True)
    repo_update_settings(actor=personas.owner, repo=seed.private, license=personas.license)
    response = as_user(getattr(personas, who)).get(reverse("models"))
    facets = response.context["facets"]
    assert [(o.value, o.count) for o in facets.tasks] == [("text-generation", 2)]  # tiny and gated-auto
    assert [(o.value, o.count) for o in facets.namespaces] == [("acme", 3)]
    assert [(o.value, o.count) for o in facets.licenses] == [("acme-license", 2), ("apache-2.0", 2)]
    assert facets.total == 3
    assert b'value="oscar"' not in response.content
    assert "acme/secret-model" in _ids(response) if who in ("reader", "member", "owner") else True


def test_the_organisation_filter_is_a_text_field_with_suggestions_not_a_select(client, personas, seed):
    html = client.get(reverse("models")).content.decode()
    assert 'name="organization"' in html and '<select id="f-org"' not in html
    assert f'data-suggest="{reverse("models-namespaces")}"' in html
    assert '<option value="acme" label="acme (3)">' in html  # the most common ones, for browsers without JS
    assert "<script>" not in html  # the suggestions come from static/js/hub.js (the CSP forbids inline script)


def test_organisation_autocomplete_suggests_namespaces_with_public_repos(client, personas, seed, make_repo):
    repo_create(actor=personas.outsider, namespace="oscar", name="hidden", private=True)
    repo_create(actor=personas.member, namespace="mina", name="open")
    url = reverse("models-namespaces")
    assert client.get(url, {"q": "AC"}).json() == {"results": [{"value": "acme", "count": 3}]}
    assert client.get(url, {"q": "osc"}).json() == {"results": []}  # private repos only: not suggested
    assert client.get(url, {"q": "in"}).json() == {"results": [{"value": "mina", "count": 1}]}
    assert [r["value"] for r in client.get(url).json()["results"]] == ["acme", "mina"]
    client.force_login(personas.outsider)
    assert client.get(url, {"q": "osc"}).json() == {"results": []}  # counts are public, whoever asks


def test_organisation_autocomplete_query_count_is_constant(client, personas, make_repo, django_assert_num_queries):
    for name in ("a", "b", "c"):
        make_repo(name)
    for owner in ("mina", "oscar", "rae"):
        repo_create(actor=getattr(personas, {"mina": "member", "oscar": "outsider", "rae": "reader"}[owner]),
                    namespace=owner, name="x")
    with django_assert_num_queries(1):
        assert len(client.get(reverse("models-namespaces")).json()["results"]) == 4


def test_filter_lists_show_counts_and_keep_the_chosen_value(client, personas, seed):
    html = client.get(reverse("models"), {"tag": "not-a-common-tag"}).content.decode()
    assert '<option value="llama">llama (2)</option>' in html
    assert '<option value="not-a-common-tag" selected>not-a-common-tag</option>' in html


def test_sorts(client, seed):
    ModelRepo.objects.filter(pk=seed.manual.pk).update(downloads=50)
    ModelRepo.objects.filter(pk=seed.public.pk).update(downloads=10)
    url = reverse("models")
    assert _ids(client.get(url, {"sort": "downloads"}))[:2] == ["acme/gated-manual", "acme/tiny"]
    assert _ids(client.get(url, {"sort": "name"})) == ["acme/gated-auto", "acme/gated-manual", "acme/tiny"]
    ModelRepo.objects.filter(pk=seed.auto.pk).update(updated_at="2099-01-01T00:00:00Z")
    assert _ids(client.get(url, {"sort": "updated"}))[0] == "acme/gated-auto"
    assert client.get(url, {"sort": "bogus"}).status_code == 200


def test_paginates_with_next_and_previous_links(client, personas, make_repo, settings):
    for i in range(30):
        make_repo(f"m{i:02d}")
    url = reverse("models")
    first = client.get(url, {"sort": "name"})
    assert len(_ids(first)) == 24
    assert _link(first, "prev") is None
    second = client.get(_link(first, "next"))
    assert _ids(second) == [f"acme/m{i:02d}" for i in range(24, 30)]
    assert "sort=name" in _link(second, "prev") and "cursor=" in _link(second, "prev")  # the query is kept
    assert _link(second, "next") is None
    assert _ids(client.get(_link(second, "prev"))) == _ids(first)
    assert client.get(url, {"cursor": "999"}).status_code == 200  # a mangled cursor: the first page


def test_a_page_never_counts_or_offsets_the_repos(client, personas, make_repo, django_assert_max_num_queries):
    """No COUNT(*) over the big table, no OFFSET: the heading's number is the maintained public count, and pages
    start after the previous page's last row."""
    for i in range(30):
        make_repo(f"m{i:02d}")
    first = client.get(reverse("models"))
    assert "30 public models" in first.content.decode()
    with django_assert_max_num_queries(12) as captured:
        client.get(_link(first, "next"))
    repo_queries = [q["sql"] for q in captured.captured_queries if '"registry_modelrepo"' in q["sql"]]
    assert len(repo_queries) == 1, repo_queries  # the page itself; facets come from their own small table
    assert "COUNT(" not in repo_queries[0].upper() and "OFFSET" not in repo_queries[0].upper()


def test_search_ranks_the_name_first_and_finds_names_through_a_typo_on_postgresql(client, personas, make_repo):
    from django.db import connection

    for name, downloads in [("kestrel-tools", 100), ("kestrel", 1), ("other", 1000)]:
        ModelRepo.objects.filter(pk=make_repo(name).pk).update(downloads=downloads, description="")
    ModelRepo.objects.filter(name="other").update(description="Trained like kestrel.")
    catalogue_rebuild()  # the search documents of a change made behind the services' back
    assert _ids(client.get(reverse("models"), {"q": "kestrel"})) == ["acme/kestrel", "acme/kestrel-tools",
                                                                     "acme/other"]
    if connection.vendor == "postgresql":
        assert "acme/kestrel" in _ids(client.get(reverse("models"), {"q": "kestral"}))


@pytest.mark.parametrize("params", [{}, {"q": "q1"}, {"organization": "acme", "sort": "updated"}])
def test_query_count_is_constant(client, personas, make_repo, django_assert_max_num_queries, params):
    for i in range(3):
        make_repo(f"q{i}")
    client.force_login(personas.member)
    # session, user, the page (a search: one query per best-match tier it reaches), the facet lists
    with django_assert_max_num_queries(13) as captured:
        client.get(reverse("models"), params)
    few = len(captured.captured_queries)
    for i in range(3, 12):
        make_repo(f"q{i}{i}", gating="auto")
    with django_assert_max_num_queries(few) as captured:
        response = client.get(reverse("models"), params)
    assert len(_ids(response)) >= (3 if params else 12)


def test_search_parameter_is_an_alias_of_q(client, seed):
    """`/models?search=llama` is how Hugging Face's model list links a search; people paste such links."""
    response = client.get(reverse("models"), {"search": "manual"})
    assert _ids(response) == ["acme/gated-manual"]
    assert response.context["filters"]["q"] == "manual" and response.context["filters"]["sort"] == "relevance"
    assert 'value="manual"' in response.content.decode()  # the search box shows what was searched
    assert _ids(client.get(reverse("models"), {"search": "nothing-like-this"})) == []
    # q wins when both are given; an empty q falls back to search.
    assert _ids(client.get(reverse("models"), {"q": "manual", "search": "nothing-like-this"})) == ["acme/gated-manual"]
    assert _ids(client.get(reverse("models"), {"q": "", "search": "manual"})) == ["acme/gated-manual"]
