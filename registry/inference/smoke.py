"""A smoke test of a model folder: load it safely, generate a few tokens, check logits and the tokenizer.

Pure (no Django): the worker materialises the commit's files and calls `run_smoke(model_dir)`. torch and
transformers are imported lazily, so the web image need not carry them; without them `RuntimeUnavailable`
is raised and the caller records the check as skipped. Only safetensors are ever loaded, never pickles.
"""

from __future__ import annotations

import gc
import inspect
import json
import logging
import math
import os
import platform
import resource
import struct
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PROMPTS = {
    "ko": "안녕하세요, 컨소시엄 모델 허브입니다.",
    "en": "The consortium hub stores foundation models for its members.",
}
PERPLEXITY_TEXT = "Hello 세계! Models and 모델 live side by side. 작은 모델로 업로드와 다운로드를 시험합니다."
NEW_TOKENS = 8
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"

# Bytes per element of each safetensors dtype (the header names them), for counting parameters.
SAFETENSORS_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "F4": 1, "F6_E2M3": 1, "F6_E3M2": 1,
    "U16": 2, "I16": 2, "F16": 2, "BF16": 2, "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8,
}
HEADER_MAX = 100 * 1024 * 1024  # the safetensors format's own limit on the JSON header
# Loading needs more than the weights: activations, the KV cache, the tokenizer, allocator slack.
MEMORY_MARGIN_FRACTION = 0.2
MEMORY_MARGIN_BYTES = 64 * 1024 * 1024
CPU_RAM_FRACTION = 0.5  # automatic CPU budget: this share of the RAM available when the check starts


class RuntimeUnavailable(RuntimeError):
    """torch / transformers are not importable on this worker."""


class SmokeFailure(Exception):
    """The model loaded but misbehaved: the message is the check's reason."""


def _import_runtime() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        logger.info("inference check not run: the module %r of the inference runtime is missing", exc.name)
        raise RuntimeUnavailable(
            "this hub's workers have no inference runtime (torch and transformers are not installed). "
            "Install the `inference` extra on a worker to run it: `make run WITH_INFERENCE=1`, or the "
            "gpu-worker of docker-compose.yml"
        ) from exc
    return torch, transformers


def safetensors_parameter_count(weights: list[Path]) -> int:
    """Elements over every tensor of the files, read from their headers only (a few KB each)."""
    total = 0
    for path in weights:
        with path.open("rb") as handle:
            raw = handle.read(8)
            if len(raw) != 8:
                raise SmokeFailure(f"{path.name}: not a safetensors file (shorter than its header length)")
            (length,) = struct.unpack("<Q", raw)
            if length > HEADER_MAX:
                raise SmokeFailure(f"{path.name}: safetensors header of {length} bytes is over the limit")
            try:
                header = json.loads(handle.read(length))
            except ValueError as exc:
                raise SmokeFailure(f"{path.name}: unreadable safetensors header: {exc}") from exc
        for name, info in header.items():
            if name == "__metadata__" or not isinstance(info, dict):
                continue
            count = 1
            for dim in info.get("shape") or []:
                count *= int(dim)
            total += count
    return total


def estimate_memory_bytes(parameters: int, dtype_bytes: int) -> int:
    """What loading and running the model takes, roughly: its weights in the loading dtype plus a margin."""
    weights = parameters * dtype_bytes
    return int(weights * (1 + MEMORY_MARGIN_FRACTION)) + MEMORY_MARGIN_BYTES


def available_ram_bytes() -> int:
    """RAM the kernel could hand out now (MemAvailable), or free pages where /proc is not there."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return 0


def device_memory_budget(torch: Any, device: str, max_model_bytes: int = 0) -> tuple[int, str]:
    """(bytes a model may use on `device`, where that figure comes from); max_model_bytes > 0 caps it."""
    if device == "cuda":
        free, _total = torch.cuda.mem_get_info()
        budget, source = int(free), "free memory on the GPU"
        if max_model_bytes and max_model_bytes < budget:
            budget, source = max_model_bytes, "INFERENCE_MAX_MODEL_BYTES"
        return budget, source
    if max_model_bytes:
        return max_model_bytes, "INFERENCE_MAX_MODEL_BYTES"
    return int(available_ram_bytes() * CPU_RAM_FRACTION), f"{int(CPU_RAM_FRACTION * 100)}% of available RAM"


def human_bytes(size: float) -> str:
    if size >= 1e9:
        return f"{size / 1e9:.1f} GB"
    if size >= 1e6:
        return f"{size / 1e6:.1f} MB"
    return f"{size / 1e3:.1f} KB"


def _memory_errors(torch: Any) -> tuple[type[BaseException], ...]:
    cuda_oom = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    return (MemoryError, cuda_oom) if isinstance(cuda_oom, type) else (MemoryError,)


def _result(status: str, reason: str = "", **extra: Any) -> dict[str, Any]:
    return {"status": status, "reason": reason, "metrics": {}, "samples": {}, "device": "",
            "library_versions": {}, **extra}


def run_smoke(model_dir: str | Path, *, new_tokens: int = NEW_TOKENS, max_model_bytes: int = 0,
              passthrough: tuple[type[BaseException], ...] = ()) -> dict[str, Any]:
    """{status, reason, metrics, samples, device, library_versions} for the model in `model_dir`.

    Raises RuntimeUnavailable when torch/transformers are missing; any failure of the model itself is a
    `failed` result, not an exception. A model whose estimated memory need is over the device's budget
    (`max_model_bytes` caps it; see device_memory_budget) is `skipped` before anything is loaded; running out
    of memory anyway is `failed`. Exceptions in `passthrough` (the worker's time limit) are never swallowed.
    """
    model_dir = Path(model_dir)
    weights = sorted(model_dir.rglob("*.safetensors"))
    if not weights:
        return _result(SKIPPED, "no *.safetensors weights: other formats (pickles) are never loaded")
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return _result(FAILED, f"config.json is unreadable: {exc}")
    torch, transformers = _import_runtime()
    versions = {"torch": torch.__version__, "transformers": transformers.__version__,
                "python": platform.python_version()}
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in transformers.CONFIG_MAPPING:
        return _result(SKIPPED, f"unknown architecture {model_type!r}: transformers "
                                f"{transformers.__version__} has no model_type of that name "
                                "(custom code is never run)", library_versions=versions)
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    wanted = str(config.get("torch_dtype") or config.get("dtype") or "")
    dtype = torch.bfloat16 if cuda and wanted == "bfloat16" else (torch.float16 if cuda and wanted == "float16"
                                                                   else torch.float32)
    base = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "library_versions": versions}
    metrics: dict[str, Any] = {}
    samples: dict[str, str] = {}
    try:
        parameters = safetensors_parameter_count(weights)
    except SmokeFailure as exc:
        return _result(FAILED, str(exc), **base)
    dtype_bytes = 2 if dtype in (torch.bfloat16, torch.float16) else 4
    needed = estimate_memory_bytes(parameters, dtype_bytes)
    budget, source = device_memory_budget(torch, device, max_model_bytes)
    metrics["parameters"] = parameters
    metrics["estimated_memory_bytes"] = needed
    if needed > budget:
        return _result(SKIPPED, f"too large for this worker: the model needs ~{human_bytes(needed)} "
                                f"({parameters:,} parameters as {str(dtype).removeprefix('torch.')} plus margin), "
                                f"{base['device']} has {human_bytes(budget)} ({source})",
                       metrics=metrics, **base)
    stop = (*passthrough, *_memory_errors(torch))
    try:
        _smoke(torch, transformers, model_dir, weights, device, dtype, new_tokens, metrics, samples, stop)
    except SmokeFailure as exc:
        return _result(FAILED, str(exc), metrics=metrics, samples=samples, **base)
    except passthrough:
        raise
    except _memory_errors(torch) as exc:
        return _result(FAILED, f"out of memory on {base['device']} (estimated need ~{human_bytes(needed)}): "
                               f"{type(exc).__name__}: {exc}", metrics=metrics, samples=samples, **base)
    finally:  # the model is unreferenced once _smoke returns: give its memory back before the next job
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    return _result(PASSED, metrics=metrics, samples=samples, **base)


def _peak_memory(torch: Any, device: str) -> int:
    if device == "cuda":
        return int(torch.cuda.max_memory_allocated())
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def _smoke(torch: Any, transformers: Any, model_dir: Path, weights: list[Path], device: str, dtype: Any,
           new_tokens: int, metrics: dict[str, Any], samples: dict[str, str],
           stop: tuple[type[BaseException], ...] = ()) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            model_dir, use_safetensors=True, trust_remote_code=False, dtype=dtype)
    except stop:  # out of memory, the time limit: not the model's loading error
        raise
    except Exception as exc:  # noqa: BLE001 - any loading error is the model's failure
        raise SmokeFailure(f"could not load the model: {type(exc).__name__}: {exc}") from exc
    model = model.to(device).eval()
    load_seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in weights)
    metrics["load_seconds"] = round(load_seconds, 4)
    metrics["load_gb_per_s"] = round(size / 1e9 / max(load_seconds, 1e-9), 4)

    rows = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        metrics["tokenizer_roundtrip"] = False
        raise SmokeFailure(f"the tokenizer has {len(tokenizer)} tokens but the model's embedding only "
                           f"{rows} rows: ids past {rows - 1} would index out of range")

    texts = [*PROMPTS.values(), PERPLEXITY_TEXT]
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False)
        back = tokenizer.decode(ids, skip_special_tokens=True)
        if back != text:
            metrics["tokenizer_roundtrip"] = False
            raise SmokeFailure(f"tokenizer round trip changed the text: {text!r} came back as {back!r}")
        if ids and max(ids) >= rows:
            metrics["tokenizer_roundtrip"] = False
            raise SmokeFailure(f"the tokenizer produced id {max(ids)} but the model's embedding has {rows} rows")
    metrics["tokenizer_roundtrip"] = True

    ttfts: list[float] = []
    generated = 0
    generating = 0.0
    with torch.inference_mode():
        for prompt in PROMPTS.values():
            text, ttft, seconds = _generate(torch, tokenizer, model, device, prompt, new_tokens, metrics)
            samples[prompt] = text
            ttfts.append(ttft)
            generated += new_tokens
            generating += seconds
        metrics["ttft_seconds"] = round(sum(ttfts) / len(ttfts), 6)
        metrics["tokens_per_second"] = round(generated / max(generating, 1e-9), 3)

        ids = tokenizer(PERPLEXITY_TEXT, return_tensors="pt")["input_ids"].to(device)
        out = model(input_ids=ids, labels=ids)
        if not bool(torch.isfinite(out.logits).all()):
            metrics["logits_finite"] = False
            raise SmokeFailure("non-finite logits (NaN or inf) on the perplexity text")
        loss = float(out.loss)
        if math.isfinite(loss) and loss < 700:  # else too large for a float: left out
            metrics["perplexity"] = round(math.exp(loss), 4)
    metrics["logits_finite"] = True
    metrics["peak_memory_bytes"] = _peak_memory(torch, device)


def _generate(torch: Any, tokenizer: Any, model: Any, device: str, prompt: str, new_tokens: int,
              metrics: dict[str, Any]) -> tuple[str, float, float]:
    """Greedy decoding with the KV cache, by hand, so time to first token is measured; every step's logits
    must be finite."""
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    started = time.perf_counter()
    out = model(input_ids=ids, use_cache=True)
    # transformers 5.x renamed past_key_values to cache (the old name warns, then goes away)
    cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    tokens: list[int] = []
    ttft = 0.0
    for step in range(new_tokens):
        logits = out.logits[:, -1, :]
        if not bool(torch.isfinite(logits).all()):
            metrics["logits_finite"] = False
            raise SmokeFailure(f"non-finite logits (NaN or inf) at generated token {step + 1} for {prompt!r}")
        token = logits.argmax(dim=-1, keepdim=True)
        tokens.append(int(token))
        if step == 0:
            sync()
            ttft = time.perf_counter() - started
        if step + 1 < new_tokens:
            out = model(input_ids=token, use_cache=True, **{cache_arg: getattr(out, cache_arg)})
    sync()
    seconds = time.perf_counter() - started
    return tokenizer.decode(tokens, skip_special_tokens=False), ttft, seconds
