"""`git clone` + `git lfs pull` against `snapshot_download` of the same repo: wall time and the web process's peak
memory side by side (issue 21: "the clone of a 5,000-file repo streams with flat server memory").

    .venv/bin/python -m benchmarks.git_clone                       # 5,000 small files + 2 LFS files of 8 MiB
    .venv/bin/python -m benchmarks.git_clone --files 500 --lfs-mb 2  # a quick run

The hub runs under gunicorn (one worker, so its VmHWM is the peak of the process that served the side) against a
moto S3 server, both on 127.0.0.1, in a temporary directory (SQLite, VAR_DIR) removed at the end with every child
process. Each side gets a fresh hub process: its peak RSS is read from /proc/<worker>/status (VmHWM) after one
warm-up request and again after the side ran, so the growth is what serving that side cost. The git side is the
stock `git` (protocol v2) with GIT_LFS_SKIP_SMUDGE=1, then `git lfs pull` (bytes from presigned S3 URLs); the HF
side is huggingface_hub.snapshot_download (one /resolve per file). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks._common import (
    AWS_ENV,
    PYTHON,
    ROOT,
    MiB,
    Processes,
    clean_up,
    free_port,
    seed_bench_user,
    start_moto,
    table,
    wait_port,
)
from benchmarks.hf_transfer import hub_env, manage

NAMESPACE = "bench"
NAME = "clone"


def seed(files: int, lfs_mb: int) -> None:
    """Inside Django: the repo, its small files in folders of 100, and two LFS files of `lfs_mb` MiB."""
    import django

    django.setup()
    import random

    from registry.services.blobs import blob_ingest_stream
    from registry.services.commits import AddBlob, AddInline, commit_create
    from registry.services.repos import repo_create

    user, _created = seed_bench_user(NAMESPACE)
    repo = repo_create(actor=user, namespace=NAMESPACE, name=NAME)
    operations: list[object] = [AddInline(f"shard-{n // 100:03d}/file-{n:05d}.txt", f"file {n}\n".encode() * 20)
                                for n in range(files)]
    rng = random.Random(1)
    for n in range(2):
        blob = blob_ingest_stream(stream=io.BytesIO(rng.randbytes(lfs_mb * MiB)), repo=repo)
        operations.append(AddBlob(f"model-{n}.safetensors", blob.sha256, blob.size))
    commit_create(actor=user, repo=repo, operations=operations, title="seed", branch="main")


def _worker_pid(master: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def _hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def _start_hub(procs: Processes, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str, int]:
    port = free_port()
    proc = procs.start([str(Path(PYTHON).parent / "gunicorn"), "portal.wsgi", "-w", "1", "-b", f"127.0.0.1:{port}",
                        "--timeout", "300", "--log-level", "warning"], env=env, log=log)
    wait_port(port, proc)
    url = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(f"{url}/api/models/{NAMESPACE}/{NAME}", timeout=60) as response:  # warm-up
        response.read()
    return proc, url, _worker_pid(proc.pid)


def _stop(proc: subprocess.Popen) -> None:
    import signal

    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-git-", dir=args.tmp))
    os.environ.update({"HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(work / "hf-home"), "HF_HUB_DISABLE_XET": "1",
                       "HF_HUB_DISABLE_PROGRESS_BARS": "1", "NO_PROXY": "127.0.0.1,localhost", **AWS_ENV})
    from huggingface_hub import snapshot_download

    procs = Processes()
    started = time.perf_counter()
    try:
        moto = start_moto(procs, {**os.environ}, log=work / "moto.log")
        env = hub_env(work, moto, "")
        manage(env, "migrate", "--noinput")
        manage(env, "ensure_bucket")
        subprocess.run([PYTHON, "-m", "benchmarks.git_clone", "--setup-db", "--files", str(args.files),
                        "--lfs-mb", str(args.lfs_mb)], cwd=ROOT, env=env, check=True, capture_output=True)
        print(f"setup {time.perf_counter() - started:.1f}s: {args.files} small files + 2 LFS files of "
              f"{args.lfs_mb} MiB")
        git_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work / "git-home"),
                   "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_LFS_SKIP_SMUDGE": "1",
                   "NO_PROXY": "*"}
        (work / "git-home").mkdir()
        subprocess.run(["git", "lfs", "install", "--skip-repo"], env=git_env, check=True, timeout=60,
                       capture_output=True)
        rows = []

        def side(label: str, go) -> None:  # noqa: ANN001
            proc, url, worker = _start_hub(procs, env, work / f"hub-{label}.log")
            before = _hwm_kib(worker)
            start = time.perf_counter()
            count = go(url)
            seconds = time.perf_counter() - start
            after = _hwm_kib(worker)
            _stop(proc)
            rows.append((label, count, seconds, before, after))

        def git_side(url: str) -> int:
            target = work / "clone"
            subprocess.run(["git", "clone", "-q", f"{url}/{NAMESPACE}/{NAME}.git", str(target)], env=git_env,
                           check=True, timeout=1800)
            subprocess.run(["git", "lfs", "pull"], cwd=target, env={**git_env, "GIT_LFS_SKIP_SMUDGE": "0"},
                           check=True, timeout=1800, capture_output=True)
            count = sum(1 for p in target.rglob("*") if p.is_file() and ".git" not in p.relative_to(target).parts)
            shutil.rmtree(target)
            return count

        def hf_side(url: str) -> int:
            target = Path(snapshot_download(f"{NAMESPACE}/{NAME}", endpoint=url, cache_dir=str(work / "hf-cache"),
                                            max_workers=8))
            count = sum(1 for p in target.rglob("*") if p.is_file())
            shutil.rmtree(work / "hf-cache")
            return count

        side("git clone + lfs pull", git_side)
        side("snapshot_download", hf_side)
        print(table(["side", "files", "seconds", "hub RSS before (MiB)", "hub peak RSS (MiB)", "growth (MiB)"],
                    [(label, count, f"{seconds:.1f}", f"{before / 1024:.0f}", f"{after / 1024:.0f}",
                      f"{(after - before) / 1024:.0f}") for label, count, seconds, before, after in rows]))
        (_g, _gc, git_s, _gb, git_peak), (_h, _hc, hf_s, _hb, hf_peak) = rows
        print(f"time git / snapshot_download: {git_s / hf_s:.2f}; peak RSS git / snapshot_download: "
              f"{git_peak / hf_peak:.2f}")
    finally:
        clean_up(procs, work, keep=args.keep)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=5000, help="small files (default 5,000)")
    parser.add_argument("--lfs-mb", type=int, default=8, help="size of each of the 2 LFS files in MiB (default 8)")
    parser.add_argument("--tmp", default=None, help="parent of the work directory (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, DB)")
    parser.add_argument("--setup-db", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.setup_db:
        seed(args.files, args.lfs_mb)
    else:
        run(args)


if __name__ == "__main__":
    sys.exit(main())
