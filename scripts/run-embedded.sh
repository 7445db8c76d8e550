#!/usr/bin/env bash
# The hub on one machine with no services: migrate, seed the demo data, then the web server and one Celery
# worker in the foreground. Ctrl-C stops both; if either one dies, the other is stopped too.
#
# Embedded defaults (settings decide them when the variables are unset): SQLite, the local blob store and
# Celery over kombu's filesystem transport, all under $VAR_DIR (./var). `make run` calls this script.
#
#   HOST, PORT     address of the web server (127.0.0.1:8000)
#   DEBUG          true unless you set it (embedded mode: static files served, demo seeding allowed)
#   PYTHON         interpreter of the virtualenv (.venv/bin/python)
#   SEED_DEMO      0 skips `manage.py seed_demo`
#   WORKER_CONCURRENCY  Celery worker processes (2)
set -euo pipefail

cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
export DEBUG=${DEBUG:-true}
export VAR_DIR=${VAR_DIR:-$PWD/var}
# The Django settings of a deployment, never the test settings a caller may have exported.
export DJANGO_SETTINGS_MODULE=portal.settings
export PYTHONUNBUFFERED=1

say() { printf '[run] %s\n' "$*"; }

if [ ! -x "$PYTHON" ] && ! command -v "$PYTHON" >/dev/null 2>&1; then
    say "no Python at $PYTHON: run 'make run' (it creates .venv) or set PYTHON" >&2
    exit 2
fi

mkdir -p "$VAR_DIR"
# kombu's filesystem transport does not create its folders; the worker would fail on its first poll.
case "${CELERY_BROKER_URL:-filesystem://}" in
    filesystem://*) mkdir -p "$VAR_DIR/broker/queue" "$VAR_DIR/broker/processed" "$VAR_DIR/broker/control" ;;
esac

say "database migrations"
"$PYTHON" manage.py migrate --noinput

case "$(printf '%s' "$DEBUG" | tr '[:upper:]' '[:lower:]')" in
    1|true|yes|on) debug_on=1 ;;
    *) debug_on=0 ;;
esac
if [ "${SEED_DEMO:-1}" = "0" ]; then
    say "SEED_DEMO=0: not seeding demo data"
elif [ "$debug_on" = 1 ]; then
    say "demo data (passwords are printed only the first time)"
    "$PYTHON" manage.py seed_demo
else
    say "DEBUG is off: not seeding demo data (seed_demo is for the embedded mode)"
fi

pids=()
stopping=0
stop_all() {
    stopping=1
    trap '' INT TERM
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    # Give them time for a warm shutdown, then make sure.
    for _ in $(seq 1 100); do
        alive=0
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap 'say "stopping web and worker"; stop_all; say "stopped"; exit 130' INT
trap 'say "stopping web and worker"; stop_all; say "stopped"; exit 143' TERM

say "web server on http://$HOST:$PORT/"
"$PYTHON" manage.py runserver --noreload "$HOST:$PORT" &
pids+=("$!")
say "web pid ${pids[0]}"

say "Celery worker on queues validation,gpu,celery, with the beat scheduler (GC, stale-check sweeps)"
"$PYTHON" -m celery -A portal worker -B --schedule "$VAR_DIR/celerybeat-schedule" -Q validation,gpu,celery \
    --concurrency "${WORKER_CONCURRENCY:-2}" --loglevel "${LOG_LEVEL:-INFO}" --hostname "embedded@%h" &
pids+=("$!")
say "worker pid ${pids[1]}"

# Whichever ends first ends the run.
set +e
wait -n "${pids[@]}"
status=$?
set -e
if [ "$stopping" = 0 ]; then
    say "a process exited (status $status): stopping the other"
    stop_all
    say "stopped"
    [ "$status" = 0 ] && status=1
    exit "$status"
fi
