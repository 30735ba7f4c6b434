"""Flow observations read from a flow document, and the workloads they name added to a cluster."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from ..analysis import (
    PROTOCOLS,
)
from ..document import NAMESPACE_NAME_LABEL, Document, Node, icmp_protocol
from ..manifests import Cluster, ContainerPort, Namespace, Workload
from .cluster import REPRESENTATIVE_KIND, _namespace_in_scope, _stand_in, label_selector

# Verdicts of traffic that policies dropped when it was observed; anything else (FORWARDED, REDIRECTED, AUDIT -
# in audit mode the traffic flowed - or a Gadget connection without a verdict) is traffic that flowed.
DENIED_VERDICTS = frozenset({"DROPPED:POLICY_DENIED", "DROPPED:POLICY_DENY", "DROPPED:AUTH_REQUIRED"})


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One end of an observed connection, as the flow import drew it."""

    kind: str  # workload, selector, cidr, entity, fqdn, hosts
    name: str  # workload or selector name, CIDR, entity, DNS name or pattern
    namespace: str | None = None
    owner: str | None = None
    node_id: str = ""
    selector: dict[str, Any] | None = dataclasses.field(default=None, compare=False)
    namespace_selector: dict[str, Any] | None = dataclasses.field(default=None, compare=False)

    @classmethod
    def of(cls, node: Node) -> Endpoint:
        if node.kind in ("workload", "selector"):
            name = node.name or node.id
            return cls(node.kind, name, node.namespace, node.owner, node.id, node.selector(), node.namespace_selector)
        written = node.cidr if node.kind == "cidr" else node.entity if node.kind == "entity" else None
        return cls(node.kind, written or node.match_name or node.match_pattern or node.id, None, None, node.id)

    def __str__(self) -> str:
        if self.kind == "workload":
            return f"{self.namespace}/{self.name}" + (f"[{self.owner}]" if self.owner else "")
        if self.kind == "selector":
            return f"{self.namespace or '*'}/{self.name}[{REPRESENTATIVE_KIND}]"
        suffix = {"cidr": "External", "entity": "Entity", "fqdn": "FQDN", "hosts": "Nodes"}[self.kind]
        return f"{self.name}[{suffix}]"


@dataclasses.dataclass(frozen=True)
class Observation:
    """Connections seen from `source` to `target` on one protocol and port (`port` is the ICMP type for ICMP)."""

    source: Endpoint
    target: Endpoint
    protocol: str  # TCP, UDP, SCTP, ICMPv4, ICMPv6
    port: int | None
    count: int = 1
    verdicts: tuple[tuple[str, int], ...] = ()
    edge_id: str | None = None

    @property
    def flowed(self) -> bool:
        """True when some of this traffic got through when it was observed (not only policy drops)."""
        return not self.verdicts or any(verdict not in DENIED_VERDICTS for verdict, _ in self.verdicts)

    def __str__(self) -> str:
        port = "" if self.port is None else f" {self.port}"
        return f"{self.source} => {self.target} : {self.protocol}{port}"


def observations_from_document(document: Document) -> list[Observation]:
    """Every observed connection of a document (edges with `observed`, as the flow import makes them).

    Two edges between the same nodes on the same port are the same traffic seen for two policies (the flow
    import splits a DNS edge into the client's L7 rule and the server's plain one): it is counted once.
    """
    nodes = document.node_map()
    found: dict[tuple[str, str, str, int | None], Observation] = {}

    def add(observation: Observation) -> None:
        key = (observation.source.node_id, observation.target.node_id, observation.protocol, observation.port)
        if key not in found or found[key].count < observation.count:
            found[key] = observation

    for edge in sorted(document.edges, key=lambda e: e.id):
        if edge.observed is None:
            continue
        source, target = Endpoint.of(nodes[edge.source]), Endpoint.of(nodes[edge.target])
        verdicts = tuple(sorted(edge.observed.verdicts.items()))
        count = edge.observed.count
        for port in edge.ports:
            number = port.port if isinstance(port.port, int) else None
            for protocol in PROTOCOLS if port.protocol == "ANY" else (port.protocol,):
                add(Observation(source, target, protocol, number, count, verdicts, edge.id))
        for icmp in edge.icmps:
            protocol = icmp_protocol(icmp)
            kind = icmp.get("type")
            add(
                Observation(source, target, protocol, kind if isinstance(kind, int) else None, count, verdicts, edge.id)
            )
        if not edge.ports and not edge.icmps:
            add(Observation(source, target, "ANY", None, count, verdicts, edge.id))
    return list(found.values())


def _workloads_in_scope(
    cluster: Cluster, endpoint: Endpoint, namespaces: dict[str, dict[str, str]]
) -> Iterator[Workload]:
    selector = label_selector(endpoint.selector)
    if selector is None:
        return
    scope = Node(id=endpoint.node_id, kind="selector", namespace=endpoint.namespace)
    scope.namespace_selector = endpoint.namespace_selector
    for workload in cluster.workloads:
        if _namespace_in_scope(scope, workload.namespace, namespaces) and selector.matches(workload.labels):
            yield workload


def add_observed(cluster: Cluster, observed: Document) -> Cluster:
    """`cluster` plus the workloads (and their namespaces) that `observed`'s observed edges name but it lacks.

    A workload is found by namespace and name; a selector end (a Service the log named) by the workloads
    its selector picks, else it gets a representative pod as in `document_cluster`.
    """
    namespaces = dict(cluster.namespaces)
    for ns in observed.namespaces:
        namespaces.setdefault(ns.name, Namespace(ns.name, dict(ns.labels)))
    namespace_labels = {name: ns.labels for name, ns in namespaces.items()}
    workloads = list(cluster.workloads)
    known = {(w.namespace, w.name) for w in workloads}
    nodes = observed.node_map()
    ends = sorted({end for e in observed.edges if e.observed is not None for end in (e.source, e.target)})
    for node in (nodes[i] for i in ends):
        if node.kind == "workload" and node.namespace and (node.namespace, node.name or node.id) not in known:
            namespaces.setdefault(node.namespace, Namespace(node.namespace, {NAMESPACE_NAME_LABEL: node.namespace}))
            ports = tuple(ContainerPort(p.name, p.port, p.protocol) for p in node.container_ports)
            kind = node.owner or "Workload"
            where = f"observed node {node.id}"
            workloads.append(Workload(node.namespace, node.name or node.id, kind, dict(node.labels), ports, 1, where))
            known.add((node.namespace, node.name or node.id))
    grown = Cluster(namespaces, workloads, list(cluster.services), list(cluster.policies), list(cluster.warnings))
    for node in (nodes[i] for i in ends):
        if node.kind != "selector" or any(_workloads_in_scope(grown, Endpoint.of(node), namespace_labels)):
            continue
        stand_in = _stand_in(node, namespace_labels)
        if stand_in is not None:
            namespace, labels = stand_in
            where = f"observed node {node.id}"
            workloads.append(Workload(namespace, node.name or node.id, REPRESENTATIVE_KIND, labels, (), 1, where))
    return grown
