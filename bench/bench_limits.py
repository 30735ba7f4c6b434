"""Benchmark: is the largest drawing the default limits allow served within its targets (issue 12, finding 9)?

Targets on this 2-core machine: compile <= 1.5 s, lint <= 3 s, check <= 5 s, each the first time a drawing is
sent (nothing cached), through gunicorn (one sync worker, as in the Dockerfile) over loopback. For each size
(workloads, edges) it prints the wall time, the worker's CPU time for the request, the answer sizes and the
worker's peak resident memory, and then the largest measured size within all three targets, which is what
FENCELINE_MAX_NODES / FENCELINE_MAX_EDGES default to. The machine is shared with other work (its load average is
printed): a request runs in one thread, so its CPU time is the wall time it takes on an idle machine, and the
targets are judged on it. The drawings: workloads over 20 namespaces, every one locked both ways, edges between
random pairs on one of 200 numeric ports (so rules rarely merge), plus the cluster DNS.

    .venv/bin/python bench/bench_limits.py [--sizes 2000x10000,1000x5000,...]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.appserver import serving  # noqa: E402

TARGETS = {"compile": 1.5, "lint": 3.0, "check": 5.0}
SIZES = "2000x10000,1000x5000,600x3000,500x2500,400x2000,300x1500"
NAMESPACES = 20
WAIT = 240  # seconds of wall time per request before giving up (HTTP status 0 below)


def drawing(workloads: int, edges: int, seed: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    nodes: list[dict[str, Any]] = [
        {
            "id": f"w{i}",
            "kind": "workload",
            "name": f"svc-{i:04d}",
            "namespace": f"ns-{i % NAMESPACES:02d}",
            "owner": "Deployment",
            "labels": {"app": f"svc-{i:04d}", "tier": rnd.choice(["web", "api", "db"])},
            "containerPorts": [{"name": "http", "port": 8080}],
            "isolate": {"ingress": True, "egress": True},
        }
        for i in range(workloads - 1)
    ]
    nodes.append(
        {
            "id": "dns",
            "kind": "selector",
            "namespace": "kube-system",
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    )
    links = []
    for i in range(edges):
        source, target = rnd.sample(range(workloads - 1), 2)
        port = {"protocol": "TCP", "port": 1000 + rnd.randrange(200)}
        links.append({"id": f"e{i}", "source": f"w{source}", "target": f"w{target}", "ports": [port]})
    return {
        "schema": "fenceline/v1",
        "name": f"bench {workloads}x{edges} seed {seed}",
        "namespaces": [{"name": f"ns-{i:02d}"} for i in range(NAMESPACES)] + [{"name": "kube-system"}],
        "nodes": nodes,
        "edges": links,
    }


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def post(base: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, int, float]:
    request = urllib.request.Request(base + path, data=body, method="POST", headers=headers)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            size, status = len(response.read()), response.status
    except urllib.error.HTTPError as exc:
        size, status = len(exc.read()), exc.code
    except TimeoutError:  # gunicorn's --timeout replaces the worker; the next request gets a fresh one
        size, status = 0, 0
    return status, size, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=SIZES)
    args = parser.parse_args()
    sizes = [tuple(int(n) for n in size.split("x")) for size in args.sizes.split(",")]
    env = {"FENCELINE_MAX_NODES": "100000", "FENCELINE_MAX_EDGES": "100000", "FENCELINE_TIME_LIMIT_SECONDS": "300"}
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores, shared machine)")
    print(f"targets: {', '.join(f'{k} <= {v} s' for k, v in TARGETS.items())}")
    within = []
    with tempfile.TemporaryDirectory() as scratch:
        pid_file = Path(scratch) / "pid"
        gunicorn_args = ("--pid", str(pid_file), "--timeout", str(WAIT))
        with serving([], env=env, gunicorn_args=gunicorn_args) as (base, _):
            import psutil

            master = psutil.Process(int(pid_file.read_text()))
            with urllib.request.urlopen(urllib.request.Request(base + "/api/csrf", headers={"Host": "localhost"})) as r:
                cookie, token = r.headers["Set-Cookie"].split(";")[0], json.loads(r.read())["csrfToken"]
            headers = {"Host": "localhost", "Cookie": cookie, "X-CSRFToken": token, "Content-Type": "application/json"}
            for seed, (workloads, edges) in enumerate(sizes):
                row = {}
                for number, (what, path) in enumerate(
                    (("compile", "/api/compile?dialect=native"), ("lint", "/api/lint"), ("check", "/api/check"))
                ):
                    body = json.dumps(drawing(workloads, edges, seed * 10 + number)).encode()
                    (worker,) = master.children()
                    cpu_before = sum(worker.cpu_times()[:2])
                    status, size, seconds = post(base, path, body, headers)
                    try:
                        cpu = sum(worker.cpu_times()[:2]) - cpu_before
                        peak = peak_kib(worker.pid) / 1024
                    except (psutil.NoSuchProcess, FileNotFoundError):  # replaced after the timeout
                        cpu, peak = float("inf"), float("nan")
                        time.sleep(2)
                    row[what] = cpu
                    print(
                        f"{workloads:>5} workloads {edges:>6} edges  {what:<7} CPU {cpu:6.2f} s, wall {seconds:6.2f} s "
                        f"(target {TARGETS[what]} s, {'ok' if cpu <= TARGETS[what] else 'OVER'})  "
                        f"HTTP {status}  answer {size / 1e6:5.2f} MB  body {len(body) / 1e6:4.2f} MB  "
                        f"worker peak {peak:5.0f} MiB",
                        flush=True,
                    )
                if all(row[what] <= TARGETS[what] for what in TARGETS):
                    within.append((workloads, edges))
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if within:
        workloads, edges = max(within)
        print(f"largest measured size within every target: {workloads} nodes, {edges} edges")
    else:
        print("no measured size is within every target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
