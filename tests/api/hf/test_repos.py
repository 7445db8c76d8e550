"""Repo endpoints of the HF-compatible API, driven by the real huggingface_hub client over HTTP."""

from __future__ import annotations

from datetime import datetime

import pytest
from huggingface_hub.errors import (
    BadRequestError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from api.hf import repos as hf_repos
from registry.models import AuditEvent, ModelRepo
from tests.fixtures.personas import make_key

pytestmark = pytest.mark.live

README = (b"---\nlicense: apache-2.0\ntags:\n- korean\n- llm\npipeline_tag: text-generation\n"
          b"library_name: transformers\n---\n# Tiny\n\nA tiny model.\n")


# --- identity -----------------------------------------------------------------------------------


def test_whoami_names_the_user_their_orgs_and_the_token(hub):
    me = hub.api("member").whoami()
    assert me["name"] == "mina"
    assert me["type"] == "user"
    assert me["email"] == "mina@example.com"
    assert me["orgs"] == [{"type": "org", "name": "acme", "fullname": "Acme AI", "roleInOrg": "write"}]
    assert me["auth"]["accessToken"] == {"displayName": "test", "role": "write",
                                         "createdAt": me["auth"]["accessToken"]["createdAt"]}


def test_whoami_with_a_read_key_reports_read_role(hub):
    token = make_key(hub.p.outsider, scopes="read")
    me = hub.api().whoami(token=token)
    assert me["auth"]["accessToken"]["role"] == "read"
    assert me["orgs"] == []


def test_whoami_with_a_bad_token_is_an_invalid_user_token(hub):
    with pytest.raises(HfHubHTTPError, match="Invalid user token") as info:
        hub.api().whoami(token="hub_nothere0_not-a-real-secret")
    assert info.value.response.status_code == 401


# --- create / exists / delete / move -------------------------------------------------------------


def test_create_repo_in_own_namespace_returns_its_url(hub):
    url = hub.api("outsider").create_repo("mine")
    assert url.repo_id == "oscar/mine"
    assert url == f"{hub.url}/oscar/mine"
    repo = ModelRepo.objects.get(namespace="oscar", name="mine")
    assert not repo.private
    assert AuditEvent.objects.filter(action="repo.create", target_id=str(repo.pk)).exists()


def test_create_private_repo_in_org_as_member(hub):
    url = hub.api("member").create_repo("acme/secret-llm", private=True)
    assert url.repo_id == "acme/secret-llm"
    assert ModelRepo.objects.get(namespace="acme", name="secret-llm").private is True
    assert hub.api("owner").repo_exists("acme/secret-llm")
    assert not hub.api("outsider").repo_exists("acme/secret-llm")
    assert not hub.api("anonymous").repo_exists("acme/secret-llm")


@pytest.mark.parametrize("persona", ["outsider", "reader"])
def test_create_repo_in_org_is_forbidden_without_write_role(hub, persona):
    with pytest.raises(HfHubHTTPError) as info:
        hub.api(persona).create_repo("acme/nope")
    assert info.value.response.status_code == 403
    assert not ModelRepo.objects.filter(name="nope").exists()


def test_create_repo_anonymously_is_refused(hub):
    with pytest.raises(HfHubHTTPError) as info:
        hub.api("anonymous").create_repo("acme/nope")
    assert info.value.response.status_code == 401


def test_create_existing_repo_conflicts_unless_exist_ok(hub, make_repo):
    make_repo("tiny")
    with pytest.raises(HfHubHTTPError) as info:
        hub.api("member").create_repo("acme/tiny")
    assert info.value.response.status_code == 409
    assert info.value.response.json()["url"] == f"{hub.url}/acme/tiny"
    url = hub.api("member").create_repo("acme/tiny", exist_ok=True)
    assert url.repo_id == "acme/tiny"
    assert ModelRepo.objects.filter(name="tiny").count() == 1


def test_create_repo_with_invalid_name_is_a_bad_request(hub):
    from huggingface_hub.utils import get_session, hf_raise_for_status

    response = get_session().post(f"{hub.url}/api/repos/create",
                                  json={"name": "bad name", "organization": "acme"},
                                  headers={"authorization": f"Bearer {hub.token('member')}"})
    with pytest.raises(BadRequestError, match="not a valid name"):
        hf_raise_for_status(response)


def test_repo_exists_is_false_for_missing_repo(hub):
    assert not hub.api("owner").repo_exists("acme/missing")


def test_delete_repo_needs_admin_rights_and_missing_ok_swallows_absence(hub, make_repo):
    make_repo("doomed")
    with pytest.raises(HfHubHTTPError) as info:
        hub.api("member").delete_repo("acme/doomed")
    assert info.value.response.status_code == 403
    hub.api("owner").delete_repo("acme/doomed")
    assert not ModelRepo.objects.filter(name="doomed").exists()
    with pytest.raises(RepositoryNotFoundError):
        hub.api("owner").delete_repo("acme/doomed")
    hub.api("owner").delete_repo("acme/doomed", missing_ok=True)


def test_outsider_cannot_delete_a_private_repo_it_cannot_see(hub, make_repo):
    make_repo("hidden", private=True)
    with pytest.raises(RepositoryNotFoundError):
        hub.api("outsider").delete_repo("acme/hidden")
    assert ModelRepo.objects.filter(name="hidden").exists()


def test_move_repo_renames_it(hub, make_repo):
    make_repo("old-name")
    hub.api("owner").move_repo("acme/old-name", "acme/new-name")
    assert hub.api("owner").repo_exists("acme/new-name")
    assert not hub.api("owner").repo_exists("acme/old-name")


def test_move_repo_into_a_namespace_you_do_not_administer_is_forbidden(hub, make_repo):
    make_repo("stay")
    with pytest.raises(HfHubHTTPError) as info:
        hub.api("owner").move_repo("acme/stay", "oscar/stay")
    assert info.value.response.status_code == 403


# --- settings -----------------------------------------------------------------------------------


def test_update_repo_settings_changes_visibility_and_gating(hub, make_repo):
    make_repo("knobs")
    api = hub.api("member")
    api.update_repo_settings("acme/knobs", private=True)
    assert not hub.api("anonymous").repo_exists("acme/knobs")
    api.update_repo_settings("acme/knobs", gated="manual")
    info = api.model_info("acme/knobs")
    assert info.private is True
    assert info.gated == "manual"
    api.update_repo_settings("acme/knobs", gated=False, private=False)
    info = hub.api("anonymous").model_info("acme/knobs")
    assert info.gated is False
    assert info.private is False


@pytest.mark.parametrize("persona", ["reader", "outsider"])
def test_update_repo_settings_is_forbidden_without_write_access(hub, make_repo, persona):
    make_repo("locked")
    with pytest.raises(HfHubHTTPError) as info:
        hub.api(persona).update_repo_settings("acme/locked", private=True)
    assert info.value.response.status_code == 403
    assert ModelRepo.objects.get(name="locked").private is False


# --- model_info ---------------------------------------------------------------------------------


def test_model_info_reports_commit_card_data_and_siblings(hub, make_repo):
    repo = make_repo("tiny")
    commit = hub.seed(repo, inline={"README.md": README, "config.json": b'{"model_type": "llama"}'})
    ModelRepo.objects.filter(pk=repo.pk).update(parameter_count=1234, downloads=7)

    info = hub.api("anonymous").model_info("acme/tiny")
    assert info.id == "acme/tiny"
    assert info.author == "acme"
    assert info.sha == commit.oid
    assert info.private is False
    assert info.gated is False
    assert info.disabled is False
    assert info.downloads == 7
    assert info.likes == 0
    assert info.tags == ["korean", "llm"]
    assert info.pipeline_tag == "text-generation"
    assert info.library_name == "transformers"
    assert info.card_data["license"] == "apache-2.0"
    assert isinstance(info.created_at, datetime) and isinstance(info.last_modified, datetime)
    assert info.safetensors.total == 1234
    assert sorted(s.rfilename for s in info.siblings) == [".gitattributes", "README.md", "config.json"]
    assert all(s.size is None for s in info.siblings)
    assert info.used_storage > 0


def test_model_info_with_files_metadata_gives_sizes_and_blob_ids(hub, make_repo):
    repo = make_repo("tiny")
    hub.seed(repo, inline={"config.json": b"{}"})
    info = hub.api("owner").model_info("acme/tiny", files_metadata=True)
    config = next(s for s in info.siblings if s.rfilename == "config.json")
    assert config.size == 2
    assert config.blob_id == "9e26dfeeb6e641a33dae4961196235bdb965b21b"  # git hash-object of "{}"
    assert config.lfs is None


def test_model_info_at_a_revision(hub, make_repo):
    repo = make_repo("tiny")
    first = hub.seed(repo, inline={"a.txt": b"1"})
    hub.api("owner").create_tag("acme/tiny", tag="v1")
    hub.seed(repo, inline={"b.txt": b"2"})
    assert hub.api("owner").model_info("acme/tiny", revision="v1").sha == first.oid
    assert hub.api("owner").model_info("acme/tiny", revision=first.oid).sha == first.oid
    with pytest.raises(RevisionNotFoundError):
        hub.api("owner").model_info("acme/tiny", revision="nope")


@pytest.mark.parametrize("persona", ["anonymous", "outsider"])
def test_private_model_info_is_not_found_for_outsiders(hub, make_repo, persona):
    make_repo("hidden", private=True)
    with pytest.raises(RepositoryNotFoundError):
        hub.api(persona).model_info("acme/hidden")


@pytest.mark.parametrize("persona", ["owner", "member", "reader"])
def test_private_model_info_is_visible_to_org_members(hub, make_repo, persona):
    make_repo("hidden", private=True)
    assert hub.api(persona).model_info("acme/hidden").private is True


def test_auth_check_read_and_write(hub, make_repo):
    make_repo("tiny")
    hub.api("reader").auth_check("acme/tiny")
    hub.api("member").auth_check("acme/tiny", write=True)
    with pytest.raises(HfHubHTTPError) as info:
        hub.api("reader").auth_check("acme/tiny", write=True)
    assert info.value.response.status_code == 403


# --- list_models --------------------------------------------------------------------------------


@pytest.fixture
def catalogue(make_repo):
    """Five public repos with distinct downloads and tags, one private."""
    repos = {}
    rows = [("alpha-llm", ["llm", "ko"]), ("beta-llm", ["llm"]), ("gamma-vision", ["vision"]),
            ("delta-llm", ["llm", "ko"]), ("epsilon", [])]
    for i, (name, tags) in enumerate(rows):
        repo = make_repo(name)
        ModelRepo.objects.filter(pk=repo.pk).update(downloads=(i + 1) * 10, tags=tags)
        repos[name] = repo
    make_repo("zeta-secret-llm", private=True)
    return repos


def ids(models) -> list[str]:
    return [m.id for m in models]


def test_list_models_sorts_by_downloads_and_hides_private_repos(hub, catalogue):
    assert ids(hub.api("anonymous").list_models(sort="downloads")) == [
        "acme/epsilon", "acme/delta-llm", "acme/gamma-vision", "acme/beta-llm", "acme/alpha-llm"]
    assert "acme/zeta-secret-llm" not in ids(hub.api("outsider").list_models())
    assert "acme/zeta-secret-llm" in ids(hub.api("reader").list_models())


def test_list_models_filters_by_search_author_and_tags(hub, catalogue, make_repo):
    api = hub.api("anonymous")
    assert sorted(ids(api.list_models(search="llm"))) == ["acme/alpha-llm", "acme/beta-llm", "acme/delta-llm"]
    assert sorted(ids(api.list_models(filter=["llm", "ko"]))) == ["acme/alpha-llm", "acme/delta-llm"]
    assert ids(api.list_models(filter="vision")) == ["acme/gamma-vision"]
    hub.api("outsider").create_repo("solo")
    assert ids(api.list_models(author="oscar")) == ["oscar/solo"]


def test_list_models_limit_and_created_at_sort(hub, catalogue):
    api = hub.api("anonymous")
    assert ids(api.list_models(sort="downloads", limit=2)) == ["acme/epsilon", "acme/delta-llm"]
    assert ids(api.list_models(sort="created_at", limit=1)) == ["acme/epsilon"]


def test_list_models_direction_reverses_the_sort(client, catalogue):
    response = client.get("/api/models", {"sort": "downloads", "direction": "1", "limit": "2"})
    assert [m["id"] for m in response.json()] == ["acme/alpha-llm", "acme/beta-llm"]


def test_list_models_paginates_with_absolute_next_links(hub, catalogue, monkeypatch):
    monkeypatch.setattr(hf_repos, "MODELS_PAGE_SIZE", 2)
    from huggingface_hub.utils import get_session

    first = get_session().get(f"{hub.url}/api/models", params={"sort": "downloads", "search": "a"})
    assert len(first.json()) == 2
    next_url = first.links["next"]["url"]
    assert next_url.startswith(hub.url + "/api/models?")
    assert "search=a" in next_url and "sort=downloads" in next_url and "cursor=" in next_url
    # The client follows the links through every page.
    assert ids(hub.api("anonymous").list_models(sort="downloads")) == [
        "acme/epsilon", "acme/delta-llm", "acme/gamma-vision", "acme/beta-llm", "acme/alpha-llm"]


def test_list_models_pages_do_not_shift_when_a_repo_arrives_between_them(hub, catalogue, make_repo, monkeypatch):
    """Keyset pages: the client's next request starts after the last repo it got, not at an offset that a new
    repo would shift (the stock client, iterating lazily past the page boundary)."""
    monkeypatch.setattr(hf_repos, "MODELS_PAGE_SIZE", 2)
    models = iter(hub.api("anonymous").list_models(sort="downloads"))
    seen = [next(models).id, next(models).id]  # the whole first page
    ModelRepo.objects.filter(pk=make_repo("newcomer").pk).update(downloads=1000)
    seen += [m.id for m in models]
    assert seen == ["acme/epsilon", "acme/delta-llm", "acme/gamma-vision", "acme/beta-llm", "acme/alpha-llm"]


def test_list_models_next_link_carries_a_keyset_cursor_and_the_whole_query(client, catalogue, monkeypatch):
    monkeypatch.setattr(hf_repos, "MODELS_PAGE_SIZE", 2)
    first = client.get("/api/models", {"search": "llm", "filter": "llm", "sort": "lastModified"})
    link = first["Link"]
    assert link.startswith("<http://testserver/api/models?") and link.endswith('>; rel="next"')
    assert "search=llm" in link and "filter=llm" in link and "sort=lastModified" in link and "cursor=" in link
    second = client.get(link[1:link.index(">")])
    assert len(first.json()) == 2 and len(second.json()) == 1 and "Link" not in second
    assert not {m["id"] for m in first.json()} & {m["id"] for m in second.json()}
    other_sort = link[1:link.index(">")].replace("sort=lastModified", "sort=downloads")
    refused = client.get(other_sort)
    assert refused.status_code == 400 and refused["X-Error-Code"] == "BadRequest"


def test_list_models_search_is_a_substring_of_the_repo_id(hub, catalogue):
    api = hub.api("anonymous")
    assert ids(api.list_models(search="acme/al")) == ["acme/alpha-llm"]
    assert ids(api.list_models(search="me/ep")) == ["acme/epsilon"]
    assert ids(api.list_models(search="ACME/EPS")) == ["acme/epsilon"]
    ModelRepo.objects.filter(pk=catalogue["epsilon"].pk).update(description="an llm")
    assert "acme/epsilon" not in ids(api.list_models(search="llm"))  # ids only, as on the Hub


def test_list_models_filters_that_the_client_sends(hub, catalogue):
    ModelRepo.objects.filter(pk=catalogue["alpha-llm"].pk).update(
        pipeline_tag="text-generation", library_name="transformers", languages=["ko"], card_license="mit",
        parameter_count=7_000_000_000, gating="auto")
    ModelRepo.objects.filter(pk=catalogue["gamma-vision"].pk).update(
        pipeline_tag="image-classification", library_name="timm", languages=["en"], card_license="apache-2.0",
        parameter_count=80_000_000)
    api = hub.api("anonymous")
    assert ids(api.list_models(pipeline_tag="text-generation")) == ["acme/alpha-llm"]
    assert ids(api.list_models(filter="timm")) == ["acme/gamma-vision"]  # a library
    assert ids(api.list_models(filter="ko")) == ["acme/delta-llm", "acme/alpha-llm"]  # a tag or a language
    assert ids(api.list_models(filter=["ko", "text-generation"])) == ["acme/alpha-llm"]
    assert ids(api.list_models(filter="license:apache-2.0")) == ["acme/gamma-vision"]
    assert ids(api.list_models(gated=True)) == ["acme/alpha-llm"]
    assert "acme/alpha-llm" not in ids(api.list_models(gated=False))
    assert ids(api.list_models(num_parameters="min:1B")) == ["acme/alpha-llm"]
    assert ids(api.list_models(num_parameters="max:100M")) == ["acme/gamma-vision"]
    assert ids(api.list_models(author="ACME", filter="vision")) == ["acme/gamma-vision"]


@pytest.mark.parametrize(("param", "value", "expected"), [
    ("language", "en", ["acme/gamma-vision"]), ("library", "timm", ["acme/gamma-vision"]),
    ("license", "mit", ["acme/alpha-llm"]), ("pipeline_tag", "image-classification", ["acme/gamma-vision"]),
])
def test_list_models_language_library_and_license_parameters(client, catalogue, param, value, expected):
    ModelRepo.objects.filter(pk=catalogue["alpha-llm"].pk).update(card_license="mit", languages=["ko"])
    ModelRepo.objects.filter(pk=catalogue["gamma-vision"].pk).update(
        pipeline_tag="image-classification", library_name="timm", languages=["en"])
    assert [m["id"] for m in client.get("/api/models", {param: value}).json()] == expected


def test_list_models_refuses_a_malformed_parameter_count(client, catalogue):
    response = client.get("/api/models", {"num_parameters": "lots"})
    assert response.status_code == 400 and response["X-Error-Code"] == "BadRequest"


@pytest.mark.parametrize("persona", ["anonymous", "outsider"])
@pytest.mark.parametrize("query", [{}, {"search": "secret"}, {"filter": "private-only"}, {"author": "acme"},
                                   {"sort": "lastModified", "direction": "1"}, {"pipeline_tag": "hidden-task"}])
def test_list_models_never_shows_a_private_repo_to_outsiders(hub, catalogue, persona, query):
    """Guard (passes before the change too): whatever the filters, a private repo is not listed for outsiders."""
    secret = ModelRepo.objects.get(name="zeta-secret-llm")
    ModelRepo.objects.filter(pk=secret.pk).update(tags=["private-only"], pipeline_tag="hidden-task", downloads=99)
    from huggingface_hub.utils import get_session

    headers = {"authorization": f"Bearer {hub.token(persona)}"} if hub.token(persona) else {}
    listed = get_session().get(f"{hub.url}/api/models", params=query, headers=headers).json()
    assert "acme/zeta-secret-llm" not in [m["id"] for m in listed]
    assert "acme/zeta-secret-llm" in ids(hub.api("reader").list_models(**{
        k: v for k, v in query.items() if k in ("search", "filter", "author", "pipeline_tag")}))


def test_list_models_query_count_does_not_grow_with_the_catalogue(client, catalogue, make_repo,
                                                                  django_assert_max_num_queries):
    """Guard (held before the catalogue change too), now with a search and a filter."""
    params = {"search": "a", "filter": "llm", "sort": "downloads", "full": "true"}
    with django_assert_max_num_queries(5) as captured:
        assert len(client.get("/api/models", params).json()) == 3
    for i in range(9):
        ModelRepo.objects.filter(pk=make_repo(f"more-{i}-llm").pk).update(tags=["llm"])
    with django_assert_max_num_queries(len(captured.captured_queries)):
        assert len(client.get("/api/models", params).json()) == 12


def test_list_models_full_and_card_data(hub, catalogue):
    hub.seed(catalogue["epsilon"], inline={"README.md": README})
    models = list(hub.api("anonymous").list_models(search="epsilon", full=True, cardData=True))
    assert len(models) == 1
    assert sorted(s.rfilename for s in models[0].siblings) == [".gitattributes", "README.md"]
    assert models[0].sha
    assert models[0].card_data["license"] == "apache-2.0"


def test_list_models_full_page_uses_a_fixed_number_of_queries(client, catalogue,
                                                              django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        response = client.get("/api/models", {"full": "true", "cardData": "true"})
    assert response.status_code == 200
    assert len(response.json()) == 5
    assert all(item["siblings"] for item in response.json())


# --- refs and history ---------------------------------------------------------------------------


def test_list_repo_refs_and_branch_and_tag_lifecycle(hub, make_repo):
    repo = make_repo("tiny")
    head = hub.seed(repo, inline={"a.txt": b"a"})
    api = hub.api("member")
    api.create_branch("acme/tiny", branch="dev/x")
    api.create_tag("acme/tiny", tag="v1.0", tag_message="first")
    refs = api.list_repo_refs("acme/tiny", include_pull_requests=True)
    assert [(b.name, b.ref, b.target_commit) for b in refs.branches] == [
        ("dev/x", "refs/heads/dev/x", head.oid), ("main", "refs/heads/main", head.oid)]
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [("v1.0", "refs/tags/v1.0", head.oid)]
    assert refs.converts == [] and refs.pull_requests == []

    with pytest.raises(HfHubHTTPError) as info:
        api.create_branch("acme/tiny", branch="dev/x")
    assert info.value.response.status_code == 409
    api.create_branch("acme/tiny", branch="dev/x", exist_ok=True)

    api.delete_branch("acme/tiny", branch="dev/x")
    api.delete_tag("acme/tiny", tag="v1.0")
    refs = api.list_repo_refs("acme/tiny")
    assert [b.name for b in refs.branches] == ["main"] and refs.tags == []


def test_create_branch_from_a_starting_point(hub, make_repo):
    repo = make_repo("tiny")
    first = hub.seed(repo, inline={"a.txt": b"a"})
    hub.seed(repo, inline={"b.txt": b"b"})
    hub.api("member").create_branch("acme/tiny", branch="old", revision=first.oid)
    refs = hub.api("member").list_repo_refs("acme/tiny")
    assert {b.name: b.target_commit for b in refs.branches}["old"] == first.oid


def test_tag_on_a_branch_revision(hub, make_repo):
    repo = make_repo("tiny")
    hub.seed(repo, inline={"a.txt": b"a"}, branch="main")
    hub.api("owner").create_branch("acme/tiny", branch="dev")
    dev_head = hub.seed(repo, inline={"d.txt": b"d"}, branch="dev")
    hub.api("owner").create_tag("acme/tiny", tag="dev-snap", revision="dev")
    tags = hub.api("owner").list_repo_refs("acme/tiny").tags
    assert tags[0].target_commit == dev_head.oid


@pytest.mark.parametrize("persona", ["reader", "outsider"])
def test_branch_and_tag_need_write_access(hub, make_repo, persona):
    make_repo("tiny")
    with pytest.raises(HfHubHTTPError) as info:
        hub.api(persona).create_branch("acme/tiny", branch="x")
    assert info.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError):
        hub.api(persona).create_tag("acme/tiny", tag="x")


def test_list_repo_commits_newest_first_across_pages(hub, make_repo, monkeypatch):
    monkeypatch.setattr(hf_repos, "COMMITS_PAGE_SIZE", 2)
    repo = make_repo("tiny")
    for i in range(3):
        hub.seed(repo, inline={f"f{i}.txt": b"x"}, title=f"add f{i}")
    commits = hub.api("reader").list_repo_commits("acme/tiny")
    assert [c.title for c in commits] == ["add f2", "add f1", "add f0", "initial commit"]
    assert commits[0].authors == ["olivia"]
    assert isinstance(commits[0].created_at, datetime)
    formatted = hub.api("reader").list_repo_commits("acme/tiny", formatted=True)
    assert formatted[0].formatted_title == "add f2"
    with pytest.raises(RevisionNotFoundError):
        hub.api("reader").list_repo_commits("acme/tiny", revision="nope")


# --- validate-yaml ------------------------------------------------------------------------------


def test_validate_yaml_accepts_good_front_matter(client):
    response = client.post("/api/validate-yaml", {"content": README.decode(), "repoType": "model"},
                           content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"errors": [], "warnings": []}


def test_validate_yaml_rejects_bad_front_matter_with_a_message(client):
    response = client.post("/api/validate-yaml", {"content": "---\n- a\n- b\n---\nbody", "repoType": "model"},
                           content_type="application/json")
    assert response.status_code == 400
    assert "mapping" in response.json()["errors"][0]["message"]
