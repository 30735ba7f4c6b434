"""CPU per flow of the observation intake (issue 17), back to back against another checkout of the code.

A piece of a stream (8,000 flows of 400 Deployments in 25 namespaces, replies and DNS: the soak's traffic, in
the current hour) goes through what POST /api/observations does with it before the database: `observe` (read
the flows, the edges and their keys) and `observation_store.bucketed` (summed per edge key and hour, the
values of the rows). Each checkout runs in its own process, in turns, so that both see the same load; the
figure is CPU time (time.process_time) per flow, the best of --rounds turns of --repeat pieces each, and the
floor is reading the piece alone (`read_flows` without the document, what the intake cannot do without).

Then the rows: every capture under tests/fixtures/hubble and tests/fixtures/gadget, a piece spanning three
hours and the soak's piece are bucketed by both checkouts (at one fixed `now`) and must give the same rows,
byte for byte: key, bucket, day, stored edge description, count, denied, first and last seen; but for the rows
c12f775 counted twice (a DNS server's side of a DNS edge, drawn as an edge of its own), which must be the new
rows with their counts doubled.

With --database the same inputs are stored in PostgreSQL (scripts/postgres.sh on FENCELINE_TEST_PGPORT), each
checkout in a fresh database with a revision staged that denies part of the traffic: `observe` then `record`, the
transaction of a POST. The stored observation rows and staged denials of both must be identical (times a log did
not give are stored as the time of arrival: compared as "now"), and it prints the CPU per flow of the worker
and of its PostgreSQL backend.

    git -C /work/main archive c12f775 | tar -x -C /tmp/obs-old
    .venv/bin/python bench/bench_observation_intake.py --old /tmp/obs-old
    FENCELINE_TEST_PGPORT=55471 .venv/bin/python bench/bench_observation_intake.py --old /tmp/obs-old --database
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import ROOT, fresh_database, postgres, thirty_workloads
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
if task["mode"] == "database":
    import psutil
    from django.db import connection
    from editor.models import save_revision
    from editor.observation_models import Observation, ObservationStream, StagedDenial, StagedRevision
    from editor.observation_store import record
    revision = save_revision(json.loads(task["drawing"]))
    stream, _ = ObservationStream.create(revision.document, "bench")
    since = datetime.fromisoformat("2020-01-01T00:00:00+00:00")
    StagedRevision.objects.create(document=revision.document, revision=revision, since=since)
    started = datetime.now().astimezone()
    for path in task["inputs"]:  # the stored rows and the staged report of every input
        edges, summary = observe(open(path, "rb").read())
        record(stream, edges, summary.flows_read)
    def when(moment):  # a log without times (Gadget's) is stored at the time it arrived
        return "now" if moment >= started.replace(minute=0, second=0, microsecond=0) else moment.isoformat()
    columns = ("key", "bucket", "day", "edge", "count", "denied", "first_seen", "last_seen")
    stored = sorted(
        [row[0], when(row[1]), row[2], json.dumps(row[3], sort_keys=True), *row[4:6], *map(when, row[6:])]
        for row in Observation.objects.values_list(*columns)
    )
    columns = ("key", "workload", "source", "target", "protocol", "port", "reason", "count", "denied")
    found = StagedDenial.objects.values_list(*columns, "first_seen", "last_seen")
    denials = sorted([*row[:-2], *map(when, row[-2:])] for row in found)
    json.dump({"rows": stored, "denials": denials}, open(task["out"], "w"))
    piece = open(task["piece"], "rb").read()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = psutil.Process(cursor.fetchone()[0])
    def server_cpu():
        times = backend.cpu_times()
        return times.user + times.system
    for _ in range(2):
        edges, summary = observe(piece)
        record(stream, edges, summary.flows_read)
    began, began_server = time.process_time(), server_cpu()
    for _ in range(task["repeat"]):
        edges, summary = observe(piece)
        record(stream, edges, summary.flows_read)
    flows = summary.flows_read * task["repeat"]
    server = server_cpu() - began_server
    print(json.dumps({"intake": (time.process_time() - began) / flows, "floor": server / flows}))
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


def run(tree: Path, task: dict, database: str | None = None) -> dict:
    env = dict(os.environ)
    if database is not None:
        env["DATABASE_URL"] = database = fresh_database(database)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=tree, env=env, check=True)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(task)], cwd=tree, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(f"bench: {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]) if task["mode"] != "rows" else {}


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
    parser.add_argument(
        "--database", action="store_true", help="also store in PostgreSQL (scripts/postgres.sh, FENCELINE_TEST_PGPORT)"
    )
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
    total = sum(len(found) for found in rows["new"].values())
    twice = sum(counted_twice(rows["old"][path], rows["new"][path], (4, 5)) for path in inputs)
    differ = [path for path in inputs if counted_twice(rows["old"][path], rows["new"][path], (4, 5)) is None]
    print(
        f"rows: {len(inputs)} inputs, {total:,} rows; {twice} rows counted twice by the old code (a DNS server's "
        f"side drawn as a second edge), the same once by the new; {len(differ)} inputs differing otherwise {differ[:3]}"
    )

    task = {"mode": "cpu", "now": now.isoformat(), "piece": str(piece), "repeat": args.repeat}
    best: dict[str, dict[str, float]] = {"new": {}, "old": {}}
    ratios = []  # new / old within each turn: the two ran a few seconds apart, under about the same load
    for _ in range(args.rounds):
        turn = {}
        for name, tree in (("old", args.old), ("new", ROOT)):
            turn[name] = found = run(tree, task)
            for figure in ("intake", "floor"):
                best[name][figure] = min(best[name].get(figure, float("inf")), found[figure])
        ratios.append(turn["new"]["intake"] / turn["old"]["intake"])
    for name in ("old", "new"):
        intake, floor = best[name]["intake"], best[name]["floor"]
        print(
            f"{name}: observe + bucketed {intake * 1e6:.2f} us CPU per flow ({1 / intake:,.0f} flows per CPU-second); "
            f"floor (read_flows alone) {floor * 1e6:.2f} us = {intake / floor:.2f}x the floor"
        )
    ratio = best["new"]["intake"] / best["old"]["intake"]
    print(
        f"new / old: {ratio:.2f} of the best figures, {statistics.median(ratios):.2f} the median of the turns' "
        f"({min(ratios):.2f}-{max(ratios):.2f}; {args.flows:,}-flow piece, {args.rounds} turns of {args.repeat}); "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores"
    )
    if args.database:
        database_turns(args, folder, inputs, now, piece)
    if differ:
        sys.exit(1)


def counted_twice(old: list[list], new: list[list], counts: tuple[int, ...]) -> int | None:
    """How many of the `old` rows are the `new` ones with their `counts` columns doubled, the others being
    identical; None when they differ in any other way."""
    if len(old) != len(new):
        return None
    doubled = 0
    for before, after in zip(old, new, strict=True):
        if before == after:
            continue
        same = all(before[n] == after[n] for n in range(len(after)) if n not in counts)
        if not same or any(before[n] != 2 * after[n] for n in counts):
            return None
        doubled += 1
    return doubled


def staged_drawing() -> dict:
    """A revision to stage that denies some of the fixtures' traffic: their own drawing (workloads locked) with
    every other edge left out, and the 30 workloads of the load tests."""
    from editor.policy.flows import read_flow_paths

    paths = sorted(str(path) for path in (FIXTURES / "hubble").iterdir() if path.suffix in (".json", ".jsonl"))
    drawing = read_flow_paths(paths).document.to_json()
    drawing["edges"] = drawing["edges"][::2]
    shop = thirty_workloads()
    drawing["nodes"] += shop["nodes"]
    drawing["edges"] += [{**edge, "id": f"shop-{edge['id']}"} for edge in shop["edges"]]
    known = {namespace["name"] for namespace in drawing["namespaces"]}
    drawing["namespaces"] += [namespace for namespace in shop.get("namespaces", []) if namespace["name"] not in known]
    return drawing


def database_turns(args: argparse.Namespace, folder: Path, inputs: list[str], now: datetime, piece: Path) -> None:
    """The same pieces stored in PostgreSQL (observe, then record: the transaction of a POST, with a revision
    staged), each checkout in a fresh database: the rows and staged denials stored, and the CPU of this
    process and of its PostgreSQL backend per flow."""
    url = postgres("start")
    task = {"mode": "database", "now": now.isoformat(), "piece": str(piece), "repeat": args.repeat}
    task |= {"inputs": inputs, "drawing": json.dumps(staged_drawing())}
    best: dict[str, dict[str, float]] = {"new": {}, "old": {}}
    stored = {}
    for _ in range(args.rounds):
        for name, tree in (("old", args.old), ("new", ROOT)):
            task["out"] = str(folder / f"stored-{name}.json")
            found = run(tree, task, url)
            stored[name] = json.loads(Path(task["out"]).read_text())
            for figure in ("intake", "floor"):
                best[name][figure] = min(best[name].get(figure, float("inf")), found[figure])
    old, new = stored["old"], stored["new"]
    twice = [counted_twice(old["rows"], new["rows"], (4, 5)), counted_twice(old["denials"], new["denials"], (7, 8))]
    same = None not in twice
    print(
        f"stored in PostgreSQL: {len(new['rows']):,} observation rows and {len(new['denials'])} staged denials from "
        f"{len(inputs)} inputs, {'identical' if same else 'DIFFERENT'} in both checkouts but for "
        f"{twice[0]} rows and {twice[1]} denials the old code counted twice"
    )
    for name in ("old", "new"):
        client, server = best[name]["intake"], best[name]["floor"]
        print(
            f"{name}: observe + record {client * 1e6:.2f} us CPU per flow in the worker, {server * 1e6:.2f} in "
            f"PostgreSQL: {1 / (client + server):,.0f} flows per CPU-second together"
        )
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
