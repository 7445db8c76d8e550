"""Repo-level consistency of crafted repos, checked from headers alone (check_repo fed the tensor tables).

Each crafted repo is the kind an independent corpus tries: an index that names the wrong shard or a shard not in
the commit, a tensor in two shards or in none of the map, a wrong total_size, a config that disagrees with the
weights on layers, sizes, dtype or tying, a GGUF file whose metadata disagrees with its own tensor table.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save as st_save

from registry.validation import validate_bytes
from registry.validation_repo import TreeFile, check_repo

from .corpus import F32, gguf, kv_str, kv_strings, kv_u32, tensor_info

LLAMA = {"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 2, "intermediate_size": 16,
         "vocab_size": 32, "num_attention_heads": 2, "num_key_value_heads": 1, "tie_word_embeddings": False,
         "torch_dtype": "float32"}


def llama(config: dict[str, Any] = LLAMA, *, dtype: Any = np.float32, head: bool = True,
          layers: int | None = None, vocab: int | None = None, hidden: int | None = None) -> dict[str, np.ndarray]:
    h, i = hidden or config["hidden_size"], config["intermediate_size"]
    v = vocab or config["vocab_size"]
    kv_dim = h // config["num_attention_heads"] * config["num_key_value_heads"]
    tensors = {"model.embed_tokens.weight": np.zeros((v, h), dtype), "model.norm.weight": np.ones(h, dtype)}
    if head:
        tensors["lm_head.weight"] = np.zeros((v, h), dtype)
    for n in range(config["num_hidden_layers"] if layers is None else layers):
        p = f"model.layers.{n}."
        tensors |= {p + "self_attn.q_proj.weight": np.zeros((h, h), dtype),
                    p + "self_attn.k_proj.weight": np.zeros((kv_dim, h), dtype),
                    p + "self_attn.v_proj.weight": np.zeros((kv_dim, h), dtype),
                    p + "self_attn.o_proj.weight": np.zeros((h, h), dtype),
                    p + "mlp.gate_proj.weight": np.zeros((i, h), dtype),
                    p + "mlp.up_proj.weight": np.zeros((i, h), dtype),
                    p + "mlp.down_proj.weight": np.zeros((h, i), dtype),
                    p + "input_layernorm.weight": np.ones(h, dtype),
                    p + "post_attention_layernorm.weight": np.ones(h, dtype)}
    return tensors


class Repo:
    """A tree of files as validation leaves it: per-file summaries and tensor tables, small files readable."""

    def __init__(self, files: dict[str, Any]) -> None:
        self.small: dict[str, bytes] = {}
        self.tree: list[TreeFile] = []
        self.tables: dict[str, list] = {}
        for path, content in files.items():
            if isinstance(content, dict) and path.endswith(".json"):
                content = json.dumps(content).encode()
            elif isinstance(content, dict):
                content = st_save(content)
            report = validate_bytes(content, path=path)
            self.small[path] = content
            self.tree.append(TreeFile(path, len(content), report.status, report.summary))
            if report.tensors is not None:
                self.tables[path] = report.tensors

    def check(self) -> Any:
        return check_repo(self.tree, read=self.small.get, tensors=self.tables.get)


def checks(report: Any, name: str) -> list[Any]:
    return [c for c in report.checks if c.name == name]


def index(weight_map: dict[str, str], total_size: int | None) -> dict[str, Any]:
    return {"metadata": {} if total_size is None else {"total_size": total_size}, "weight_map": weight_map}


A = {"a": np.zeros(4, np.float32)}
B = {"b": np.zeros(2, np.float32)}
S1, S2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
GOOD_MAP = {"a": S1, "b": S2}


def test_a_consistent_sharded_repo_passes():
    report = Repo({"model.safetensors.index.json": index(GOOD_MAP, 24), S1: A, S2: B}).check()
    assert {c.status for c in checks(report, "safetensors_index")} == {"passed"}
    assert report.summary["parameter_count"] == 6


INDEX_CASES = [
    ("wrong shard", {"a": S2, "b": S2}, 24, {S1: A, S2: B},
     f"wrong shard for 1 tensor(s): 'a' is in '{S1}', not '{S2}'"),
    ("shard not in the commit", {"a": S1, "b": "model-00003-of-00003.safetensors"}, 24, {S1: A},
     "'model-00003-of-00003.safetensors' is not in this commit, but the weight_map puts tensors there: 'b'"),
    ("tensor in two shards", GOOD_MAP, 24, {S1: A, S2: {**B, **A}},
     f"more than one shard: 'a' in '{S1}', '{S2}'"),
    ("shard of the set missing from the map", {"a": S1}, 16, {S1: A, S2: B},
     f"shard '{S2}' belongs to the same set as the indexed shards but the weight_map lists none of its tensors: "
     "'b'"),
    ("shard tensor missing from the map, same shard", {"a": S1}, 24, {S1: {**A, **B}},
     f"shard '{S1}' holds tensors the weight_map does not list: 'b'"),
    ("mapped tensor in no shard", {**GOOD_MAP, "c": S2}, 24, {S1: A, S2: B},
     f"assigns tensors to '{S2}' that no shard holds: 'c'"),
    ("total_size off", GOOD_MAP, 25, {S1: A, S2: B}, "total_size is 25 but the shards' tensors add up to 24"),
]


@pytest.mark.parametrize(("weight_map", "total", "shards", "message"), [c[1:] for c in INDEX_CASES],
                         ids=[c[0] for c in INDEX_CASES])
def test_inconsistent_sharded_indexes_fail_naming_tensor_and_shard(weight_map, total, shards, message):
    files = {"model.safetensors.index.json": index(weight_map, total), **shards}
    report = Repo(files).check()
    assert report.status == "failed"
    failures = [c.message for c in checks(report, "safetensors_index") if c.status == "failed"]
    assert any(message in m for m in failures), failures
    assert all(m.startswith("model.safetensors.index.json: ") for m in failures)


def test_safetensors_files_outside_the_set_are_left_alone():
    report = Repo({"model.safetensors.index.json": index(GOOD_MAP, 24), S1: A, S2: B,
                   "consolidated.safetensors": {**A, **B}}).check()
    assert {c.status for c in checks(report, "safetensors_index")} == {"passed"}


def model(config: dict[str, Any], tensors: dict[str, np.ndarray]) -> Repo:
    return Repo({"config.json": config, "model.safetensors": tensors})


def test_a_matching_config_passes_every_anatomy_check():
    report = model(LLAMA, llama()).check()
    assert {c.name: c.status for c in report.checks if c.name in {"layers", "shapes", "dtype",
                                                                 "tied_embeddings"}} == {
        "layers": "passed", "shapes": "passed", "dtype": "passed", "tied_embeddings": "passed"}


def test_config_with_two_layers_over_weights_with_one_fails():
    report = model(LLAMA, llama(layers=1)).check()
    assert report.status == "failed"
    [layers] = checks(report, "layers")
    assert layers.status == "failed"
    assert "num_hidden_layers=2" in layers.message and "model.layers.0 (1 layer)" in layers.message


def test_a_layer_missing_in_the_middle_fails():
    tensors = {k: v for k, v in llama({**LLAMA, "num_hidden_layers": 3}).items() if ".layers.1." not in k}
    [layers] = checks(model({**LLAMA, "num_hidden_layers": 3}, tensors).check(), "layers")
    assert layers.status == "failed" and "1 index missing: 1" in layers.message


@pytest.mark.parametrize(("change", "message"), [
    ({"vocab": 40}, "vocab_size=32 but model.embed_tokens.weight has 40 rows"),
    ({"hidden": 12}, "hidden_size=8 but model.embed_tokens.weight has 12 columns"),
])
def test_vocab_or_hidden_size_disagreeing_with_the_embedding_fails(change, message):
    report = model(LLAMA, llama(**change)).check()
    assert report.status == "failed"
    assert any(c.status == "failed" and message in c.message for c in checks(report, "shapes")), report.checks


def test_a_dtype_only_difference_is_a_warning():
    report = model({**LLAMA, "torch_dtype": "bfloat16"}, llama()).check()
    [dtype] = checks(report, "dtype")
    assert dtype.status == "warning"
    assert "torch_dtype bfloat16 (BF16) but the weights are F32" in dtype.message
    assert report.status == "warning"  # nothing else is wrong
    assert not [c for c in report.checks if c.status == "failed"]


def test_config_disagreeing_on_layers_and_dtype_fails_for_the_layers():
    report = model({**LLAMA, "torch_dtype": "bfloat16"}, llama(layers=1)).check()
    assert report.status == "failed"
    assert checks(report, "dtype")[0].status == "warning"


def test_untied_config_without_lm_head_fails():
    [tied] = checks(model(LLAMA, llama(head=False)).check(), "tied_embeddings")
    assert tied.status == "failed" and "no lm_head.weight" in tied.message


def test_untied_by_default_family_without_lm_head_fails():
    config = {k: v for k, v in LLAMA.items() if k != "tie_word_embeddings"}
    [tied] = checks(model(config, llama(head=False)).check(), "tied_embeddings")
    assert tied.status == "failed" and "untied by default for llama" in tied.message


def test_tied_config_without_lm_head_passes_and_with_one_warns():
    config = {**LLAMA, "tie_word_embeddings": True}
    assert checks(model(config, llama(head=False)).check(), "tied_embeddings")[0].status == "passed"
    [tied] = checks(model(config, llama()).check(), "tied_embeddings")
    assert tied.status == "warning" and "lm_head.weight in model.safetensors is ignored" in tied.message


def test_sharded_weights_are_read_across_shards():
    tensors = llama(layers=1)
    names = sorted(tensors)
    first = {n: tensors[n] for n in names[: len(names) // 2]}
    second = {n: tensors[n] for n in names[len(names) // 2:]}
    weight_map = {n: S1 for n in first} | {n: S2 for n in second}
    total = sum(t.nbytes for t in tensors.values())
    report = Repo({"config.json": LLAMA, "model.safetensors.index.json": index(weight_map, total),
                   S1: first, S2: second}).check()
    [layers] = checks(report, "layers")
    assert layers.status == "failed" and "num_hidden_layers=2" in layers.message
    assert {c.status for c in checks(report, "safetensors_index")} == {"passed"}


def test_no_tensor_tables_means_no_anatomy_verdicts():
    repo = model(LLAMA, llama(layers=1))
    report = check_repo(repo.tree, read=repo.small.get)
    assert not checks(report, "layers")


def _gguf(block_count: int, blocks: int, *, width: int = 4, vocab: int = 8, tokens: int = 8) -> bytes:
    infos = [tensor_info("token_embd.weight", [width, vocab], F32, 0)]
    offset = width * vocab * 4
    for n in range(blocks):
        infos.append(tensor_info(f"blk.{n}.attn_norm.weight", [width], F32, offset))
        offset += 32  # aligned
    kvs = [kv_str("general.architecture", "llama"), kv_u32("llama.block_count", block_count),
           kv_u32("llama.embedding_length", 4),
           kv_strings("tokenizer.ggml.tokens", [f"t{i}" for i in range(tokens)])]
    return gguf(kvs, infos, bytes(offset))


def gguf_repo(data: bytes) -> Any:
    return Repo({"model.Q8_0.gguf": data}).check()


def test_gguf_matching_its_tensor_table_passes():
    report = gguf_repo(_gguf(2, 2))
    assert [c.status for c in checks(report, "gguf_metadata")] == ["passed"], report.checks


@pytest.mark.parametrize(("data", "message"), [
    (_gguf(2, 1), "llama.block_count is 2 but the tensors hold blk.0"),
    (_gguf(1, 1, width=8), "llama.embedding_length is 4 but token_embd.weight is 8 wide"),
    (_gguf(1, 1, tokens=9), "the tokenizer lists 9 tokens but token_embd.weight has 8"),
])
def test_gguf_metadata_disagreeing_with_its_tensors_fails(data, message):
    report = gguf_repo(data)
    [check] = checks(report, "gguf_metadata")
    assert check.status == "failed" and message in check.message and check.message.startswith("model.Q8_0.gguf")


@pytest.mark.parametrize(("model_type", "status"), [("falcon", "passed"), ("gemma", "passed"), ("mistral", "failed"),
                                                    ("some-new-family", None)])
def test_tying_defaults_follow_each_family(model_type, status):
    config = {k: v for k, v in LLAMA.items() if k != "tie_word_embeddings"} | {"model_type": model_type}
    found = checks(model(config, llama(head=False)).check(), "tied_embeddings")
    assert [c.status for c in found] == ([status] if status else [])


def test_a_single_layer_is_named_plainly():
    config = {**LLAMA, "num_hidden_layers": 1}
    [layers] = checks(model(config, llama(config)).check(), "layers")
    assert layers.message == "config.json num_hidden_layers=1 matches the weights' model.layers.0"
