#!/usr/bin/env bash
# The whole test suite: set-up, then every test on SQLite, then the database-backed tests on PostgreSQL.
# Exit code 5 from pytest (no tests collected) counts as a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-packages.sh
bash scripts/setup.sh
# setup.sh built the compiled flow modules (or stopped): a test fails if the suite would run without them.
export FENCELINE_REQUIRE_COMPILED=1

run_pytest() {
  local rc=0
  .venv/bin/python -m pytest "$@" || rc=$?
  if [[ $rc -eq 5 ]]; then echo "test: pytest collected no tests for: $*" >&2; return 1; fi
  return $rc
}

echo "== ruff"
.venv/bin/ruff check . && .venv/bin/ruff format --check . >/dev/null
echo "== mypy (strict on the core)"
.venv/bin/mypy --strict editor/policy
echo "== migrations are up to date"
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null
echo "== tests on SQLite"
run_pytest -q -p no:cacheprovider tests

echo "== database tests on PostgreSQL"
url=$(bash scripts/postgres.sh start)
trap 'bash scripts/postgres.sh stop' EXIT
DATABASE_URL="$url" FENCELINE_TEST_POSTGRES=1 run_pytest -q -p no:cacheprovider tests/web
