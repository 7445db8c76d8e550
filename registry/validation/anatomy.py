"""Config against weights: does config.json describe the tensors the headers hold? Pure; headers only.

`config_weights` reads the tensor tables of the files that hold the model's weights (the root index's shards, or
the root safetensors file) one tensor at a time and keeps only what it compares: the layer indices seen, the
embedding and output-head shapes, the parameters per dtype. So a 10k-tensor × 100-shard model costs one pass over
its tables and a few kilobytes of state. `gguf_anatomy` does the same inside one GGUF file, whose metadata and
tensor table sit in the same header.

Verdicts: a disagreement that stops a library from loading the weights (a layer count, a vocabulary or hidden
size, an untied head that is missing) fails; a dtype that differs from `torch_dtype` only warns (the weights load,
cast on the way), and so does a head stored although the config ties it to the embeddings (it is ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from registry.validation.types import FAILED, PASSED, WARNING, CheckResult, TensorInfo

LAYERS = "layers"
SHAPES = "shapes"
DTYPE = "dtype"
TIED = "tied_embeddings"
GGUF = "gguf_metadata"

# `<prefix>.<container>.<index>.` — model.layers.3., transformer.h.3., gpt_neox.layers.3., encoder.layer.3.
_LAYER = re.compile(r"^(?P<prefix>(?:.*?\.)?(?:layers|layer|h|blocks|block))\.(?P<index>\d+)\.")
_EMBEDDINGS = ("embed_tokens.weight", "wte.weight", "word_embeddings.weight", "tok_embeddings.weight",
               "embed_in.weight")
_HEADS = ("lm_head.weight", "embed_out.weight")
_FLOATS = {"F64", "F32", "F16", "BF16"}
TORCH_DTYPES = {"float32": "F32", "float": "F32", "float16": "F16", "half": "F16", "bfloat16": "BF16",
                "float64": "F64", "double": "F64"}
_SHOWN = 5
_GGUF_LAYER = re.compile(r"^blk\.(\d+)\.")


def _int(config: Mapping[str, Any], *names: str) -> tuple[str, int] | None:
    for name in names:
        value = config.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return name, value
    return None


def _ranges(indices: Iterable[int]) -> str:
    """'0–3, 5' for {0, 1, 2, 3, 5}."""
    ordered = sorted(indices)
    parts: list[str] = []
    start = prev = ordered[0]
    for value in [*ordered[1:], None]:
        if value is not None and value == prev + 1:
            prev = value
            continue
        parts.append(f"{start}" if start == prev else f"{start}–{prev}")
        if value is not None:
            start = prev = value
    return ", ".join(parts)


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


@dataclass
class _Seen:
    layers: dict[str, set[int]] = field(default_factory=dict)  # layer prefix -> indices
    embedding: tuple[str, str, tuple[int, ...]] | None = None  # (name, file, shape)
    head: tuple[str, str, tuple[int, ...]] | None = None
    floats: dict[str, int] = field(default_factory=dict)  # float dtype -> parameters
    tensors: int = 0

    def add(self, path: str, tensor: TensorInfo) -> None:
        self.tensors += 1
        match = _LAYER.match(tensor.name)
        if match:
            self.layers.setdefault(match["prefix"], set()).add(int(match["index"]))
        elif self.embedding is None and tensor.name.endswith(_EMBEDDINGS) and "vision" not in tensor.name:
            self.embedding = (tensor.name, path, tensor.shape)
        elif tensor.name in _HEADS or tensor.name.endswith(".lm_head.weight"):
            self.head = self.head or (tensor.name, path, tensor.shape)
        if tensor.dtype in _FLOATS:
            self.floats[tensor.dtype] = self.floats.get(tensor.dtype, 0) + tensor.elements


def config_weights(
    config: Mapping[str, Any],
    tables: Iterable[tuple[str, Iterable[TensorInfo]]],
    *,
    tied_by_default: bool | None,
) -> list[CheckResult]:
    """Compare config.json with the weights' tensor tables, given as (file path, its tensors) pairs.

    `tied_by_default` is what the model family does when the config says nothing of tying (None: unknown).
    """
    seen = _Seen()
    for path, tensors in tables:
        for tensor in tensors:
            seen.add(path, tensor)
    if not seen.tensors:
        return []
    checks: list[CheckResult] = []
    checks.extend(_layers(config, seen))
    checks.extend(_shapes(config, seen))
    checks.extend(_tied(config, seen, tied_by_default))
    checks.extend(_dtype(config, seen))
    return checks


def _layers(config: Mapping[str, Any], seen: _Seen) -> list[CheckResult]:
    declared = _int(config, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    if declared is None or not seen.layers:
        return []
    key, layers = declared
    extra = _int(config, "num_nextn_predict_layers")  # DeepSeek-V3's multi-token-prediction layers follow
    accepted = {layers} | ({layers + extra[1]} if extra else set())
    for prefix, indices in seen.layers.items():
        if max(indices) + 1 in accepted and len(indices) == max(indices) + 1:
            return [CheckResult(LAYERS, PASSED, f"config.json {key}={layers} matches the weights' "
                                                f"{prefix}.{_ranges(indices)}")]
    problems = []
    for prefix, indices in sorted(seen.layers.items(), key=lambda item: -len(item[1]))[:_SHOWN]:
        count = max(indices) + 1
        gaps = sorted(set(range(count)) - indices)
        detail = f"{prefix}.{_ranges(indices)} ({_plural(count, 'layer')}"
        detail += f", {_plural(len(gaps), 'index')} missing: {_ranges(gaps)})" if gaps else ")"
        problems.append(detail)
    return [CheckResult(LAYERS, FAILED, f"config.json says {key}={layers} but the weights hold "
                                        + "; ".join(problems))]


def _shapes(config: Mapping[str, Any], seen: _Seen) -> list[CheckResult]:
    vocab = _int(config, "vocab_size", "padded_vocab_size")
    hidden = _int(config, "hidden_size", "n_embd", "d_model")
    checks: list[CheckResult] = []
    compared = []
    for role, found in (("embedding", seen.embedding), ("output head", seen.head)):
        if found is None:
            continue
        name, path, shape = found
        if len(shape) != 2:
            checks.append(CheckResult(SHAPES, FAILED, f"{role} {name} in {path} has shape {list(shape)}, "
                                                      "expected [vocab_size, hidden_size]"))
            continue
        wrong = []
        if vocab and shape[0] != vocab[1]:
            wrong.append(f"{vocab[0]}={vocab[1]:,} but {name} has {shape[0]:,} rows")
        if hidden and shape[1] != hidden[1]:
            wrong.append(f"{hidden[0]}={hidden[1]:,} but {name} has {shape[1]:,} columns")
        if wrong:
            checks.append(CheckResult(SHAPES, FAILED, f"config.json says {'; '.join(wrong)} "
                                                      f"(shape {list(shape)} in {path})"))
        elif vocab or hidden:
            compared.append(name)
    if compared and not checks:
        checks.append(CheckResult(SHAPES, PASSED, f"{' and '.join(compared)} match config.json's vocabulary "
                                                  "and hidden sizes"))
    return checks


def _tied(config: Mapping[str, Any], seen: _Seen, tied_by_default: bool | None) -> list[CheckResult]:
    declared = config.get("tie_word_embeddings")
    tied = declared if isinstance(declared, bool) else tied_by_default
    if tied is None or seen.embedding is None:
        return []
    said = f"tie_word_embeddings={str(declared).lower()}" if isinstance(declared, bool) else \
        f"no tie_word_embeddings (untied by default for {config.get('model_type')})" if not tied else \
        "no tie_word_embeddings (tied by default)"
    if not tied and seen.head is None:
        return [CheckResult(TIED, FAILED, f"config.json has {said} but the weights hold no lm_head.weight: "
                                          "the output head would be initialised at random")]
    if tied and seen.head is not None:
        return [CheckResult(TIED, WARNING, f"config.json has {said}, so {seen.head[0]} in {seen.head[1]} is "
                                           f"ignored ({seen.embedding[0]} is used as the output head)")]
    what = "a separate lm_head.weight" if not tied else f"only {seen.embedding[0]}, shared with the output head"
    return [CheckResult(TIED, PASSED, f"config.json has {said} and the weights hold {what}")]


def _dtype(config: Mapping[str, Any], seen: _Seen) -> list[CheckResult]:
    raw = config.get("torch_dtype", config.get("dtype"))
    if not isinstance(raw, str) or not seen.floats or config.get("quantization_config"):
        return []
    wanted = TORCH_DTYPES.get(raw.removeprefix("torch."))
    if wanted is None:
        return []
    total = sum(seen.floats.values())
    main, count = max(seen.floats.items(), key=lambda item: (item[1], item[0]))
    if main == wanted:
        return [CheckResult(DTYPE, PASSED, f"torch_dtype {raw} matches the weights ({wanted})")]
    share = f"{count:,} of {total:,} floating-point parameters" if count != total else \
        f"all {total:,} floating-point parameters"
    return [CheckResult(DTYPE, WARNING, f"config.json says torch_dtype {raw} ({wanted}) but the weights are "
                                        f"{main} ({share}); they are cast when loaded")]


def gguf_anatomy(path: str, summary: Mapping[str, Any], tensors: Iterable[TensorInfo] | None) -> list[CheckResult]:
    """A GGUF file's metadata (`{arch}.block_count`, `.embedding_length`, `.vocab_size`, the tokenizer's token
    list) against its own tensor table (`blk.N.*`, `token_embd.weight`, whose GGUF shape is [hidden, vocab])."""
    anatomy = summary.get("anatomy")
    arch = summary.get("general.architecture")
    if not isinstance(anatomy, Mapping) or not isinstance(arch, str) or tensors is None:
        return []
    blocks: set[int] = set()
    embedding: TensorInfo | None = None
    for tensor in tensors:
        match = _GGUF_LAYER.match(tensor.name)
        if match:
            blocks.add(int(match[1]))
        elif tensor.name == "token_embd.weight":
            embedding = tensor
    problems: list[str] = []
    block_count = anatomy.get(f"{arch}.block_count")
    if isinstance(block_count, int) and blocks and (max(blocks) + 1 != block_count or len(blocks) != block_count):
        problems.append(f"{arch}.block_count is {block_count} but the tensors hold blk.{_ranges(blocks)}")
    if embedding is not None and len(embedding.shape) == 2:
        hidden, vocab = embedding.shape
        width = anatomy.get(f"{arch}.embedding_length")
        if isinstance(width, int) and width != hidden:
            problems.append(f"{arch}.embedding_length is {width:,} but token_embd.weight is {hidden:,} wide")
        for key in (f"{arch}.vocab_size", "tokenizer.ggml.tokens"):
            value = anatomy.get(key)
            if isinstance(value, int) and value != vocab:
                what = "the tokenizer lists" if key == "tokenizer.ggml.tokens" else f"{key} is"
                problems.append(f"{what} {value:,} tokens but token_embd.weight has {vocab:,}")
    if problems:
        return [CheckResult(GGUF, FAILED, f"{path}: " + "; ".join(problems))]
    return [CheckResult(GGUF, PASSED, f"{path}: metadata matches the tensor table")]
