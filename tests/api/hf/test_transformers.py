"""transformers against the live hub: upload a tiny Llama with HfApi.upload_folder, load it back with
AutoModelForCausalLM / AutoTokenizer, on the local store and on S3 (moto; /resolve redirects to presigned
URLs).

Needs the `inference` extra (torch, transformers); without it the whole module is skipped.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.fixtures.tiny_model import INFERENCE_SKIP_REASON, TinyModel

torch = pytest.importorskip("torch", reason=INFERENCE_SKIP_REASON)
transformers = pytest.importorskip("transformers", reason=INFERENCE_SKIP_REASON)

import huggingface_hub.hf_api  # noqa: E402
from django.core.signals import request_started  # noqa: E402
from huggingface_hub import constants  # noqa: E402
from huggingface_hub.utils import _xet  # noqa: E402
from transformers.utils import hub as transformers_hub  # noqa: E402

from registry.models import Branch, CommitFile  # noqa: E402
from registry.services.licenses import license_accept  # noqa: E402

pytestmark = pytest.mark.live

SENTENCE = "Hello 세계! 작은 모델을 hub에서 불러옵니다."
# Files AutoTokenizer probes for and a tokenizer.json-only repo does not have: each must come back as
# 404 EntryNotFound with X-Repo-Commit, which the client caches under .no_exist/<commit>/.
OPTIONAL_TOKENIZER_FILES = ("tokenizer.model", "added_tokens.json")


@pytest.fixture
def hf_endpoint(hub, monkeypatch, tmp_path):
    """Point huggingface_hub (and so transformers) at the live hub, as HF_ENDPOINT would at import time."""
    monkeypatch.setenv("DISABLE_SAFETENSORS_CONVERSION", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    # hf_hub_url (endpoint=None, as transformers calls it) formats this template, made at import time.
    template = hub.url + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # hf_xet reads its cache location from here
    monkeypatch.delenv("HF_XET_CACHE", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(constants, "HF_XET_CACHE", str(tmp_path / "hf-home" / "xet"))
    monkeypatch.setattr(_xet, "_GLOBAL_XET_HOLDER", _xet.XetSessionHolder())  # hf_xet: a session of its own
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(constants, "HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-default-cache"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf-home" / "stored_tokens"))
    # HfApi instances made before the patch keep the old endpoint: huggingface_hub's module-level one, and
    # the one transformers caches on first use (made again, with the patched ENDPOINT, when None).
    monkeypatch.setattr(huggingface_hub.hf_api.api, "endpoint", hub.url)
    monkeypatch.setattr(transformers_hub, "_hf_api", None)
    return hub


@pytest.fixture
def requests_seen():
    """(method, path) of every request the live server's Django handler starts, in order."""
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def record(sender, environ, **kwargs):
        with lock:
            seen.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))

    request_started.connect(record, weak=False)
    try:
        yield seen
    finally:
        request_started.disconnect(record)


def upload(hub, tiny_model: TinyModel, repo_id: str, worker) -> str:
    """The stock client uploads the weights over Xet; the worker then materialises them (until then: 403)."""
    info = hub.api("owner").upload_folder(folder_path=str(tiny_model.path), repo_id=repo_id,
                                          commit_message="tiny llama")
    assert worker.run() == ["verified"]
    return info.oid


def load(hub, repo_id: str, cache_dir: Path, persona: str = "anonymous"):
    token = hub.token(persona)
    model = transformers.AutoModelForCausalLM.from_pretrained(repo_id, cache_dir=cache_dir, token=token)
    tokenizer = transformers.AutoTokenizer.from_pretrained(repo_id, cache_dir=cache_dir, token=token)
    return model, tokenizer


def assert_same_weights(model, tiny_model: TinyModel) -> None:
    loaded = model.state_dict()
    assert sorted(loaded) == sorted(tiny_model.state_dict)
    for name, original in tiny_model.state_dict.items():
        assert torch.equal(loaded[name], original), name


def assert_round_trips(tokenizer, tiny_model: TinyModel) -> None:
    assert len(tokenizer) == tiny_model.vocab_size
    ids = tokenizer(SENTENCE, add_special_tokens=False)["input_ids"]
    assert len(ids) > 1
    assert tokenizer.decode(ids) == SENTENCE


def cache_root(cache_dir: Path, repo_id: str) -> Path:
    return cache_dir / ("models--" + repo_id.replace("/", "--"))


def test_transformers_loads_an_uploaded_model_and_tokenizer(
    hf_endpoint, make_repo, blob_store, tiny_model, requests_seen, tmp_path, worker
):
    hub = hf_endpoint
    repo = make_repo("tiny-llama")
    commit = upload(hub, tiny_model, "acme/tiny-llama", worker)
    assert sorted(hub.api("anonymous").list_repo_files("acme/tiny-llama")) == sorted(
        [".gitattributes", *(p.name for p in tiny_model.path.iterdir())]
    )

    # The weights went through Xet and were materialised in the blob store; the JSON files were committed inline.
    head = Branch.objects.get(repo=repo, name="main").head
    stored = {f.path: f for f in CommitFile.objects.filter(commit=head)}
    assert stored["model.safetensors"].blob is not None and stored["model.safetensors"].blob.xet_hash
    assert stored["tokenizer.json"].blob is None and stored["config.json"].blob is None

    cache = tmp_path / "transformers-cache"
    requests_seen.clear()
    model, tokenizer = load(hub, "acme/tiny-llama", cache)
    if blob_store.name == "s3":  # the hub answered the HEAD with a presigned URL: S3 served the weights
        assert ("HEAD", f"/acme/tiny-llama/resolve/{commit}/model.safetensors") in requests_seen
        assert ("GET", f"/acme/tiny-llama/resolve/{commit}/model.safetensors") not in requests_seen
    assert_same_weights(model, tiny_model)
    assert_round_trips(tokenizer, tiny_model)
    with torch.no_grad():  # and it runs
        logits = model(**tokenizer(SENTENCE, return_tensors="pt")).logits
    assert logits.shape[-1] == tiny_model.vocab_size

    # Every file came from the commit that was uploaded; the optional files were negatively cached.
    root = cache_root(cache, "acme/tiny-llama")
    assert (root / "refs" / "main").read_text() == commit
    assert (root / "snapshots" / commit / "model.safetensors").read_bytes() == (
        tiny_model.path / "model.safetensors"
    ).read_bytes()
    no_exist = {p.name for p in (root / ".no_exist" / commit).iterdir()}
    assert set(OPTIONAL_TOKENIZER_FILES) <= no_exist
    assert not no_exist & {p.name for p in tiny_model.path.iterdir()}

    # Warm cache: metadata calls only. No file is fetched or even HEADed again, optional ones included.
    requests_seen.clear()
    model, tokenizer = load(hub, "acme/tiny-llama", cache)
    assert_same_weights(model, tiny_model)
    assert_round_trips(tokenizer, tiny_model)
    assert requests_seen, "the live server saw no request at all: is the endpoint patched?"
    file_requests = [(method, path) for method, path in requests_seen if "/resolve/" in path]
    assert file_requests == []
    assert all(path.startswith("/api/") for _, path in requests_seen), requests_seen


@pytest.mark.parametrize("persona", ["anonymous", "outsider"])
def test_gated_model_loads_only_after_the_license_is_accepted(
    hf_endpoint, make_repo, blob_store, tiny_model, persona, tmp_path, worker
):
    hub = hf_endpoint
    repo = make_repo("gated-llama", gating="auto")
    upload(hub, tiny_model, "acme/gated-llama", worker)
    cache = tmp_path / "transformers-cache"

    with pytest.raises(OSError, match="gated") as info:
        transformers.AutoModelForCausalLM.from_pretrained("acme/gated-llama", cache_dir=cache,
                                                          token=hub.token(persona))
    assert "acme/gated-llama" in str(info.value)
    with pytest.raises(OSError, match="gated"):
        transformers.AutoTokenizer.from_pretrained("acme/gated-llama", cache_dir=cache,
                                                   token=hub.token(persona))

    if persona == "anonymous":
        return  # nobody to accept the license as
    license_accept(user=hub.p.outsider, repo=repo)
    model, tokenizer = load(hub, "acme/gated-llama", cache, persona)
    assert_same_weights(model, tiny_model)
    assert_round_trips(tokenizer, tiny_model)
