"""Lineage, every list_models parameter, `expand`, and securityStatus, through the stock huggingface_hub client
(docs/HF_MODELS_API.md): each field and filter the client can ask for is honoured, or refused with a 400 naming it."""

from __future__ import annotations

import pytest
from huggingface_hub.errors import BadRequestError
from huggingface_hub.utils import get_session

from api.hf import repos as hf_repos
from registry.models import Commit, ModelRepo
from registry.services.validation import validation_run_create, validation_run_execute

pytestmark = pytest.mark.live


def card(base: str | list[str] | None = None, extra: str = "") -> bytes:
    lines = ["---", "license: mit", "tags: [llm]"]
    if base is not None:
        lines.append(f"base_model: {base}" if isinstance(base, str) else "base_model: [" + ", ".join(base) + "]")
    return ("\n".join([*lines, extra, "---", "# A model", ""])).encode()


@pytest.fixture
def family(hub, make_repo):
    """acme/base and its children: two fine-tunes (one naming it in another case), an adapter, a GGUF quantisation,
    a merge in another namespace, and a private fine-tune only acme's members may see."""
    made = {}

    def child(name: str, files: dict[str, bytes], downloads: int, *, private: bool = False,
              namespace: str = "acme") -> ModelRepo:
        repo = make_repo(name, private=private, namespace=namespace)
        hub.seed(repo, inline=files)
        ModelRepo.objects.filter(pk=repo.pk).update(downloads=downloads)
        made[name] = repo
        return repo

    child("base", {"README.md": card()}, 100)
    child("ft-a", {"README.md": card("acme/base", extra="datasets: [acme/ko-corpus]")}, 50)
    child("ft-b", {"README.md": card("ACME/Base")}, 40)
    child("lora", {"README.md": card("acme/base"), "adapter_config.json": b"{}"}, 30)
    child("q4", {"README.md": card("acme/base"), "base.Q4_K_M.gguf": b"GGUF"}, 20)
    child("secret-ft", {"README.md": card("acme/base")}, 60, private=True)
    from registry.services.repos import repo_create

    merged = repo_create(actor=hub.p.outsider, namespace="oscar", name="merged")
    from registry.services.commits import AddInline, commit_create

    commit_create(actor=hub.p.outsider, repo=merged, title="card",
                  operations=[AddInline("README.md", card(["acme/base", "elsewhere/other-7b"]))])
    made["merged"] = merged
    return made


def ids(models) -> list[str]:
    return [m.id for m in models]


def raw(hub, path: str, params=None, persona: str = "anonymous"):  # noqa: ANN001, ANN201
    token = hub.token(persona)
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return get_session().get(f"{hub.url}{path}", params=params, headers=headers)


# --- lineage in model_info ---------------------------------------------------------------------------------------


def test_model_info_gives_base_models_with_their_relation(hub, family):
    api = hub.api("anonymous")
    info = api.model_info("acme/ft-a")
    assert info.base_models == {"relation": "finetune", "models": [{"id": "acme/base"}]}
    assert info.card_data.base_model == "acme/base"
    assert {"base_model:acme/base", "base_model:finetune:acme/base", "dataset:acme/ko-corpus"} <= set(info.tags)
    assert api.model_info("acme/lora").base_models["relation"] == "adapter"
    assert api.model_info("acme/q4").base_models["relation"] == "quantized"
    assert api.model_info("oscar/merged").base_models == {
        "relation": "merge", "models": [{"id": "acme/base"}, {"id": "elsewhere/other-7b"}]}
    assert api.model_info("acme/base").base_models is None


def test_children_count_only_counts_what_the_caller_may_see(hub, family):
    assert hub.api("anonymous").model_info("acme/base").children_model_count == 5
    assert hub.api("outsider").model_info("acme/base").children_model_count == 5
    assert hub.api("reader").model_info("acme/base").children_model_count == 6  # the private fine-tune too
    assert hub.api("anonymous").model_info("acme/ft-a").children_model_count == 0


def test_expand_answers_only_the_listed_properties_and_id(hub, family):
    info = hub.api("anonymous").model_info("acme/ft-a", expand=["baseModels", "childrenModelCount"])
    assert info.base_models["models"] == [{"id": "acme/base"}] and info.children_model_count == 0
    assert info.sha is None and info.siblings is None and info.tags is None
    body = raw(hub, "/api/models/acme/base", [("expand", "childrenModelCount"), ("expand", "author")]).json()
    assert body == {"id": "acme/base", "childrenModelCount": 5, "author": "acme"}


def test_every_expand_property_the_hub_computes_reads_back(hub, family):
    properties = ["author", "baseModels", "cardData", "childrenModelCount", "config", "createdAt", "disabled",
                  "downloads", "downloadsAllTime", "gated", "lastModified", "library_name", "likes", "model-index",
                  "pipeline_tag", "private", "safetensors", "sha", "siblings", "spaces", "tags", "usedStorage",
                  "widgetData"]
    hub.seed(family["ft-a"], inline={"config.json": b'{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}'})
    info = hub.api("anonymous").model_info("acme/ft-a", expand=properties)
    assert info.config == {"model_type": "llama", "architectures": ["LlamaForCausalLM"]}
    assert info.author == "acme" and info.likes == 0 and info.spaces == [] and info.used_storage > 0
    assert info.downloads_all_time == 50 and info.sha and {s.rfilename for s in info.siblings} >= {"config.json"}
    assert info.card_data.license == "mit" and info.base_models["relation"] == "finetune"


def test_no_inference_provider_serves_a_model_here(hub, family):
    """What InferenceClient asks before a call: an empty mapping, and never "warm"."""
    info = hub.api("anonymous").model_info("acme/ft-a", expand=["inferenceProviderMapping", "inference"])
    assert info.inference_provider_mapping == [] and info.inference is None


@pytest.mark.parametrize(("expand", "named"), [
    (["trendingScore"], "trendingScore"), (["gguf"], "gguf"), (["mask_token"], "mask_token"),
    (["nonsense"], "nonsense"),
])
def test_an_expand_property_the_hub_does_not_compute_is_a_400_naming_it(hub, family, expand, named):
    with pytest.raises(BadRequestError, match=named):
        hub.api("anonymous").model_info("acme/ft-a", expand=expand)
    with pytest.raises(BadRequestError, match=named):
        list(hub.api("anonymous").list_models(expand=expand))


def test_model_info_refuses_unknown_parameters_and_contradictions(hub, family):
    response = raw(hub, "/api/models/acme/ft-a", {"colour": "red"})
    assert response.status_code == 400 and "colour" in response.headers["X-Error-Message"]
    both = raw(hub, "/api/models/acme/ft-a", {"expand": "sha", "securityStatus": "true"})
    assert both.status_code == 400 and "expand" in both.headers["X-Error-Message"]


# --- list_models: lineage filters and expand ------------------------------------------------------------------------


def test_list_models_filters_by_base_model_and_relation(hub, family):
    api = hub.api("anonymous")
    assert ids(api.list_models(filter="base_model:finetune:acme/base")) == ["acme/ft-a", "acme/ft-b"]
    assert ids(api.list_models(filter="base_model:adapter:ACME/BASE")) == ["acme/lora"]
    assert ids(api.list_models(filter="base_model:quantized:acme/base")) == ["acme/q4"]
    assert ids(api.list_models(filter="base_model:merge:elsewhere/other-7b")) == ["oscar/merged"]
    assert ids(api.list_models(filter="base_model:acme/base")) == [
        "acme/ft-a", "acme/ft-b", "acme/lora", "acme/q4", "oscar/merged"]
    assert ids(api.list_models(filter=["base_model:acme/base", "llm"], author="oscar")) == ["oscar/merged"]
    assert "acme/secret-ft" not in ids(hub.api("outsider").list_models(filter="base_model:acme/base"))
    assert ids(hub.api("reader").list_models(filter="base_model:finetune:acme/base")) == [
        "acme/secret-ft", "acme/ft-a", "acme/ft-b"]


def test_a_malformed_base_model_filter_is_a_400(hub, family):
    with pytest.raises(BadRequestError, match="relation"):
        list(hub.api("anonymous").list_models(filter="base_model:distilled:acme/base"))


def test_trained_dataset_is_the_dataset_filter(hub, family):
    assert ids(hub.api("anonymous").list_models(trained_dataset="acme/ko-corpus")) == ["acme/ft-a"]
    assert ids(hub.api("anonymous").list_models(filter="dataset:acme/ko-corpus")) == ["acme/ft-a"]


def test_list_models_expand_gives_lineage_per_model(hub, family):
    models = {m.id: m for m in hub.api("reader").list_models(
        filter="base_model:acme/base", expand=["baseModels", "childrenModelCount", "downloads"])}
    assert models["acme/lora"].base_models == {"relation": "adapter", "models": [{"id": "acme/base"}]}
    assert models["acme/ft-a"].children_model_count == 0 and models["acme/ft-a"].downloads == 50
    assert models["acme/ft-a"].tags is None  # not asked for
    base = next(iter(hub.api("reader").list_models(search="acme/base", expand=["childrenModelCount"])))
    assert base.children_model_count == 6
    base = next(iter(hub.api("anonymous").list_models(search="acme/base", expand=["childrenModelCount"])))
    assert base.children_model_count == 5


def test_a_page_with_expand_costs_the_same_whatever_its_size(client, personas, family, make_repo,
                                                            django_assert_max_num_queries):
    from registry.services.commits import AddInline, commit_create

    params = {"expand": ["baseModels", "childrenModelCount", "sha", "siblings", "config", "tags"]}
    with django_assert_max_num_queries(8) as captured:
        first = client.get("/api/models", params)
    assert first.status_code == 200 and len(first.json()) == 6
    for i in range(8):
        commit_create(actor=personas.owner, repo=make_repo(f"more-{i}"), title="card",
                      operations=[AddInline("README.md", card("acme/ft-a"))])
    with django_assert_max_num_queries(len(captured.captured_queries)):
        second = client.get("/api/models", params)
    assert len(second.json()) == 14
    assert next(m for m in second.json() if m["id"] == "acme/ft-a")["childrenModelCount"] == 8


def test_the_next_link_carries_the_whole_query_and_limit_is_the_total(hub, family, monkeypatch):
    monkeypatch.setattr(hf_repos, "MODELS_PAGE_SIZE", 2)
    params = [("filter", "base_model:acme/base"), ("expand", "baseModels"), ("expand", "childrenModelCount"),
              ("limit", "3")]
    first = raw(hub, "/api/models", params)
    link = first.links["next"]["url"]
    assert "filter=base_model%3Aacme%2Fbase" in link and "expand=baseModels" in link
    assert "expand=childrenModelCount" in link and "limit=1" in link
    second = get_session().get(link)
    assert len(first.json()) == 2 and len(second.json()) == 1 and "next" not in second.links
    assert all(set(item) == {"id", "baseModels", "childrenModelCount"} for item in first.json() + second.json())
    assert ids(hub.api("anonymous").list_models(filter="base_model:acme/base", limit=3)) == [
        "acme/ft-a", "acme/ft-b", "acme/lora"]


# --- list_models: every parameter is honoured or refused ------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"apps": "ollama"}, "apps"), ({"inference": "warm"}, "inference"),
    ({"inference_provider": "all"}, "inference_provider"), ({"sort": "trending_score"}, "trendingScore"),
])
def test_parameters_the_hub_cannot_honour_are_a_400_naming_them(hub, family, kwargs, named):
    with pytest.raises(BadRequestError, match=named):
        list(hub.api("anonymous").list_models(**kwargs))


@pytest.mark.parametrize(("params", "named"), [
    ({"colour": "red"}, "colour"), ({"sort": "size"}, "sort"), ({"direction": "up"}, "direction"),
    ({"gated": "maybe"}, "gated"), ({"limit": "0"}, "limit"), ({"full": "yes please"}, "full"),
    ({"expand": "sha", "full": "true"}, "expand"), ({"expand": "sha", "cardData": "true"}, "expand"),
    ({"expand": "usedStorage"}, "usedStorage"), ({"search": ["a", "b"]}, "search"),
])
def test_unknown_or_malformed_parameters_are_a_400_naming_them(hub, family, params, named):
    response = raw(hub, "/api/models", params)
    assert response.status_code == 400 and response.headers["X-Error-Code"] == "BadRequest"
    assert named in response.headers["X-Error-Message"]


def test_the_client_parameters_all_work_together(hub, family):
    """Every list_models argument the stock client turns into a parameter this hub honours, in one call."""
    ModelRepo.objects.filter(pk=family["ft-a"].pk).update(parameter_count=7_000_000_000, pipeline_tag="text-generation")
    found = hub.api("anonymous").list_models(
        filter=["llm", "license:mit", "base_model:finetune:acme/base"], author="acme", search="ft", gated=False,
        pipeline_tag="text-generation", num_parameters="min:1B,max:10B", trained_dataset="acme/ko-corpus",
        sort="likes", limit=5, cardData=True, fetch_config=True, full=True)
    models = list(found)
    assert ids(models) == ["acme/ft-a"] and models[0].card_data.base_model == "acme/base"
    assert models[0].siblings and models[0].sha


def test_sort_and_direction(hub, family):
    api = hub.api("anonymous")
    assert ids(api.list_models(filter="base_model:acme/base", sort="downloads")) == [
        "acme/ft-a", "acme/ft-b", "acme/lora", "acme/q4", "oscar/merged"]
    response = raw(hub, "/api/models", {"filter": "base_model:acme/base", "sort": "downloads", "direction": "1"})
    assert [m["id"] for m in response.json()] == ["oscar/merged", "acme/q4", "acme/lora", "acme/ft-b", "acme/ft-a"]


# --- securityStatus -----------------------------------------------------------------------------------------------


def validate(repo: ModelRepo) -> None:
    for commit in Commit.objects.filter(repo=repo).order_by("pk"):
        run = validation_run_create(commit=commit, queue=False)
        if not run.is_finished:
            validation_run_execute(run_id=run.pk)


def test_security_status_reports_the_hubs_own_verdicts(hub, make_repo):
    from tests.registry.services.test_validation_pipeline import EVIL_PICKLE, good_model

    repo = make_repo("scanned")
    model = good_model()
    hub.seed(repo, inline=model["inline"], blobs=model["blobs"])
    api = hub.api("anonymous")
    pending = api.model_info("acme/scanned", securityStatus=True).security_repo_status
    assert pending["scansDone"] is False and pending["scannedFiles"] < pending["totalFiles"]
    validate(repo)
    clean = api.model_info("acme/scanned", securityStatus=True).security_repo_status
    assert clean["scansDone"] is True and clean["filesWithIssues"] == [] and clean["quarantinedFiles"] == []
    assert clean["scannedFiles"] == clean["totalFiles"] == 5

    hub.seed(repo, blobs={"pytorch_model.bin": EVIL_PICKLE})
    validate(repo)
    status = api.model_info("acme/scanned", securityStatus=True).security_repo_status
    assert status["scansDone"] is True and status["validationStatus"] == "failed"
    [issue] = status["filesWithIssues"]
    assert issue["path"] == "pytorch_model.bin" and issue["level"] == "unsafe"
    assert any("os.system" in reason for reason in issue["reasons"])
    assert status["quarantinedFiles"] == ["pytorch_model.bin"]
    # The revision before the bad file is still clean.
    first = Commit.objects.filter(repo=repo).order_by("pk")[1].oid
    assert api.model_info("acme/scanned", revision=first, securityStatus=True).security_repo_status[
        "filesWithIssues"] == []
    assert api.model_info("acme/scanned").security_repo_status is None  # only when asked for
