"""The README is right for a newcomer: it names only files of this project, its tables have no duplicate rows,
and every command it shows is run somewhere — by CI's first-run stage (.ci/first_run.py), by CI itself, or here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL)

# Each command line of the README's sh/bash blocks -> (the file that runs it, a string that file must hold).
EXERCISED = {
    "make run": (".ci/first_run.py", '["make", "run"'),
    "make test": (".ci/run", "make test"),
    "DEBUG=true .venv/bin/python manage.py issue_api_key member --scopes read,write":
        (".ci/first_run.py", '"issue_api_key", "member", "--scopes"'),
    "export HF_ENDPOINT=http://127.0.0.1:8000 HF_TOKEN=<key>":
        (".ci/first_run.py", "HF_ENDPOINT=hub.base, HF_TOKEN=key"),
    "hf download consortium/hanbit-tiny": (".ci/first_run.py", '"download", "consortium/hanbit-tiny"'),
    "hf upload consortium/my-model ./my-model-dir":
        (".ci/first_run.py", '"upload", "consortium/my-model", "./my-model-dir"'),
    "git lfs install": (".ci/first_run.py", 'git("lfs", "install")'),
    "git clone http://127.0.0.1:8000/consortium/hanbit-tiny":
        (".ci/first_run.py", 'git("clone", f"{hub.base}/consortium/hanbit-tiny")'),
    # Releases: run below, against a live hub, line by line.
    "hf download acme/tiny --revision v1.0.0 --local-dir tiny-1.0.0": ("tests/test_readme.py", "RELEASE_COMMANDS"),
    "curl -o m.json  $HF_ENDPOINT/api/v1/models/acme/tiny/releases/1.0.0/manifest":
        ("tests/test_readme.py", "RELEASE_COMMANDS"),
    "curl -o m.sig   $HF_ENDPOINT/api/v1/models/acme/tiny/releases/1.0.0/manifest.sig":
        ("tests/test_readme.py", "RELEASE_COMMANDS"),
    "python manage.py verify_release tiny-1.0.0 --manifest m.json --signature m.sig --hub $HF_ENDPOINT":
        ("tests/test_readme.py", "RELEASE_COMMANDS"),
    # Docker Compose: no engine on CI's machine; CI validates the compose file with the example environment,
    # the way this block prepares it (.ci/run: compose_validate copies .env.example to .env).
    "cp .env.example .env": (".ci/run", "cp .env.example .env"),
    "docker compose up -d --build": (".ci/run", "config -q"),
    "docker compose exec web python manage.py createsuperuser": (".ci/run", "config -q"),
}


def shell_commands() -> list[str]:
    commands = []
    for language, body in BLOCKS:
        if language not in {"sh", "bash"}:
            continue
        for line in body.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def test_every_command_in_the_readme_is_run_by_ci_or_a_test():
    commands = shell_commands()
    assert "make run" in commands and "make test" in commands
    missing = [c for c in commands if c not in EXERCISED]
    assert not missing, f"README commands that nothing runs (add them to EXERCISED and run them): {missing}"
    for command in commands:
        path, marker = EXERCISED[command]
        assert marker in (ROOT / path).read_text(), f"{path} does not run {command!r} any more"


def test_readme_names_only_files_inside_the_project():
    # Nothing outside the project: not the consortium's shared docs, not a sibling checkout.
    assert "shared/docs" not in README and "../" not in README
    path_like = r"`([A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)+/?|[A-Za-z0-9_\-]+\.(?:py|sh|md|yml|toml|example))`"
    top_level = {p.name for p in ROOT.iterdir()} - {"var", ".venv"}
    named = {c for c in re.findall(path_like, README)
             if c.split("/")[0] in top_level or ("/" not in c and not c.startswith("."))}
    assert {"scripts/run-embedded.sh", "registry/generation.py", ".ci/first_run.py"} <= named
    missing = sorted(c for c in named if not (ROOT / c).exists())
    assert not missing, f"the README names files that are not in the project: {missing}"


def test_readme_tables_have_no_duplicate_rows():
    rows = re.findall(r"^\| (`?[^|]+?`?) \|", README, flags=re.MULTILINE)
    keys = [r.strip() for r in rows if not set(r.strip()) <= {"-", " "}]
    duplicates = sorted({k for k in keys if keys.count(k) > 1} - {"variable"})
    assert not duplicates, f"rows listed twice in the README's tables: {duplicates}"


# --- the release-verification walk-through, against a live hub ----------------------------------------------

RELEASE_COMMANDS = next(body for language, body in BLOCKS if language == "bash" and "verify_release" in body)
VERIFY_SNIPPET = next(body for language, body in BLOCKS if language == "python" and "load_pem_public_key" in body)


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_release_verification_walk_through_works_as_written(live_server, personas, ready, admins, signing_key,
                                                             tmp_path):
    from registry.services.releases import release_approve, release_publish, release_request

    repo, _commit = ready
    assert (repo.namespace, repo.name) == ("acme", "tiny")  # the README's example names
    release = release_request(actor=personas.member, repo=repo, version="1.0.0", revision="main", title="One")
    release_publish(release_id=release_approve(actor=admins["telco"], release=release).pk)

    bin_dir = Path(sys.executable).parent
    env = {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(tmp_path), "LANG": "C.UTF-8",
        "HF_ENDPOINT": live_server.url, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1",
        # a verifier's shell: DEBUG off, no SECRET_KEY, no hub configuration (verify_release needs none of them)
        "VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(ROOT),
    }
    work = tmp_path / "work"
    work.mkdir()
    for line in RELEASE_COMMANDS.strip().splitlines():
        argv = [a.replace("$HF_ENDPOINT", live_server.url) for a in shlex.split(line)]
        if argv[:2] == ["python", "manage.py"]:
            argv = [sys.executable, str(ROOT / "manage.py"), *argv[2:]]
        done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
    assert "OK" in done.stdout  # verify_release's verdict

    # The snippet that needs only `cryptography`, with the key fetched once from the hub.
    done = subprocess.run(["curl", "-sf", "-o", "hub.pem", f"{live_server.url}/.well-known/release-signing-key"],
                          cwd=work, env=env, timeout=30)
    assert done.returncode == 0
    done = subprocess.run([sys.executable, "-c", VERIFY_SNIPPET], cwd=work, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    # ... and it does catch a changed file.
    changed = next(p for p in (work / "tiny-1.0.0").iterdir() if p.is_file() and p.name == "README.md")
    changed.write_bytes(b"tampered\n")
    done = subprocess.run([sys.executable, "-c", VERIFY_SNIPPET], cwd=work, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0 and "README.md" in done.stderr


def test_lost_password_command_works_as_written(tmp_path):
    """README: `.venv/bin/python manage.py changepassword admin` (with DEBUG=true), typed at a terminal."""
    import pty
    import select

    assert "`.venv/bin/python manage.py changepassword admin`" in README
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "DEBUG": "true", "VAR_DIR": str(tmp_path / "var"), "DJANGO_SETTINGS_MODULE": "portal.settings"}
    (tmp_path / "var").mkdir()
    manage = [sys.executable, str(ROOT / "manage.py")]
    for args in (["migrate", "--noinput"], ["seed_demo"]):
        done = subprocess.run([*manage, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr

    new_password = "a-new-long-password-4711"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, on a terminal of its own
        os.chdir(ROOT)
        os.execve(sys.executable, [*manage, "changepassword", "admin"], env)
    seen = b""
    answered = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if seen.count(b"assword") > answered and answered < 2:  # "Password:" then "Password (again):"
            time.sleep(0.3)  # let getpass finish switching the terminal's echo off (it flushes pending input)
            os.write(fd, new_password.encode() + b"\n")
            answered += 1
    for _ in range(100):
        done_pid, status = os.waitpid(pid, os.WNOHANG)
        if done_pid:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, 9)
        pytest.fail(f"changepassword did not finish: {seen.decode(errors='replace')}")
    assert os.waitstatus_to_exitcode(status) == 0, seen.decode(errors="replace")
    assert b"Password changed successfully" in seen

    check = ("import django; django.setup(); from django.contrib.auth import authenticate; "
             f"print(authenticate(username='admin', password={new_password!r}) is not None)")
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "True", done.stderr
