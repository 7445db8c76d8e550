"""model_info and validation: failed files carry securityFileStatus, and `safetensors` counts parameters
per dtype once a run has read the headers. The validation service runs directly (no broker)."""

from __future__ import annotations

import numpy as np
import pytest
from huggingface_hub.hf_api import ModelInfo

from registry.models import ModelRepo
from tests.registry.services.test_validation_pipeline import (
    EVIL_PICKLE,
    good_model,
    llama_tensors,
    safetensors_bytes,
)

pytestmark = pytest.mark.django_db


def siblings(data: dict) -> dict[str, dict]:
    return {s["rfilename"]: s for s in data["siblings"]}


def test_a_failed_file_is_marked_unsafe_with_its_reason(client, validator, make_repo):
    repo = make_repo("open")
    validator.commit_and_run(repo, **good_model())
    validator.commit_and_run(repo, blobs={"pytorch_model.bin": EVIL_PICKLE})

    data = client.get("/api/models/acme/open").json()
    files = siblings(data)
    status = files["pytorch_model.bin"]["securityFileStatus"]
    assert status["status"] == "unsafe"
    assert "os.system" in status["message"]
    assert "securityFileStatus" not in files["model.safetensors"]
    assert "securityFileStatus" not in files["config.json"]
    info = ModelInfo(**data)  # the client still reads the answer
    assert {s.rfilename for s in info.siblings} == set(files)


def test_security_status_costs_no_extra_query_per_file(client, validator, make_repo,
                                                      django_assert_max_num_queries):
    repo = make_repo("open")
    validator.commit_and_run(repo, blobs={"pytorch_model.bin": EVIL_PICKLE})
    with django_assert_max_num_queries(30) as few:
        client.get("/api/models/acme/open")
    validator.commit_and_run(repo, **good_model())
    with django_assert_max_num_queries(len(few.captured_queries)):
        data = client.get("/api/models/acme/open?blobs=true").json()
    assert len(data["siblings"]) >= 5


def test_safetensors_parameters_per_dtype_after_validation(client, validator, make_repo):
    repo = make_repo("mixed")
    tensors = llama_tensors()
    tensors["lm_head.weight"] = tensors["lm_head.weight"].astype(np.float16)
    model = good_model()
    model["blobs"] = {"model.safetensors": safetensors_bytes(tensors)}
    run = validator.commit_and_run(repo, **model)
    assert run.status in ("passed", "warning"), run.summary

    f16 = tensors["lm_head.weight"].size
    f32 = sum(t.size for name, t in tensors.items() if name != "lm_head.weight")
    assert ModelRepo.objects.get(pk=repo.pk).parameter_dtypes == {"F16": f16, "F32": f32}
    data = client.get("/api/models/acme/mixed").json()
    assert data["safetensors"] == {"parameters": {"F16": f16, "F32": f32}, "total": f16 + f32}
    info = ModelInfo(**data)
    assert info.safetensors.parameters == {"F16": f16, "F32": f32}
    assert info.safetensors.total == f16 + f32


def test_sharded_parameters_per_dtype_sum_over_the_shards(client, validator, make_repo):
    import json

    repo = make_repo("sharded")
    first = {"a": np.zeros((4, 4), np.float32)}
    second = {"b": np.zeros((2, 3), np.float16), "c": np.zeros(5, np.float32)}
    index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                            "b": "model-00002-of-00002.safetensors",
                                            "c": "model-00002-of-00002.safetensors"}}
    validator.commit_and_run(repo, inline={"model.safetensors.index.json": json.dumps(index).encode()},
                             blobs={"model-00001-of-00002.safetensors": safetensors_bytes(first),
                                    "model-00002-of-00002.safetensors": safetensors_bytes(second)})
    data = client.get("/api/models/acme/sharded").json()
    assert data["safetensors"] == {"parameters": {"F16": 6, "F32": 21}, "total": 27}
