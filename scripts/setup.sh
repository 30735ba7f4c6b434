#!/usr/bin/env bash
# Idempotent set-up: virtualenv at .venv, Python and npm dependencies, vendored front-end files, database.
# Each step is skipped when its inputs have not changed since the last run (stamps in .stamps/).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .stamps

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' is required ($2)" >&2; exit 1; }; }
need python3 "Python 3.11 or newer"
need npm "Node.js and npm, e.g. apt-get install nodejs npm"

# A stamp records the checksum of the files a step depends on; the step runs again when they change.
stale() { local stamp=".stamps/$1"; shift; local sum; sum=$(cat "$@" 2>/dev/null | sha256sum | cut -c1-64);
          [[ ! -f "$stamp" || "$(cat "$stamp")" != "$sum" ]] && echo "$sum"; }

fresh_venv=false
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
  fresh_venv=true  # empty: the install runs whatever the stamp says
fi
# The install also builds the compiled flow modules (setup.py, Cython: each .pyx next to its .so): again when
# setup.py or a .pyx changes, or when any module is not built for this Python (gone, or built for another one).
suffix=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
unbuilt=()
for source in editor/policy/flows/*.pyx; do
  [[ -f "${source%.pyx}$suffix" ]] || unbuilt+=("$source")
done
if sum=$(stale python pyproject.toml setup.py editor/policy/flows/*.pyx) || $fresh_venv || [[ ${#unbuilt[@]} -gt 0 ]]; then
  # the compiler setuptools calls: $CC, else the one this Python was built with (the first word: "ccache gcc")
  compiler=${CC:-$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_config_var('CC') or 'cc')")}
  compiler=${compiler%% *}
  command -v "$compiler" >/dev/null 2>&1 || {
    echo "setup: a C compiler ($compiler) is required to build the compiled flow modules" \
      "(editor/policy/flows/*.pyx): apt-get install gcc, or set CC" >&2; exit 1; }
  headers=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_path('include'))")
  [[ -f "$headers/Python.h" ]] || {
    echo "setup: Python's C headers ($headers/Python.h) are required to build the compiled flow modules:" \
      "apt-get install python3-dev" >&2; exit 1; }
  echo "setup: installing Python dependencies"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test]"
  echo "${sum:-$(cat .stamps/python)}" > .stamps/python
fi
if [[ -f package.json ]]; then
  if sum=$(stale npm package.json package-lock.json) || [[ ! -d node_modules ]]; then
    echo "setup: installing front-end packages from the npm registry"
    if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
    echo "${sum:-done}" > .stamps/npm
  fi
  .venv/bin/python scripts/vendor.py
fi
# A secret key for this checkout's local server (make run), made once and never committed.
if [[ ! -s .stamps/secret_key ]]; then
  .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(50))" > .stamps/secret_key
  chmod 600 .stamps/secret_key
fi
if [[ -f manage.py ]]; then
  .venv/bin/python manage.py migrate --noinput -v 0
  .venv/bin/python manage.py collectstatic --noinput -v 0
fi
# The policy schemas as compiled fastjsonschema code, kept where every worker loads it (editor/policy/validate.py)
.venv/bin/python -c "from editor.policy.validate import prepare_schema_code; prepare_schema_code()"
echo "setup: ready"
