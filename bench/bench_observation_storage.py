"""Storage of observations once the set of edges is stable (issue 17): the same hour's traffic, piece after
piece, must not grow the observation table.

Each stored piece updates its edges' hour rows. In PostgreSQL an update writes a new row version; unless the
page has room for it (migration 0005 leaves half of each page free), the old version stays until VACUUM and
the table grows with every piece. This stores 60 pieces of 16,000 flows (400 Deployments, ~2,000 edges, one
hour) through the intake's own code (observe, then record: the same transaction as POST /api/observations)
and prints the table's size every ten pieces, then again with the table's pages filled (fillfactor 100, the
PostgreSQL default) for comparison. Target: the first run does not grow after its first pieces.

    FENCELINE_TEST_PGPORT=55446 .venv/bin/python bench/bench_observation_storage.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import ROOT, fresh_database, postgres, thirty_workloads
from soak_observations import STAMP, traffic

PIECES = 60

RUN = """
import json, os, sys
from django.db import connection
from editor.models import save_revision
from editor.observation_models import ObservationStream
from editor.observation_store import record
from editor.policy.flows.observe import observe

fillfactor, paths = os.environ["BENCH_FILLFACTOR"], os.environ["BENCH_FILES"].split(os.pathsep)
with connection.cursor() as cursor:
    cursor.execute(f"ALTER TABLE editor_observation SET (fillfactor = {int(fillfactor)})")
revision = save_revision(json.loads(sys.stdin.read()))
stream, _ = ObservationStream.create(revision.document, "bench")
pieces = [observe(open(path, "rb").read()) for path in paths]

def table() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size('editor_observation'), count(*) FROM editor_observation")
        return cursor.fetchone()

for number in range(COUNT):
    edges, summary = pieces[number % len(pieces)]
    record(stream, edges, summary.flows_read)
    if number % 10 == 9:
        size, rows = table()
        print(f"fillfactor {fillfactor:>3}: {number + 1:>3} pieces, {rows:,} rows, table {size / 1e6:5.1f} MB")
"""


def main() -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z").encode()
    folder = Path(os.environ.get("TMPDIR", "/tmp"))
    paths = []
    for number, body in enumerate(traffic(16000)[:2]):
        path = folder / f"fenceline-storage-{os.getpid()}-{number}.jsonl"
        path.write_bytes(body.replace(STAMP, stamp))
        paths.append(str(path))
    try:
        for fillfactor in ("50", "100"):
            database = fresh_database(postgres("start"))
            env = {
                **os.environ,
                "DATABASE_URL": database,
                "BENCH_FILLFACTOR": fillfactor,
                "BENCH_FILES": os.pathsep.join(paths),
            }
            subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
            subprocess.run(
                [sys.executable, "manage.py", "shell", "-c", RUN.replace("COUNT", str(PIECES))],
                input=json.dumps(thirty_workloads()),
                cwd=ROOT,
                env=env,
                text=True,
                check=True,
            )
    finally:
        for path in paths:
            Path(path).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
