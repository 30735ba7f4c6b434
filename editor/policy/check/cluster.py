"""The cluster of a drawing: its namespaces, its workloads and a representative pod per unmatched selector."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ..document import Document, Node
from ..manifests import Cluster, ContainerPort, Namespace, PolicyObject, Workload
from ..selectors import LabelSelector, Requirement, SelectorError, parse_selector

REPRESENTATIVE_KIND = "Selector"
_WORLD_VERSIONS = {"world": (4, 6), "world-ipv4": (4,), "world-ipv6": (6,), "all": (4, 6)}
_TOP = {4: 2**32 - 1, 6: 2**128 - 1}


@dataclasses.dataclass(frozen=True)
class BridgePod:
    """A workload of the drawing's cluster and the node it stands for."""

    workload: Workload
    node_id: str
    representative: bool  # a selector node's stand-in pod, not a drawn workload

    @property
    def namespace(self) -> str:
        return self.workload.namespace

    @property
    def labels(self) -> dict[str, str]:
        return self.workload.labels

    @property
    def ports(self) -> tuple[ContainerPort, ...]:
        return self.workload.ports


@dataclasses.dataclass
class DocumentCluster:
    cluster: Cluster
    pods: list[BridgePod]


def _plain_key(key: str) -> str:
    """`k8s:app` and `any:app` are the Kubernetes label `app` (Cilium label sources)."""
    source, colon, rest = key.partition(":")
    return rest if colon and source in ("k8s", "any") else key


def label_selector(raw: dict[str, Any] | None) -> LabelSelector | None:
    """A document selector ready to match pod or namespace labels; None when it is not valid."""
    try:
        parsed = parse_selector(raw or {}, source_prefixes=True)
    except SelectorError:
        return None
    return LabelSelector(
        tuple(sorted((_plain_key(k), v) for k, v in parsed.match_labels)),
        tuple(sorted(Requirement(_plain_key(r.key), r.operator, r.values) for r in parsed.match_expressions)),
    )


def satisfying_labels(selector: LabelSelector) -> dict[str, str] | None:
    """The fewest labels that `selector` matches, or None when no label set can match it."""
    labels: dict[str, str] = {}
    keys = sorted(selector.label_keys())
    for key in keys:
        fixed = {v for k, v in selector.match_labels if k == key}
        rules = [r for r in selector.match_expressions if r.key == key]
        allowed: set[str] | None = set(fixed) if fixed else None
        for rule in rules:
            if rule.operator == "In":
                allowed = set(rule.values) if allowed is None else allowed & set(rule.values)
        banned = {v for r in rules if r.operator == "NotIn" for v in r.values}
        must_exist = allowed is not None or any(r.operator == "Exists" for r in rules)
        if not must_exist:
            continue  # NotIn and DoesNotExist hold when the key is absent
        if allowed is None:
            allowed = {next(f"v{i}" for i in range(len(banned) + 1) if f"v{i}" not in banned)}
        choices = sorted(allowed - banned)
        if not choices:
            return None
        labels[key] = choices[0]
    return labels if selector.matches(labels) else None


def _used_node_ids(document: Document) -> set[str]:
    used = {node.id for node in document.nodes if node.isolate.ingress or node.isolate.egress}
    for edge in document.edges:
        if not edge.disabled:
            used.update((edge.source, edge.target))
    return used


def _namespace_in_scope(node: Node, namespace: str, namespace_labels: dict[str, dict[str, str]]) -> bool:
    if node.namespace is not None:
        return node.namespace == namespace
    selector = label_selector(node.namespace_selector)
    return selector is not None and selector.matches(namespace_labels.get(namespace, {}))


def _stand_in(node: Node, namespace_labels: dict[str, dict[str, str]]) -> tuple[str, dict[str, str]] | None:
    """(namespace, labels) of a representative pod for a selector node, or None when no pod can match it."""
    selector = label_selector(node.selector())
    labels = satisfying_labels(selector) if selector is not None else None
    namespace = next((n for n in sorted(namespace_labels) if _namespace_in_scope(node, n, namespace_labels)), None)
    return None if labels is None or namespace is None else (namespace, labels)


def document_cluster(
    document: Document, policies: Sequence[PolicyObject] = (), *, representatives: bool = True
) -> DocumentCluster:
    """The cluster a drawing stands for (see the module docstring), holding `policies`."""
    namespaces = {ns.name: Namespace(ns.name, dict(ns.labels)) for ns in document.namespaces}
    namespace_labels = {name: ns.labels for name, ns in namespaces.items()}
    pods: list[BridgePod] = []
    taken: set[tuple[str, str, str]] = set()

    def add(node: Node, namespace: str, kind: str, labels: dict[str, str], representative: bool) -> None:
        name = node.name or node.id
        if (namespace, kind, name) in taken:
            name = f"{name}@{node.id}"
        taken.add((namespace, kind, name))
        ports = tuple(ContainerPort(p.name, p.port, p.protocol) for p in node.container_ports)
        workload = Workload(namespace, name, kind, dict(labels), ports, 1, f"document node {node.id}")
        pods.append(BridgePod(workload, node.id, representative))

    for node in document.nodes:
        if node.kind == "workload" and node.namespace:
            add(node, node.namespace, node.owner or "Workload", node.labels, False)
    drawn = list(pods)
    if representatives:
        used = _used_node_ids(document)
        for node in document.nodes:
            if node.kind != "selector" or node.id not in used:
                continue
            selector = label_selector(node.selector())
            if selector is None or any(
                _namespace_in_scope(node, pod.namespace, namespace_labels) and selector.matches(pod.labels)
                for pod in drawn
            ):
                continue
            stand_in = _stand_in(node, namespace_labels)
            if stand_in is not None:
                add(node, stand_in[0], REPRESENTATIVE_KIND, stand_in[1], True)
    cluster = Cluster(namespaces, [pod.workload for pod in pods], [], list(policies), [])
    return DocumentCluster(cluster, pods)
