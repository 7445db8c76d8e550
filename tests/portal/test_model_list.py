from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import ModelRepo

pytestmark = pytest.mark.django_db


def _ids(response) -> list[str]:
    return [repo.repo_id for repo in response.context["page"].object_list]


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


def test_facets_offer_only_visible_values(client, personas, seed):
    ModelRepo.objects.filter(pk=seed.private.pk).update(pipeline_tag="secret-task")
    facets = client.get(reverse("models")).context["facets"]
    assert "secret-task" not in facets.pipeline_tags
    assert "text-generation" in facets.pipeline_tags
    assert facets.languages == ["en", "ko"]


def test_sorts(client, seed):
    ModelRepo.objects.filter(pk=seed.manual.pk).update(downloads=50)
    ModelRepo.objects.filter(pk=seed.public.pk).update(downloads=10)
    url = reverse("models")
    assert _ids(client.get(url, {"sort": "downloads"}))[:2] == ["acme/gated-manual", "acme/tiny"]
    assert _ids(client.get(url, {"sort": "name"})) == ["acme/gated-auto", "acme/gated-manual", "acme/tiny"]
    ModelRepo.objects.filter(pk=seed.auto.pk).update(updated_at="2099-01-01T00:00:00Z")
    assert _ids(client.get(url, {"sort": "updated"}))[0] == "acme/gated-auto"
    assert client.get(url, {"sort": "bogus"}).status_code == 200


def test_paginates(client, personas, make_repo, settings):
    for i in range(30):
        make_repo(f"m{i:02d}")
    url = reverse("models")
    first = client.get(url, {"sort": "name"})
    assert len(_ids(first)) == 24
    assert b'rel="next"' in first.content
    second = client.get(url, {"sort": "name", "page": 2})
    assert len(_ids(second)) == 6
    assert set(_ids(first)).isdisjoint(_ids(second))
    assert b"sort=name&amp;page=1" in second.content  # other parameters kept in page links
    assert client.get(url, {"page": "999"}).status_code == 200


def test_query_count_is_constant(client, personas, make_repo, django_assert_max_num_queries):
    for i in range(3):
        make_repo(f"q{i}")
    client.force_login(personas.member)
    with django_assert_max_num_queries(8) as captured:
        client.get(reverse("models"))
    few = len(captured.captured_queries)
    for i in range(3, 12):
        make_repo(f"q{i}", gating="auto")
    with django_assert_max_num_queries(few) as captured:
        response = client.get(reverse("models"))
    assert len(_ids(response)) == 12
