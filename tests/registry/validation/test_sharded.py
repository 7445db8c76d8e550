from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import save as st_save

from registry.validation import validate_bytes, validate_safetensors_index

SHARD1 = {"a": 24, "b": 8}
SHARD2 = {"c": 16}
SHARDS = {
    "org/model-00001-of-00002.safetensors": SHARD1,
    "org/model-00002-of-00002.safetensors": SHARD2,
}
WEIGHT_MAP = {
    "a": "model-00001-of-00002.safetensors",
    "b": "model-00001-of-00002.safetensors",
    "c": "model-00002-of-00002.safetensors",
}


def _index(weight_map=None, total_size: object = 48, **extra) -> bytes:
    body = {
        "metadata": {"total_size": total_size},
        "weight_map": WEIGHT_MAP if weight_map is None else weight_map,
    }
    if total_size is None:
        body["metadata"] = {}
    body.update(extra)
    return json.dumps(body).encode()


def _check(index: bytes, shards=None):
    return validate_safetensors_index(
        index, index_path="org/model.safetensors.index.json", shards=SHARDS if shards is None else shards
    )


def test_accepts_a_consistent_index():
    report = _check(_index())

    assert report.status == "passed", report.checks
    assert report.summary == {"shard_count": 2, "tensor_count": 3, "total_size": 48}


def test_works_from_shard_reports():
    one = st_save({"a": np.zeros(6, np.float32), "b": np.zeros(2, np.float32)})
    two = st_save({"c": np.zeros(4, np.float32)})
    shards = {
        "org/model-00001-of-00002.safetensors": validate_bytes(one, path="x.safetensors").summary["tensors"],
        "org/model-00002-of-00002.safetensors": validate_bytes(two, path="y.safetensors").summary["tensors"],
    }

    assert _check(_index(), shards).status == "passed"


def test_ignores_shards_the_index_does_not_reference():
    shards = {**SHARDS, "org/consolidated.safetensors": {"a": 24, "b": 8, "c": 16}}

    assert _check(_index(), shards).status == "passed"


BAD = [
    ("not JSON", b"{", {}, "not valid JSON"),
    ("duplicate key", b'{"weight_map": {"a": "x", "a": "y"}}', {}, "duplicate key"),
    ("no weight_map", _index(weight_map={}), {}, "no weight_map"),
    ("non-string shard", _index(weight_map={"a": 1}), {}, "must map"),
    ("missing shard", _index(), {"org/model-00001-of-00002.safetensors": SHARD1}, "missing shards"),
    (
        "tensor not in the map",
        _index(weight_map={k: v for k, v in WEIGHT_MAP.items() if k != "b"}, total_size=40),
        {},
        "does not list: 'b'",
    ),  # fmt: skip
    (
        "mapped tensor absent from its shard",
        _index(weight_map={**WEIGHT_MAP, "d": WEIGHT_MAP["c"]}),
        {},
        "that no shard holds: 'd'",
    ),  # fmt: skip
    (
        "tensor in two shards",
        _index(),
        {
            "org/model-00001-of-00002.safetensors": SHARD1,
            "org/model-00002-of-00002.safetensors": {"c": 16, "a": 24},
        },
        "more than one shard: 'a'",
    ),
    ("dot-dot shard path", _index(weight_map={**WEIGHT_MAP, "c": "../other/model.safetensors"}), {}, "'..'"),
    ("absolute shard path", _index(weight_map={**WEIGHT_MAP, "c": "/etc/model.safetensors"}), {}, "absolute"),
    ("backslash shard path", _index(weight_map={**WEIGHT_MAP, "c": "..\\x.safetensors"}), {}, "backslash"),
    ("wrong total_size", _index(total_size=47), {}, "total_size is 47"),
    ("total_size not an integer", _index(total_size="48"), {}, "must be an integer"),
]


@pytest.mark.parametrize(("index", "shards", "reason"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_refuses_inconsistent_indexes(index, shards, reason):
    report = _check(index, shards or None)

    assert report.status == "failed"
    assert any(reason in c.message for c in report.failures), report.checks


def test_missing_total_size_is_a_warning():
    report = _check(_index(total_size=None))

    assert report.status == "warning"
