#!/usr/bin/env bash
# Webhook throughput benchmark (docs/benchmarks.md): the example site under granian and/or
# gunicorn on PostgreSQL, driven by wrk with pre-signed ~4 KB events.
# Prepares .venv as scripts/test.sh does (BENCH_VENV=<dir> uses an existing virtualenv
# instead), installs wrk with apt-get when it is missing, then runs bench/webhook.py with
# the arguments given (see --help). BENCH_DATABASE_URL chooses the database (it is DROPPED
# and re-created: default postgres://postgres@127.0.0.1:5432/sm_bench).
# "scripts/bench.sh mirror [args]" runs the mirror benchmark instead (bench/mirror.py:
# recorded -> mirrored; BENCH_MIRROR_DATABASE_URL, default .../sm_bench_mirror, is DROPPED).
# "scripts/bench.sh saas [args]" runs issue 14's benchmark on a simulated SaaS stream
# (bench/saas_run.py: both paths over HTTP; BENCH_SAAS_DATABASE_URL, default
# .../sm_bench_saas, is DROPPED); "scripts/bench.sh saas stream [args]" prints the stream.
# "scripts/bench.sh catchup [args]" runs the catch-up benchmark (bench/catchup.py: events
# listed from the Events API, recorded and mirrored; BENCH_CATCHUP_DATABASE_URL, default
# .../sm_bench_catchup, is DROPPED).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

if [ -n "${BENCH_VENV:-}" ]; then
  VENV="$BENCH_VENV"
else
  ensure_system_packages
  PY311="$(find_python 3.11)" || die "Python 3.11 not found"
  make_venv .venv "$PY311" "==5.2.*" test lint bench
  VENV=.venv
fi
if [ "${1:-}" = "mirror" ]; then
  shift
  exec "$VENV/bin/python" -m bench.mirror "$@"
fi
if [ "${1:-}" = "catchup" ]; then
  shift
  exec "$VENV/bin/python" -m bench.catchup "$@"
fi
if [ "${1:-}" = "saas" ]; then
  shift
  if [ "${1:-}" = "stream" ]; then
    exec "$VENV/bin/python" -m bench.saas "$@"
  fi
  exec "$VENV/bin/python" -m bench.saas run "$@"
fi
"$VENV/bin/python" -c "import granian, gunicorn, psycopg" \
  || die "$VENV lacks the bench dependency group (granian, gunicorn, psycopg)"

if ! command -v wrk >/dev/null 2>&1; then
  say "installing wrk (the load generator) with apt-get"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -q wrk >/dev/null \
    || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q wrk >/dev/null; } \
    || die "could not install wrk"
fi

exec "$VENV/bin/python" bench/webhook.py "$@"
