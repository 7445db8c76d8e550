"""The streaming checkpoint validator against a bare sha256 over the same bytes, side by side in one run.

    .venv/bin/python -m benchmarks.validation                  # 1 GiB safetensors, 3 rounds (see README.md)
    .venv/bin/python -m benchmarks.validation --size 128 --rounds 2

A valid safetensors file is written to a moto S3 server (in its own process) and to local disk. Each
measurement runs in a fresh worker process (Django set up as a validation worker would be):

- validate:  registry.storage S3 backend's `iter_bytes` (1 MiB chunks) → `registry.validation.validate_stream`
- sha256:    the same `iter_bytes` → `hashlib.sha256` (a plain read, same chunk size)
- local:     the same two over `registry.validation.stream.file_chunks` on local disk (page cache warm),
             so the validator's own overhead shows without S3 in the way.

The worker reports its time and its peak RSS (VmHWM / ru_maxrss, which include Django itself; its RSS before
reading a byte is printed too).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import (
    AWS_ENV,
    PYTHON,
    ROOT,
    MiB,
    Processes,
    clean_up,
    mbps,
    median,
    s3_client,
    start_moto,
    table,
    verdict,
    write_random_file,
)

BUCKET = "bench-validation"
KEY = "blobs/bench/model.safetensors"
TENSORS = 16
MODES = ("validate-s3", "sha256-s3", "validate-local", "sha256-local")


def write_safetensors(path: Path, data_size: int) -> int:
    """A valid safetensors file: TENSORS float32 tensors filling `data_size` bytes of (pseudo-random) data."""
    per = data_size // TENSORS // 4 * 4
    header: dict[str, object] = {"__metadata__": {"format": "pt", "source": "benchmarks/validation.py"}}
    for n in range(TENSORS):
        header[f"layers.{n}.weight"] = {"dtype": "F32", "shape": [per // 4],
                                        "data_offsets": [n * per, (n + 1) * per]}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    body = path.with_suffix(".data")
    write_random_file(body, per * TENSORS, seed=3)
    with open(path, "wb") as out, open(body, "rb") as src:
        out.write(struct.pack("<Q", len(raw)))
        out.write(raw)
        shutil.copyfileobj(src, out, 16 * MiB)
    body.unlink()
    return path.stat().st_size


# --- the worker (a fresh process per measurement) ----------------------------------------------------------


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def worker(mode: str, local_path: str) -> None:
    import django

    django.setup()
    from registry.storage import get_store
    from registry.validation import validate_stream
    from registry.validation.stream import file_chunks

    store = get_store()
    assert store.name == "s3", store
    rss_before = _rss_kib("VmRSS")

    def chunks():  # noqa: ANN202
        return store.iter_bytes(KEY) if mode.endswith("-s3") else file_chunks(local_path)

    start = time.perf_counter()
    if mode.startswith("validate"):
        report = validate_stream(chunks(), path="model.safetensors")
        sha, size, status = report.sha256, report.size, report.status
        detail = [f"{c.name}:{c.status}" for c in report.checks]
    else:
        digest, size = hashlib.sha256(), 0
        for chunk in chunks():
            digest.update(chunk)
            size += len(chunk)
        sha, status, detail = digest.hexdigest(), "passed", []
    seconds = time.perf_counter() - start
    print(json.dumps({
        "mode": mode, "seconds": seconds, "size": size, "sha256": sha, "status": status, "checks": detail,
        "rss_before_kib": rss_before, "vmhwm_kib": _rss_kib("VmHWM"),
        "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }))


# --- the run ------------------------------------------------------------------------------------------------


def worker_env(work: Path, moto: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_", "CACHE_URL"))}
    env.update(AWS_ENV)
    env.update({
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PYTHONPATH": str(ROOT),
        "VAR_DIR": str(work / "var"),
        "DATABASE_URL": f"sqlite:///{work / 'var' / 'unused.sqlite3'}",
        "BLOB_STORE": "s3",
        "S3_ENDPOINT_URL": moto,
        "S3_BUCKET": BUCKET,
        "S3_REGION": "us-east-1",
        "DEBUG": "false",
        "SECRET_KEY": "benchmark-secret-key-" + "x" * 40,
        "LOG_LEVEL": "WARNING",
    })
    return env


def measure(env: dict[str, str], mode: str, local_path: Path, expected: tuple[str, int]) -> dict:
    command = [PYTHON, "-m", "benchmarks.validation", "--worker", mode, "--file", str(local_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"worker {mode} failed:\n{done.stdout}\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if (result["sha256"], result["size"]) != expected:
        raise RuntimeError(f"worker {mode} read other bytes: {result}")
    if result["status"] != "passed":
        raise RuntimeError(f"worker {mode}: the file did not pass validation: {result}")
    return result


def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-validation-", dir=args.tmp))
    (work / "var").mkdir()
    (work / "tmp").mkdir()
    procs = Processes()
    started = time.perf_counter()
    try:
        moto_env = {**os.environ, **AWS_ENV, "TMPDIR": str(work / "tmp")}  # moto spills objects to files
        moto = start_moto(procs, moto_env, log=work / "moto.log")
        local = work / "model.safetensors"
        size = write_safetensors(local, args.size * MiB)
        digest = hashlib.sha256()
        with open(local, "rb") as fh:
            while block := fh.read(16 * MiB):
                digest.update(block)
        expected = (digest.hexdigest(), size)
        from boto3.s3.transfer import TransferConfig

        s3 = s3_client(moto)
        s3.create_bucket(Bucket=BUCKET)
        s3.upload_file(str(local), BUCKET, KEY, Config=TransferConfig(multipart_threshold=64 * MiB,
                                                                       multipart_chunksize=64 * MiB))
        env = worker_env(work, moto)
        print(f"setup: {time.perf_counter() - started:.1f}s  ({size / MiB:.0f} MiB safetensors, {TENSORS} "
              f"tensors, moto {moto})")

        for mode in MODES:  # warm-up: imports, page cache, moto's spill file
            measure(env, mode, local, expected)
        results: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for n in range(args.rounds):
            for pair in (MODES[:2], MODES[2:]):
                for mode in pair if n % 2 == 0 else reversed(pair):
                    results[mode].append(measure(env, mode, local, expected))
        for mode in MODES:
            times = ", ".join(f"{r['seconds']:.2f}" for r in results[mode])
            peaks = ", ".join(f"{r['vmhwm_kib'] / 1024:.0f}" for r in results[mode])
            print(f"{mode:15} s: [{times}]  peak RSS MiB: [{peaks}]  "
                  f"RSS before reading MiB: {results[mode][0]['rss_before_kib'] / 1024:.0f}")
        print(f"checks: {', '.join(results['validate-s3'][0]['checks'])}")

        def secs(mode: str) -> float:
            return median([r["seconds"] for r in results[mode]])

        def peak(mode: str) -> float:
            return max(r["vmhwm_kib"] for r in results[mode]) / 1024

        rows = []
        for where in ("s3", "local"):
            v, h = secs(f"validate-{where}"), secs(f"sha256-{where}")
            ratio = h / v
            goal = ">= 0.90" if where == "s3" else "(info)"
            rows.append([f"throughput, {where} (MB/s)", f"{mbps(size, v):.0f}", f"{mbps(size, h):.0f}",
                         f"{ratio:.2f}", goal, verdict(ratio, 0.90) if where == "s3" else ""])
        for where in ("s3", "local"):
            p = peak(f"validate-{where}")
            goal = "< 200" if where == "s3" else "(info)"
            baseline = peak(f"sha256-{where}")
            rows.append([f"peak RSS of the worker, {where} (MiB)", f"{p:.0f}", f"{baseline:.0f}", "", goal,
                         verdict(p, 200, above=False) if where == "s3" else ""])
        print()
        headers = [f"validation of {size / MiB:.0f} MiB (medians)", "validate", "sha256", "ratio", "goal", ""]
        print(table(headers, rows))
        print(f"\ntotal {time.perf_counter() - started:.0f}s; {args.rounds} rounds; cores: {os.cpu_count()}")
    finally:
        clean_up(procs, work, keep=args.keep)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024, help="tensor data in MiB (default 1024)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (median)")
    parser.add_argument("--tmp", default=None, help="parent of the work directory (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.file)
        return
    run(args)


if __name__ == "__main__":
    sys.exit(main())
