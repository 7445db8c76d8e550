"""Shared helpers for the benchmarks: ports, a moto S3 server in its own process, timing, tables."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MiB = 1024 * 1024

# Fake credentials, and never a developer's ~/.aws profile or the instance metadata service.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}

_MOTO_MAIN = """
import logging, sys, time
logging.getLogger("werkzeug").setLevel(logging.WARNING)
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
while True:
    time.sleep(3600)
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s")


class Processes:
    """Child processes started by a benchmark; `stop_all` ends each one (and its group) by pid."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen] = []

    def start(self, args: Sequence[str], *, env: dict[str, str] | None = None,
              log: Path | None = None) -> subprocess.Popen:
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - lives as long as the child
        proc = subprocess.Popen(list(args), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self._procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in reversed(self._procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        self._procs.clear()


def clean_up(procs: Processes, work: Path, *, keep: bool) -> None:
    """The end of every run: each child process stopped, the work directory removed (or kept, and said where)."""
    procs.stop_all()
    if keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def start_moto(procs: Processes, env: dict[str, str], log: Path | None = None) -> str:
    """A moto S3 server on 127.0.0.1 in its own process (so it does not share the client's GIL)."""
    port = free_port()
    proc = procs.start([PYTHON, "-c", _MOTO_MAIN, str(port)], env=env, log=log)
    wait_port(port, proc)
    return f"http://127.0.0.1:{port}"


def manage(env: dict[str, str], *args: str) -> str:
    """`manage.py ARGS` with the hub's environment; its output, or RuntimeError with it."""
    done = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def start_gunicorn(procs: Processes, env: dict[str, str], app: str, workers: int, log: Path) -> str:
    port = free_port()
    proc = procs.start(
        [str(Path(PYTHON).parent / "gunicorn"), app, "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--timeout", "300", "--log-level", "warning"],
        env=env, log=log,
    )
    wait_port(port, proc)
    return f"http://127.0.0.1:{port}"


def s3_client(endpoint: str):  # noqa: ANN201
    import boto3
    from botocore.config import Config

    config = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required")
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("s3", endpoint_url=endpoint, config=config)


def write_random_file(path: Path, size: int, *, seed: int = 0) -> None:
    """`size` bytes that compress and deduplicate like real weights would not (a repeated random block)."""
    import random

    rng = random.Random(seed)
    block = rng.randbytes(16 * MiB)
    with open(path, "wb") as out:
        left = size
        while left > 0:
            piece = block[: min(left, len(block))]
            out.write(piece)
            left -= len(piece)
            block = block[1:] + block[:1]  # rotate: no two blocks alike


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def interleaved(rounds: int, *sides: Callable[[], float]) -> tuple[list, ...]:
    """Rotate which side goes first each round, so none always runs on a warmer (or busier) machine."""
    out: tuple[list, ...] = tuple([] for _ in sides)
    for n in range(rounds):
        for k in range(len(sides)):
            i = (n + k) % len(sides)
            out[i].append(sides[i]())
    return out


def timed_get_object(s3, bucket: str, key: str, target: Path, size: int, chunk: int) -> float:  # noqa: ANN001
    """Seconds for boto3 `get_object` streamed to `target` in `chunk`-sized pieces (the client's download chunk):
    the plain-GET ceiling the download rows compare against. The file is checked and removed."""

    def go() -> None:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        with open(target, "wb") as out:
            for piece in body.iter_chunks(chunk):
                out.write(piece)

    seconds, _ = timed(go)
    assert target.stat().st_size == size, target.stat().st_size
    target.unlink()
    return seconds


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def mbps(size: int, seconds: float) -> float:
    return size / seconds / 1e6


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        pairs = enumerate(zip(row, widths, strict=True))
        padded = (c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)
        lines.append("  ".join(padded).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdict(ratio: float, goal: float, *, above: bool = True) -> str:
    ok = ratio >= goal if above else ratio < goal
    return "ok" if ok else "MISSED"


# --- seeding inside Django (a benchmark's subprocess with the hub's environment; django.setup() done) -----------


def seed_bench_user(namespace: str) -> tuple[object, list[str]]:
    """User `bencher`, admin of organisation `namespace`, in the throwaway database. Models whose migrations are
    not written yet get their tables the way `migrate --run-syncdb` would; returns (user, tables created)."""
    from django.apps import apps
    from django.contrib.auth import get_user_model
    from django.db import connection

    from registry.models import Membership, Organization

    existing = set(connection.introspection.table_names())
    created = []
    with connection.schema_editor() as editor:
        for model in apps.get_models():
            meta = model._meta
            if meta.managed and not meta.proxy and meta.db_table not in existing:
                editor.create_model(model)
                created.append(meta.db_table)
                existing.add(meta.db_table)
                existing.update(f.remote_field.through._meta.db_table for f in meta.local_many_to_many)
    user = get_user_model().objects.create_user(username="bencher", email="bencher@example.com",
                                                password="bench-password-not-used")
    org = Organization.objects.create(slug=namespace, name="Benchmarks")
    Membership.objects.create(user=user, organization=org, role=Membership.Role.ADMIN)
    return user, created
