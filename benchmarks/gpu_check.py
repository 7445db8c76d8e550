"""The quick inference check on a real accelerator: build a random-weight Llama of about --params parameters
from a config (no downloads), save it with safetensors, run the hub's smoke suite on the folder
(registry.inference.smoke.run_smoke: no Django, no database) and print load time, achieved load GB/s next to a
plain read of the same files (ratio, goal >= 0.8), tokens/s, time to first token and peak memory.

    benchmarks/gpu_check.sh                          # CUDA, ~1B parameters, bf16 weights
    benchmarks/gpu_check.sh --device cpu --params 50M

Both reads start cold: the files' pages are dropped from the page cache first (posix_fadvise DONTNEED, no root
needed) unless --warm, so the ratio compares disk to disk, not cache to cache.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry.inference import smoke  # noqa: E402 - after the path tweak; pure module, no Django

GOAL_RATIO = 0.8
READ_CHUNK = 64 * 1024 * 1024
# (vocab, hidden, intermediate, heads, kv heads) by size; the layer count is solved for the wanted total.
SHAPES = [(20e6, (2048, 256, 688, 4, 2)), (100e6, (32000, 512, 1376, 8, 4)), (500e6, (32000, 1024, 2816, 16, 8)),
          (float("inf"), (32000, 2048, 5632, 32, 8))]


def parse_size(text: str) -> int:
    units = {"K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9}
    text = text.strip().upper()
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(float(text))


def llama_config_for(params: int, dtype: str) -> Any:
    from transformers import LlamaConfig

    vocab, hidden, inter, heads, kv = next(shape for limit, shape in SHAPES if params <= limit)
    head_dim = hidden // heads
    per_layer = 2 * hidden * hidden + 2 * hidden * kv * head_dim + 3 * hidden * inter + 2 * hidden
    embeddings = 2 * vocab * hidden + hidden
    layers = max(1, round((params - embeddings) / per_layer))
    return LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=2048,
                       tie_word_embeddings=False, torch_dtype=dtype, bos_token_id=0, eos_token_id=1,
                       pad_token_id=3)


def build_tokenizer() -> Any:
    """A byte-level BPE trained on the smoke suite's own texts: round-trips Korean and English exactly."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=list(special.values()), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([*smoke.PROMPTS.values(), smoke.PERPLEXITY_TEXT], trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **special)


def build_model(directory: Path, params: int, dtype_name: str) -> tuple[int, float]:
    """Random weights saved with safetensors into `directory`; (parameter count, seconds taken)."""
    import torch
    from transformers import LlamaForCausalLM

    started = time.perf_counter()
    dtype = getattr(torch, dtype_name)
    config = llama_config_for(params, dtype_name)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialise straight in the saved dtype: half the memory and time for bf16
    try:
        model = LlamaForCausalLM(config).eval()
    finally:
        torch.set_default_dtype(previous)
    count = sum(p.numel() for p in model.parameters())
    model.save_pretrained(directory, safe_serialization=True)
    build_tokenizer().save_pretrained(directory)
    del model
    return count, time.perf_counter() - started


def drop_cache(paths: list[Path]) -> bool:
    """Ask the kernel to forget the files' cached pages (works without root on files we can open)."""
    if not hasattr(os, "posix_fadvise"):
        return False
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)  # dirty pages (the file was just written) cannot be dropped
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return True


def plain_read(paths: list[Path]) -> tuple[int, float]:
    """Bytes and seconds to read the files start to end into one reused buffer: the disk's plain read."""
    buffer = bytearray(READ_CHUNK)
    view = memoryview(buffer)
    total = 0
    started = time.perf_counter()
    for path in paths:
        with path.open("rb", buffering=0) as handle:
            while True:
                n = handle.readinto(view)
                if not n:
                    break
                total += n
    return total, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    parser.add_argument("--params", default="1B", help="parameters of the random model: 1B, 350M, 50M … (1B)")
    parser.add_argument("--dtype", choices=["bfloat16", "float16", "float32"], default="bfloat16",
                        help="saved dtype (CUDA loads it as is; CPU always computes in float32)")
    parser.add_argument("--new-tokens", type=int, default=32, help="greedy tokens per prompt (32)")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one, removed after)")
    parser.add_argument("--keep", action="store_true", help="keep the model folder")
    parser.add_argument("--warm", action="store_true", help="do not drop the page cache before each read")
    parser.add_argument("--max-model-bytes", type=int, default=0,
                        help="cap of the memory check (INFERENCE_MAX_MODEL_BYTES); 0: automatic")
    args = parser.parse_args(argv)

    import torch
    import transformers

    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # run_smoke picks CUDA whenever torch sees a GPU
        torch.cuda.is_available = lambda: False  # already imported: hide the GPU from this process too
    elif args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda, but torch sees no CUDA device (torch "
              f"{torch.__version__}, CUDA build {torch.version.cuda})", file=sys.stderr)
        return 2
    device = "cuda" if torch.cuda.is_available() else "cpu"
    params = parse_size(args.params)
    work = args.dir or Path(tempfile.mkdtemp(prefix="hub-gpu-check-"))
    model_dir = work / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    print(f"python {platform.python_version()} · torch {torch.__version__} · transformers "
          f"{transformers.__version__} · device {torch.cuda.get_device_name(0) if device == 'cuda' else 'cpu'}")
    try:
        count, build_seconds = build_model(model_dir, params, args.dtype)
        weights = sorted(model_dir.glob("*.safetensors"))
        size = sum(p.stat().st_size for p in weights)
        print(f"built a random Llama: {count:,} parameters, {len(weights)} safetensors file(s), "
              f"{size / 1e9:.2f} GB ({args.dtype}) in {build_seconds:.1f} s → {model_dir}")

        cold = not args.warm and drop_cache(weights)
        read_bytes, read_seconds = plain_read(weights)
        read_rate = read_bytes / 1e9 / max(read_seconds, 1e-9)
        if not args.warm:
            drop_cache(weights)
        result = smoke.run_smoke(model_dir, new_tokens=args.new_tokens, max_model_bytes=args.max_model_bytes)
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(work, ignore_errors=True)

    m = result["metrics"]
    print(f"smoke suite: {result['status']}{' — ' + result['reason'] if result['reason'] else ''}")
    print(f"  device              {result['device'] or device}")
    if "load_seconds" in m:
        ratio = m["load_gb_per_s"] / read_rate if read_rate else 0.0
        print(f"  load                {m['load_seconds']:.3f} s, {m['load_gb_per_s']:.3f} GB/s "
              f"(tokenizer + from_pretrained + move to {device})")
        print(f"  plain read          {read_seconds:.3f} s, {read_rate:.3f} GB/s "
              f"({'cold: page cache dropped' if cold else 'warm page cache'})")
        print(f"  load / plain read   {ratio:.2f}  (goal ≥ {GOAL_RATIO}) {'OK' if ratio >= GOAL_RATIO else 'BELOW'}")
    else:
        ratio = None
    for key, label, fmt in (("tokens_per_second", "tokens/s", "{:.1f}"), ("ttft_seconds", "time to 1st token",
                                                                           "{:.4f} s"),
                            ("peak_memory_bytes", "peak memory", None), ("perplexity", "perplexity", "{:.1f}"),
                            ("estimated_memory_bytes", "estimated need", None)):
        if key in m:
            value = smoke.human_bytes(m[key]) if fmt is None else fmt.format(m[key])
            print(f"  {label:<19} {value}")
    print(json.dumps({"status": result["status"], "reason": result["reason"], "parameters": count,
                      "weights_bytes": size, "plain_read_gb_per_s": round(read_rate, 4),
                      "load_to_read_ratio": round(ratio, 4) if ratio is not None else None,
                      "metrics": m, "device": result["device"], "library_versions": result["library_versions"]}))
    return 0 if result["status"] == "passed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
