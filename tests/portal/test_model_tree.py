"""The model page's lineage ("Fine-tuned from X", the model tree with its children per relation) and the model
list's `other=` filters that the tree links to (HF's /models?other=base_model:finetune:X)."""

from __future__ import annotations

import re

import pytest

from registry.services.commits import AddInline, commit_create

pytestmark = pytest.mark.django_db


def card(base: str | list[str], relation: str = "") -> bytes:
    bases = base if isinstance(base, str) else "[" + ", ".join(base) + "]"
    extra = f"\nbase_model_relation: {relation}" if relation else ""
    return f"---\nlicense: mit\ntags: [llm]\nbase_model: {bases}{extra}\n---\n# Model\n".encode()


@pytest.fixture
def tree(personas, make_repo):
    def made(name: str, content: bytes | None = None, *, private: bool = False, extra=None):  # noqa: ANN001
        repo = make_repo(name, private=private)
        files = {"README.md": content or b"# Base\n", **(extra or {})}
        commit_create(actor=personas.owner, repo=repo, title="card",
                      operations=[AddInline(p, c) for p, c in files.items()])
        return repo

    return {
        "base": made("base"),
        "ft": made("ft", card("acme/base")),
        "ft2": made("ft2", card("acme/base")),
        "lora": made("lora", card("acme/base"), extra={"adapter_config.json": b"{}"}),
        "secret": made("secret", card("acme/base", "quantized"), private=True),
        "hybrid": made("hybrid", card(["acme/base", "meta-llama/Llama-3.1-8B"])),
    }


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_fine_tune_says_what_it_is_fine_tuned_from_and_links_the_base(client, tree):
    html = client.get("/acme/ft").content.decode()
    assert re.search(r'class="lineage" data-relation="finetune">Fine-tuned from <a href="/acme/base">acme/base</a>',
                     html)
    assert "base_model:" not in text(html.split('class="model-tree"')[0])  # derived tags are not tag chips


def test_a_base_not_on_this_hub_is_plain_text(client, tree):
    html = client.get("/acme/hybrid").content.decode()
    assert 'Merge of <a href="/acme/base">acme/base</a>, <span class="external-model">meta-llama/Llama-3.1-8B</span>' \
        in html
    assert 'href="/meta-llama/Llama-3.1-8B"' not in html


def test_the_adapter_relation_is_worded(client, tree):
    assert "Adapter of" in client.get("/acme/lora").content.decode()


def test_the_model_tree_counts_children_per_relation_that_the_viewer_may_see(client, as_user, personas, tree):
    html = client.get("/acme/base").content.decode()
    section = text(html.split('class="model-tree"')[1].split("</section>")[0])
    assert "Fine-tunes 2" in section and "Adapters 1" in section and "Merges 1" in section
    assert "Quantizations" not in section and "All 4 derived models" in section
    assert 'href="/models?other=base_model%3Afinetune%3Aacme%2Fbase"' in html
    member = as_user(personas.reader).get("/acme/base").content.decode()
    assert "Quantizations" in text(member.split('class="model-tree"')[1]) and "All 5 derived models" in text(member)


def test_a_model_without_lineage_has_no_tree(client, personas, make_repo):
    repo = make_repo("alone")
    commit_create(actor=personas.owner, repo=repo, title="card", operations=[AddInline("README.md", b"# A\n")])
    assert 'class="model-tree"' not in client.get("/acme/alone").content.decode()


def test_the_list_filtered_by_relation_shows_the_children_and_the_filter(client, as_user, personas, tree):
    html = client.get("/models", {"other": "base_model:finetune:acme/base"}).content.decode()
    listed = re.findall(r'class="model-id" href="[^"]+">([^<]+)<', html)
    assert sorted(listed) == ["acme/ft", "acme/ft2"]
    assert "Fine-tunes of acme/base" in html and 'name="other" value="base_model:finetune:acme/base"' in html
    everything = client.get("/models", {"other": "base_model:acme/base"}).content.decode()
    assert sorted(re.findall(r'class="model-id" href="[^"]+">([^<]+)<', everything)) == [
        "acme/ft", "acme/ft2", "acme/hybrid", "acme/lora"]
    member = as_user(personas.reader).get("/models", {"other": "base_model:quantized:acme/base"}).content.decode()
    assert re.findall(r'class="model-id" href="[^"]+">([^<]+)<', member) == ["acme/secret"]


def test_the_list_combines_other_filters_with_the_form_and_drops_malformed_ones(client, tree):
    html = client.get("/models", {"other": ["base_model:acme/base", "base_model:bogus:acme/base"],
                                  "q": "ft"}).content.decode()
    assert sorted(re.findall(r'class="model-id" href="[^"]+">([^<]+)<', html)) == ["acme/ft", "acme/ft2"]
    assert 'value="base_model:bogus' not in html and 'data-filter="base_model:bogus' not in html
    dataset = client.get("/models", {"filter": "llm", "other": "license:mit"}).content.decode()
    assert len(re.findall(r'class="model-id"', dataset)) == 4  # the public cards (the base has none)


def test_the_tree_speaks_korean(client, tree):
    html = client.get("/acme/base", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "모델 트리" in html and "파인튜닝 모델" in html and "파생 모델 4개 모두 보기" in html
    assert "파인튜닝 원본:" in client.get("/acme/ft", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
