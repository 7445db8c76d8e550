"""/api/v1/models: what each caller sees, bearer keys, error headers, query counts; the OpenAPI schema."""

from __future__ import annotations

import pytest
import yaml
from django.utils import timezone

from registry.models import ApiKey, ModelRepo
from tests.fixtures.personas import make_key, make_user

LIST_URL = "/api/v1/models"
PERSONAS = ["owner", "member", "reader", "outsider", "anonymous"]
ALL_ACME = {"acme/open", "acme/gated", "acme/secret"}
PUBLIC = {"acme/open", "acme/gated"}


@pytest.fixture
def repos(personas, make_repo):  # noqa: ANN001, ANN201
    return {
        "open": make_repo("open"),
        "gated": make_repo("gated", gating="manual"),
        "secret": make_repo("secret", private=True),
    }


def as_persona(client, personas, who):  # noqa: ANN001, ANN201
    user = getattr(personas, who)
    if user.is_authenticated:
        client.force_login(user)
    return client


def listed(response) -> set[str]:  # noqa: ANN001
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["results"]}


@pytest.mark.parametrize(("who", "expected"), [
    ("owner", ALL_ACME), ("member", ALL_ACME), ("reader", ALL_ACME),
    ("outsider", PUBLIC), ("anonymous", PUBLIC),
])
def test_list_shows_each_persona_what_it_may_see(client, personas, repos, who, expected):
    assert listed(as_persona(client, personas, who).get(LIST_URL)) == expected


@pytest.mark.parametrize(("who", "expected"), [
    ("owner", ALL_ACME), ("member", ALL_ACME), ("reader", ALL_ACME), ("outsider", PUBLIC),
])
def test_list_with_bearer_key_sees_what_its_user_sees(client, personas, repos, who, expected):
    secret = make_key(getattr(personas, who), "read")
    assert listed(client.get(LIST_URL, HTTP_AUTHORIZATION=f"Bearer {secret}")) == expected


def test_list_item_shape(client, personas, repos):
    ModelRepo.objects.filter(pk=repos["gated"].pk).update(tags=["llama"], pipeline_tag="text-generation",
                                                          downloads=7)
    items = {i["id"]: i for i in client.get(LIST_URL).json()["results"]}
    gated = items["acme/gated"]
    assert gated["namespace"] == "acme" and gated["name"] == "gated"
    assert gated["gated"] == "manual"
    assert gated["private"] is False
    assert gated["license"] == {"slug": "acme-license", "name": "Acme Model License", "version": 1}
    assert gated["tags"] == ["llama"] and gated["pipeline_tag"] == "text-generation"
    assert gated["downloads"] == 7
    assert items["acme/open"]["gated"] is False
    assert items["acme/open"]["license"] is None


def test_list_filters_search_author_and_sort(client, personas, repos):
    ModelRepo.objects.filter(pk=repos["open"].pk).update(downloads=100)
    assert listed(client.get(LIST_URL, {"search": "gat"})) == {"acme/gated"}
    assert listed(client.get(LIST_URL, {"author": "nobody"})) == set()
    by_downloads = client.get(LIST_URL, {"sort": "downloads"}).json()["results"]
    assert [i["id"] for i in by_downloads] == ["acme/open", "acme/gated"]
    assert [i["id"] for i in client.get(LIST_URL, {"sort": "name"}).json()["results"]] == ["acme/gated", "acme/open"]


def test_list_is_cursor_paginated(client, personas, repos, make_repo):
    for i in range(5):
        make_repo(f"more-{i}")
    first = client.get(LIST_URL, {"limit": 3, "sort": "name"}).json()
    assert first["previous"] is None and len(first["results"]) == 3
    assert first["next"].startswith("http://testserver/api/v1/models?") and "sort=name" in first["next"]
    pages, page = [first], first
    while page["next"]:
        page = client.get(page["next"]).json()
        pages.append(page)
    names = [item["id"] for p in pages for item in p["results"]]
    assert names == sorted(PUBLIC | {f"acme/more-{i}" for i in range(5)})
    back = client.get(pages[-1]["previous"]).json()
    assert back["results"] == pages[-2]["results"]


@pytest.mark.parametrize(("params", "message"), [({"cursor": "garbage"}, "invalid cursor"),
                                                 ({"limit": "0"}, "limit"), ({"limit": "1000"}, "limit")])
def test_list_refuses_a_bad_cursor_or_limit(client, personas, repos, params, message):
    response = client.get(LIST_URL, params)
    assert response.status_code == 400
    assert response.json()["code"] == "BadRequest" and message in response.json()["error"]


def test_list_default_page_is_bounded(client, personas, repos, make_repo):
    from api.v1.pagination import KeysetPagination

    assert KeysetPagination.page_size == 50
    ModelRepo.objects.bulk_create([ModelRepo(namespace="acme", name=f"bulk-{i}", owner_org=personas.org)
                                   for i in range(60)])
    body = client.get(LIST_URL).json()
    assert len(body["results"]) == 50 and body["next"]


@pytest.mark.parametrize("header", [
    "Bearer hub_notakey_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "Bearer garbage",
    "Bearer ",
    "Basic dXNlcjpwYXNz",
    "Token abc",
])
def test_bad_credentials_are_401_with_error_message(client, personas, repos, header):
    response = client.get(LIST_URL, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["X-Error-Message"]
    assert "credentials" in response["X-Error-Message"]
    assert response["WWW-Authenticate"] == "Bearer"


def test_revoked_and_expired_keys_are_401(client, personas, repos):
    revoked = make_key(personas.member, "read")
    ApiKey.objects.filter(prefix=revoked[:12]).update(revoked_at=timezone.now())
    assert client.get(LIST_URL, HTTP_AUTHORIZATION=f"Bearer {revoked}").status_code == 401
    expired = make_key(personas.member, "read")
    ApiKey.objects.filter(prefix=expired[:12]).update(expires_at=timezone.now())
    assert client.get(LIST_URL, HTTP_AUTHORIZATION=f"Bearer {expired}").status_code == 401


def test_bad_token_wins_over_a_session(client, personas, repos):
    client.force_login(personas.member)
    assert client.get(LIST_URL, HTTP_AUTHORIZATION="Bearer hub_wrong_key").status_code == 401


@pytest.mark.parametrize("who", ["anonymous", "outsider", "owner"])
def test_list_query_count_is_constant(client, personas, repos, make_repo, who, django_assert_max_num_queries,
                                      django_assert_num_queries):
    for i in range(3):
        make_repo(f"extra-{i}", gating="auto")
    as_persona(client, personas, who)
    client.get(LIST_URL)  # warm up the session
    expected = {"anonymous": 1, "outsider": 3, "owner": 3}[who]  # session + user + the list
    with django_assert_num_queries(expected):
        assert len(client.get(LIST_URL).json()["results"]) >= 3
    for i in range(3, 12):
        make_repo(f"extra-{i}")
    with django_assert_num_queries(expected):  # whatever the number of repos
        assert len(client.get(LIST_URL).json()["results"]) >= 12


def test_list_query_count_with_bearer_key(client, personas, repos, django_assert_num_queries):
    secret = make_key(personas.member, "read")
    client.get(LIST_URL, HTTP_AUTHORIZATION=f"Bearer {secret}")  # records last use
    with django_assert_num_queries(2):  # the key (with its user) + the list
        assert len(client.get(LIST_URL, HTTP_AUTHORIZATION=f"Bearer {secret}").json()["results"]) == 3


# --- detail ----------------------------------------------------------------------------------

@pytest.mark.parametrize("who", PERSONAS)
def test_detail_of_public_model_for_everyone(client, personas, repos, who):
    response = as_persona(client, personas, who).get("/api/v1/models/acme/open")
    assert response.status_code == 200
    assert response.json()["id"] == "acme/open"


@pytest.mark.parametrize(("who", "status"), [("owner", 200), ("member", 200), ("reader", 200),
                                             ("outsider", 404), ("anonymous", 404)])
def test_detail_of_private_model_is_404_for_outsiders(client, personas, repos, who, status):
    response = as_persona(client, personas, who).get("/api/v1/models/acme/secret")
    assert response.status_code == status
    if status == 404:
        assert response["X-Error-Code"] == "RepoNotFound"
        assert response["X-Error-Message"]
        missing = client.get("/api/v1/models/acme/does-not-exist")
        assert missing.status_code == 404
        assert missing.json() == response.json()


def test_detail_private_with_bearer_key(client, personas, repos):
    secret = make_key(personas.reader, "read")
    assert client.get("/api/v1/models/acme/secret", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    other = make_key(personas.outsider, "read")
    assert client.get("/api/v1/models/acme/secret", HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 404


def test_superuser_sees_private_detail(client, personas, repos):
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    assert client.get("/api/v1/models/acme/secret").status_code == 200


# --- schema and docs --------------------------------------------------------------------------

def test_schema_is_openapi_3_and_lists_the_model_endpoints(client, db):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert str(schema["openapi"]).startswith("3.")
    assert "/api/v1/models" in schema["paths"]
    assert "/api/v1/models/{namespace}/{name}" in schema["paths"]


def test_schema_documents_the_cursor_pagination_of_the_list(client, db):
    operation = client.get("/api/schema/", {"format": "json"}).json()["paths"]["/api/v1/models"]["get"]
    parameters = {p["name"] for p in operation["parameters"]}
    assert {"cursor", "limit", "search", "author", "sort"} <= parameters
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    properties = body["properties"] if "properties" in body else None
    if properties is None:  # a named component
        name = body["$ref"].rsplit("/", 1)[-1]
        properties = client.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"][name][
            "properties"]
    assert set(properties) == {"next", "previous", "results"}
    assert properties["results"]["type"] == "array"


def test_schema_as_json(client, db):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


def test_api_docs_render(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
    assert b"?script=" in response.content  # the init script (which names /api/schema/) is a separate file
