"""The demo models' files, made offline with the standard library only (no torch, numpy or tokenizers).

A one-layer Llama with random weights and a byte-level BPE tokenizer (the 256 byte symbols, no merges, plus
`<s>`, `</s>`, `<pad>`): a real transformers checkpoint, so the model page's snippets
(`AutoModelForCausalLM.from_pretrained`, `snapshot_download`) work on the demo, validation finds config,
weights and tokenizer consistent, and a worker with the inference extra can run its quick check on it. Its
output is noise; it is about 11k parameters.
"""

from __future__ import annotations

import json
import random
import struct
from typing import Any

SPECIAL_TOKENS = ("<s>", "</s>", "<pad>")
VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)
HIDDEN, INTERMEDIATE, LAYERS, HEADS = 16, 32, 1, 2


def config() -> dict[str, Any]:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": VOCAB_SIZE,
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS,
        "max_position_embeddings": 128,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": False,
        "initializer_range": 0.02,
        "bos_token_id": 256,
        "eos_token_id": 257,
        "pad_token_id": 258,
        "torch_dtype": "float32",
        "use_cache": True,
    }


def tensor_shapes() -> dict[str, list[int]]:
    shapes = {
        "model.embed_tokens.weight": [VOCAB_SIZE, HIDDEN],
        "model.norm.weight": [HIDDEN],
        "lm_head.weight": [VOCAB_SIZE, HIDDEN],
    }
    for layer in range(LAYERS):
        prefix = f"model.layers.{layer}."
        shapes.update({
            prefix + "input_layernorm.weight": [HIDDEN],
            prefix + "post_attention_layernorm.weight": [HIDDEN],
            **{prefix + f"self_attn.{p}_proj.weight": [HIDDEN, HIDDEN] for p in "qkvo"},
            prefix + "mlp.gate_proj.weight": [INTERMEDIATE, HIDDEN],
            prefix + "mlp.up_proj.weight": [INTERMEDIATE, HIDDEN],
            prefix + "mlp.down_proj.weight": [HIDDEN, INTERMEDIATE],
        })
    return shapes


def safetensors_bytes(seed: int) -> bytes:
    """The weights as a safetensors file: F32, norms at 1, every other tensor N(0, 0.02) from `seed`."""
    rng = random.Random(seed)
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    chunks: list[bytes] = []
    offset = 0
    for name, shape in sorted(tensor_shapes().items()):
        count = 1
        for dim in shape:
            count *= dim
        if name.endswith("norm.weight"):
            values = [1.0] * count
        else:
            values = [rng.gauss(0.0, 0.02) for _ in range(count)]
        data = struct.pack(f"<{count}f", *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"".join(chunks)


def _byte_symbols() -> list[str]:
    """GPT-2's byte-to-unicode table: the printable symbol the ByteLevel pre-tokenizer uses for each byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols: dict[int, int] = {b: b for b in printable}
    extra = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = 256 + extra
            extra += 1
    return [chr(symbols[b]) for b in range(256)]


def tokenizer_json() -> dict[str, Any]:
    """A `tokenizers` Tokenizer: byte-level BPE over the 256 byte symbols (token id = byte value), no merges."""
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": 256 + i, "content": token, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for i, token in enumerate(SPECIAL_TOKENS)
        ],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": {symbol: i for i, symbol in enumerate(_byte_symbols())},
            "merges": [],
        },
    }


def tokenizer_config() -> dict[str, Any]:
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "model_max_length": 128,
        "clean_up_tokenization_spaces": False,
    }


def json_bytes(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()
