"""Model anatomy in a real browser: the parameter count and dtype on the model card and page, and the tensor viewer
reached from the file page, paged."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from portal.views import models as model_views
from registry import tasks
from registry.services.blobs import blob_ingest_stream
from registry.services.commits import AddBlob, AddInline, commit_create
from tests.registry.services.test_validation_pipeline import LLAMA, README, TOKENIZER, llama_tensors, safetensors_bytes

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_parameter_count_and_tensor_viewer(page, console, screenshot, personas, make_repo, local_store,
                                           monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(tasks.validate_commit, "apply_async", lambda args, **kw: queued.append(args[0]))
    monkeypatch.setattr(model_views, "TENSOR_PAGE_SIZE", 10)
    repo = make_repo("anatomy")
    tensors = {k: v.astype(np.float16) if k == "lm_head.weight" else v for k, v in llama_tensors().items()}
    blob = blob_ingest_stream(stream=io.BytesIO(safetensors_bytes(tensors)), repo=repo)
    commit_create(actor=personas.owner, repo=repo, title="weights", operations=[
        AddInline("README.md", README), AddInline("tokenizer.json", TOKENIZER),
        AddInline("config.json", json.dumps(LLAMA).encode()), AddBlob("model.safetensors", blob.sha256, blob.size)])
    for run_id in queued:  # the worker
        tasks.validate_commit.apply(args=(run_id,))
    total = sum(t.size for t in tensors.values())

    page.goto("/models")
    card = page.locator("li.model-card:has(a.model-id:text('acme/anatomy'))")
    assert card.locator(".params").inner_text() == f"{total / 1000:.1f}K params"
    assert card.locator(".dtype").inner_text() == "F32"
    screenshot(page, "anatomy-model-list")

    with page.expect_navigation():
        card.locator("a.model-id").click()
    assert page.locator("dd.params").inner_text().endswith("params")
    assert page.locator("dd.dtype").inner_text().split() == ["F16", "F32"]

    page.goto("/acme/anatomy/blob/main/model.safetensors")
    with page.expect_navigation():
        page.click("a.tensors")
    assert page.url.endswith("/acme/anatomy/tensors/main/model.safetensors")
    rows = page.locator("table.tensors tbody tr")
    assert rows.count() == 10
    first = rows.first.locator("td")
    assert [first.nth(i).inner_text().replace("\xa0", " ") for i in range(5)] == [
        "1", "lm_head.weight", "[32, 8]", "F16", "512 bytes"]
    assert f"{len(tensors)} tensors" in page.locator(".tensor-stats").inner_text()
    screenshot(page, "anatomy-tensor-viewer")

    names = [r.inner_text() for r in page.locator("code.tensor-name").all()]
    while page.locator("a.next").count():
        with page.expect_navigation():
            page.click("a.next")
        names += [r.inner_text() for r in page.locator("code.tensor-name").all()]
    assert names == sorted(tensors)
    assert not console.csp_violations()
