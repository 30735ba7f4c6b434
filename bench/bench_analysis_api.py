"""Benchmark: the editor's analysis endpoints on the 500-workload, 2,000-edge drawing of bench_editor.py, and a
flow-log upload just under the 10 MiB limit.

Every request goes through Django's whole request path (middleware, CSRF, JSON parsing, the core, JSON out)
with the test client, in this process, so the figures are server time without the network:
* POST /api/lint (lint + rating), /api/check (matrix, flagged edges, undrawn connections; the first time for a
  drawing, then again for the same one, which the server keeps), /api/check with
  `only: replay` (what Save asks first), /api/check/cell (one cell's reasons: the first of a drawing, then
  the next ones, which the server's last checks answer);
* POST /api/flows with a generated Hubble jsonpb log (bench/gen_flows.py) of about 9.5 MiB, alone and merged
  into the drawing (read twice), the number of progress lines the streamed answer carries, and the replay of
  the merged drawing's observed connections.

    .venv/bin/python bench/bench_analysis_api.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 5
FLOW_LINES = 7000  # about 9.5 MiB of jsonpb


def timed(label: str, call: Callable[[], Any], rounds: int = ROUNDS) -> Any:
    seconds, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - start)
    print(f"{label:<48} median {statistics.median(seconds):6.2f} s   max {max(seconds):6.2f} s   ({rounds} runs)")
    return result


def main() -> int:
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "editor.settings")
    os.environ.setdefault("DEBUG", "1")
    # The drawing is larger than the default limits (bench/bench_limits.py).
    os.environ.setdefault("FENCELINE_MAX_NODES", "1000")
    os.environ.setdefault("FENCELINE_MAX_EDGES", "5000")
    import django

    django.setup()
    from bench_editor import generate as drawing
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.test.utils import setup_test_environment
    from gen_flows import generate as flow_log

    setup_test_environment()
    client = Client(HTTP_HOST="localhost")
    document = drawing(True)
    print(f"drawing: {len(document['nodes'])} nodes, {len(document['edges'])} edges")

    def post(path: str, body: dict[str, Any]) -> Any:
        response = client.post(path, body, content_type="application/json")
        assert response.status_code == 200, response.content[:300]
        return response.json()

    for dialect in ("native", "cilium"):
        body = {"document": document, "dialect": dialect}
        lint = timed(f"/api/lint ({dialect})", lambda body=body: post("/api/lint", body))
        print(f"  {len(lint['findings'])} findings, rating {lint['rating']['score']}")
        check = timed(f"/api/check ({dialect})", lambda body=body: post("/api/check", body), rounds=1)
        timed(f"/api/check ({dialect}) again, kept by the server", lambda body=body: post("/api/check", body))
        print(f"  {len(check['peers'])} peers, {len(check['flaggedEdges'])} flagged, {len(check['undrawn'])} undrawn")
        timed(f"/api/check only=replay ({dialect})", lambda body=body: post("/api/check", {**body, "only": "replay"}))
        names = [peer["name"] for peer in check["peers"]]
        cell = {**body, "src": names[0], "dst": names[1]}
        timed(f"/api/check/cell ({dialect}), after /api/check", lambda cell=cell: post("/api/check/cell", cell))

    lines = flow_log(100000).read_bytes().splitlines(keepends=True)[:FLOW_LINES]
    data = b"".join(lines)
    print(f"flow log: {len(lines):,} lines, {len(data) / 2**20:.1f} MiB")

    def upload(query: str = "", **fields: str) -> Any:
        response = client.post("/api/flows" + query, {"file": SimpleUploadedFile("flows.jsonl", data), **fields})
        assert response.status_code == 200
        return response

    result = timed("/api/flows", lambda: upload().json(), rounds=3)
    summary = result["summary"]
    print(f"  {summary['flowsRead']:,} flows, {summary['workloads']} workloads, {summary['edges']} edges")
    merged = timed("/api/flows merged into the drawing", lambda: upload(document=json.dumps(document)).json(), rounds=3)
    replay = {"document": merged["merged"], "dialect": "cilium", "only": "replay"}
    judged = timed("/api/check only=replay, drawing with the flows", lambda: post("/api/check", replay), rounds=3)
    print(f"  {judged['replay']['summary']}")
    stream = b"".join(upload("?progress=1").streaming_content).splitlines()
    print(f"  ?progress=1: {len(stream) - 1} progress lines, then the result")
    return 0


if __name__ == "__main__":
    sys.exit(main())
