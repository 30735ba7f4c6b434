"""Benchmark: what the policy schemas' fastjsonschema code costs a process (validate.py, the fast path).

Each case runs in a fresh process that imports editor.policy.validate (and hashlib, which any web worker has
loaded), then gets the code of the three policy schemas (CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy,
NetworkPolicy) as the fast path does. Printed: the process's resident memory (VmRSS) before and after, the growth,
and the CPU time of getting the code (time.process_time), the best of ROUNDS processes for CPU and the last for
memory (memory does not vary between runs).

* kept, loaded: FENCELINE_SCHEMA_CODE_DIR already holds the code (scripts/setup.sh wrote it): every worker;
* kept, first: the folder is empty, so this process makes the code and writes it;
* no folder: the folder cannot be made, so the process compiles the code itself (as every process did before);
* DIR: with `--against DIR` (another copy of the code, e.g. `git archive fec7bea | tar -x -C DIR`), the same
  from DIR, back to back.

The floor is the process before getting any code (the growth's zero).

    .venv/bin/python bench/bench_schema_code.py [--rounds N] [--against DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import gc, json, sys, time
sys.path.insert(0, sys.argv[1])
import hashlib
from editor.policy import validate
def rss():
    status = open("/proc/self/status").read().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024
schemas = sorted({kind.schema for kind in validate.KINDS.values()})
gc.collect()
before, started = rss(), time.process_time()
codes = [validate._schema_code(schema) for schema in schemas]
cpu = time.process_time() - started
gc.collect()
assert all(codes), schemas
print(json.dumps({"before": before, "after": rss(), "cpu": cpu}))
"""


def run(tree: Path, folder: str) -> dict[str, float]:
    environment = {**os.environ, "FENCELINE_SCHEMA_CODE_DIR": folder}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tree)], env=environment, cwd=tree, check=True, capture_output=True, text=True
    )
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def main(rounds: int, against: Path | None) -> None:
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores); best CPU of {rounds} processes")
    print(f"{'case':<16}{'RSS before':>11}{'RSS after':>11}{'growth':>9}{'CPU':>9}")
    with tempfile.TemporaryDirectory(prefix="fenceline-bench-schema-code-") as work:
        blocked = Path(work) / "a-file"
        blocked.write_text("")
        kept = Path(work) / "kept"
        cases: list[tuple[str, Path, str]] = [("no folder", ROOT, str(blocked / "code"))]
        if against is not None:
            cases.append((f"{against.name}", against, str(blocked / "code")))
        cases += [("kept, first", ROOT, ""), ("kept, loaded", ROOT, str(kept))]
        run(ROOT, str(kept))  # prepared, as scripts/setup.sh does
        for name, tree, folder in cases:
            best: dict[str, float] | None = None
            for _ in range(rounds):
                if name == "kept, first":  # a new empty folder each time
                    folder = tempfile.mkdtemp(dir=work)
                figures = run(tree, folder)
                if best is None or figures["cpu"] < best["cpu"]:
                    best = figures
            assert best is not None
            growth = best["after"] - best["before"]
            print(
                f"{name:<16}{best['before']:8.1f} MB{best['after']:8.1f} MB{growth:6.1f} MB{best['cpu']:8.3f}s",
                flush=True,
            )
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another copy of the code, measured back to back")
    options = parser.parse_args()
    main(options.rounds, options.against.resolve() if options.against else None)
