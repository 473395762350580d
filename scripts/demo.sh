#!/usr/bin/env bash
# The demo: the example site on SQLite, sent signed sample Stripe events, then left running.
#   make demo                  # then open http://127.0.0.1:8000/admin/ (demo/demo)
#   PORT=8001 make demo        # another port
#   DEMO_EXIT=1 make demo      # stop the server once the events are shown (tests, CI)
# Installs what it needs: the .venv that scripts/test.sh uses too (Python 3.11, Django 5.2),
# and libmariadb-dev, which that venv's MariaDB driver is built against.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

PORT="${PORT:-8000}"
URL="http://127.0.0.1:$PORT"
[[ "$PORT" =~ ^[0-9]{1,5}$ ]] && [ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] \
  || die "PORT must be a port number (1-65535), not '$PORT'"
# The demo is SQLite in example/db.sqlite3, processing inside the request, whatever the shell says.
unset DATABASE_URL SQLITE_PATH STRIPE_MIRROR_TASKS
export DJANGO_SETTINGS_MODULE=example_site.settings PYTHONUNBUFFERED=1

ensure_system_packages
PY311="$(find_python 3.11)" || die "Python 3.11 not found (needed for .venv); install python3.11 and python3.11-venv, or pyenv install 3.11"
make_venv .venv "$PY311" "==5.2.*" test lint bench
PY="$ROOT/.venv/bin/python"
manage() { "$PY" example/manage.py "$@"; }

# quiet COMMAND...: run it, showing its output only if it fails.
quiet() {
  local out
  out="$("$@" 2>&1)" || { printf '%s\n' "$out" >&2; return 1; }
}

port_in_use() {
  "$PY" -c 'import socket, sys
with socket.socket() as s:
    s.settimeout(1)
    sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$PORT"
}

answers() {
  "$PY" -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2).close()' "$URL/admin/login/" >/dev/null 2>&1
}

say "setting up the example site on SQLite (example/db.sqlite3)"
quiet manage migrate --noinput || die "migrate failed (see above)"
quiet manage shell -c "
from django.contrib.auth import get_user_model
User = get_user_model()
if not User.objects.filter(username='demo').exists():
    User.objects.create_superuser('demo', 'demo@example.com', 'demo')
" || die "could not create the admin user demo/demo (see above)"

port_in_use && die "port $PORT is already in use (an earlier demo still running?). Stop that process, or run: PORT=8001 make demo"
LOG="$(mktemp "${TMPDIR:-/tmp}/stripe-mirror-demo.XXXXXX")"
say "starting the site at $URL (server log: $LOG)"
"$PY" example/manage.py runserver --noreload "127.0.0.1:$PORT" >"$LOG" 2>&1 &
SERVER=$!
TAIL=""
stop() {  # runs on exit; a server killed here exits 143, which must not become ours
  if [ -n "$TAIL" ]; then kill "$TAIL" 2>/dev/null || true; fi
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

server_failed() {
  tail -n 20 "$LOG" >&2
  die "$1 (the last lines of its log are above; all of it: $LOG)"
}
for _ in $(seq 1 60); do
  kill -0 "$SERVER" 2>/dev/null || server_failed "the server exited while starting"
  answers && break
  sleep 0.5
done
answers || server_failed "the server did not answer at $URL within 30 s"

say "sending signed sample events"
manage demo_send_events --url "$URL" || server_failed "the sample events did not go through"

if [ "${DEMO_EXIT:-0}" = 1 ]; then
  say "DEMO_EXIT=1: stopping the server"
  rm -f "$LOG"
  exit 0
fi
echo
say "open $URL/admin/ (demo/demo); Ctrl-C to stop"
tail -n 0 -f "$LOG" &
TAIL=$!
status=0
wait "$SERVER" || status=$?
die "the server stopped (exit status $status); its log: $LOG"
