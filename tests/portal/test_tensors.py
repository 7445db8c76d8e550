"""Model anatomy in the browser pages: parameter count and main dtype on model cards and the model page, a tensor
viewer per weights file (name, shape, dtype, size) a keyset page at a time, with the access rules of downloads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from portal.views import models as model_views
from registry.services.licenses import license_accept
from tests.registry.services.test_validation_pipeline import LLAMA, README, TOKENIZER, llama_tensors, safetensors_bytes

pytestmark = pytest.mark.django_db


def validated_model(validator, repo, tensors=None):  # noqa: ANN001, ANN201
    tensors = tensors or {k: v.astype(np.float16) if k == "lm_head.weight" else v for k, v in llama_tensors().items()}
    return validator.commit_and_run(repo, inline={"config.json": json.dumps(LLAMA).encode(), "README.md": README,
                                                  "tokenizer.json": TOKENIZER},
                                    blobs={"model.safetensors": safetensors_bytes(tensors)})


def test_model_cards_and_page_show_parameters_and_main_dtype(client, validator, make_repo):
    validated_model(validator, make_repo("anat"))
    total = sum(t.size for t in llama_tensors().values())
    for url in ("/models", "/", "/acme/anat"):
        html = client.get(url).content.decode()
        assert f'title="{total:,}">{total / 1000:.1f}K params'.replace(".0K", "K") in html, url
        assert '<span class="dtype">F32</span>' in html or 'class="dtype"' in html, url
    page = client.get("/acme/anat").content.decode()
    assert '<span class="chip" title="256">F16</span>' in page  # lm_head: 32 × 8
    assert "Tensor type" in page


def test_the_tensor_viewer_pages_through_the_table(client, validator, make_repo, monkeypatch,
                                                   django_assert_max_num_queries):
    monkeypatch.setattr(model_views, "TENSOR_PAGE_SIZE", 7)
    validated_model(validator, make_repo("anat"))
    blob = client.get("/acme/anat/blob/main/model.safetensors").content.decode()
    assert 'href="/acme/anat/tensors/main/model.safetensors"' in blob

    seen, url, pages = [], "/acme/anat/tensors/main/model.safetensors", 0
    while url:
        with django_assert_max_num_queries(20):
            response = client.get(url)
        assert response.status_code == 200
        seen += [(t.name, t.shape, t.dtype, t.nbytes) for t in response.context["tensors"]]
        after = response.context["next_after"]
        url = f"/acme/anat/tensors/main/model.safetensors?after={after}" if after is not None else None
        pages += 1
    expected = sorted(llama_tensors())
    assert [name for name, *_ in seen] == expected
    assert pages == -(-len(expected) // 7)
    assert ("lm_head.weight", [32, 8], "F16", 32 * 8 * 2) in seen
    html = client.get("/acme/anat/tensors/main/model.safetensors").content.decode()
    assert "<code class=\"tensor-name\">lm_head.weight</code>" in html and "[32, 8]" in html
    assert f"{len(expected)} tensors" in html


def test_a_page_costs_the_same_queries_whatever_the_table_size(client, validator, make_repo,
                                                               django_assert_num_queries,
                                                               django_assert_max_num_queries):
    small = {f"t{i:05d}": np.zeros(2, np.float32) for i in range(5)}
    big = {f"t{i:05d}": np.zeros(2, np.float32) for i in range(3000)}
    validator.commit_and_run(make_repo("small"), blobs={"model.safetensors": safetensors_bytes(small)})
    validator.commit_and_run(make_repo("big"), blobs={"model.safetensors": safetensors_bytes(big)})
    client.get("/acme/small/tensors/main/model.safetensors")
    with django_assert_max_num_queries(20) as few:
        client.get("/acme/small/tensors/main/model.safetensors")
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get("/acme/big/tensors/main/model.safetensors?after=2000")
    assert [t.name for t in response.context["tensors"]][0] == "t02001"


def test_a_gated_models_tensors_need_the_accepted_license(client, as_user, personas, validator, make_repo):
    repo = make_repo("gated", gating="auto")
    validated_model(validator, repo)
    url = "/acme/gated/tensors/main/model.safetensors"
    for who in (personas.anonymous, personas.outsider):
        response = as_user(who).get(url)
        assert response.status_code == 200
        assert response.context["tensors"] == [] and response.context["locked"]
        assert "shown once you have access" in response.content.decode()
    license_accept(user=personas.outsider, repo=repo)
    assert len(as_user(personas.outsider).get(url).context["tensors"]) == len(llama_tensors())
    assert len(as_user(personas.member).get(url).context["tensors"]) == len(llama_tensors())


def test_a_private_models_tensors_are_not_found_for_outsiders(as_user, personas, validator, make_repo):
    validated_model(validator, make_repo("hidden", private=True))
    url = "/acme/hidden/tensors/main/model.safetensors"
    assert as_user(personas.outsider).get(url).status_code == 404
    assert as_user(personas.anonymous).get(url).status_code == 404
    assert as_user(personas.member).get(url).status_code == 200


def test_a_file_without_a_table_says_so(client, validator, make_repo):
    validated_model(validator, make_repo("anat"))
    assert client.get("/acme/anat/tensors/main/missing.safetensors").status_code == 404
    html = client.get("/acme/anat/tensors/main/config.json").content.decode()
    assert "No tensor table for this file" in html


def test_the_viewer_speaks_korean(client, validator, make_repo):
    validated_model(validator, make_repo("anat"))
    html = client.get("/acme/anat/tensors/main/model.safetensors", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert f"텐서 {len(llama_tensors())}개" in html and "형태" in html
