"""Benchmark: importing Hubble `-o jsonpb` logs of 100k and 1M flows against the floor (issue 4).

The floor is reading the same file line by line and parsing every line with orjson, doing nothing else.
The import is `read_flows` on the file, through to the finished document. Each measurement runs in a fresh
interpreter so that peak RSS (ru_maxrss) belongs to that run alone; floor and import run alternately,
REPEAT times each, and the fastest of each is kept, as the machine is shared with other work. Wall time and
CPU time (time.process_time, of the timed part) are both printed: on a shared machine the CPU ratio is the
steadier one.
Targets: import <= 1.5x the floor; peak RSS <= 200 MB, flat as files grow.

    .venv/bin/python bench/bench_flows.py            # 100k and 1M (generates bench/data/ on first use)
    .venv/bin/python bench/bench_flows.py 300000     # other sizes
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_flows import generate

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 5

FLOOR = """
import orjson, resource, sys, time
start, cpu = time.perf_counter(), time.process_time()
with open(sys.argv[1], "rb") as handle:
    for line in handle:
        orjson.loads(line)
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
print(elapsed, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

IMPORT = """
import resource, sys, time
from editor.policy.flows import read_flows
start, cpu = time.perf_counter(), time.process_time()
with open(sys.argv[1], "rb") as handle:
    result = read_flows([(sys.argv[1], handle)])
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
summary, peak = result.summary, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(elapsed, cpu, peak, summary.flows_read, summary.edges, summary.nodes)
"""


def _run(script: str, path: Path) -> list[float]:
    output = subprocess.run(
        [sys.executable, "-c", script, str(path)], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return [float(value) for value in output.split()]


def _measure(path: Path) -> tuple[list[float], list[float], float, float]:
    """Floor and import, run alternately REPEAT times; the fastest of each in wall time (the least disturbed by
    others), and the least CPU time of each."""
    floors, imports = [], []
    for _ in range(REPEAT):
        floors.append(_run(FLOOR, path))
        imports.append(_run(IMPORT, path))
    fastest = min(floors, key=lambda run: run[0]), min(imports, key=lambda run: run[0])
    return *fastest, min(run[1] for run in floors), min(run[1] for run in imports)


def main(sizes: list[int]) -> None:
    rows = []
    for size in sizes:
        path = generate(size)
        (floor_time, _, floor_rss), (import_time, _, import_rss, flows, edges, nodes), floor_cpu, import_cpu = _measure(
            path
        )
        rows.append(
            {
                "flows": size,
                "file_MB": round(path.stat().st_size / 1e6, 1),
                "import_s": round(import_time, 2),
                "floor_s": round(floor_time, 2),
                "ratio": round(import_time / floor_time, 2),
                "import_cpu_s": round(import_cpu, 2),
                "floor_cpu_s": round(floor_cpu, 2),
                "cpu_ratio": round(import_cpu / floor_cpu, 2),
                "import_peak_rss_MB": round(import_rss / 1024, 1),
                "floor_peak_rss_MB": round(floor_rss / 1024, 1),
                "flows_read": int(flows),
                "nodes": int(nodes),
                "edges": int(edges),
            }
        )
        row = rows[-1]
        print(
            f"{size:>9,} flows ({row['file_MB']} MB): import {row['import_s']:.2f}s, floor {row['floor_s']:.2f}s, "
            f"ratio {row['ratio']:.2f}x (target <= 1.5x); in CPU time {import_cpu:.2f}s against {floor_cpu:.2f}s, "
            f"ratio {row['cpu_ratio']:.2f}x; peak RSS {row['import_peak_rss_MB']:.0f} MB "
            f"(floor {row['floor_peak_rss_MB']:.0f} MB; target <= 200 MB); {nodes:.0f} nodes, {edges:.0f} edges; "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main([int(argument) for argument in sys.argv[1:]] or [100_000, 1_000_000])
