"""Benchmark: the editor's Check view (`check.check_document`) on drawings of 100 and 500 workloads.

The drawings are generated deterministically: workloads spread over 20 namespaces, every one locked both ways,
each calling two to four others on a numeric or named port, all calling the cluster DNS, one in five calling
an external CIDR, one namespace-wide selector per namespace allowed in to a few workloads (a broad rule), and a
few edges enforced on one side only (flagged edges). Printed per dialect: compile + analyse, the matrix and
its comparison with the drawing, flagged edges, undrawn connections, `to_json` and the JSON size; best of
REPEAT runs (the machine is shared). Also the replay of every drawn edge as an observation.

    .venv/bin/python bench/bench_check.py
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from editor.policy.check import analyse_document, check_document, observations_from_document, replay  # noqa: E402
from editor.policy.document import Document, Observed  # noqa: E402

SIZES = (100, 500)
NAMESPACES = 20
REPEAT = 3


def drawing(size: int, seed: int = 5) -> Document:
    rnd = random.Random(seed)
    namespaces = [{"name": f"ns-{i:02d}", "labels": {"team": f"t{i % 4}"}} for i in range(NAMESPACES)]
    namespaces.append({"name": "kube-system"})
    nodes: list[dict[str, Any]] = []
    for i in range(size):
        nodes.append(
            {
                "id": f"w{i}",
                "kind": "workload",
                "name": f"svc-{i:03d}",
                "namespace": f"ns-{i % NAMESPACES:02d}",
                "owner": "Deployment",
                "labels": {"app": f"svc-{i:03d}", "tier": rnd.choice(["web", "api", "db"])},
                "containerPorts": [
                    {"name": "http", "port": rnd.choice([8080, 9090])},
                    {"name": "metrics", "port": 9100},
                ],
                "isolate": {"ingress": True, "egress": True},
            }
        )
    nodes.append(
        {
            "id": "dns",
            "kind": "selector",
            "namespace": "kube-system",
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    )
    for n in range(NAMESPACES):
        nodes.append({"id": f"all-{n}", "kind": "selector", "namespace": f"ns-{n:02d}", "podSelector": {}})
    nodes.append({"id": "partners", "kind": "cidr", "cidr": "203.0.113.0/24", "except": ["203.0.113.128/25"]})
    edges: list[dict[str, Any]] = []

    def edge(source: str, target: str, ports: list[dict[str, Any]], enforce: list[str] | None = None) -> None:
        item: dict[str, Any] = {"id": f"e{len(edges)}", "source": source, "target": target, "ports": ports}
        if enforce:
            item["enforce"] = enforce
        edges.append(item)

    for i in range(size):
        for j in rnd.sample(range(size), rnd.randint(2, 4)):
            if j != i:
                port = rnd.choice([{"protocol": "TCP", "port": "http"}, {"protocol": "TCP", "port": 5432}])
                edge(f"w{i}", f"w{j}", [port], ["source"] if rnd.random() < 0.05 else None)
        edge(f"w{i}", "dns", [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}], ["source"])
        if i % 5 == 0:
            edge(f"w{i}", "partners", [{"protocol": "TCP", "port": 443}], ["source"])
    for n in range(NAMESPACES):
        for j in rnd.sample(range(size), 3):
            edge(f"all-{n}", f"w{j}", [{"protocol": "TCP", "port": "metrics"}], ["target"])
    return Document.from_json({"schema": "fenceline/v1", "namespaces": namespaces, "nodes": nodes, "edges": edges})


def best(action: Any) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(REPEAT):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    for size in SIZES:
        document = drawing(size)
        for dialect in ("native", "cilium"):
            total, result = best(lambda d=document, dl=dialect: check_document(d, dl))
            to_json, data = best(lambda r=result: json.dumps(r.to_json()))
            parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in result.timings.items())
            print(
                f"{size} workloads, {len(document.edges)} edges, {dialect}: check_document {total:.2f} s ({parts}); "
                f"to_json {to_json:.2f} s, {len(data) / 1e6:.1f} MB; {len(result.flagged)} flagged edges, "
                f"{sum(len(u.dsts) for u in result.undrawn)} undrawn pairs, {len(result.mismatches)} mismatches"
            )
        for edge in document.edges:
            edge.observed = Observed(count=3, verdicts={"FORWARDED": 3})
        analysis = analyse_document(document, "cilium").analysis
        observations = observations_from_document(document)
        seconds, replayed = best(lambda o=observations, a=analysis: replay(o, a))
        count = len(observations)
        print(f"{size} workloads: replay of {count} observed connections {seconds:.2f} s: {replayed.summary()}")


if __name__ == "__main__":
    main()
