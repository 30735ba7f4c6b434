#!/usr/bin/env bash
# Every benchmark, one after the other (they print figures next to their targets; nothing here asserts a time).
# The flow benchmark writes a 1.4 GB generated file under bench/data/ the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-packages.sh
for bench in bench_flows bench_connlist bench_check bench_editor bench_whole_cluster_api; do
  echo "== bench/$bench.py"
  .venv/bin/python "bench/$bench.py"
done
echo "== bench/load.py (PostgreSQL, then with a database restart mid-load)"
.venv/bin/python bench/load.py
.venv/bin/python bench/load.py --restart-db --duration 45
