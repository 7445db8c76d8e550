"""Fault injection with real processes: a worker killed while it holds a job, the whole embedded hub killed and
started again, and a stalled or stopped Redis, S3 (moto) or PostgreSQL under a gunicorn-served hub.

Every dependency here is a private process of the test's own (never the machine's PostgreSQL or Redis): paused with
SIGSTOP, resumed with SIGCONT, stopped and started. What each test asserts is what a user or an operator would
notice: bounded answers (503 with Retry-After, never a hang or a 500) while it is down, and work that resumes on its
own within two minutes, with nothing lost.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
RECOVERY_SECONDS = 120  # the bound: work held by a dead worker or a crashed hub runs again within this

pytestmark = [pytest.mark.fault, pytest.mark.slow, pytest.mark.live]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"nothing listens on port {port} after {timeout}s")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return None  # a 302 to the store is the hub's answer; following it would measure the store


_opener = urllib.request.build_opener(_NoRedirect)


def request(url: str, method: str = "GET", *, data: bytes | None = None, headers: dict | None = None,
            timeout: float = 30) -> tuple[int, dict, bytes, float]:
    """(status, headers, body, seconds it took), redirects not followed."""
    started = time.monotonic()
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with _opener.open(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read(), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read(), time.monotonic() - started


def base_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", str(var_dir)),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "VAR_DIR": str(var_dir),
        "SECRET_KEY": "fault-injection-secret-key-0123456789-abcdefghij",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.update(extra)
    return env


@contextmanager
def spawn(args: list[str], log: Path, env: dict[str, str], cwd: Path = ROOT) -> Iterator[subprocess.Popen]:
    with log.open("ab") as out:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,  # noqa: S603
                                   start_new_session=True)
    try:
        yield process
    finally:
        for sig in (signal.SIGCONT, signal.SIGTERM):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


# --- private dependencies ----------------------------------------------------------------------------------


@contextmanager
def private_redis(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen]]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    port = free_port()
    with spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
               tmp_path / "redis.log", dict(os.environ)) as process:
        wait_port(port)
        yield port, process


@contextmanager
def private_moto(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    with spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], tmp_path / "moto.log",
               env) as process:
        wait_port(port)
        yield f"http://127.0.0.1:{port}", process


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        pytest.skip("PostgreSQL server binaries are not installed")
    return found[-1].parent


class PrivatePostgres:
    """A cluster of the test's own (initdb in a temp dir), run as `postgres` when the tests run as root."""

    def __init__(self) -> None:
        import tempfile

        self.bin = _pg_bin()
        # Not under pytest's tmp_path: its parents are private to root, and the server runs as `postgres`.
        self.dir = Path(tempfile.mkdtemp(prefix="hub-fault-pg-"))
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.run(["initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "--no-sync"])

    def run(self, args: list[str], timeout: float = 60) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)  # noqa: S603
        assert done.returncode == 0, f"{args[0]}: {done.stdout} {done.stderr}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run(["pg_ctl", "-D", str(self.dir / "data"), "-o", options, "-l", str(self.dir / "log"), "-w",
                  "start"])

    def stop(self) -> None:
        self.run(["pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop"])

    def postmaster_pid(self) -> int:
        return int((self.dir / "data" / "postmaster.pid").read_text().splitlines()[0])

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def close(self) -> None:
        try:
            self.stop()
        except AssertionError:
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    try:
        yield pg
    finally:
        pg.close()


@contextmanager
def paused(process_or_pid) -> Iterator[None]:  # noqa: ANN001
    pid = process_or_pid if isinstance(process_or_pid, int) else process_or_pid.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


# --- a hub served by gunicorn, as docker compose runs it ---------------------------------------------------


class Hub:
    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp = tmp_path
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "hub.log"

    def manage(self, *args: str, timeout: float = 180) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        assert done.returncode == 0, f"manage.py {' '.join(args)}: {done.stdout[-2000:]} {done.stderr[-3000:]}"
        return done.stdout

    @contextmanager
    def serving(self) -> Iterator[Hub]:
        args = [sys.executable, "-m", "gunicorn", "portal.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
                "--worker-class", "gthread", "--threads", "4", "--workers", "1", "--timeout", "60"]
        with spawn(args, self.log, self.env):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if request(f"{self.url}/healthz", timeout=2)[0] == 200:
                        break
                except OSError:
                    time.sleep(0.2)
            else:
                pytest.fail(f"gunicorn did not start:\n{self.log.read_text(errors='replace')[-3000:]}")
            yield self

    def get(self, path: str, method: str = "GET", **kw) -> tuple[int, dict, bytes, float]:  # noqa: ANN003
        return request(self.url + path, method, **kw)


def assert_503(answer: tuple[int, dict, bytes, float], within: float, *, hf: bool = False) -> None:
    status, headers, body, took = answer
    assert status == 503, (status, body[:300])
    assert took < within, f"answered in {took:.1f} s"
    assert int(headers["Retry-After"]) > 0
    if hf:
        assert headers["X-Error-Code"] == "ServiceUnavailable" and headers["X-Error-Message"]


# --- PostgreSQL stalled, then stopped ---------------------------------------------------------------------


def test_database_stalled_or_down_is_a_quick_503_then_recovers(tmp_path, postgres):
    pg = postgres
    pg.start()
    hub = Hub(tmp_path, base_env(tmp_path / "var", DATABASE_URL=pg.url))
    (tmp_path / "var").mkdir()
    hub.manage("migrate", "--noinput")
    hub.manage("seed_demo", "--force")
    with hub.serving():
        assert hub.get("/consortium/hanbit-tiny")[0] == 200
        with paused(pg.postmaster_pid()):  # accepts connections, answers nothing: connect_timeout decides
            assert_503(hub.get("/models"), within=5)
            assert_503(hub.get("/api/models/consortium/hanbit-tiny"), within=5, hf=True)
            status, _, body, took = hub.get("/api/v1/models")
            assert status == 503 and took < 5 and json.loads(body)["code"] == "service_unavailable"
            status, _, _, took = hub.get("/healthz")
            assert status == 200 and took < 2  # liveness needs no database
            status, _, body, took = hub.get("/readyz")
            assert status == 503 and took < 2.5 and json.loads(body)["checks"]["database"]["ok"] is False
        assert hub.get("/models")[0] == 200  # back at once

        pg.stop()
        assert_503(hub.get("/models"), within=5)
        assert_503(hub.get("/api/models/consortium/hanbit-tiny"), within=5, hf=True)
        pg.start()
        assert hub.get("/models")[0] == 200
    assert "Traceback" not in hub.log.read_text(errors="replace")


# --- Redis stalled (cache and broker) ----------------------------------------------------------------------


def test_redis_stalled_keeps_downloads_and_commits_answering(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    with private_redis(tmp_path) as (port, redis):
        env = base_env(var, CACHE_URL=f"redis://127.0.0.1:{port}/1", CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0")
        hub = Hub(tmp_path, env)
        hub.manage("migrate", "--noinput")
        hub.manage("seed_demo", "--force")
        key = hub.manage("issue_api_key", "admin", "--scopes", "read,write").strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        with hub.serving():
            resolve = "/consortium/hanbit-tiny/resolve/main/config.json"
            assert hub.get(resolve, "HEAD", headers=auth)[0] == 200
            with paused(redis):
                answers = [hub.get(resolve, "HEAD", headers=auth) for _ in range(10)]
                assert all(a[0] == 200 for a in answers), [a[0] for a in answers]
                assert sum(a[3] for a in answers) < 10, [round(a[3], 2) for a in answers]  # not 1 s per request
                assert max(a[3] for a in answers) < 5
                status, _, _, took = hub.get("/healthz")
                assert status == 200 and took < 2
                status, _, body, took = hub.get("/readyz")
                checks = json.loads(body)["checks"]
                assert status == 503 and took < 2.5 and not checks["cache"]["ok"] and not checks["broker"]["ok"]
                # A commit goes through; its validation job waits in the database for the broker to come back.
                line = json.dumps({"key": "header", "value": {"summary": "while redis was paused"}}) + "\n"
                line += json.dumps({"key": "file", "value": {"path": "notes.txt", "encoding": "base64",
                                                             "content": "aGVsbG8K"}}) + "\n"
                status, _, body, took = hub.get("/api/models/consortium/hanbit-tiny/commit/main", "POST",
                                                data=line.encode(),
                                                headers={**auth, "Content-Type": "application/x-ndjson"})
                assert status == 200 and took < 10, (status, body[:300], took)
            assert hub.get(resolve, "HEAD", headers=auth)[0] == 200
    import sqlite3

    with sqlite3.connect(var / "hub.sqlite3") as db:
        unsent = db.execute("SELECT count(*) FROM registry_job WHERE state = 'queued' AND dispatches = 0").fetchone()
    assert unsent[0] >= 1  # recorded, left to the sweeper: nothing lost


# --- S3 stalled --------------------------------------------------------------------------------------------


def test_blob_store_stalled_is_bounded_then_recovers(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    with private_moto(tmp_path) as (endpoint, moto):
        env = base_env(var, BLOB_STORE="s3", S3_BUCKET="hub-faults", S3_ENDPOINT_URL=endpoint)
        hub = Hub(tmp_path, env)
        hub.manage("migrate", "--noinput")
        hub.manage("ensure_bucket")
        hub.manage("seed_demo", "--force")
        with hub.serving():
            assert hub.get("/readyz")[0] == 200
            with paused(moto):
                status, _, body, took = hub.get("/readyz")
                assert status == 503 and took < 2.5
                assert json.loads(body)["checks"]["blob_store"]["ok"] is False
                # Presigned downloads need no round trip to S3: still answered.
                status, headers, _, took = hub.get("/consortium/hanbit-tiny/resolve/main/model.safetensors",
                                                   "HEAD")
                assert status in (200, 302) and took < 5
                # The web server's threads are not all stuck behind the store.
                status, _, _, took = hub.get("/models")
                assert status == 200 and took < 5
            assert hub.get("/readyz")[0] == 200
        assert "Traceback" not in hub.log.read_text(errors="replace")


# --- a worker killed while it holds a job ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_job_held_by_a_killed_worker_runs_again_within_two_minutes(tmp_path, personas, make_repo, monkeypatch):
    """The first worker takes the validation and hangs on a stalled store; it is killed with SIGKILL. A second
    worker (with beat, as `make run` and compose run it) finishes the job once the dead worker's lease runs out."""
    from registry.models import Job, ValidationRun
    from registry.services.blobs import blob_ingest_stream
    from registry.services.commits import AddBlob, commit_create
    from registry.storage import reset_store
    from tests.fixtures.workers import celery_worker, database_url

    with private_moto(tmp_path) as (endpoint, moto):
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
            monkeypatch.setenv(name, value)
        s3 = {"BLOB_STORE": "s3", "S3_BUCKET": "hub-worker-fault", "S3_ENDPOINT_URL": endpoint,
              "S3_PUBLIC_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        for name, value in s3.items():
            monkeypatch.setattr(settings, name, value)
        reset_store()
        from registry.storage import get_store

        get_store().ensure_bucket()
        repo = make_repo("kill")
        blob = blob_ingest_stream(stream=io.BytesIO(b"\x00" * (2 * 1024 * 1024)), repo=repo)
        worker_env = {**s3, "DATABASE_URL": database_url()}
        started: list[subprocess.Popen] = []
        with paused(moto), celery_worker("validation", tmp_path / "first.log", name="doomed", env=worker_env,
                                         started=started):  # the first worker's read of the blob will hang
            commit = commit_create(actor=personas.owner, repo=repo, title="weights",
                                   operations=[AddBlob("weights.bin", blob.sha256, blob.size)])
            run = ValidationRun.objects.get(commit=commit)
            deadline = time.monotonic() + 60
            while not Job.objects.filter(task="registry.validate_commit", key=run.pk,
                                         state=Job.State.RUNNING).exists():
                assert time.monotonic() < deadline, (tmp_path / "first.log").read_text()[-3000:]
                time.sleep(0.2)
            os.kill(started[0].pid, signal.SIGKILL)  # the worker dies holding the job
            killed_at = time.monotonic()
            started[0].wait(timeout=10)
        reset_store()
        assert ValidationRun.objects.get(pk=run.pk).status in ("pending", "running")
        with celery_worker("validation", tmp_path / "second.log", name="rescuer", env=worker_env, purge=False,
                           extra_args=["-B", "--schedule", str(tmp_path / "beat-schedule")]):
            while not ValidationRun.objects.get(pk=run.pk).is_finished:
                assert time.monotonic() - killed_at < RECOVERY_SECONDS, \
                    (tmp_path / "second.log").read_text(errors="replace")[-4000:]
                time.sleep(0.5)
        took = time.monotonic() - killed_at
        assert ValidationRun.objects.get(pk=run.pk).status in ("passed", "warning"), took
        job = Job.objects.filter(task="registry.validate_commit", key=run.pk).latest("pk")
        assert job.state == Job.State.DONE and job.attempts == 2


# --- the whole embedded hub killed and started again -------------------------------------------------------


def test_embedded_hub_killed_midway_finishes_its_jobs_after_a_restart(tmp_path):
    """`make run` killed with SIGKILL while its worker runs the demo models' inference check (kombu's filesystem
    transport deleted that message when the worker took it): started again, the check finishes."""
    pytest.importorskip("torch", reason="needs the inference extra, so that a job runs long enough to be caught")
    pytest.importorskip("transformers", reason="needs the inference extra")
    import sqlite3

    from tests.test_ops import Embedded

    def jobs(var: Path) -> list[tuple[str, str]]:
        try:
            with sqlite3.connect(var / "hub.sqlite3", timeout=5) as conn:
                return conn.execute("SELECT task, state FROM registry_job").fetchall()
        except sqlite3.OperationalError:  # not migrated yet, or busy
            return []

    first = Embedded(tmp_path / "first")
    var = first.var_dir
    try:
        first.wait_for("an inference check running",
                       lambda: ("registry.inference.run_check", "running") in jobs(var), timeout=120)
        os.killpg(first.process.pid, signal.SIGKILL)  # the whole hub: web, worker and its pool
        killed_at = time.monotonic()
    finally:
        first.kill()
    assert ("registry.inference.run_check", "running") in jobs(var)  # what the crash left behind

    again = Embedded(tmp_path / "again", var_dir=var)
    try:
        again.wait_for("the inference checks to finish",
                       lambda: not [j for j in jobs(var) if j[1] in ("queued", "running")]
                       and ("registry.inference.run_check", "done") in jobs(var),
                       timeout=RECOVERY_SECONDS)
        assert time.monotonic() - killed_at < RECOVERY_SECONDS
        with sqlite3.connect(var / "hub.sqlite3") as conn:
            statuses = [s for (s,) in conn.execute("SELECT status FROM registry_inferencecheck")]
        assert statuses and set(statuses) == {"passed"}, statuses
    finally:
        again.kill()
