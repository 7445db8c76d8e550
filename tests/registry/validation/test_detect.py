from __future__ import annotations

import pickle

import numpy as np
import pytest
from safetensors.numpy import save as st_save

from registry.validation import detect_format, validate_bytes

from .corpus import GOOD_DATA, GOOD_KVS, GOOD_TENSORS, gguf, torch_state_dict_pickle, torch_zip

SAFETENSORS = st_save({"x": np.zeros(2, np.float32)})
OLD_PICKLE = pickle.dumps({"weights": list(range(200)), "name": "x" * 50}, protocol=0)

CASES = [
    (SAFETENSORS, "model.safetensors", "safetensors"),
    (SAFETENSORS, "pytorch_model.bin", "safetensors"),
    (SAFETENSORS, "no_extension", "safetensors"),
    (torch_zip(), "model.pt", "pytorch_zip"),
    (torch_zip(), "pytorch_model.bin", "pytorch_zip"),
    (torch_state_dict_pickle(), "pytorch_model.bin", "pickle"),
    (torch_state_dict_pickle(), "weights.dat", "pickle"),
    (pickle.dumps([1, 2], protocol=5), "x", "pickle"),
    (OLD_PICKLE, "state.bin", "pickle"),
    (pickle.dumps({"a": 1}, protocol=1), "a.pkl", "pickle"),
    (gguf(GOOD_KVS, GOOD_TENSORS, GOOD_DATA), "m.gguf", "gguf"),
    (gguf(GOOD_KVS, GOOD_TENSORS, GOOD_DATA), "m.bin", "gguf"),
    (b'{"architectures": ["X"]}', "config.json", "json"),
    (b"# Model card\n\nHello.\n", "README.md", "text"),
    (b'{"not": "a safetensors header"}', "notes.txt", "text"),
    ("ünïcödé text\n".encode(), "notes.txt", "text"),
    (b"(hello there, a text file starting with a paren\n" * 10, "notes.txt", "text"),
    (b"cat\ndog\nbird\n" * 30, "list.txt", "text"),
    (bytes(range(256)) * 4, "blob.bin", "unknown"),
    (b"", "empty.txt", "empty"),
    (b"", "model.safetensors", "safetensors"),
    (b"\x00\x01garbage", "model.pt", "pickle"),  # by name, so the pickle checker fails it
]


@pytest.mark.parametrize(
    ("data", "path", "expected"), CASES, ids=[f"{p}:{e}:{i}" for i, (_, p, e) in enumerate(CASES)]
)
def test_detects_format_by_content_then_name(data, path, expected):
    assert detect_format(data[: 64 * 1024], path) == expected


VERDICTS = [
    (b'{"a": 1}', "config.json", "passed"),
    (b'{"a": 1, "a": 2}', "config.json", "failed"),
    (b"{'a': 1}", "config.json", "failed"),
    (b"# hi\n", "README.md", "passed"),
    (b"text then \xff\xfe" + b"x" * 10, "notes.txt", "warning"),
    (bytes(range(256)), "blob.bin", "warning"),
    (b"", ".gitattributes", "passed"),
    (b"\x00\x01garbage", "model.pt", "failed"),
]


@pytest.mark.parametrize(("data", "path", "status"), VERDICTS)
def test_other_formats_get_a_verdict(data, path, status):
    assert validate_bytes(data, path=path).status == status
