"""Settings come from the environment only: a bad value stops start-up with a message naming the variable,
a production environment passes `check --deploy` without a warning, and every variable is documented.

Each case starts a fresh interpreter (settings are read once per process), with an environment built from
scratch so that the CI machine's DATABASE_URL or the test settings' defaults cannot leak in.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUP = "import django; django.setup(); print('settings-ok')"


def hub_env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "VAR_DIR": str(tmp_path / "var"),
        "DEBUG": "true",
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def run_manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def test_embedded_defaults_start_with_no_configuration(tmp_path):
    result = run_python(SETUP, hub_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "settings-ok" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"BLOB_STORE": "ftp"}, "BLOB_STORE"),
        ({"DATABASE_URL": "mysql://hub:secret@127.0.0.1:3306/hub"}, "DATABASE_URL"),
        ({"CELERY_BROKER_URL": "ftp://broker.example/"}, "CELERY_BROKER_URL"),
        ({"CACHE_URL": "memcached://127.0.0.1:11211"}, "CACHE_URL"),
        ({"DEBUG": "false", "SECRET_KEY": None}, "SECRET_KEY"),
        ({"SECRET_KEY": "too-short"}, "SECRET_KEY"),
        ({"SECRET_KEY_FILE": "/nonexistent/hub-secret"}, "SECRET_KEY_FILE"),
        ({"BLOB_STORE": "s3"}, "S3_BUCKET"),
        ({"BLOB_STORE": "s3", "S3_BUCKET": "hub", "S3_ENDPOINT_URL": "minio:9000"}, "S3_ENDPOINT_URL"),
        ({"EMAIL_PORT": "smtp"}, "EMAIL_PORT"),
        ({"EMAIL_PORT": "0"}, "EMAIL_PORT"),
        ({"PRESIGNED_URL_TTL": "5"}, "PRESIGNED_URL_TTL"),
        ({"LFS_MULTIPART_CHUNK_SIZE": "1024"}, "LFS_MULTIPART_CHUNK_SIZE"),
        ({"DB_CONN_MAX_AGE": "forever"}, "DB_CONN_MAX_AGE"),
        ({"USE_HTTPS": "sometimes"}, "USE_HTTPS"),
        ({"ACCOUNT_EMAIL_VERIFICATION": "sometimes"}, "ACCOUNT_EMAIL_VERIFICATION"),
        ({"OIDC_SERVER_URL": "login.example/realms/hub", "OIDC_CLIENT_ID": "hub"}, "OIDC_SERVER_URL"),
        ({"OIDC_SERVER_URL": "https://login.example/realms/hub"}, "OIDC_CLIENT_ID"),
        ({"PORTAL_UPLOAD_MAX_BYTES": "0"}, "PORTAL_UPLOAD_MAX_BYTES"),
        ({"USER_CONTENT_URL": "usercontent.example"}, "USER_CONTENT_URL"),
        ({"USER_CONTENT_URL": "https://usercontent.example/files"}, "USER_CONTENT_URL"),
        ({"USER_CONTENT_URL": "http://127.0.0.1:8000"}, "USER_CONTENT_URL"),  # the hub's own origin (SITE_URL)
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_bad_value_stops_start_up_naming_the_variable(tmp_path, overrides, variable):
    result = run_python(SETUP, hub_env(tmp_path, **overrides))
    assert result.returncode != 0, f"started with {overrides}: {result.stdout}"
    assert "settings-ok" not in result.stdout
    message = last_line(result.stderr)
    assert "ConfigError" in message, result.stderr
    assert variable in message, result.stderr


def test_bad_value_stops_manage_py_too(tmp_path):
    result = run_manage(["check"], hub_env(tmp_path, DEBUG="maybe"))
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in last_line(result.stderr)


def test_secret_is_read_from_a_file(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text(secrets.token_urlsafe(50) + "\n")
    code = SETUP + "; from django.conf import settings; print(len(settings.SECRET_KEY))"
    result = run_python(code, hub_env(tmp_path, DEBUG="false", SECRET_KEY_FILE=str(secret_file)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == str(len(secret_file.read_text().strip()))


def test_production_environment_passes_check_deploy_without_warnings(tmp_path):
    env = hub_env(tmp_path, DEBUG="false", USE_HTTPS="true", ALLOWED_HOSTS="hub.example",
                  SECRET_KEY=secrets.token_urlsafe(50))
    result = run_manage(["check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout, result.stdout + result.stderr


def settings_variables() -> set[str]:
    source = (ROOT / "portal" / "settings.py").read_text()
    return set(re.findall(r"""\benv_[a-z]+\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))


def test_settings_variables_are_found():
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "BLOB_STORE", "CELERY_BROKER_URL"} <= settings_variables()


@pytest.mark.parametrize("document", [".env.example", "README.md"])
def test_every_variable_is_documented(document):
    text = (ROOT / document).read_text()
    if document == ".env.example":
        documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    else:
        documented = set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]*)`", text, flags=re.MULTILINE))
    missing = sorted(settings_variables() - documented)
    assert not missing, f"{document} does not document: {', '.join(missing)}"


CONCURRENT_WRITERS = """
import threading
import django
django.setup()
from django.db import connection, connections, transaction

with connection.cursor() as cursor:
    print("journal_mode", cursor.execute("PRAGMA journal_mode").fetchone()[0])
    cursor.execute("CREATE TABLE counter (n integer)")
    cursor.execute("INSERT INTO counter VALUES (0)")
connection.close()

# Two writers (the web server and the worker of `make run`) that each read, then write, in one transaction,
# both reading before either writes. Deferred transactions can't upgrade their read lock then: SQLite answers
# "database is locked" at once, without waiting for its busy timeout.
barrier = threading.Barrier(2)
errors = []

def read_then_write():
    try:
        with transaction.atomic(), connections["default"].cursor() as cursor:
            cursor.execute("SELECT n FROM counter").fetchone()
            try:
                barrier.wait(timeout=1)
            except threading.BrokenBarrierError:
                pass  # the other writer is waiting for us to finish: that is the point
            cursor.execute("UPDATE counter SET n = n + 1")
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connections["default"].close()

threads = [threading.Thread(target=read_then_write) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with connection.cursor() as cursor:
    print("counter", cursor.execute("SELECT n FROM counter").fetchone()[0])
print("errors", errors)
"""


def test_embedded_database_lets_two_writers_read_then_write_at_once(tmp_path):
    """The first `make run`: web and worker write the SQLite file at once without "database is locked"."""
    (tmp_path / "var").mkdir()
    result = run_python(CONCURRENT_WRITERS, hub_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "journal_mode wal" in result.stdout
    assert "errors []" in result.stdout, result.stdout
    assert "counter 2" in result.stdout
