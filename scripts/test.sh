#!/usr/bin/env bash
# The whole test suite: lint, types, migrations, then pytest on
#   Django 5.2 (Python 3.11) and Django 6.1 (Python 3.12)  x  SQLite, PostgreSQL, MariaDB,
#   Django 6.0 (Python 3.13)                              x  SQLite, PostgreSQL.
# pyproject.toml's classifiers claim exactly these Python and Django versions.
# Installs what it needs (virtualenvs in .venv, .venv-django6, .venv-py313,
#   .venv-localstripe; libmariadb-dev).
# Environment: PG_URL, MARIADB_URL override the database servers; TEST_ONLY="django52-sqlite ..."
# runs a subset; extra arguments are passed to pytest.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/stripe_mirror}"
MARIADB_URL="${MARIADB_URL:-mysql://root@127.0.0.1:3306/stripe_mirror}"

ensure_system_packages
PY311="$(find_python 3.11)" || die "Python 3.11 not found"
PY312="$(find_python 3.12)" || die "Python 3.12 not found (Django 6 needs it); see README"
PY313="$(find_python 3.13)" || die "Python 3.13 not found (install python3.13 and python3.13-venv, or pyenv install 3.13)"
make_venv .venv "$PY311" "==5.2.*" test lint bench
make_venv .venv-django6 "$PY312" "==6.1.*" test
make_venv .venv-py313 "$PY313" "==6.0.*" test
# localstripe (GPL) runs as a separate program from its own virtualenv: never importable by
# the library or the tests (tests/stripe_api/README.md).
make_tool_venv .venv-localstripe "$PY312" localstripe
export LOCALSTRIPE_PYTHON="$ROOT/.venv-localstripe/bin/python"

# The databases must be up: a test run that silently skips one proves nothing.
pg_host_ok() { .venv/bin/python -c "import psycopg,sys; psycopg.connect(sys.argv[1].rsplit('/',1)[0]+'/postgres', connect_timeout=5).close()" "$PG_URL"; }
maria_ok() { .venv/bin/python -c "
import MySQLdb, sys, urllib.parse as u
p = u.urlparse(sys.argv[1]); MySQLdb.connect(host=p.hostname, port=p.port or 3306, user=p.username or 'root', passwd=p.password or '', connect_timeout=5).close()" "$MARIADB_URL"; }
pg_host_ok || die "PostgreSQL is not reachable at $PG_URL (start it: see .ci/run)"
maria_ok || die "MariaDB is not reachable at $MARIADB_URL (start it: see .ci/run)"

say "lint: ruff, ruff format, mypy"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
PYTHONPATH=.:example .venv/bin/mypy
say "migrations are up to date"
PYTHONPATH=.:example .venv/bin/python example/manage.py makemigrations --check --dry-run \
  --settings=tests.settings

[ "${1:-}" = "--lint-only" ] && exit 0

run() {  # run NAME VENV DATABASE_URL
  local name="$1" venv="$2" url="$3"
  if [ -n "${TEST_ONLY:-}" ] && [[ " $TEST_ONLY " != *" $name "* ]]; then return 0; fi
  say "pytest: $name"
  DATABASE_URL="$url" "$venv/bin/python" -m pytest -q -p no:cacheprovider "${PYTEST_ARGS[@]}"
}
PYTEST_ARGS=("$@")
run django52-sqlite     .venv         ""
run django52-postgres   .venv         "$PG_URL"
run django52-mariadb    .venv         "$MARIADB_URL"
run django6-sqlite      .venv-django6 ""
run django6-postgres    .venv-django6 "$PG_URL"
run django6-mariadb     .venv-django6 "$MARIADB_URL"
# Python 3.13 and Django 6.0 on two databases: the other cells cover MariaDB, and CI time counts.
run django60-py313-sqlite    .venv-py313 ""
run django60-py313-postgres  .venv-py313 "$PG_URL"
say "all test runs passed"
