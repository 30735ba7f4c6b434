"""Soak: two observation streams into PostgreSQL while the editor is used (issue 17, "Must show").

Eight hours of synthetic Hubble traffic (400 Deployments x 3 replicas in 25 namespaces, replies and DNS, the
shape of bench/bench_flows_shapes.py) are compressed into --duration seconds: the flows' timestamps advance
8 h over the run. Two sender threads each POST batches of --batch flows to their own stream of one drawing
(`fenceline serve`, gunicorn, a fresh PostgreSQL database from scripts/postgres.sh); a third client meanwhile
loads the drawing and compiles it through the editor's API. Every tenth of the run it prints the simulated
hour, the flows acknowledged per second, the observation rows and the database size; at the end the p95
latency of the editor's requests. Storage grows with edges x hour buckets: once an hour's edges are all
seen, the rows of that hour stop growing however many flows arrive.

Before the run each worker is warmed up and the editor's requests are timed alone, so that the server's CPU
can be split: the intake's flows per CPU-second (on a shared machine the figure to judge by: 2 x 20,000 flows/s
need 40,000 / that many cores), PostgreSQL's, and this client's (the batches are made once, before the run, and
only their timestamps are replaced per POST, so the sender costs next to nothing).

Targets: >= 20,000 flows/s accepted per stream; the database stops growing when the edge set is stable.
Bounded in time (--duration) and served on loopback only; it stops by itself.

    .venv/bin/python bench/soak_observations.py                 # 2 streams, 120 s
    .venv/bin/python bench/soak_observations.py --duration 30   # a short run on a shared machine
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_flows_shapes import generate_realistic
from load import ROOT, Server, fresh_database, postgres, request, session_headers, thirty_workloads

SIMULATED = timedelta(hours=8)
STAMP = b"2024-03-01T00:00:00.000000000Z"
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f000Z"
TARGET_FLOWS_PER_STREAM = 20_000
CALIBRATION_SECONDS = 5.0

SETUP = """
import json, sys
from datetime import UTC, datetime
from editor.models import save_revision
from editor.observation_models import ObservationStream, StagedRevision
revision = save_revision(json.loads(sys.stdin.read()))
streams = [ObservationStream.create(revision.document, f"cluster-{n}") for n in (1, 2)]
StagedRevision.objects.create(document=revision.document, revision=revision, since=datetime(2020, 1, 1, tzinfo=UTC))
print(json.dumps({"slug": revision.slug, "streams": [[s.slug, t] for s, t in streams]}))
"""


def traffic(batch: int) -> list[bytes]:
    """Batches of flow lines whose timestamps are STAMP, to be replaced as the simulated clock advances."""
    path = Path(tempfile.mkdtemp(prefix="fenceline-soak-")) / "flows.jsonl"
    generate_realistic(path, flows=batch * 8)
    lines = []
    for line in path.read_bytes().splitlines():
        record = json.loads(line)
        record["time"] = record["flow"]["time"] = STAMP.decode()
        lines.append(json.dumps(record, separators=(",", ":")).encode())
    return [b"\n".join(lines[start : start + batch]) + b"\n" for start in range(0, len(lines), batch)]


def cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU of a process and all its descendants, living or already waited for."""
    total = 0.0
    for each in (process, *process.children(recursive=True)):
        try:
            times = each.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def postmaster(url: str) -> psutil.Process:
    """The PostgreSQL server's main process (its backends are its children)."""
    import psycopg

    with psycopg.connect(url) as connection:
        directory = connection.execute("SELECT setting FROM pg_settings WHERE name = 'data_directory'").fetchone()[0]
    return psutil.Process(int((Path(directory) / "postmaster.pid").read_text().split()[0]))


def database_size(url: str) -> tuple[int, int, int, int]:
    """The database's size, the observation table's (with its indexes), its rows and its hour buckets."""
    import psycopg

    with psycopg.connect(url) as connection:
        size = connection.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        table = connection.execute("SELECT pg_total_relation_size('editor_observation')").fetchone()[0]
        rows, buckets = connection.execute("SELECT count(*), count(DISTINCT bucket) FROM editor_observation").fetchone()
    return int(size), int(table), int(rows), int(buckets)


class Sender(threading.Thread):
    def __init__(self, port: int, slug: str, token: str, batches: list[bytes], start: float, duration: float):
        super().__init__(daemon=True)
        self.port, self.path, self.batches = port, f"/api/observations/{slug}", batches
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
        self.start_at, self.duration = start, duration
        self.flows = 0
        self.posts = 0
        self.pieces = 0  # stored pieces (acknowledgements): one per POST unless the server read it slowly
        self.errors: list[str] = []

    def run(self) -> None:
        # The simulated eight hours end now: older traffic would land in day buckets (see observe.HOUR_BUCKETS_FOR).
        origin = datetime.now(UTC) - SIMULATED
        number = 0
        while (elapsed := time.monotonic() - self.start_at) < self.duration:
            moment = origin + SIMULATED * (elapsed / self.duration)
            stamp = moment.strftime(STAMP_FORMAT).encode()
            body = self.batches[number % len(self.batches)].replace(STAMP, stamp)
            number += 1
            self.post(body)

    def post(self, body: bytes) -> None:
        status, _, answer = request(self.port, "POST", self.path, body, self.headers)
        last = json.loads(answer.splitlines()[-1]) if answer.strip() else {}
        if status != 200 or "done" not in last:
            self.errors.append(f"{status} {answer[:200]!r}")
            return
        self.flows += last["done"]["flows"]
        self.posts += 1
        self.pieces += sum(line.startswith(b'{"acknowledged"') for line in answer.splitlines())


class Editor(threading.Thread):
    """Someone using the editor meanwhile: load the drawing, compile a 30-workload one."""

    def __init__(self, port: int, slug: str, start: float, duration: float) -> None:
        super().__init__(daemon=True)
        self.port, self.slug, self.start_at, self.duration = port, slug, start, duration
        self.seconds: list[float] = []
        self.errors: list[str] = []

    def run(self) -> None:
        headers = session_headers(self.port)
        body = json.dumps({"document": thirty_workloads(), "dialect": "native"}).encode()
        while time.monotonic() - self.start_at < self.duration:
            for method, path, data in (
                ("GET", f"/api/documents/{self.slug}", None),
                ("POST", "/api/compile", body),
            ):
                began = time.monotonic()
                status, _, _ = request(self.port, method, path, data, headers)
                self.seconds.append(time.monotonic() - began)
                if status != 200:
                    self.errors.append(f"{method} {path}: {status}")
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of real time (8 h simulated)")
    parser.add_argument(
        "--batch", type=int, default=8000, help="flows per POST (8,000 are 7.3 MiB, as `fenceline push` sends)"
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    args = parser.parse_args()

    database = fresh_database(postgres("start"))
    log = Path(tempfile.mkdtemp(prefix="fenceline-soak-")) / "server.log"
    server = Server(database, args.workers, log)
    try:
        env = {**os.environ, "DATABASE_URL": database}
        setup = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SETUP],
            input=json.dumps(thirty_workloads()),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        made = json.loads(setup.stdout.strip().splitlines()[-1])
        batches = traffic(args.batch)
        web_server, database_server = psutil.Process(server.process.pid), postmaster(database)
        # Warm every worker up (imports, the staged revision compiled), then the editor alone: what its requests
        # cost the server, to tell the intake's CPU from theirs.
        warm = [Sender(server.port, slug, token, batches, time.monotonic(), 0.0) for slug, token in made["streams"]]
        for sender in warm * 2:
            sender.post(batches[0].replace(STAMP, (datetime.now(UTC) - SIMULATED).strftime(STAMP_FORMAT).encode()))
        Editor(server.port, made["slug"], time.monotonic(), CALIBRATION_SECONDS).run()
        cpu_server = cpu_seconds(web_server)
        alone = Editor(server.port, made["slug"], time.monotonic(), CALIBRATION_SECONDS)
        alone.run()
        cpu_per_request = (cpu_seconds(web_server) - cpu_server) / max(len(alone.seconds), 1)
        cpu_server, cpu_database = cpu_seconds(web_server), cpu_seconds(database_server)
        cpu_client = time.process_time()
        start = time.monotonic()
        senders = [Sender(server.port, slug, token, batches, start, args.duration) for slug, token in made["streams"]]
        editor = Editor(server.port, made["slug"], start, args.duration)
        for thread in (*senders, editor):
            thread.start()
        last_flows, last_time, last_size = 0, start, database_size(database)[0]
        for tenth in range(1, 11):
            time.sleep(max(start + args.duration * tenth / 10 - time.monotonic(), 0))
            flows, now = sum(sender.flows for sender in senders), time.monotonic()
            size, table, rows, buckets = database_size(database)
            hours = SIMULATED.total_seconds() / 3600 * tenth / 10
            rate = (flows - last_flows) / (now - last_time)
            print(
                f"simulated {hours:4.1f} h: {flows:>10,} flows acknowledged, {rate:>7,.0f} flows/s (both streams), "
                f"{rows:>6,} observation rows in {buckets} hours ({rows / max(buckets, 1):,.0f} each), "
                f"{table / 1e6:5.1f} MB; "
                f"database {size / 1e6:6.1f} MB (+{(size - last_size) / max(flows - last_flows, 1):.2f} bytes/flow)",
                flush=True,
            )
            last_flows, last_time, last_size = flows, now, size
        for thread in (*senders, editor):
            thread.join(timeout=120)
        elapsed = time.monotonic() - start
        cpu_server = cpu_seconds(web_server) - cpu_server
        cpu_database = cpu_seconds(database_server) - cpu_database
        cpu_client = time.process_time() - cpu_client
        flows = sum(sender.flows for sender in senders)
        for number, sender in enumerate(senders, 1):
            rate = sender.flows / elapsed
            print(
                f"stream {number}: {sender.flows:,} flows in {elapsed:.0f} s = {rate:,.0f} flows/s "
                f"(target >= {TARGET_FLOWS_PER_STREAM:,}), {sender.pieces / max(sender.posts, 1):.2f} pieces per "
                f"POST; {len(sender.errors)} errors {sender.errors[:2]}"
            )
        both = cpu_server + cpu_database
        intake = cpu_server - cpu_per_request * len(editor.seconds)
        print(
            f"CPU of the intake alone: the server's less the editor's {len(editor.seconds)} requests at "
            f"{cpu_per_request * 1000:.0f} ms each (measured alone before the streams): {intake:.1f} s = "
            f"{flows / max(intake, 1e-9):,.0f} flows per CPU-second"
        )
        print(
            f"CPU: the server (gunicorn workers) {cpu_server:.1f} s = {flows / max(cpu_server, 1e-9):,.0f} flows per "
            f"CPU-second; PostgreSQL {cpu_database:.1f} s; together {flows / max(both, 1e-9):,.0f} flows per "
            f"CPU-second: {2 * TARGET_FLOWS_PER_STREAM:,} flows/s take "
            f"{2 * TARGET_FLOWS_PER_STREAM * both / max(flows, 1):.2f} cores (the editor's requests included); "
            f"this client (senders and editor) {cpu_client:.1f} s"
        )
        latencies = sorted(editor.seconds)
        p95 = latencies[int(len(latencies) * 0.95) - 1] if latencies else float("nan")
        median = statistics.median(latencies) if latencies else float("nan")
        print(
            f"editor meanwhile: {len(latencies)} requests, median {median * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"{len(editor.errors)} errors; machine load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
