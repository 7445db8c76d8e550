"""benchmarks/gpu_check.sh on CPU with a small model: it builds the model, runs the smoke suite on the folder
without Django's database, and prints the figures (the same script runs the ~1B check on a GPU machine)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.tiny_model import require_inference_packages

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def run_check(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    return subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--device", "cpu", *args],  # noqa: S603
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


def test_cpu_run_prints_the_figures_and_passes(tmp_path):
    require_inference_packages()
    result = run_check("--params", "3M", "--new-tokens", "4", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    for label in ("load / plain read", "tokens/s", "time to 1st token", "peak memory", "plain read"):
        assert label in result.stdout
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "passed" and summary["device"] == "cpu"
    assert 2_000_000 <= summary["parameters"] <= 4_500_000
    assert summary["metrics"]["tokens_per_second"] > 0 and summary["load_to_read_ratio"] > 0
    assert list(tmp_path.joinpath("model").glob("*.safetensors"))  # --dir is kept


def test_memory_cap_skips_with_the_reason(tmp_path):
    require_inference_packages()
    result = run_check("--params", "3M", "--max-model-bytes", "1000000", "--dir", str(tmp_path))
    assert result.returncode == 1
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "skipped" and "too large for this worker" in summary["reason"]
