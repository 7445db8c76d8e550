"""Cost against the catalogue's size: the same requests against a small and a large catalogue on PostgreSQL, side by
side in one run, one request at a time, through a real HTTP server (gunicorn, one sync worker per catalogue).

    .venv/bin/python -m benchmarks.scale                       # 100 vs 100,000 repos (see README.md; ~15-25 min)
    .venv/bin/python -m benchmarks.scale --repos 20000 --files 10000 --audit 200000 --check --tolerance 1.5  # CI

Each catalogue is its own database (`--small-db`, `--large-db`: dropped and made again unless `--reuse`), migrated
and seeded with `manage.py seed_scale`, then VACUUM ANALYZEd. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from benchmarks._common import (
    PYTHON,
    ROOT,
    Processes,
    clean_up,
    interleaved,
    manage,
    median,
    start_gunicorn,
    table,
    timed,
)

GOAL_RATIO = 1.5  # large ÷ small
GOAL_MS = 300.0  # per page, at the large size
SEARCH = "kestrel"
DB_PREFIX = "hub_scale"  # the only databases this script drops


@dataclass
class Side:
    label: str
    db: str
    repos: int
    files: int
    audit: int
    env: dict[str, str] = field(default_factory=dict)
    base: str = ""
    facts: dict[str, str] = field(default_factory=dict)


@dataclass
class Row:
    key: str
    label: str
    fetch: Callable[[Side], int]  # one request (or client call); returns the number of items it measures
    per_item: bool = False  # the tree: compare the cost per file
    absolute: bool = True  # the ≤ 300 ms goal applies


# --- the two hubs ------------------------------------------------------------------------------------------------


def hub_env(work: Path, pg_url: str, db: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "AWS_", "S3_", "CACHE_URL", "DATABASE_URL", "CELERY_", "BLOB_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PYTHONPATH": str(ROOT),
        "VAR_DIR": str(work / "var"),
        "DATABASE_URL": f"{pg_url.rstrip('/')}/{db}",
        "DEBUG": "false",
        "SECRET_KEY": "benchmark-secret-key-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "ACCOUNT_EMAIL_VERIFICATION": "none",
        "CELERY_BROKER_URL": "filesystem://",  # no worker runs: the seed leaves nothing queued that matters
        # The limiter still runs (its cache round trip is part of every request), it just never says no.
        "RATE_LIMIT_API_PER_MINUTE": "100000000",
        "RATE_LIMIT_RESOLVE_PER_MINUTE": "100000000",
    })
    (work / "var").mkdir(parents=True, exist_ok=True)
    return env


def fresh_database(pg_url: str, db: str) -> None:
    import psycopg

    drop_database(pg_url, db)
    with psycopg.connect(f"{pg_url.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')


def drop_database(pg_url: str, db: str) -> None:
    import psycopg

    with psycopg.connect(f"{pg_url.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def analyse(pg_url: str, db: str) -> None:
    import psycopg

    with psycopg.connect(f"{pg_url.rstrip('/')}/{db}", autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def prepare(side: Side, args: argparse.Namespace, work: Path) -> None:
    side.env = hub_env(work / side.label, args.pg_url, side.db)
    if not args.reuse:
        fresh_database(args.pg_url, side.db)
    manage(side.env, "migrate", "--noinput")
    started = time.perf_counter()
    out = manage(side.env, "seed_scale", "--force", "--repos", str(side.repos), "--files", str(side.files),
                 "--audit", str(side.audit))
    seconds = time.perf_counter() - started
    print(f"{side.label}: {out.strip().splitlines()[-1]} (seed_scale took {seconds:.0f}s)")
    t = time.perf_counter()
    analyse(args.pg_url, side.db)
    print(f"{side.label}: VACUUM ANALYZE {time.perf_counter() - t:.0f}s")
    side.facts = json.loads(subprocess.run(
        [PYTHON, "-m", "benchmarks.scale", "--facts"], cwd=ROOT, env=side.env, capture_output=True, text=True,
        check=True).stdout.strip().splitlines()[-1])


def facts() -> None:
    """Inside the hub's environment: a signed-in session for `scale-admin` and the names the rows request."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.test import Client

    from registry.models import CommitFile, ModelRepo, RepoBaseModel
    from registry.services.scale_seed import BIG_REPO_NAME, SEEDER, org_slug

    client = Client()
    client.force_login(get_user_model().objects.get(username=SEEDER))
    owner = org_slug(0)
    repo = ModelRepo.objects.filter(namespace=owner, private=False).exclude(name=BIG_REPO_NAME).order_by("pk").first()
    big = ModelRepo.objects.get(namespace=owner, name=BIG_REPO_NAME)
    files = CommitFile.objects.filter(commit=big.branches.get(name="main").head).count()
    # The base model with the most fine-tunes among the owner's public repos: its model tree and its children's list.
    bases = (RepoBaseModel.objects.filter(base_key__startswith=f"{owner}/", relation="finetune")
             .values("base_key").annotate(n=Count("id")).order_by("-n").values_list("base_key", flat=True)[:20])
    base = next((found.repo_id for key in bases for found in ModelRepo.objects.filter(
        private=False, namespace=owner, name=key.split("/", 1)[1])[:1]), repo.repo_id)
    print(json.dumps({"cookie": f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}",
                      "author": owner, "repo": repo.repo_id, "big": big.repo_id, "big_files": files, "base": base}))


# --- requests ----------------------------------------------------------------------------------------------------


def get(side: Side, path: str, *, cookie: bool = False, timeout: float = 600) -> int:
    headers = {"Cookie": side.facts["cookie"]} if cookie else {}
    request = urllib.request.Request(side.base + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our own 127.0.0.1 hub
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"GET {path} on the {side.label} hub answered {exc.code}") from exc
    if cookie and b"Log in" in body and b"auditevent" not in body:
        raise RuntimeError(f"GET {path} on the {side.label} hub: not signed in")
    return 1


def hf(side: Side):  # noqa: ANN201
    from huggingface_hub import HfApi

    return HfApi(endpoint=side.base, token=False)


def rows() -> list[Row]:
    def list_search(side: Side) -> int:
        return len(list(hf(side).list_models(search=SEARCH, limit=20))) or 1

    def list_author(side: Side) -> int:
        return len(list(hf(side).list_models(author=side.facts["author"], limit=50))) or 1

    def list_finetunes(side: Side) -> int:
        found = hf(side).list_models(filter=f"base_model:finetune:{side.facts['base']}", limit=50,
                                     expand=["baseModels", "childrenModelCount"])
        return len(list(found)) or 1

    def tree(side: Side) -> int:
        from huggingface_hub.hf_api import RepoFile

        entries = list(hf(side).list_repo_tree(side.facts["big"], recursive=True))
        return sum(1 for e in entries if isinstance(e, RepoFile))

    def repo_path(side: Side) -> str:
        return "/" + quote(side.facts["repo"])

    return [
        Row("models", "portal /models", lambda s: get(s, "/models")),
        Row("search", f"portal /models?q={SEARCH}", lambda s: get(s, f"/models?q={SEARCH}")),
        Row("hf-search", f"HF list_models(search={SEARCH!r}, limit=20)", list_search),
        Row("hf-author", "HF list_models(author=…, limit=50)", list_author),
        Row("hf-likes", "HF list_models(sort='likes', limit=50)",
            lambda s: len(list(hf(s).list_models(sort="likes", limit=50))) or 1),
        Row("api-v1", "/api/v1/models", lambda s: get(s, "/api/v1/models")),
        Row("repo-page", "repo page /{namespace}/{name}", lambda s: get(s, repo_path(s))),
        Row("model-info", "HF model_info", lambda s: hf(s).model_info(s.facts["repo"]) and 1),
        Row("hf-lineage", "HF list_models(filter=base_model:finetune:…, limit=50, expand=lineage)", list_finetunes),
        Row("base-page", "repo page of a base model (its model tree)", lambda s: get(s, "/" + quote(s.facts["base"]))),
        Row("admin-audit", "admin audit events changelist (superuser)",
            lambda s: get(s, "/admin/registry/auditevent/", cookie=True)),
        Row("tree", "list_repo_tree(recursive=True), per file", tree, per_item=True, absolute=False),
        Row("files-page", "portal files page of the big repo",
            lambda s: get(s, "/" + quote(s.facts["big"]) + "/tree/main")),
    ]


# --- measuring ---------------------------------------------------------------------------------------------------


@dataclass
class Result:
    row: Row
    small: float  # seconds (per item for the tree)
    large: float
    small_items: int
    large_items: int
    error: str = ""

    @property
    def ratio(self) -> float:
        return self.large / self.small if self.small else float("inf")

    def ok(self, tolerance: float) -> bool:
        if self.error:
            return False
        within = self.ratio <= GOAL_RATIO * tolerance
        return within and (not self.row.absolute or self.large * 1000 <= GOAL_MS * tolerance)


def measure(row: Row, small: Side, large: Side, args: argparse.Namespace) -> Result:
    items: dict[str, int] = {}

    def side(s: Side) -> Callable[[], float]:
        def go() -> float:
            seconds, n = timed(lambda: row.fetch(s))
            items[s.label] = n
            return seconds / n if row.per_item else seconds
        return go

    try:
        warm = [side(s)() for s in (small, large)]  # warm both workers, caches and PostgreSQL's buffers
        rounds = args.rounds if max(warm) * (1 if not row.per_item else items["large"]) < args.slow_seconds \
            else args.slow_rounds
        small_s, large_s = interleaved(rounds, side(small), side(large))
    except Exception as exc:  # noqa: BLE001 - one failing row must not hide the others
        return Result(row, 0.0, 0.0, 0, 0, error=f"{type(exc).__name__}: {exc}"[:200])
    return Result(row, median(small_s), median(large_s), items.get("small", 0), items.get("large", 0))


def fmt(result: Result, which: str) -> str:
    seconds = getattr(result, which)
    if result.row.per_item:
        n = getattr(result, f"{which}_items")
        return f"{seconds * 1e6:,.0f} µs/file ({n:,} files, {seconds * n:,.1f} s)"
    return f"{seconds * 1000:,.0f} ms"


def report(results: list[Result], small: Side, large: Side, tolerance: float) -> bool:
    goal = f"≤ {GOAL_RATIO * tolerance:g}× and ≤ {GOAL_MS * tolerance:,.0f} ms"
    lines = []
    for r in results:
        if r.error:
            lines.append([r.row.label, "", "", "", goal, f"ERROR {r.error}"])
            continue
        lines.append([r.row.label, fmt(r, "small"), fmt(r, "large"), f"{r.ratio:,.2f}×",
                      goal if r.row.absolute else f"≤ {GOAL_RATIO * tolerance:g}× per file",
                      "ok" if r.ok(tolerance) else "MISSED"])
    print()
    print(table(["request (median, one at a time)", f"{small.repos:,} repos", f"{large.repos:,} repos", "ratio",
                 "goal", ""], lines))
    return all(r.ok(tolerance) for r in results)


def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=args.tmp))
    os.environ.update({"HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(work / "hf-home"),
                       "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_ETAG_TIMEOUT": "600",
                       "HF_HUB_DOWNLOAD_TIMEOUT": "600"})
    small = Side("small", args.small_db, args.small_repos, args.small_files, args.small_audit)
    large = Side("large", args.large_db, args.repos, args.files, args.audit)
    procs = Processes()
    started = time.perf_counter()
    try:
        for side in (small, large):
            prepare(side, args, work)
        for side in (small, large):
            side.base = start_gunicorn(procs, side.env, "portal.wsgi", 1, work / f"{side.label}.log")
        print(f"setup: {time.perf_counter() - started:.0f}s; hubs: small {small.base}, large {large.base}; "
              f"author {large.facts['author']}, repo {large.facts['repo']}, base model {large.facts['base']}, "
              f"big repo {large.facts['big']} "
              f"({small.facts['big_files']:,} / {large.facts['big_files']:,} files)")
        results = []
        for row in rows():
            if args.only and row.key not in args.only:
                continue
            t = time.perf_counter()
            results.append(measure(row, small, large, args))
            print(f"  {row.label}: {time.perf_counter() - t:.0f}s", flush=True)
        passed = report(results, small, large, args.tolerance)
        print(f"\ntotal {time.perf_counter() - started:.0f}s; rounds {args.rounds} ({args.slow_rounds} for requests "
              f"slower than {args.slow_seconds:g}s); cores: {os.cpu_count()}; server: gunicorn, 1 sync worker")
    finally:
        clean_up(procs, work, keep=args.keep)
        if args.drop_after:
            for side in (small, large):
                drop_database(args.pg_url, side.db)
    if args.check and not passed:
        print("scale check: a goal was missed", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=int, default=100_000, help="repos of the large catalogue (default 100,000)")
    parser.add_argument("--files", type=int, default=20_000, help="files of its big repo (default 20,000)")
    parser.add_argument("--audit", type=int, default=1_000_000, help="its audit events (default 1,000,000)")
    parser.add_argument("--small-repos", type=int, default=100)
    parser.add_argument("--small-files", type=int, default=200)
    parser.add_argument("--small-audit", type=int, default=500)
    parser.add_argument("--pg-url", default=os.environ.get("SCALE_PG_URL", "postgres://postgres@127.0.0.1:5432"),
                        help="PostgreSQL server (no database name); $SCALE_PG_URL")
    parser.add_argument("--small-db", default="hub_scale_small")
    parser.add_argument("--large-db", default="hub_scale_large")
    parser.add_argument("--reuse", action="store_true",
                        help="use the databases as they are (the seed only tops them up: same sizes as when made)")
    parser.add_argument("--drop-after", action="store_true", help="drop both databases at the end (CI)")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per request (median)")
    parser.add_argument("--slow-rounds", type=int, default=1, help="rounds for requests slower than --slow-seconds")
    parser.add_argument("--slow-seconds", type=float, default=5.0)
    parser.add_argument("--only", nargs="+", choices=[r.key for r in rows()], help="measure only these rows")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--tolerance", type=float, default=1.0,
                        help="multiply the goals (ratio 1.5, 300 ms) by this for --check and the table")
    parser.add_argument("--tmp", default=None, help="parent of the work directory (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (gunicorn logs)")
    parser.add_argument("--facts", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.facts:
        facts()
        return 0
    for db in (args.small_db, args.large_db):
        if not db.startswith(DB_PREFIX):
            parser.error(f"database names must start with {DB_PREFIX} (this script drops them): {db}")
    if urlsplit(args.pg_url).path not in ("", "/"):
        parser.error("--pg-url names the server, not a database")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
