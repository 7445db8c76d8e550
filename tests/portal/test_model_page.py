from __future__ import annotations

import pytest
from django.urls import reverse

from registry.services.commits import AddInline, commit_create
from registry.services.repos import repo_set_disabled

pytestmark = pytest.mark.django_db

PERSONAS = ["anonymous", "outsider", "reader", "member", "owner"]


def test_model_page_renders_card_without_front_matter(client, seed):
    response = client.get("/acme/tiny")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1 id=\"tiny-model\">Tiny model</h1>" in html
    assert "<table>" in html
    assert "pipeline_tag:" not in html  # YAML front matter is not part of the card body


def test_sidebar_shows_org_license_languages_tags_params_downloads(client, seed):
    from registry.models import ModelRepo

    ModelRepo.objects.filter(pk=seed.public.pk).update(parameter_count=1_300_000_000, downloads=4321)
    html = client.get("/acme/tiny").content.decode()
    assert "Acme AI" in html
    assert "Apache License 2.0" in html  # the card says license: apache-2.0, which the repo now follows
    assert "Korean (ko)" in html and "English (en)" in html
    assert ">llama<" in html
    assert "1.3B" in html
    assert "4,321" in html


def test_use_this_model_snippets_point_at_this_hub(client, seed):
    html = client.get("/acme/tiny").content.decode()
    assert 'HF_ENDPOINT&quot;] = &quot;http://testserver&quot;' in html
    assert "export HF_ENDPOINT=http://testserver" in html
    assert "hf download acme/tiny" in html
    assert 'snapshot_download(repo_id=&quot;acme/tiny&quot;, endpoint=&quot;http://testserver&quot;)' in html
    assert "Authorization: Bearer $HUB_API_KEY" in html
    assert "http://testserver/acme/tiny/resolve/main/config.json" in html
    assert "git lfs install\ngit clone http://testserver/acme/tiny\n" in html  # public: no password needed


def test_the_git_snippet_of_a_private_repo_says_which_password(as_user, personas, seed):
    html = as_user(personas.member).get("/acme/secret-model").content.decode()
    assert "give an API key from Settings" in html and "git clone http://testserver/acme/secret-model" in html


@pytest.mark.parametrize("who, status", [
    ("anonymous", 404), ("outsider", 404), ("reader", 200), ("member", 200), ("owner", 200),
])
@pytest.mark.parametrize(
    "suffix", ["", "/tree/main", "/blob/main/config.json", "/commits/main", "/tree/main/tokenizer"]
)
def test_private_repo_is_404_for_outsiders(as_user, personas, seed, who, status, suffix):
    response = as_user(getattr(personas, who)).get(f"/acme/secret-model{suffix}")
    assert response.status_code == status
    if status == 404:
        assert b"Only for acme" not in response.content
        assert b"Page not found" in response.content


def test_missing_repo_is_helpful_404(client, db):
    response = client.get("/nobody/nothing")
    assert response.status_code == 404
    assert b"Browse all models" in response.content
    assert b"organisation/model-name" in response.content


def test_files_tab_lists_root_with_sizes_sha_and_resolve_links(client, seed):
    response = client.get("/acme/tiny/tree/main")
    assert response.status_code == 200
    html = response.content.decode()
    entries = {e.name: e for e in response.context["entries"]}
    assert list(entries) == ["tokenizer", ".gitattributes", "README.md", "config.json", "model.safetensors"]
    assert entries["tokenizer"].is_dir
    blob = entries["model.safetensors"].file.blob
    assert blob.sha256 in html
    assert 'href="/acme/tiny/resolve/main/model.safetensors?download=true"' in html
    assert 'href="/acme/tiny/resolve/main/config.json?download=true"' in html
    assert 'href="/acme/tiny/blob/main/config.json"' in html
    assert "80 bytes" in html  # model.safetensors size


def test_files_tab_subfolder(client, seed):
    response = client.get("/acme/tiny/tree/main/tokenizer")
    assert response.status_code == 200
    assert [e.path for e in response.context["entries"]] == ["tokenizer/vocab.txt"]
    assert b'href="/acme/tiny/resolve/main/tokenizer/vocab.txt?download=true"' in response.content
    assert client.get("/acme/tiny/tree/main/no-such-folder").status_code == 404
    assert client.get("/acme/tiny/tree/no-such-branch").status_code == 404


def test_branch_and_tag_selector_and_revisions_with_slashes(client, personas, seed):
    commit_create(actor=personas.owner, repo=seed.public, branch="feature/x", title="only on the branch",
                  operations=[AddInline("branch-only.txt", b"x")])
    html = client.get("/acme/tiny/tree/main").content.decode()
    assert 'href="/acme/tiny/tree/feature%2Fx"' in html
    assert 'href="/acme/tiny/tree/v1.0"' in html
    response = client.get("/acme/tiny/tree/feature%2Fx")
    assert response.status_code == 200
    assert response.context["revision"] == "feature/x"
    assert "branch-only.txt" in [e.name for e in response.context["entries"]]
    assert b'href="/acme/tiny/resolve/feature%2Fx/branch-only.txt?download=true"' in response.content
    # Unquoted slashes work too: the longest known ref wins.
    response = client.get("/acme/tiny/blob/feature/x/branch-only.txt")
    assert response.status_code == 200
    assert response.context["text"] == "x"
    assert "branch-only.txt" not in [e.name for e in client.get("/acme/tiny/tree/v1.0").context["entries"]]


def test_blob_page_shows_small_text_file(client, seed):
    response = client.get("/acme/tiny/blob/main/config.json")
    assert response.status_code == 200
    assert response.context["text"].startswith('{"model_type": "llama"')
    assert b"&quot;model_type&quot;" in response.content


def test_blob_page_for_lfs_file_shows_metadata_and_download(client, seed):
    response = client.get("/acme/tiny/blob/main/model.safetensors")
    assert response.status_code == 200
    entry = response.context["entry"]
    assert response.context["text"] is None
    assert entry.blob.sha256.encode() in response.content
    assert b'href="/acme/tiny/resolve/main/model.safetensors?download=true"' in response.content
    assert client.get("/acme/tiny/blob/main/missing.txt").status_code == 404


def test_blob_content_of_gated_repo_hidden_until_access(as_user, personas, seed):
    response = as_user(personas.outsider).get("/acme/gated-auto/blob/main/config.json")
    assert response.status_code == 200
    assert response.context["locked"] and response.context["text"] is None
    assert b"model_type" not in response.content
    # the card stays readable for everyone
    assert as_user(personas.anonymous).get("/acme/gated-auto/blob/main/README.md").context["text"]
    assert as_user(personas.member).get("/acme/gated-auto/blob/main/config.json").context["text"]


def test_commits_page_lists_history_newest_first(client, personas, seed):
    commit_create(actor=personas.member, repo=seed.public, title="Second change",
                  operations=[AddInline("notes.txt", b"n")])
    response = client.get("/acme/tiny/commits/main")
    assert response.status_code == 200
    titles = [c.title for c in response.context["history"]]
    assert titles[0] == "Second change"
    assert titles[-1].startswith("initial commit") or len(titles) == 3
    assert b"mina" in response.content
    assert client.get("/acme/tiny/commits/nope").status_code == 404


def test_disabled_repo_says_why(client, personas, seed):
    personas.owner.is_staff = True
    personas.owner.save()
    repo_set_disabled(actor=personas.owner, repo=seed.public, disabled=True, reason="Legal hold")
    response = client.get("/acme/tiny")
    assert response.status_code == 200
    assert b"Legal hold" in response.content


def test_pages_carry_a_csp_without_inline_script(client, seed):
    response = client.get("/acme/tiny")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert b"<script>" not in response.content  # only <script src=…>
    assert "Content-Security-Policy" in client.get(reverse("models"))


def test_card_html_is_sanitised(client, personas, seed):
    evil = (
        "# Evil\n\n<script>alert('x')</script>\n\n<img src=x onerror=\"alert(1)\">\n\n"
        "[click](javascript:alert(1))\n\n<a href=\"JAVASCRIPT:alert(2)\">caps</a>\n\n"
        "<iframe src=\"https://evil.example\"></iframe>\n\n"
        "<p style=\"position:fixed\" onclick=\"x()\">styled</p>\n"
    )
    commit_create(actor=personas.owner, repo=seed.public, title="evil card",
                  operations=[AddInline("README.md", evil.encode())])
    card = client.get("/acme/tiny").context["card_html"]
    assert "<script" not in card and "alert('x')" not in card
    assert "onerror" not in card and "onclick" not in card
    assert "javascript:" not in card.lower()
    assert "<iframe" not in card
    assert "style=" not in card
    assert "styled" in card and "click" in card


def test_tree_page_query_count_is_constant(client, personas, seed, django_assert_max_num_queries):
    with django_assert_max_num_queries(20) as few:
        client.get("/acme/tiny/tree/main")
    commit_create(actor=personas.owner, repo=seed.public, title="many",
                  operations=[AddInline(f"extra/f{i}.txt", b"x") for i in range(10)]
                  + [AddInline(f"g{i}.txt", b"y") for i in range(10)])
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/acme/tiny/tree/main")
    assert len(response.context["entries"]) == 16
