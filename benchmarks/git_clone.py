"""`git clone` + `git lfs pull` against `snapshot_download` of the same repo, side by side in one run: wall time and
the hub's memory (peak RSS of its gunicorn worker while each one runs, sampled every 20 ms) — the clone of a
5,000-file repo must stream with flat server memory.

    .venv/bin/python -m benchmarks.git_clone                       # 5,000 small files + 2 LFS files of 8 MB, 3 rounds
    .venv/bin/python -m benchmarks.git_clone --files 500 --lfs-mb 2 --rounds 1

Everything runs on 127.0.0.1 in a temporary directory (SQLite, the local blob store) removed at the end, with every
child process. Needs `git` and `git-lfs`. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks._common import (
    PYTHON,
    ROOT,
    MiB,
    Processes,
    clean_up,
    interleaved,
    manage,
    median,
    seed_bench_user,
    start_gunicorn,
    table,
)

NAMESPACE = "bench"
REPO = "many-files"


def hub_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "AWS_", "S3_", "CACHE_URL"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PYTHONPATH": str(ROOT),
        "VAR_DIR": str(work / "var"),
        "DATABASE_URL": f"sqlite:///{work / 'var' / 'hub.sqlite3'}",
        "BLOB_STORE": "local",
        "DEBUG": "false",
        "SECRET_KEY": "benchmark-secret-key-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "ACCOUNT_EMAIL_VERIFICATION": "none",
        "CELERY_BROKER_URL": "filesystem://",  # validation jobs pile up in VAR_DIR: no worker runs
        "RATE_LIMIT_API_PER_MINUTE": "100000000",
        "RATE_LIMIT_RESOLVE_PER_MINUTE": "100000000",
    })
    (work / "var").mkdir(parents=True, exist_ok=True)
    return env


def seed(files: int, lfs_mb: int) -> None:
    """Inside Django: the repo, `files` small files in 50 folders and 2 LFS files, in one commit."""
    import io
    import random

    import django

    django.setup()
    from registry.services.blobs import blob_ingest_stream
    from registry.services.commits import AddBlob, AddInline, commit_create
    from registry.services.repos import repo_create

    user, created = seed_bench_user(NAMESPACE)
    repo = repo_create(actor=user, namespace=NAMESPACE, name=REPO)
    rng = random.Random(7)
    operations: list = [AddInline(f"shard-{k % 50:02d}/file-{k:05d}.json",
                                  json.dumps({"k": k, "v": rng.random()}).encode()) for k in range(files)]
    for n in range(2):
        blob = blob_ingest_stream(stream=io.BytesIO(rng.randbytes(lfs_mb * MiB)), repo=repo)
        operations.append(AddBlob(f"model-{n + 1:05d}-of-00002.safetensors", blob.sha256, blob.size))
    commit = commit_create(actor=user, repo=repo, operations=operations, title="many files")
    print(json.dumps({"oid": commit.oid, "created_tables": created}))


class PeakRss:
    """The peak resident memory of the server's worker processes while a block runs (sampled; kB)."""

    def __init__(self, master_pid: int) -> None:
        self.master = master_pid
        self.peak = 0
        self._stop = threading.Event()

    def _rss(self) -> int:
        total = 0
        children = Path(f"/proc/{self.master}/task/{self.master}/children").read_text().split()
        for pid in children:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except FileNotFoundError:
                continue
        return total

    def __enter__(self) -> PeakRss:
        self.before = self._rss()
        self.peak = self.before

        def sample() -> None:
            while not self._stop.wait(0.02):
                self.peak = max(self.peak, self._rss())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def git(*args: str, cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, timeout=600)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--lfs-mb", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--seed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed:
        seed(args.files, args.lfs_mb)
        return
    if shutil.which("git-lfs") is None:
        sys.exit("git-lfs is not installed (apt-get install git-lfs)")
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.utils import disable_progress_bars

    constants.HF_HUB_DISABLE_XET = True
    disable_progress_bars()  # one table, not 5,000 progress lines
    work = Path(tempfile.mkdtemp(prefix="bench-git-"))
    procs = Processes()
    try:
        env = hub_env(work)
        manage(env, "migrate", "--noinput")
        seeded = json.loads(subprocess.run(
            [PYTHON, "-m", "benchmarks.git_clone", "--seed", "--files", str(args.files), "--lfs-mb",
             str(args.lfs_mb)], cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        ).stdout.strip().splitlines()[-1])
        token = manage(env, "issue_api_key", "bencher", "--scopes", "read").strip().splitlines()[-1]
        hub = start_gunicorn(procs, env, "portal.wsgi", 1, work / "hub.log")
        master = procs._procs[-1].pid
        # Warm the worker first: gunicorn loads Django and the app on its first request (~85 MB), which would
        # otherwise count as the growth of whichever side runs first.
        with urllib.request.urlopen(f"{hub}/api/models/{NAMESPACE}/{REPO}", timeout=60) as response:
            response.read()
        git_env = {"PATH": os.environ["PATH"], "HOME": str(work / "home"), "GIT_CONFIG_NOSYSTEM": "1",
                   "GIT_TERMINAL_PROMPT": "0", "GIT_LFS_SKIP_SMUDGE": "1"}
        (work / "home").mkdir()
        git("lfs", "install", "--skip-smudge", cwd=work, env=git_env)
        url = hub.replace("http://", f"http://bencher:{token}@") + f"/{NAMESPACE}/{REPO}"
        rows: dict[str, tuple[list[float], list[int]]] = {"git clone + git lfs pull": ([], []),
                                                          "snapshot_download": ([], [])}

        def clone() -> float:
            target = work / "clone"
            with PeakRss(master) as rss:
                start = time.perf_counter()
                git("clone", "-q", url, str(target), cwd=work, env=git_env)
                git("lfs", "pull", cwd=target, env=git_env)
                seconds = time.perf_counter() - start
            head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=target, env=git_env, capture_output=True,
                                  text=True, check=True).stdout.strip()
            assert head == seeded["oid"], (head, seeded["oid"])
            assert (target / "model-00001-of-00002.safetensors").stat().st_size == args.lfs_mb * MiB
            shutil.rmtree(target)
            rows["git clone + git lfs pull"][1].append(rss.peak - rss.before)
            return seconds

        def snapshot() -> float:
            cache = work / "hf-cache"
            with PeakRss(master) as rss:
                start = time.perf_counter()
                folder = snapshot_download(f"{NAMESPACE}/{REPO}", endpoint=hub, token=token, cache_dir=cache)
                seconds = time.perf_counter() - start
            assert (Path(folder) / "model-00001-of-00002.safetensors").stat().st_size == args.lfs_mb * MiB
            shutil.rmtree(cache)
            rows["snapshot_download"][1].append(rss.peak - rss.before)
            return seconds

        times = interleaved(args.rounds, clone, snapshot)
        for name, seconds in zip(rows, times, strict=True):
            rows[name][0].extend(seconds)
        git_time, hf_time = (median(rows[n][0]) for n in rows)
        git_rss, hf_rss = (max(rows[n][1]) for n in rows)
        print(f"repo: {args.files} small files + 2 LFS files of {args.lfs_mb} MB; {args.rounds} rounds; "
              f"one gunicorn worker")
        print(table(["", "median s", "server RSS growth (peak, MB)"], [
            [name, f"{median(seconds):.2f}", f"{max(kb) / 1024:.1f}"] for name, (seconds, kb) in rows.items()]))
        print(f"git / snapshot_download: time {git_time / hf_time:.2f}x, server memory growth "
              f"{(git_rss + 1) / (hf_rss + 1):.2f}x")
    finally:
        clean_up(procs, work, keep=args.keep)


if __name__ == "__main__":
    main()
