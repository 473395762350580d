# Shared helpers for the scripts in this folder (sourced, not run).
# Builds the virtualenvs the demo and the tests use, installing what they need.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off

# Bold only when stderr is a terminal and NO_COLOR is unset or empty (https://no-color.org):
# escape codes in a log file or a CI log are noise.
say() {
  if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then
    printf '\033[1m==> %s\033[0m\n' "$*" >&2
  else
    printf '==> %s\n' "$*" >&2
  fi
}
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# find_python 3.12 -> path of a working python3.12 (PATH, then pyenv), or nothing.
find_python() {
  local want="$1" candidate prefix
  for candidate in "python$want" "/usr/bin/python$want" "/usr/local/bin/python$want"; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    for prefix in $(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}(\.[0-9]+)?$" | sort -rV); do
      candidate="$(pyenv prefix "$prefix" 2>/dev/null)/bin/python"
      if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
    done
  fi
  return 1
}

# System libraries mysqlclient compiles against (Debian names). Installed when missing.
ensure_system_packages() {
  local missing=()
  pkg-config --exists mariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null \
    || missing+=(libmariadb-dev)
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing system packages: ${missing[*]}"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -q "${missing[@]}" >/dev/null \
    || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q "${missing[@]}" >/dev/null; } \
    || die "could not install ${missing[*]} (needed to build mysqlclient)"
}

# make_venv DIR PYTHON DJANGO_SPEC GROUP... : create/refresh a virtualenv with the package
# (editable), the given Django and the given dependency groups of pyproject.toml.
make_venv() {
  local dir="$1" python="$2" django="$3"; shift 3
  local stamp="$dir/.stamp" want
  want="$(cat "$ROOT/pyproject.toml" | sha1sum | cut -c1-12) $django $*"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  say "preparing $dir ($("$python" --version 2>&1), Django $django, groups: $*)"
  rm -rf "$dir"
  "$python" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade "pip>=25.1" >/dev/null 2>&1
  local groups=(); for g in "$@"; do groups+=(--group "$ROOT/pyproject.toml:$g"); done
  "$dir/bin/python" -m pip install -q -e "$ROOT" "Django$django" "${groups[@]}" \
    >"$dir/pip.log" 2>&1 || { grep -v '^WARNING: Location' "$dir/pip.log" >&2; die "pip install failed"; }
  "$dir/bin/python" -c "import django, stripe_mirror" || die "installing into $dir failed"
  echo "$want" > "$stamp"
}

# make_tool_venv DIR PYTHON GROUP : a virtualenv with only the given dependency group of
# pyproject.toml (a tool the tests run as a separate program, such as localstripe).
make_tool_venv() {
  local dir="$1" python="$2" group="$3" stamp="$1/.stamp" want
  want="$("$python" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["dependency-groups"][sys.argv[2]])' "$ROOT/pyproject.toml" "$group") $("$python" --version 2>&1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  say "preparing $dir ($("$python" --version 2>&1), group: $group)"
  rm -rf "$dir"
  "$python" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade "pip>=25.1" >/dev/null 2>&1
  "$dir/bin/python" -m pip install -q --group "$ROOT/pyproject.toml:$group" >"$dir/pip.log" 2>&1 \
    || { grep -v '^WARNING: Location' "$dir/pip.log" >&2; die "pip install failed"; }
  echo "$want" > "$stamp"
}
