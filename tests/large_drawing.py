"""A whole-cluster drawing for the large-drawing browser test and bench/bench_large.py (issue 13).

`NAMESPACES` namespaces hold workloads named after what they do ("api", "db", "web", ... repeat in every
namespace, as in real clusters), plus one uniquely named workload, "payments-ledger" in team-07; every workload
is isolated both ways. Edges join random pairs, a third of them across namespaces; one in seven has two ports.
Deterministic for a given size. No positions: the editor packs it as a fresh import.
"""

from __future__ import annotations

import random
from typing import Any

ROLES = ("api", "db", "web", "cache", "worker", "queue", "auth", "search", "mail", "cron")
UNIQUE = ("team-07", "payments-ledger")


def large_drawing(workloads: int, edges: int, namespaces: int = 40) -> dict[str, Any]:
    rng = random.Random(workloads * 100_003 + edges)
    names = [f"team-{i:02d}" for i in range(namespaces)]
    nodes: list[dict[str, Any]] = []
    for number in range(workloads):
        namespace = names[number % namespaces]
        index = number // namespaces
        name = ROLES[index % len(ROLES)] + ("" if index < len(ROLES) else f"-{index // len(ROLES)}")
        if (namespace, index) == (UNIQUE[0], 3):
            name = UNIQUE[1]
        nodes.append(
            {
                "id": f"{namespace}.{name}",
                "kind": "workload",
                "name": name,
                "namespace": namespace,
                "owner": "Deployment",
                "labels": {"app": name, "team": namespace},
                "containerPorts": [{"name": "http", "port": 8080}],
                "isolate": {"ingress": True, "egress": True},
            }
        )
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for node in nodes:
        by_namespace.setdefault(node["namespace"], []).append(node)
    pairs: set[tuple[str, str]] = set()
    while len(pairs) < edges:
        source = rng.choice(nodes)
        target = rng.choice(nodes) if rng.random() < 0.33 else rng.choice(by_namespace[source["namespace"]])
        if target is not source:
            pairs.add((source["id"], target["id"]))
    drawn = []
    for number, (source, target) in enumerate(sorted(pairs), 1):
        ports = [{"protocol": "TCP", "port": 8080}]
        if number % 7 == 0:
            ports.append({"protocol": "TCP", "port": 9100})
        drawn.append({"id": f"e{number}", "source": source, "target": target, "ports": ports})
    return {
        "schema": "fenceline/v1",
        "name": f"{workloads} workloads, {edges} edges",
        "namespaces": [{"name": ns, "labels": {"kubernetes.io/metadata.name": ns}} for ns in names],
        "nodes": nodes,
        "edges": drawn,
    }
