"""Uploads through Xet vs the Git LFS path vs boto3 straight to S3, side by side in one run, and the re-upload of an
edited copy (bytes the CAS received, time).

    .venv/bin/python -m benchmarks.xet_upload               # 512 MB file, 10 % edited for the re-upload
    .venv/bin/python -m benchmarks.xet_upload --mb 64       # a quick run

The hub runs under gunicorn against a moto S3 server, both on 127.0.0.1, in a temporary directory (SQLite, VAR_DIR)
removed at the end with every child process. The client is the stock huggingface_hub + hf_xet: Xet by default, the
LFS path with HF_HUB_DISABLE_XET (switched at run time). File contents are random, so nothing dedups by accident;
the LFS run uses other random bytes than the Xet run (the hub would skip bytes it already holds). Afterwards the
materialisation of the Xet uploads (reconstruct, sha256, write the whole file) is timed in a worker process.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._common import (
    AWS_ENV,
    PYTHON,
    ROOT,
    MiB,
    Processes,
    clean_up,
    interleaved,
    mbps,
    median,
    s3_client,
    seed_bench_user,
    start_moto,
    table,
    timed,
    timed_get_object,
)
from benchmarks.hf_transfer import BUCKET, hub_env, manage, start_gunicorn

NAMESPACE = "bench"
FILENAME = "model.bin"

# --- inside Django (subprocesses with the hub's environment) ---------------------------------------------------


def _django() -> None:
    import django

    django.setup()


def seed() -> None:
    _django()
    from registry.services.repos import repo_create

    user, _created = seed_bench_user(NAMESPACE)
    for name in ("xet", "lfs"):
        repo_create(actor=user, namespace=NAMESPACE, name=name)


def xorb_bytes() -> None:
    """What the CAS has received so far: the serialized size of every stored xorb."""
    _django()
    from django.db.models import Count, Sum

    from registry.models import Xorb

    totals = Xorb.objects.aggregate(bytes=Sum("size"), count=Count("hash"))
    print(json.dumps({"bytes": totals["bytes"] or 0, "count": totals["count"]}))


def materialise() -> None:
    """Materialise every pending Xet upload here, one after the other; print the seconds each took."""
    _django()
    from registry.models import Blob
    from registry.services.xet_hub import xet_blob_materialise

    timings = []
    for blob in Blob.objects.filter(state=Blob.State.PENDING).exclude(xet_hash="").order_by("pk"):
        start = time.perf_counter()
        done = xet_blob_materialise(blob_id=blob.pk)
        timings.append({"size": blob.size, "seconds": time.perf_counter() - start, "state": done.state})
    print(json.dumps(timings))


# --- the run ---------------------------------------------------------------------------------------------------


def write_random(path: Path, size: int, rng: random.Random) -> None:
    with open(path, "wb") as out:
        left = size
        while left:
            piece = rng.randbytes(min(left, 8 * MiB))
            out.write(piece)
            left -= len(piece)


def edit_copy(source: Path, target: Path, fraction: float, rng: random.Random, regions: int = 10) -> int:
    """Copy `source` with `fraction` of its bytes replaced, in `regions` spread-out runs; returns bytes changed."""
    shutil.copyfile(source, target)
    size = source.stat().st_size
    run = int(size * fraction / regions)
    with open(target, "r+b") as fh:
        for n in range(regions):
            fh.seek(n * size // regions + (size // regions - run) // 2)
            fh.write(rng.randbytes(run))
    return run * regions


def in_hub(env: dict[str, str], what: str) -> object:
    done = subprocess.run([PYTHON, "-m", "benchmarks.xet_upload", f"--{what}"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"--{what} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> None:
    size = args.mb * MiB
    work = Path(tempfile.mkdtemp(prefix="bench-xet-", dir=args.tmp))
    (work / "tmp").mkdir()
    for name in list(os.environ):  # the stock client: no Xet knobs from the caller's shell
        if name.startswith("HF_XET_") or name == "HF_HUB_DISABLE_XET":
            del os.environ[name]
    os.environ.update({"HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(work / "hf-home"),
                       "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TMPDIR": str(work / "tmp"),
                       "NO_PROXY": "127.0.0.1,localhost", **AWS_ENV})
    import hf_xet
    import huggingface_hub
    from boto3.s3.transfer import TransferConfig
    from huggingface_hub import HfApi, constants

    procs = Processes()
    started = time.perf_counter()
    rng = random.Random(args.rng)
    try:
        moto = start_moto(procs, {**os.environ}, log=work / "moto.log")
        env = hub_env(work, moto, "")
        manage(env, "migrate", "--noinput")
        manage(env, "ensure_bucket")
        in_hub_env = {**env, "PYTHONPATH": str(ROOT)}
        subprocess.run([PYTHON, "-m", "benchmarks.xet_upload", "--setup-db"], cwd=ROOT, env=in_hub_env, check=True,
                       capture_output=True)
        token = manage(env, "issue_api_key", "bencher", "--scopes", "read,write").strip().splitlines()[-1]
        hub = start_gunicorn(procs, env, "portal.wsgi", args.workers, work / "hub.log")
        print(f"setup {time.perf_counter() - started:.1f}s: hub {hub}, moto {moto}, huggingface_hub "
              f"{huggingface_hub.__version__}, hf_xet {getattr(hf_xet, '__version__', '1.8.0')}, "
              f"{args.mb} MiB files")

        api = HfApi(endpoint=hub, token=token)
        s3 = s3_client(moto)
        original, edited, other, other_edited = (work / n for n in ("v1.bin", "v2.bin", "lfs1.bin", "lfs2.bin"))
        write_random(original, size, rng)
        write_random(other, size, rng)
        changed = edit_copy(original, edited, args.edit / 100, rng)
        edit_copy(other, other_edited, args.edit / 100, rng)

        def upload(path: Path, repo: str, message: str) -> float:
            seconds, _ = timed(lambda: api.upload_file(path_or_fileobj=str(path), path_in_repo=FILENAME,
                                                       repo_id=f"{NAMESPACE}/{repo}", commit_message=message))
            return seconds

        rows: list[list[object]] = []
        constants.HF_HUB_DISABLE_XET = False
        before = in_hub(in_hub_env, "xorb-bytes")["bytes"]
        xet_first = upload(original, "xet", "v1")
        after_first = in_hub(in_hub_env, "xorb-bytes")["bytes"]
        xet_edit = upload(edited, "xet", "v2 (edited)")
        after_edit = in_hub(in_hub_env, "xorb-bytes")["bytes"]

        constants.HF_HUB_DISABLE_XET = True
        lfs_first = upload(other, "lfs", "v1")
        lfs_edit = upload(other_edited, "lfs", "v2 (edited)")
        constants.HF_HUB_DISABLE_XET = False

        parts = TransferConfig(multipart_threshold=64 * MiB, multipart_chunksize=64 * MiB)
        raw_first, _ = timed(lambda: s3.upload_file(str(original), BUCKET, "raw/v1.bin", Config=parts))
        raw_edit, _ = timed(lambda: s3.upload_file(str(edited), BUCKET, "raw/v2.bin", Config=parts))

        sent_first, sent_edit = after_first - before, after_edit - after_first
        rows.append([f"upload {args.mb} MiB: seconds", f"{xet_first:.2f}", f"{lfs_first:.2f}", f"{raw_first:.2f}"])
        rows.append(["  MB/s", f"{mbps(size, xet_first):.0f}", f"{mbps(size, lfs_first):.0f}",
                     f"{mbps(size, raw_first):.0f}"])
        rows.append(["  bytes received", f"{sent_first:,}", f"{size:,}", f"{size:,}"])
        rows.append([f"re-upload, {args.edit:g}% changed: seconds", f"{xet_edit:.2f}", f"{lfs_edit:.2f}",
                     f"{raw_edit:.2f}"])
        rows.append(["  bytes received", f"{sent_edit:,}", f"{size:,}", f"{size:,}"])
        rows.append(["  received / file size", f"{sent_edit / size:.3f}", "1.000", "1.000"])

        timings = in_hub(in_hub_env, "materialise")
        states = {t["state"] for t in timings}
        mat = [t["seconds"] for t in timings]

        # Downloads of the edited file: hf_xet's reconstruction (parallel ranged reads of the xorbs), the plain GET
        # of the materialised whole file (Xet disabled), and boto3 streaming an object of the same size.
        from huggingface_hub import hf_hub_download

        def download(xet: bool) -> Callable[[], float]:
            def go() -> float:
                constants.HF_HUB_DISABLE_XET = not xet
                cache = work / "dl-cache"
                try:
                    seconds, got = timed(lambda: hf_hub_download(f"{NAMESPACE}/xet", FILENAME, endpoint=hub,
                                                                 token=token, cache_dir=cache))
                    assert Path(got).stat().st_size == size
                finally:
                    constants.HF_HUB_DISABLE_XET = False
                    shutil.rmtree(cache, ignore_errors=True)
                return seconds
            return go

        def raw_get() -> float:
            return timed_get_object(s3, BUCKET, "raw/v2.bin", work / "raw-get.bin", size, constants.DOWNLOAD_CHUNK_SIZE)

        xet_dl, lfs_dl, raw_dl = interleaved(args.rounds, download(True), download(False), raw_get)
        rows.append([f"download {args.mb} MiB, median of {args.rounds}: seconds", f"{median(xet_dl):.2f}",
                     f"{median(lfs_dl):.2f}", f"{median(raw_dl):.2f}"])
        rows.append(["  MB/s", f"{mbps(size, median(xet_dl)):.0f}", f"{mbps(size, median(lfs_dl)):.0f}",
                     f"{mbps(size, median(raw_dl)):.0f}"])
        rows.append(["  ratio to boto3 get_object", f"{median(raw_dl) / median(xet_dl):.2f}",
                     f"{median(raw_dl) / median(lfs_dl):.2f}", "1.00"])
        print()
        print(table(["", "hub, Xet", "hub, LFS", "boto3 → S3"], rows))
        print(f"\nbytes changed in the edited copy: {changed:,} ({changed / size:.1%}); the Xet re-upload sent "
              f"{sent_edit / max(changed, 1):.2f}× that (whole 64 KiB chunks around each edit, plus chunk headers)")
        print(f"materialisation (worker: reconstruct + sha256 + write the whole file to S3), per Xet upload: "
              f"{', '.join(f'{s:.2f}s ({mbps(size, s):.0f} MB/s)' for s in mat)}; states: {sorted(states)}")
        print(f"total {time.perf_counter() - started:.0f}s; cores: {os.cpu_count()}")
    finally:
        clean_up(procs, work, keep=args.keep)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=512, help="file size in MiB (default 512)")
    parser.add_argument("--edit", type=float, default=10.0, help="percent of the bytes changed for the re-upload")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--rounds", type=int, default=3, help="download rounds (median)")
    parser.add_argument("--rng", type=int, default=1, help="random seed of the file contents")
    parser.add_argument("--tmp", default=None, help="parent of the work directory (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, DB)")
    parser.add_argument("--setup-db", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--xorb-bytes", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--materialise", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.xorb_bytes:
        xorb_bytes()
    elif args.materialise:
        materialise()
    elif args.setup_db:
        seed()
    else:
        run(args)


if __name__ == "__main__":
    sys.exit(main())
