#!/usr/bin/env python3
"""A newcomer's first `make run`, checked from outside with the standard library only.

Usage: first_run.py CHECKOUT VENV

CHECKOUT is a copy of the project as a fresh clone has it; VENV a virtualenv outside it into which `pip install .`
(no extras) has been run. This starts `make run VENV=VENV` in CHECKOUT exactly as the README says (embedded
defaults, a fresh VAR_DIR, a free port, an environment with no hub settings), then checks what a newcomer would
see first, and fails on the first thing that is wrong:

- the pages answer 2xx/3xx: home, model list, sign-in, API docs (and every file the docs load, all from the hub),
  both demo models, the HF and native APIs;
- signing in as the demo admin, with the password `make run` printed, works;
- the worker validates both demo models (passed, no warnings) within 60 s of the web server answering, and their
  inference checks end (run, or "not run" said plainly without a Python import error);
- the README's client walk-through works: `manage.py issue_api_key`, `hf download`, `hf upload`, the
  `hf_hub_download` snippet; `git lfs install` and `git clone` of a demo model (its HEAD is the API's commit id,
  git-lfs fetched the weights);
- the log has no "database is locked" and no traceback; web server and worker are both still running;
- Ctrl-C stops everything, and `make clean-var` deletes the embedded data.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HEALTHY_WITHIN = 240  # seconds: `make run` installs the project into the venv (editable) before it starts
WORKER_WITHIN = 60
PAGES = [
    "/", "/models", "/accounts/login/", "/accounts/signup/", "/api/docs/", "/api/schema/",
    "/consortium/hanbit-tiny", "/consortium/hanbit-tiny/tree/main", "/consortium/hanbit-tiny/checks",
    "/consortium/hanbit-tiny-gated", "/api/models", "/api/models/consortium/hanbit-tiny",
    "/api/v1/models", "/api/v1/models/consortium/hanbit-tiny", "/consortium/hanbit-tiny/resolve/main/config.json",
    "/static/css/hub.css", "/healthz",
]
DEMO_MODELS = ["consortium/hanbit-tiny", "consortium/hanbit-tiny-gated"]
BAD_LOG_LINES = ["database is locked", "Traceback (most recent call last)", "No module named"]


class Failure(Exception):
    pass


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Hub:
    def __init__(self, checkout: Path, venv: Path, work: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = work / "make-run.log"
        env = {  # a developer's shell: nothing of the hub's configuration, not CI's DATABASE_URL either
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(work)),
            "LANG": "C.UTF-8",
            "VAR_DIR": str(work / "var"),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
        self.env = env
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            ["make", "run", f"VENV={venv}", "HOST=127.0.0.1", f"PORT={self.port}"],
            cwd=checkout, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), NoRedirect)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def get(self, path: str, *, data: dict[str, str] | None = None, headers: dict[str, str] | None = None,
            timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, headers=headers or {})
        try:
            with self.opener.open(request, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def stop(self) -> int:
        """Ctrl-C, as at a terminal (SIGINT to the foreground process group); then make sure of it."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            returncode = self.process.wait(timeout=40)
            deadline = time.monotonic() + 10
            while self._group_alive() and time.monotonic() < deadline:
                time.sleep(0.2)
            if self._group_alive():
                print("FAILED: a process of `make run` survived Ctrl-C", flush=True)
                returncode = 1
            return returncode
        finally:
            if self._group_alive():
                os.killpg(self.process.pid, signal.SIGKILL)
            self.log.close()

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True


def ok(message: str) -> None:
    print(f"  ok  {message}", flush=True)


def wait_for(hub: Hub, what: str, predicate, timeout: float) -> float:  # noqa: ANN001
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not hub.alive():
            raise Failure(f"`make run` exited ({hub.process.returncode}) before {what}")
        try:
            if predicate():
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.5)
    raise Failure(f"no {what} within {timeout:.0f} s")


def check_pages(hub: Hub) -> None:
    for path in PAGES:
        status, _headers, _body = hub.get(path)
        if not 200 <= status < 400:
            raise Failure(f"GET {path} answered {status}")
        ok(f"GET {path} -> {status}")
    # The API docs: every script and stylesheet comes from the hub, and each one is served.
    _status, headers, body = hub.get("/api/docs/")
    html = body.decode()
    if "unsafe-inline" in headers.get("Content-Security-Policy", "unsafe-inline"):
        raise Failure("/api/docs/ has no strict Content-Security-Policy")
    assets = [a.replace("&amp;", "&") for a in re.findall(r'(?:src|href)="([^"]+)"', html)]
    foreign = [a for a in assets if "//" in a]
    if foreign or not assets:
        raise Failure(f"/api/docs/ loads files from another host: {foreign or 'no assets at all'}")
    for asset in assets:
        status, _h, content = hub.get(asset)
        if status != 200 or not content:
            raise Failure(f"/api/docs/ asset {asset} answered {status}")
    ok(f"/api/docs/ loads its {len(assets)} files from the hub itself")


def check_sign_in(hub: Hub) -> None:
    found = re.search(r"user 'admin' password: (\S+)", hub.output())
    if not found:
        raise Failure("`make run` printed no password for the demo user 'admin'")
    status, _h, body = hub.get("/accounts/login/")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    if status != 200 or not token:
        raise Failure(f"the sign-in page answered {status} without a CSRF token")
    status, headers, _body = hub.get(
        "/accounts/login/", data={"login": "admin", "password": found.group(1),
                                  "csrfmiddlewaretoken": token.group(1).decode()},
        headers={"Referer": hub.base + "/accounts/login/"},
    )
    if status not in (302, 303):
        raise Failure(f"signing in as admin answered {status}, not a redirect")
    status, _h, body = hub.get(urllib.parse.urlsplit(headers.get("Location", "/")).path or "/")
    if status != 200 or b'<span class="who">admin</span>' not in body:
        raise Failure("after signing in, the page does not show the signed-in user")
    ok("signed in as the demo admin with the printed password")


def _json(hub: Hub, path: str) -> object:
    status, _h, body = hub.get(path)
    if status != 200:
        raise OSError(f"{path} answered {status}")
    return json.loads(body)


def check_worker(hub: Hub) -> None:
    def validated() -> bool:
        return all(_json(hub, f"/api/v1/models/{m}/validation").get("status") not in (None, "pending", "running")
                   for m in DEMO_MODELS)

    took = wait_for(hub, "validation of the demo models", validated, WORKER_WITHIN)
    for model in DEMO_MODELS:
        result = _json(hub, f"/api/v1/models/{model}/validation")
        if result.get("status") != "passed":
            raise Failure(f"validation of {model} ended {result.get('status')!r}, not 'passed': {result}")
    ok(f"the worker validated both demo models (passed) {took:.1f} s after the web server answered")

    def inference_done() -> bool:
        checks = [_json(hub, f"/api/v1/models/{m}/inference-checks") for m in DEMO_MODELS]
        return all(c.get("checks") and c["checks"][0].get("status") in ("passed", "failed", "skipped")
                   for c in checks)

    wait_for(hub, "the demo models' inference checks", inference_done, WORKER_WITHIN)
    for model in DEMO_MODELS:
        check = _json(hub, f"/api/v1/models/{model}/inference-checks")["checks"][0]
        if check["status"] == "failed" or "No module named" in (check.get("reason") or ""):
            raise Failure(f"inference check of {model}: {check['status']}: {check.get('reason')}")
        ok(f"inference check of {model}: {check['status']} {check.get('reason') or ''}".rstrip())
    status, _h, page = hub.get("/consortium/hanbit-tiny/checks")
    if b"No module named" in page or b"warning" in page.lower():
        raise Failure("the demo model's checks page shows a warning or a Python import error")
    ok("the demo model's checks page shows no warning")


def _safetensors(rows: int, cols: int) -> bytes:
    import struct

    data = struct.pack(f"<{rows * cols}f", *(i / (rows * cols) for i in range(rows * cols)))
    header = json.dumps({"w": {"dtype": "F32", "shape": [rows, cols], "data_offsets": [0, len(data)]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + data


def check_readme_commands(hub: Hub, checkout: Path, venv: Path, work: Path) -> None:
    """The README's "Using the hub with the Hugging Face client", command by command, as a newcomer types them."""
    env = dict(hub.env, DEBUG="true")
    issued = subprocess.run([str(venv / "bin" / "python"), "manage.py", "issue_api_key", "member", "--scopes",
                             "read,write"], cwd=checkout, env=env, capture_output=True, text=True, timeout=60)
    key = issued.stdout.strip().splitlines()[-1] if issued.stdout.strip() else ""
    if issued.returncode != 0 or not key.startswith("hub_"):
        raise Failure(f"manage.py issue_api_key: {issued.returncode} {issued.stdout} {issued.stderr}")
    ok("manage.py issue_api_key member --scopes read,write printed a key on its last line")

    client_env = dict(hub.env, HF_ENDPOINT=hub.base, HF_TOKEN=key, HF_HOME=str(work / "hf-home"))

    def hf(*args: str) -> str:
        done = subprocess.run([str(venv / "bin" / "hf"), *args], cwd=work, env=client_env, capture_output=True,
                              text=True, timeout=180)
        if done.returncode != 0:
            raise Failure(f"hf {' '.join(args)} failed ({done.returncode}): "
                          f"{done.stdout[-2000:]} {done.stderr[-3000:]}")
        return done.stdout

    printed = re.findall(r"(/\S+)", hf("download", "consortium/hanbit-tiny"))  # the snapshot folder's path
    folder = Path(printed[-1]) if printed else work / "nowhere"
    if not folder.is_dir():
        raise Failure(f"hf download consortium/hanbit-tiny printed no folder: {printed}")
    got = sorted(p.name for p in folder.iterdir())
    if not {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= set(got):
        raise Failure(f"hf download consortium/hanbit-tiny gave {got}")
    ok(f"hf download consortium/hanbit-tiny -> {', '.join(got)}")

    mine = work / "my-model-dir"
    mine.mkdir()
    (mine / "README.md").write_text("---\nlicense: apache-2.0\n---\n# my-model\n")
    (mine / "config.json").write_text('{"model_type": "demo"}\n')
    (mine / "model.safetensors").write_bytes(_safetensors(512, 1024))  # 2 MiB: goes through Xet (or LFS)
    hf("upload", "consortium/my-model", "./my-model-dir")
    status, _h, body = hub.get("/api/models/consortium/my-model/tree/main",
                               headers={"Authorization": f"Bearer {key}"})
    listed = sorted(entry["path"] for entry in json.loads(body)) if status == 200 else []
    if listed != [".gitattributes", "README.md", "config.json", "model.safetensors"]:
        raise Failure(f"after hf upload, consortium/my-model lists {status} {listed}")
    ok("hf upload consortium/my-model ./my-model-dir created the repo with the three files")

    snippet = ('from huggingface_hub import hf_hub_download\n'
               'print(hf_hub_download("consortium/hanbit-tiny", "model.safetensors"))')
    done = subprocess.run([str(venv / "bin" / "python"), "-c", snippet], cwd=work, env=client_env,
                          capture_output=True, text=True, timeout=120)
    path = Path(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 and done.stdout.strip() else None
    if path is None or not path.is_file() or path.read_bytes()[8:9] != b"{":
        raise Failure(f"the README's hf_hub_download snippet: {done.returncode} {done.stdout} {done.stderr[-2000:]}")
    ok("the README's hf_hub_download snippet fetched model.safetensors")


def check_git_clone(hub: Hub, work: Path) -> None:
    """The README's git lines: `git lfs install`, then `git clone` of a public demo model — the clone's head is the
    commit id the API reports, and git-lfs fetched the real weights through the LFS batch endpoint."""
    home = work / "git-home"
    home.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}

    def git(*args: str, cwd: Path = work) -> str:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise Failure(f"git {' '.join(args)} failed ({done.returncode}): {done.stdout[-2000:]} "
                          f"{done.stderr[-3000:]}")
        return done.stdout.strip()

    git("lfs", "install")
    git("clone", f"{hub.base}/consortium/hanbit-tiny")
    clone = work / "hanbit-tiny"
    status, _h, body = hub.get("/api/models/consortium/hanbit-tiny")
    sha = json.loads(body).get("sha") if status == 200 else None
    head = git("rev-parse", "HEAD", cwd=clone)
    if head != sha:
        raise Failure(f"git clone gave HEAD {head}, the API says main is {sha}")
    weights = (clone / "model.safetensors").read_bytes()
    if weights.startswith(b"version https://git-lfs") or weights[8:9] != b"{":
        raise Failure(f"git clone left model.safetensors as {weights[:80]!r} (git-lfs did not fetch it)")
    ok(f"git lfs install; git clone consortium/hanbit-tiny -> HEAD {head[:12]} = the API's, weights fetched by "
       f"git-lfs ({len(weights)} bytes)")


def check_log(hub: Hub) -> None:
    output = hub.output()
    for bad in BAD_LOG_LINES:
        if bad in output:
            line = next(li for li in output.splitlines() if bad in li)
            raise Failure(f"the log of `make run` says {bad!r}: {line.strip()}")
    if not hub.alive():
        raise Failure("`make run` is no longer running (web server or worker died)")
    ok("web server and worker still running; no lock error or traceback in the log")


def main() -> int:
    checkout, venv = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    work = venv.parent
    hub = Hub(checkout, venv, work)
    started = time.monotonic()
    try:
        took = wait_for(hub, "answer on /healthz",
                        lambda: hub.get("/healthz", timeout=3)[0] == 200, HEALTHY_WITHIN)
        ok(f"`make run` answers on {hub.base} after {took:.1f} s")
        check_pages(hub)
        check_sign_in(hub)
        check_worker(hub)
        check_readme_commands(hub, checkout, venv, work)
        check_git_clone(hub, work)
        check_log(hub)
    except Failure as exc:
        hub.stop()
        print(f"FAILED: {exc}\n--- last lines of the `make run` log ---\n{hub.output()[-6000:]}", flush=True)
        return 1
    returncode = hub.stop()
    # make passes the SIGINT on and dies of it itself (-2); the script it runs ends with 130.
    if returncode not in (130, -signal.SIGINT):
        print(f"FAILED: Ctrl-C should end `make run`, it ended with {returncode}\n{hub.output()[-3000:]}")
        return 1
    if "[run] stopped" not in hub.output():
        print(f"FAILED: Ctrl-C did not stop web server and worker cleanly\n{hub.output()[-3000:]}")
        return 1
    ok(f"Ctrl-C stopped web server and worker ({time.monotonic() - started:.0f} s in all)")
    cleaned = subprocess.run(["make", "clean-var"], cwd=checkout, env=hub.env, capture_output=True, text=True,
                             timeout=60)
    if cleaned.returncode != 0 or (work / "var").exists():
        print(f"FAILED: make clean-var left {work / 'var'}: {cleaned.stdout} {cleaned.stderr}")
        return 1
    ok("make clean-var deleted the embedded database, blobs and queue")
    return 0


if __name__ == "__main__":
    sys.exit(main())
