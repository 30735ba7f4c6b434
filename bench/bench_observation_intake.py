"""CPU per flow of the observation intake (issue 17), back to back against another checkout of the code.

A piece of a stream (8,000 flows of 400 Deployments in 25 namespaces, replies and DNS: the soak's traffic, in
the current hour) goes through what POST /api/observations does with it before the database: `observe` (read
the flows, the edges and their keys) and `observation_store.bucketed` (summed per edge key and hour, the
values of the rows). Each checkout runs in its own process, in turns, so that both see the same load; the
figure is CPU time (time.process_time) per flow, the best of --rounds turns of --repeat pieces each, and the
floor is reading the piece alone (`read_flows` without the document, what the intake cannot do without).

Then the rows: every capture under tests/fixtures/hubble and tests/fixtures/gadget, a piece spanning three
hours and the soak's piece are bucketed by both checkouts (at one fixed `now`) and must give the same rows,
byte for byte: key, bucket, day, stored edge description, count, denied, first and last seen.

    git -C /work/main archive c12f775 | tar -x -C /tmp/obs-old
    .venv/bin/python bench/bench_observation_intake.py --old /tmp/obs-old
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import ROOT
from soak_observations import STAMP, traffic

FIXTURES = ROOT / "tests" / "fixtures"

# Run in each checkout (cwd = its root): prints the CPU per flow, writes the rows of every input.
CHILD = r"""
import io, json, os, sys, time
sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "editor.settings")
import django
django.setup()
from datetime import datetime
from editor.observation_store import bucketed
from editor.policy.flows import FlowOptions, read_flows
from editor.policy.flows.observe import observe

task = json.loads(sys.argv[1])
now = datetime.fromisoformat(task["now"])
if task["mode"] == "rows":
    rows = {}
    for path in task["inputs"]:
        edges, summary = observe(open(path, "rb").read())
        rows[path] = sorted(
            [key, bucket.isoformat(), *[v.isoformat() if isinstance(v, datetime) else v for v in values]]
            for (key, bucket), values in bucketed(edges, now).items()
        )
    json.dump(rows, open(task["out"], "w"))
    sys.exit(0)
piece = open(task["piece"], "rb").read()
flows = observe(piece)[1].flows_read
def intake():
    edges, _ = observe(piece)
    bucketed(edges, now)
def floor():
    read_flows([("stream", io.BytesIO(piece))], FlowOptions())
for _ in range(2):
    intake(); floor()
out = {"flows": flows}
for name, work in (("intake", intake), ("floor", floor)):
    began = time.process_time()
    for _ in range(task["repeat"]):
        work()
    out[name] = (time.process_time() - began) / task["repeat"] / flows
print(json.dumps(out))
"""


def run(tree: Path, task: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(task)], cwd=tree, capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(f"bench: {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]) if task["mode"] == "cpu" else {}


def spanning_hours(folder: Path) -> Path:
    """The 400-flow TCP capture re-timed to 10:30, 11:30 and 12:30 in turn: read once per hour it covers."""
    records = [json.loads(line) for line in (FIXTURES / "hubble" / "basic-sample-400-tcp-flows.json").open("rb")]
    start = datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
    for number, record in enumerate(records):
        moment = start + timedelta(minutes=number % 3 * 60)
        record["flow"]["time"] = record["time"] = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    path = folder / "three-hours.jsonl"
    path.write_bytes(b"".join(json.dumps(record).encode() + b"\n" for record in records))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="the root of the checkout to compare with")
    parser.add_argument("--rounds", type=int, default=5, help="turns of each checkout")
    parser.add_argument("--repeat", type=int, default=10, help="pieces per turn")
    parser.add_argument("--flows", type=int, default=8000, help="flows per piece")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="fenceline-intake-"))
    now = datetime.now(UTC)
    piece = folder / "piece.jsonl"
    piece.write_bytes(traffic(args.flows)[0].replace(STAMP, now.strftime("%Y-%m-%dT%H:%M:%S.%f000Z").encode()))

    inputs = sorted(str(path) for path in (FIXTURES / "hubble").iterdir() if path.suffix in (".json", ".jsonl"))
    inputs += sorted(str(path) for path in (FIXTURES / "gadget").rglob("*") if path.suffix == ".input")
    inputs += [str(spanning_hours(folder)), str(piece)]
    rows = {}
    for name, tree in (("new", ROOT), ("old", args.old)):
        out = folder / f"rows-{name}.json"
        run(tree, {"mode": "rows", "now": now.isoformat(), "inputs": inputs, "out": str(out)})
        rows[name] = json.loads(out.read_text())
    differ = [path for path in inputs if rows["new"][path] != rows["old"][path]]
    total = sum(len(found) for found in rows["new"].values())
    print(f"rows: {len(inputs)} inputs, {total:,} rows, {len(differ)} inputs whose rows differ {differ[:3]}")

    task = {"mode": "cpu", "now": now.isoformat(), "piece": str(piece), "repeat": args.repeat}
    best: dict[str, dict[str, float]] = {"new": {}, "old": {}}
    for _ in range(args.rounds):
        for name, tree in (("old", args.old), ("new", ROOT)):
            found = run(tree, task)
            for figure in ("intake", "floor"):
                best[name][figure] = min(best[name].get(figure, float("inf")), found[figure])
    for name in ("old", "new"):
        intake, floor = best[name]["intake"], best[name]["floor"]
        print(
            f"{name}: observe + bucketed {intake * 1e6:.2f} us CPU per flow ({1 / intake:,.0f} flows per CPU-second); "
            f"floor (read_flows alone) {floor * 1e6:.2f} us = {intake / floor:.2f}x the floor"
        )
    ratio = best["new"]["intake"] / best["old"]["intake"]
    print(
        f"new / old: {ratio:.2f} ({args.flows:,}-flow piece, best of {args.rounds} x {args.repeat}); "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores"
    )
    if differ:
        sys.exit(1)


if __name__ == "__main__":
    main()
