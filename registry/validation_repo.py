"""Repo-level checks on a commit's full tree, once every file has a verdict. Pure: no Django, no database.

The file checks (registry/validation/) say whether each file is what it claims to be; these say whether the
files make a usable model repository: a config that parses and agrees with the weights, a tokenizer, a
model card, safetensors beside pickled weights, sharded indexes that match their shards.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from registry.validation import CheckResult, validate_safetensors_index
from registry.validation.anatomy import config_weights, gguf_anatomy
from registry.validation.sharded import resolve_shard_path
from registry.validation.strict_json import JsonInvalid, loads_strict
from registry.validation.types import FAILED, PASSED, WARNING, TensorInfo, worst

TensorTables = Callable[[str], Iterable[TensorInfo] | None]

CONFIG = "config.json"
ROOT_WEIGHTS = "model.safetensors"
ROOT_INDEX = "model.safetensors.index.json"
README = "README.md"
GITATTRIBUTES = ".gitattributes"
INDEX_SUFFIX = ".safetensors.index.json"
PARAMETER_TOLERANCE = 0.10
TOKENIZER_FILES = frozenset({
    "tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json", "vocab.txt", "merges.txt",
    "spiece.model", "sentencepiece.bpe.model", "vocab.model", "tiktoken.model", "tokenizer.tiktoken",
})
PICKLED_WEIGHT_EXTENSIONS = (".bin", ".pt", ".pth", ".ckpt")
# Pickles that hold trainer state, not weights: they have no safetensors twin by nature.
NOT_WEIGHTS = ("training_args", "optimizer", "scheduler", "scaler", "rng_state", "trainer_state")
# Families whose configs say nothing of tying: the transformers default for each (checked with transformers'
# AutoConfig.for_model). Other families are left alone where tying matters.
UNTIED_BY_DEFAULT = frozenset({"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe",
                               "olmo", "olmo2", "phi", "phi3", "deepseek_v2", "deepseek_v3", "gpt_neox", "gptj",
                               "stablelm"})
TIED_BY_DEFAULT = frozenset({"gpt2", "gpt_bigcode", "falcon", "starcoder2", "gemma", "gemma2", "bloom", "opt",
                             "cohere"})
_SHOWN = 5


@dataclass(frozen=True)
class TreeFile:
    """One path of the tree with what validation learnt of its content (None when never checked)."""

    path: str
    size: int
    status: str | None = None
    summary: Mapping[str, Any] | None = None


@dataclass
class RepoReport:
    status: str
    checks: list[CheckResult]
    summary: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checks": [{"name": c.name, "status": c.status, "message": c.message} for c in self.checks],
            **self.summary,
        }


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _int(config: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = config.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def estimate_parameters(config: Mapping[str, Any]) -> list[int]:
    """Parameter counts a config implies (one, or tied and untied when the config doesn't say); [] if unknown.

    Decoder-only transformers in the llama layout (q/k/v/o projections, gated MLP, RMSNorm) and the gpt2
    layout (fused qkv with biases, 4x MLP, learned positions, LayerNorm). Small terms (biases of llama-style
    models, rotary buffers) stay inside the tolerance.
    """
    model_type = str(config.get("model_type") or "")
    vocab = _int(config, "vocab_size", "padded_vocab_size")
    if vocab is None:
        return []
    gpt2_style = "n_embd" in config or model_type in {"gpt2", "gpt_bigcode"}
    if gpt2_style:
        hidden = _int(config, "n_embd", "hidden_size")
        layers = _int(config, "n_layer", "num_hidden_layers")
        positions = _int(config, "n_positions", "max_position_embeddings") or 0
        if hidden is None or layers is None:
            return []
        inner = _int(config, "n_inner", "intermediate_size") or 4 * hidden
        per_layer = (2 * hidden + hidden * 3 * hidden + 3 * hidden + hidden * hidden + hidden
                     + 2 * hidden + hidden * inner + inner + inner * hidden + hidden)
        base = vocab * hidden + positions * hidden + layers * per_layer + 2 * hidden
        tied = config.get("tie_word_embeddings", True)
        return [base] if tied else [base + vocab * hidden]
    hidden = _int(config, "hidden_size", "d_model")
    layers = _int(config, "num_hidden_layers", "n_layers")
    inner = _int(config, "intermediate_size", "ffn_dim")
    if hidden is None or layers is None or inner is None:
        return []
    heads = _int(config, "num_attention_heads") or 1
    kv_heads = _int(config, "num_key_value_heads") or heads
    head_dim = _int(config, "head_dim") or max(hidden // heads, 1)
    experts = _int(config, "num_local_experts", "num_experts") or 1
    attention = hidden * heads * head_dim * 2 + 2 * hidden * kv_heads * head_dim
    mlp = 3 * hidden * inner * experts + (hidden * experts if experts > 1 else 0)
    base = vocab * hidden + layers * (attention + mlp + 2 * hidden) + hidden
    declared = config.get("tie_word_embeddings")
    if declared is None:
        declared = False if model_type in UNTIED_BY_DEFAULT else True if model_type in TIED_BY_DEFAULT else None
    if declared is None:
        return [base, base + vocab * hidden]
    return [base] if declared else [base + vocab * hidden]


def _is_weight_pickle(path: str) -> bool:
    name = posixpath.basename(path).lower()
    return name.endswith(PICKLED_WEIGHT_EXTENSIONS) and not name.startswith(NOT_WEIGHTS)


def _has_twin(path: str, safetensors_by_dir: Mapping[str, set[str]]) -> bool:
    folder, name = posixpath.split(path)
    stem = posixpath.splitext(name)[0]
    siblings = safetensors_by_dir.get(folder, set())
    candidates = {f"{stem}.safetensors", f"{stem.replace('pytorch_model', 'model')}.safetensors"}
    if candidates & siblings:
        return True
    # pytorch_model-0000x-of-0000y.bin shards: the safetensors set may be sharded differently.
    return stem.startswith("pytorch_model") and any(s.startswith("model") for s in siblings)


def root_index(paths: Iterable[str]) -> str | None:
    """The root sharded-safetensors index: `model.safetensors.index.json`, else the first root one by name."""
    roots = sorted(p for p in paths if "/" not in p and p.endswith(INDEX_SUFFIX))
    if ROOT_INDEX in roots:
        return ROOT_INDEX
    return roots[0] if roots else None


def _safetensors_weights(files: Sequence[TreeFile], index_shards: Mapping[str, set[str]]) -> list[TreeFile]:
    """The files that hold the model's weights, as HF_COMMUNITY.md §3 counts them: the root `model.safetensors`,
    else the shards the root index names; failing both, the root safetensors files, else any (adapters and
    pipelines, which the Hub leaves uncounted but whose size people still want to see)."""
    by_path = {f.path: f for f in files}
    index = root_index(index_shards)
    if ROOT_WEIGHTS in by_path:
        paths = [ROOT_WEIGHTS]
    elif index is not None:
        paths = sorted(index_shards[index])
    else:
        paths = [f.path for f in files if f.path.endswith(".safetensors") and "/" not in f.path]
        if not paths:
            paths = [f.path for f in files if f.path.endswith(".safetensors")]
    return [by_path[p] for p in paths if p in by_path]


def _safetensors_parameters(files: Sequence[TreeFile], index_shards: Mapping[str, set[str]]) -> int | None:
    """The model's parameters from the safetensors headers: the root index's shards, else root files."""
    total = 0
    seen = False
    for file in _safetensors_weights(files, index_shards):
        count = (file.summary or {}).get("parameter_count")
        if isinstance(count, int):
            total += count
            seen = True
    return total if seen else None


def _safetensors_dtypes(files: Sequence[TreeFile], index_shards: Mapping[str, set[str]]) -> dict[str, int]:
    """Parameters per dtype over the same files as `_safetensors_parameters` (what the Hub calls
    `safetensors.parameters`); {} when no header said."""
    totals: dict[str, int] = {}
    for file in _safetensors_weights(files, index_shards):
        dtypes = (file.summary or {}).get("dtypes")
        if not isinstance(dtypes, Mapping):
            continue
        for dtype, count in dtypes.items():
            if isinstance(dtype, str) and isinstance(count, int) and not isinstance(count, bool):
                totals[dtype] = totals.get(dtype, 0) + count
    return dict(sorted(totals.items()))


def parameter_counts(files: Sequence[TreeFile], *, read: Callable[[str], bytes | None]
                     ) -> tuple[int | None, dict[str, int]] | None:
    """(parameters, per dtype) of the weights the Hub counts, as `check_repo` reports them; None while one of those
    files has not been read yet (its count would be short)."""
    paths = {f.path for f in files}
    index_shards: dict[str, set[str]] = {}
    index = root_index(paths)
    if ROOT_WEIGHTS not in paths and index is not None:
        data = read(index)
        index_shards[index] = _index_shards(data, index) if data is not None else set()
    weights = _safetensors_weights(files, index_shards)
    if any(f.summary is None for f in weights):
        return None
    parameters = _safetensors_parameters(files, index_shards)
    return parameters, (_safetensors_dtypes(files, index_shards) if parameters is not None else {})


def _index_shards(index: bytes, index_path: str) -> set[str]:
    try:
        root = loads_strict(index, max_depth=16)
    except JsonInvalid:
        return set()
    weight_map = root.get("weight_map") if isinstance(root, dict) else None
    if not isinstance(weight_map, dict):
        return set()
    return {resolve_shard_path(index_path, v) for v in weight_map.values() if isinstance(v, str) and v}


def _no_tables(path: str) -> None:
    return None


def check_repo(files: Sequence[TreeFile], *, read: Callable[[str], bytes | None],
               tensors: TensorTables = _no_tables) -> RepoReport:
    """Checks on the whole tree. `read(path)` returns a small file's bytes (config, indexes), or None;
    `tensors(path)` a weight file's tensor table (iterated once, lazily), or None when it is not known."""
    checks: list[CheckResult] = []
    summary: dict[str, Any] = {}
    paths = {f.path for f in files}
    weights = [f.path for f in files
               if f.path.endswith((".safetensors", ".gguf")) or _is_weight_pickle(f.path)]
    gguf_only = bool(weights) and all(p.endswith(".gguf") for p in weights)

    # config.json
    config: dict[str, Any] | None = None
    if CONFIG in paths:
        data = read(CONFIG)
        if data is None:
            checks.append(CheckResult("config", WARNING, "config.json is too large to read; not checked"))
        else:
            try:
                parsed = loads_strict(data, max_depth=64)
            except JsonInvalid as exc:
                checks.append(CheckResult("config", FAILED, f"config.json does not parse: {exc}"))
            else:
                if isinstance(parsed, dict):
                    config = parsed
                    kind = config.get("model_type") or "no model_type"
                    checks.append(CheckResult("config", PASSED, f"config.json parses ({kind})"))
                else:
                    checks.append(CheckResult("config", FAILED, "config.json must hold a JSON object"))
    elif weights and not gguf_only:
        checks.append(CheckResult("config", WARNING, "no config.json: libraries can't load these weights"))

    # sharded safetensors indexes
    index_shards: dict[str, set[str]] = {}
    shard_tensors = {
        f.path: f.summary["tensors"]
        for f in files
        if f.path.endswith(".safetensors") and f.summary and isinstance(f.summary.get("tensors"), dict)
    }
    for index_path in sorted(p for p in paths if p.endswith(INDEX_SUFFIX)):
        data = read(index_path)
        if data is None:
            checks.append(CheckResult("safetensors_index", WARNING, f"{index_path}: too large to read"))
            continue
        index_shards[index_path] = _index_shards(data, index_path)
        report = validate_safetensors_index(data, index_path=index_path, shards=shard_tensors, present=paths)
        for check in report.checks:
            checks.append(CheckResult(check.name, check.status, f"{index_path}: {check.message}"))

    # parameters: the weights' headers against what the config implies
    parameters = _safetensors_parameters(files, index_shards)
    if parameters is not None:
        summary["parameter_count"] = parameters
        dtypes = _safetensors_dtypes(files, index_shards)
        if dtypes:
            summary["parameter_dtypes"] = dtypes
    if config is not None and parameters:
        estimates = estimate_parameters(config)
        if estimates:
            summary["config_parameter_estimate"] = estimates[0] if len(estimates) == 1 else estimates
            off = min(abs(parameters - e) / max(e, 1) for e in estimates)
            shown = " or ".join(f"{e:,}" for e in estimates)
            if off > PARAMETER_TOLERANCE:
                checks.append(CheckResult(
                    "parameters", WARNING,
                    f"the weights hold {parameters:,} parameters but config.json implies about {shown} "
                    f"({off:.0%} off)",
                ))
            else:
                checks.append(CheckResult("parameters", PASSED,
                                          f"{parameters:,} parameters, as config.json implies"))

    # config.json against the weights' tensor tables (headers only), and each GGUF file against itself
    if config is not None:
        weight_files = [f.path for f in _safetensors_weights(files, index_shards)]
        tables = [(path, tensors(path)) for path in weight_files]
        if tables and all(table is not None for _path, table in tables):
            model_type = str(config.get("model_type") or "")
            tied_default = False if model_type in UNTIED_BY_DEFAULT else \
                True if ("n_embd" in config or model_type in TIED_BY_DEFAULT) else None
            checks.extend(config_weights(config, tables, tied_by_default=tied_default))  # type: ignore[arg-type]
    for file in files:
        if file.path.endswith(".gguf") and file.summary and "anatomy" in file.summary:
            checks.extend(gguf_anatomy(file.path, file.summary, tensors(file.path)))

    # tokenizer: only a model needs one (a repo's first commit, or one of adapters or data, does not)
    if (weights or config is not None) and not gguf_only:  # GGUF files carry their tokenizer
        if any(posixpath.basename(p) in TOKENIZER_FILES for p in paths):
            checks.append(CheckResult("tokenizer", PASSED, "tokenizer files present"))
        else:
            checks.append(CheckResult("tokenizer", WARNING, "no tokenizer files (tokenizer.json, "
                                                            "tokenizer.model, vocab files…)"))

    # model card (a new repo's first commit, which holds only .gitattributes, has nothing to describe yet)
    if README in paths:
        checks.append(CheckResult("model_card", PASSED, "README.md present"))
    elif paths - {GITATTRIBUTES}:
        checks.append(CheckResult("model_card", WARNING, "no README.md model card"))

    # pickled weights need a safetensors twin
    safetensors_by_dir: dict[str, set[str]] = {}
    for p in paths:
        if p.endswith(".safetensors"):
            folder, name = posixpath.split(p)
            safetensors_by_dir.setdefault(folder, set()).add(name)
    lonely = sorted(p for p in paths if _is_weight_pickle(p) and not _has_twin(p, safetensors_by_dir))
    if lonely:
        checks.append(CheckResult(
            "safetensors_twin", WARNING,
            f"pickled weights without a safetensors copy (loading them runs code): {_listing(lonely)}",
        ))

    return RepoReport(status=worst([c.status for c in checks]), checks=checks, summary=summary)
