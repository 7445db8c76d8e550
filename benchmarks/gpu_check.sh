#!/usr/bin/env bash
# The quick inference check on a machine with an NVIDIA GPU, from a bare checkout:
#   benchmarks/gpu_check.sh                              # CUDA, ~1B-parameter random Llama (bf16)
#   benchmarks/gpu_check.sh --device cpu --params 50M    # anywhere
# Uses a Python that already has torch + transformers + safetensors + tokenizers ($PYTHON, then the project's
# .venv, then python3); otherwise creates $GPU_CHECK_VENV (default ~/.cache/hub-gpu-check-venv) and
# pip-installs them there ($TORCH picks the torch requirement, default "torch"; pip's index settings such as
# PIP_INDEX_URL apply). No Django, database or model download is involved. Other arguments go to gpu_check.py
# (--help lists them).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
need='import torch, transformers, safetensors, tokenizers'

has_runtime() { [ -x "$1" ] || command -v "$1" >/dev/null 2>&1 || return 1; "$1" -c "$need" >/dev/null 2>&1; }

python=""
for candidate in "${PYTHON:-}" "$root/.venv/bin/python" python3; do
  if [ -n "$candidate" ] && has_runtime "$candidate"; then python="$candidate"; break; fi
done

if [ -z "$python" ]; then
  venv="${GPU_CHECK_VENV:-$HOME/.cache/hub-gpu-check-venv}"
  base="$(command -v python3 || true)"
  if [ -z "$base" ]; then echo "gpu_check: no python3 on PATH" >&2; exit 2; fi
  if [ ! -x "$venv/bin/python" ]; then
    echo "gpu_check: creating $venv" >&2
    "$base" -m venv "$venv"
  fi
  if ! has_runtime "$venv/bin/python"; then
    echo "gpu_check: installing ${TORCH:-torch} transformers safetensors tokenizers into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "${TORCH:-torch}" transformers safetensors tokenizers
  fi
  python="$venv/bin/python"
fi

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv,noheader || true
fi
echo "gpu_check: $("$python" -c 'import sys; print(sys.executable)')" >&2
exec "$python" "$here/gpu_check.py" "$@"
