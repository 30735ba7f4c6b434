"""Workload manifests of a whole application as a new user imports them (issue 13, point 4's layout).

`cluster_manifests(300, 534, 15)` is the issue's finding: 300 Deployments in 15 namespaces, one NetworkPolicy per
Deployment that receives traffic, 534 allowed (source, target) pairs -- two thirds inside a namespace, a third
across. Workloads are named after what they do ("api", "db", ... repeat in every namespace). Deterministic for a
given size; multi-document YAML, as `kubectl get -o yaml` would hand it over, with no positions.
"""

from __future__ import annotations

import random
from typing import Any

import yaml

ROLES = ("api", "db", "web", "cache", "worker", "queue", "auth", "search", "mail", "cron")
PORT = 8080
NAME_LABEL = "kubernetes.io/metadata.name"


def workload_names(workloads: int, namespaces: int) -> list[tuple[str, str]]:
    """(namespace, name) of every Deployment: namespaces shop-00, shop-01, ... in turn."""
    out = []
    for number in range(workloads):
        index = number // namespaces
        name = ROLES[index % len(ROLES)] + ("" if index < len(ROLES) else f"-{index // len(ROLES)}")
        out.append((f"shop-{number % namespaces:02d}", name))
    return out


def cluster_pairs(workloads: int, edges: int, namespaces: int) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    rng = random.Random(workloads * 7_919 + edges * 31 + namespaces)
    names = workload_names(workloads, namespaces)
    by_namespace: dict[str, list[tuple[str, str]]] = {}
    for item in names:
        by_namespace.setdefault(item[0], []).append(item)
    pairs: set[tuple[tuple[str, str], tuple[str, str]]] = set()
    while len(pairs) < edges:
        source = rng.choice(names)
        target = rng.choice(names) if rng.random() < 0.33 else rng.choice(by_namespace[source[0]])
        if target != source:
            pairs.add((source, target))
    return sorted(pairs)


def cluster_objects(workloads: int = 300, edges: int = 534, namespaces: int = 15) -> list[dict[str, Any]]:
    names = workload_names(workloads, namespaces)
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {NAME_LABEL: ns}}}
        for ns in sorted({ns for ns, _ in names})
    ]
    for ns, name in names:
        labels = {"app": name}
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": {
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [
                                {
                                    "name": name,
                                    "image": f"registry.example.com/{name}:1",
                                    "ports": [{"name": "http", "containerPort": PORT}],
                                }
                            ]
                        },
                    },
                },
            }
        )
    sources: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for source, target in cluster_pairs(workloads, edges, namespaces):
        sources.setdefault(target, []).append(source)
    for (ns, name), froms in sorted(sources.items()):
        peers = []
        for source_ns, source_name in froms:
            peer: dict[str, Any] = {"podSelector": {"matchLabels": {"app": source_name}}}
            if source_ns != ns:
                peer["namespaceSelector"] = {"matchLabels": {NAME_LABEL: source_ns}}
            peers.append(peer)
        objects.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"{name}-ingress", "namespace": ns},
                "spec": {
                    "podSelector": {"matchLabels": {"app": name}},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": peers, "ports": [{"protocol": "TCP", "port": PORT}]}],
                },
            }
        )
    return objects


def cluster_manifests(workloads: int = 300, edges: int = 534, namespaces: int = 15) -> str:
    return yaml.safe_dump_all(cluster_objects(workloads, edges, namespaces), sort_keys=False)
