"""Hub vs raw S3, side by side in one run: huggingface_hub downloads/uploads through the hub against boto3
talking to the same moto server, and HEAD-resolve requests/s against a bare Django view.

    .venv/bin/python -m benchmarks.hf_transfer                # 512 MB, 5 rounds (see README.md)
    .venv/bin/python -m benchmarks.hf_transfer --size 64 --rounds 3 --head-seconds 3

Everything runs on 127.0.0.1 in a temporary directory (SQLite, VAR_DIR, moto's spill files) that is removed
at the end, with every child process. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
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
    manage,
    mbps,
    median,
    s3_client,
    seed_bench_user,
    start_gunicorn,
    start_moto,
    table,
    timed,
    timed_get_object,
    verdict,
    write_random_file,
)

NAMESPACE = "bench"
DOWNLOAD_REPO = "download"
UPLOAD_REPO = "upload"
FILENAME = "model.safetensors"
BUCKET = "bench-hub"
RAW_PREFIX = "raw/"

# --- seeding (runs in a subprocess, inside Django, with the hub's environment) ------------------------------


def seed(blob_path: str) -> None:
    import django

    django.setup()
    from registry.services.blobs import blob_ingest_stream
    from registry.services.commits import AddBlob, commit_create
    from registry.services.repos import repo_create

    user, created = seed_bench_user(NAMESPACE)
    download = repo_create(actor=user, namespace=NAMESPACE, name=DOWNLOAD_REPO)
    repo_create(actor=user, namespace=NAMESPACE, name=UPLOAD_REPO)
    with open(blob_path, "rb") as stream:
        blob = blob_ingest_stream(stream=stream)
    commit_create(actor=user, repo=download, operations=[AddBlob(FILENAME, blob.sha256, blob.size)],
                  title="weights")
    print(json.dumps({"created_tables": created, "storage_key": blob.storage_key, "sha256": blob.sha256}))


# --- the hub under gunicorn ---------------------------------------------------------------------------------


def hub_env(work: Path, moto: str, cache_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "AWS_", "S3_", "CACHE_URL"))}
    env.update(AWS_ENV)
    env.update({
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PYTHONPATH": str(ROOT),
        "VAR_DIR": str(work / "var"),
        "DATABASE_URL": f"sqlite:///{work / 'var' / 'hub.sqlite3'}",
        "BLOB_STORE": "s3",
        "S3_ENDPOINT_URL": moto,
        "S3_PUBLIC_ENDPOINT_URL": moto,
        "S3_BUCKET": BUCKET,
        "S3_REGION": "us-east-1",
        "DEBUG": "false",
        "SECRET_KEY": "benchmark-secret-key-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "ACCOUNT_EMAIL_VERIFICATION": "none",
        "CELERY_BROKER_URL": "filesystem://",  # queued verifications pile up in VAR_DIR: no worker runs
        # The limiter still runs (its cache round trip is part of every request), it just never says no.
        "RATE_LIMIT_API_PER_MINUTE": "100000000",
        "RATE_LIMIT_RESOLVE_PER_MINUTE": "100000000",
    })
    if cache_url:
        env["CACHE_URL"] = cache_url
    (work / "var").mkdir(parents=True, exist_ok=True)
    return env


def head(url: str, token: str) -> tuple[int, dict[str, str]]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            return None

    request = urllib.request.Request(url, method="HEAD", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


# --- client-side hashing, counted ---------------------------------------------------------------------------


class HashCounter:
    """Wraps huggingface_hub's sha_fileobj (LFS upload info, download cache checks): counts and times it."""

    def __init__(self) -> None:
        self.calls = 0
        self.seconds = 0.0

    def install(self) -> None:
        from huggingface_hub import file_download, lfs

        original = lfs.sha_fileobj

        def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.calls += 1
                self.seconds += time.perf_counter() - start

        lfs.sha_fileobj = counted
        file_download.sha_fileobj = counted

    def take(self) -> tuple[int, float]:
        calls, seconds = self.calls, self.seconds
        self.calls, self.seconds = 0, 0.0
        return calls, seconds


# --- HEAD load ----------------------------------------------------------------------------------------------


def wrk_rps(url: str, token: str, seconds: float, connections: int, work: Path) -> tuple[float, int]:
    script = work / "head.lua"
    script.write_text(f'wrk.method = "HEAD"\nwrk.headers["Authorization"] = "Bearer {token}"\n')
    threads = max(1, min(2, connections))
    done = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    )
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", done.stdout).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", done.stdout)
    errors = re.search(r"Socket errors:.*", done.stdout)
    failures = int(bad.group(1)) if bad else 0
    if errors:
        failures += sum(int(n) for n in re.findall(r"(\d+)", errors.group(0)))
    return rps, failures


def python_rps(url: str, token: str, seconds: float, connections: int, work: Path) -> tuple[float, int]:
    """Fallback when wrk is missing: threads doing HEAD in a loop (the client's own GIL caps the figures)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    stop = time.monotonic() + seconds
    counts = [0] * connections
    failures = [0] * connections

    def worker(n: int) -> None:
        while time.monotonic() < stop:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            try:
                conn.request("HEAD", parts.path, headers={"Authorization": f"Bearer {token}"})
                status = conn.getresponse().status
                counts[n] += 1
                failures[n] += status >= 400
            except OSError:
                failures[n] += 1
            finally:
                conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - start), sum(failures)


# --- the run ------------------------------------------------------------------------------------------------


def mutate(path: Path, rng: random.Random, size: int) -> None:
    """Change a few bytes so the hub sees new content (it would skip bytes it already holds)."""
    with open(path, "r+b") as fh:
        for _ in range(4):
            fh.seek(rng.randrange(0, size - 16))
            fh.write(rng.randbytes(16))


def run(args: argparse.Namespace) -> None:
    size = args.size * MiB
    work = Path(tempfile.mkdtemp(prefix="bench-hf-", dir=args.tmp))
    # huggingface_hub reads its environment at import time
    os.environ.update({"HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                       "HF_HOME": str(work / "hf-home"), "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                       "TMPDIR": str(work / "tmp")})
    (work / "tmp").mkdir()
    os.environ.update(AWS_ENV)
    import huggingface_hub
    from boto3.s3.transfer import TransferConfig
    from huggingface_hub import HfApi, constants, snapshot_download

    constants.HF_HUB_DISABLE_XET = True
    hashes = HashCounter()
    hashes.install()

    procs = Processes()
    started = time.perf_counter()
    try:
        moto_env = {**os.environ, "TMPDIR": str(work / "tmp")}  # moto spills objects over 5 MB to temp files
        moto = start_moto(procs, moto_env, log=work / "moto.log")
        env = hub_env(work, moto, args.cache_url)
        manage(env, "migrate", "--noinput")
        manage(env, "ensure_bucket")
        weights = work / "weights.safetensors"
        write_random_file(weights, size, seed=1)
        seeded = json.loads(subprocess.run(
            [PYTHON, "-m", "benchmarks.hf_transfer", "--seed", str(weights)], cwd=ROOT, env=env,
            capture_output=True, text=True, check=True,
        ).stdout.strip().splitlines()[-1])
        if seeded["created_tables"]:
            print(f"note: created tables without migrations: {', '.join(seeded['created_tables'])}")
        token = manage(env, "issue_api_key", "bencher", "--scopes", "read,write").strip().splitlines()[-1]
        hub = start_gunicorn(procs, env, "portal.wsgi", args.workers, work / "hub.log")
        bare = start_gunicorn(procs, env, "benchmarks.bare_wsgi:application", args.workers, work / "bare.log")
        resolve_path = f"/{NAMESPACE}/{DOWNLOAD_REPO}/resolve/main/{FILENAME}"
        for base in (hub, bare):
            status, headers = head(base + resolve_path, token)
            if status != 302:
                raise RuntimeError(f"HEAD {base}{resolve_path} answered {status}: {headers}")
        print(f"setup: {time.perf_counter() - started:.1f}s  (hub {hub}, bare {bare}, moto {moto}, "
              f"huggingface_hub {huggingface_hub.__version__})")

        s3 = s3_client(moto)
        api = HfApi(endpoint=hub, token=token)
        results: list[list[object]] = []

        # (a) download ---------------------------------------------------------------------------------
        if "download" in args.only:
            single_get = TransferConfig(multipart_threshold=size + 1)  # one plain GET, like the hub client

            def hub_download() -> float:
                cache = work / "hf-cache"
                seconds, folder = timed(lambda: snapshot_download(
                    f"{NAMESPACE}/{DOWNLOAD_REPO}", endpoint=hub, token=token, cache_dir=cache))
                got = Path(folder) / FILENAME
                assert got.stat().st_size == size, got.stat().st_size
                shutil.rmtree(cache)
                return seconds

            def raw_get() -> float:
                return timed_get_object(s3, BUCKET, seeded["storage_key"], work / "raw-get.bin", size,
                                        constants.DOWNLOAD_CHUNK_SIZE)

            def raw_download_file() -> float:
                target = work / "raw-download.bin"
                seconds, _ = timed(lambda: s3.download_file(BUCKET, seeded["storage_key"], str(target),
                                                            Config=single_get))
                assert target.stat().st_size == size
                target.unlink()
                return seconds

            def client_get() -> float:
                """The same object through huggingface_hub's own HTTP session (httpx), presigned, streamed in its
                chunk size: what the stock client can do against this S3 with no hub in between."""
                from huggingface_hub.utils import get_session

                target = work / "client-get.bin"
                url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": seeded["storage_key"]},
                                                ExpiresIn=600)

                def go() -> None:
                    with get_session().stream("GET", url) as response, open(target, "wb") as out:
                        response.raise_for_status()
                        for chunk in response.iter_bytes(chunk_size=constants.DOWNLOAD_CHUNK_SIZE):
                            out.write(chunk)

                seconds, _ = timed(go)
                assert target.stat().st_size == size
                target.unlink()
                return seconds

            sides = [hub_download, raw_get, client_get] + (
                [raw_download_file] if not args.skip_download_file else [])
            interleaved(args.warmup, *sides)
            hashes.take()
            hub_s, raw_s, client_s, *file_s = interleaved(args.rounds, *sides)
            calls, _ = hashes.take()
            print(f"(a) download  hub s: {fmt_list(hub_s)}  boto3 get_object s: {fmt_list(raw_s)}  "
                  f"client hashing calls: {calls}")
            hub_mbps = f"{mbps(size, median(hub_s)):.0f}"
            if file_s:
                # The baseline. Against moto it is slow (s3transfer's download path), hence the next row.
                print(f"              boto3 download_file (one GET) s: {fmt_list(file_s[0])}")
                ratio_file = median(file_s[0]) / median(hub_s)
                results.append([f"(a) download {args.size} MiB vs boto3 download_file (MB/s)", hub_mbps,
                                f"{mbps(size, median(file_s[0])):.0f}", f"{ratio_file:.2f}", ">= 0.95",
                                verdict(ratio_file, 0.95)])
            ratio = median(raw_s) / median(hub_s)
            results.append([f"{'    ' if file_s else '(a) download '}vs boto3 get_object streamed (stricter)",
                            hub_mbps, f"{mbps(size, median(raw_s)):.0f}", f"{ratio:.2f}", ">= 0.95",
                            verdict(ratio, 0.95)])
            print(f"              huggingface_hub's httpx session, presigned GET, no hub s: {fmt_list(client_s)}")
            ratio_client = median(client_s) / median(hub_s)
            results.append(["    vs the client's own HTTP stack, no hub", hub_mbps,
                            f"{mbps(size, median(client_s)):.0f}", f"{ratio_client:.2f}", "(info)", ""])

        # (b) upload -----------------------------------------------------------------------------------
        if "upload" in args.only:
            threshold = args.part_mb * MiB
            parts = TransferConfig(multipart_threshold=threshold, multipart_chunksize=threshold)
            rng = random.Random(7)
            hub_hash: list[float] = []
            round_no = [0]

            def hub_upload() -> float:
                mutate(weights, rng, size)
                round_no[0] += 1
                hashes.take()
                seconds, _ = timed(lambda: api.upload_file(
                    path_or_fileobj=str(weights), path_in_repo=FILENAME, repo_id=f"{NAMESPACE}/{UPLOAD_REPO}",
                    commit_message=f"round {round_no[0]}"))
                calls, hashing = hashes.take()
                assert calls == 1, f"expected one sha256 pass over the file, got {calls}"
                hub_hash.append(hashing)
                drop_uploaded_blobs(s3, keep=seeded["storage_key"])
                return seconds

            def raw_upload() -> float:
                mutate(weights, rng, size)
                key = f"{RAW_PREFIX}upload.bin"
                seconds, _ = timed(lambda: s3.upload_file(str(weights), BUCKET, key, Config=parts))
                assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == size
                s3.delete_object(Bucket=BUCKET, Key=key)
                return seconds

            interleaved(args.warmup, hub_upload, raw_upload)
            hub_hash.clear()
            hub_s, raw_s = interleaved(args.rounds, hub_upload, raw_upload)
            print(f"(b) upload    hub s: {fmt_list(hub_s)}  boto3 s: {fmt_list(raw_s)}  "
                  f"client sha256 s (1 pass per upload): {fmt_list(hub_hash)}")
            ratio = median(raw_s) / median(hub_s)
            results.append([f"(b) upload {args.size} MiB (MB/s)", f"{mbps(size, median(hub_s)):.0f}",
                            f"{mbps(size, median(raw_s)):.0f}", f"{ratio:.2f}", ">= 0.90",
                            verdict(ratio, 0.90)])
            net = [h - x for h, x in zip(hub_s, hub_hash, strict=True)]
            ratio_net = median(raw_s) / median(net)
            results.append(["    same, less the client's sha256 pass", f"{mbps(size, median(net)):.0f}",
                            f"{mbps(size, median(raw_s)):.0f}", f"{ratio_net:.2f}", "(info)", ""])

        # (c) HEAD resolve -----------------------------------------------------------------------------
        if "head" in args.only:
            load = wrk_rps if shutil.which("wrk") and not args.python_client else python_rps
            client = "wrk" if load is wrk_rps else "python threads"

            def measure(base: str) -> Callable[[], float]:
                def go() -> float:
                    rps, failures = load(base + resolve_path, token, args.head_seconds, args.concurrency,
                                         work)
                    if failures:
                        raise RuntimeError(f"{base}: {failures} failed requests during the HEAD run")
                    return rps
                return go

            load(hub + resolve_path, token, 1, args.concurrency, work)  # warm both servers' workers
            load(bare + resolve_path, token, 1, args.concurrency, work)
            hub_r, bare_r = interleaved(args.head_rounds, measure(hub), measure(bare))
            print(f"(c) HEAD      hub req/s: {fmt_list(hub_r, 0)}  bare req/s: {fmt_list(bare_r, 0)}  "
                  f"({client}, {args.concurrency} connections, {args.head_seconds:g}s each)")
            ratio = median(hub_r) / median(bare_r)
            results.append([f"(c) HEAD resolve, {args.workers} workers (req/s)", f"{median(hub_r):.0f}",
                            f"{median(bare_r):.0f}", f"{ratio:.2f}", ">= 0.5", verdict(ratio, 0.5)])

        print()
        print(table(["benchmark (medians)", "hub", "direct/bare", "ratio", "goal", ""], results))
        print(f"\ntotal {time.perf_counter() - started:.0f}s; rounds: {args.rounds} transfer, "
              f"{args.head_rounds} HEAD; size {args.size} MiB; cores: {os.cpu_count()}")
    finally:
        clean_up(procs, work, keep=args.keep)


def drop_uploaded_blobs(s3, *, keep: str) -> None:  # noqa: ANN001
    """moto keeps every object: drop the hub's uploaded blobs (the benchmark never downloads them)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="blobs/"):
        doomed = [{"Key": o["Key"]} for o in page.get("Contents", []) if o["Key"] != keep]
        if doomed:
            s3.delete_objects(Bucket=BUCKET, Delete={"Objects": doomed, "Quiet": True})


def fmt_list(values: list[float], digits: int = 2) -> str:
    return "[" + ", ".join(f"{v:.{digits}f}" for v in values) + "]"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="file size in MiB (default 512)")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per transfer (median)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds per transfer first")
    parser.add_argument("--part-mb", type=int, default=64,
                        help="boto3 multipart threshold and part size of the raw upload (hub default: 64)")
    parser.add_argument("--skip-download-file", action="store_true",
                        help="leave out boto3 download_file (slow against moto: ~25 s per 512 MiB)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, each server")
    parser.add_argument("--head-seconds", type=float, default=5.0)
    parser.add_argument("--head-rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="connections of the HEAD load")
    parser.add_argument("--python-client", action="store_true", help="HEAD load from Python threads, not wrk")
    parser.add_argument("--only", nargs="+", default=["download", "upload", "head"],
                        choices=["download", "upload", "head"])
    parser.add_argument("--cache-url", default="", help="CACHE_URL for the hub (default: its file cache)")
    parser.add_argument("--tmp", default=None, help="parent of the work directory (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, DB)")
    parser.add_argument("--seed", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed:
        seed(args.seed)
        return
    run(args)


if __name__ == "__main__":
    sys.exit(main())
