"""The drawing's meaning, evaluated straight from its nodes and edges, independently of compilers and analyser."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterator, Sequence
from typing import Any

from ..analysis import (
    ALL_CONNECTIONS,
    NO_CONNECTIONS,
    PROTOCOLS,
    ConnectionSet,
    fqdn_matches,
)
from ..document import Document, Edge, Node
from ..manifests import ContainerPort
from .cluster import _TOP, _WORLD_VERSIONS, BridgePod, _namespace_in_scope, label_selector

# An end of a connection as the intent sees it: a pod (index into the pods), ("ip", version, address),
# ("entity", name) or ("fqdn", name).
End = int | tuple[Any, ...]


def edge_connections(edge: Edge, receiver: tuple[ContainerPort, ...] | None) -> ConnectionSet:
    """What an edge's ports allow towards a receiving pod's container ports (None: not a pod)."""
    if not edge.ports:
        return NO_CONNECTIONS if edge.icmps else ALL_CONNECTIONS
    result = NO_CONNECTIONS
    for port in edge.ports:
        protocols = PROTOCOLS if port.protocol == "ANY" else (port.protocol,)
        if port.port is None:
            result = result | ConnectionSet.of(protocols)
        elif isinstance(port.port, int):
            result = result | ConnectionSet.of(protocols, port.port, port.end_port or port.port)
        else:
            for container in receiver or ():
                if container.name == port.port and container.protocol in protocols:
                    result = result | ConnectionSet.of((container.protocol,), container.port, container.port)
    return result


@dataclasses.dataclass(frozen=True)
class _Block:
    """A CIDR node's addresses: `first`..`last` of IP `version`, less its excepts of that version (`holes`).

    Read apart from the analyser's interval code on purpose: the intent is the independent reading that the
    analysed YAML is checked against, so it tests membership instead of cutting intervals."""

    version: int
    first: int
    last: int
    holes: tuple[tuple[int, int], ...]

    def contains(self, version: int, address: int) -> bool:
        if version != self.version or not self.first <= address <= self.last:
            return False
        return not any(lo <= address <= hi for lo, hi in self.holes)

    @property
    def everything(self) -> bool:
        return self.first == 0 and self.last == _TOP[self.version] and not self.holes

    def pieces(self) -> Iterator[tuple[int, int]]:
        """The runs of addresses between the holes, swept from the lowest."""
        start = self.first
        for lo, hi in sorted(self.holes):
            if start > self.last:
                return
            if lo > start:
                yield start, min(lo - 1, self.last)
            start = max(start, hi + 1)
        if start <= self.last:
            yield start, self.last


def _block(node: Node) -> _Block | None:
    """The addresses of a CIDR node; None when its cidr cannot be read (it covers nothing)."""
    try:
        network = ipaddress.ip_network(node.cidr or "", strict=False)
    except ValueError:
        return None
    holes = []
    for text in node.except_:
        try:
            hole = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue
        if hole.version == network.version:
            holes.append((int(hole.network_address), int(hole.broadcast_address)))
    return _Block(network.version, int(network.network_address), int(network.broadcast_address), tuple(holes))


_NOTHING = (NO_CONNECTIONS, NO_CONNECTIONS)


@dataclasses.dataclass(frozen=True)
class SideRule:
    """An enabled edge that a pod's policy carries in one direction, the node at its other end and that node's
    pods (kept here because evaluating a large drawing asks for them millions of times)."""

    edge: Edge
    peer: Node
    peer_pods: frozenset[int]


class Intent:
    """What the drawing means, per pod and peer, evaluated from nodes and edges alone."""

    def __init__(self, document: Document, pods: Sequence[BridgePod]) -> None:
        self.document = document
        self.pods = list(pods)
        self.nodes = document.node_map()
        self._namespace_labels = {ns.name: ns.labels for ns in document.namespaces}
        self._by_namespace: dict[str, list[int]] = {}
        for index, pod in enumerate(self.pods):
            self._by_namespace.setdefault(pod.namespace, []).append(index)
        self._pod_sets: dict[str, frozenset[int]] = {}
        self._ports = [pod.ports for pod in self.pods]
        self._tables: dict[str, dict[int, dict[int, tuple[ConnectionSet, ConnectionSet]]]] = {
            "egress": {},
            "ingress": {},
        }
        self._edge_connections: dict[tuple[str, tuple[ContainerPort, ...] | None], ConnectionSet] = {}
        self._blocks: dict[str, _Block | None] = {}
        n = len(self.pods)
        self.isolated: dict[str, list[bool]] = {"egress": [False] * n, "ingress": [False] * n}
        self.locks: dict[str, list[list[str]]] = {"egress": [[] for _ in range(n)], "ingress": [[] for _ in range(n)]}
        self.rules: dict[str, list[list[SideRule]]] = {
            "egress": [[] for _ in range(n)],
            "ingress": [[] for _ in range(n)],
        }
        for node in document.nodes:
            if not node.is_subject:
                continue
            for direction, locked in (("egress", node.isolate.egress), ("ingress", node.isolate.ingress)):
                if locked:
                    for index in self.pod_set(node):
                        self.isolated[direction][index] = True
                        self.locks[direction][index].append(node.id)
        # the application layer's edges; the platform layers' rules are the tiers around them (check/layers.py)
        drawn = (edge for edge in document.edges if not edge.disabled and edge.layer == "application")
        self.edges = sorted(drawn, key=lambda e: e.id)
        for edge in self.edges:
            source, target = self.nodes[edge.source], self.nodes[edge.target]
            for side, direction, subject, peer in (
                ("source", "egress", source, target),
                ("target", "ingress", target, source),
            ):
                if side in edge.enforce and subject.is_subject:
                    rule = SideRule(edge, peer, self.pod_set(peer))
                    for index in self.pod_set(subject):
                        self.isolated[direction][index] = True
                        self.rules[direction][index].append(rule)
        # Allow edges by the pair of nodes they join, for `drawn`.
        self._joining: dict[tuple[str, str], list[Edge]] = {}
        for edge in self.edges:
            if edge.action == "allow":
                self._joining.setdefault((edge.source, edge.target), []).append(edge)
        self._standing: dict[End, list[str]] = {}

    # -- coverage

    def pod_set(self, node: Node) -> frozenset[int]:
        """The pods a node covers."""
        found = self._pod_sets.get(node.id)
        if found is None:
            found = frozenset(self._cover_pods(node))
            self._pod_sets[node.id] = found
        return found

    def _cover_pods(self, node: Node) -> Iterator[int]:
        if node.kind == "entity" and node.entity in ("all", "cluster"):
            yield from range(len(self.pods))
            return
        if not node.is_pod_set:
            return
        selector = label_selector(node.selector())
        if selector is None:
            return
        for namespace, indices in self._by_namespace.items():
            if _namespace_in_scope(node, namespace, self._namespace_labels):
                yield from (i for i in indices if selector.matches(self.pods[i].labels))

    def block(self, node: Node) -> _Block | None:
        if node.id not in self._blocks:
            self._blocks[node.id] = _block(node)
        return self._blocks[node.id]

    def covers(self, node: Node, end: End) -> bool:
        """Whether `node` stands for (or includes) `end`."""
        if isinstance(end, int):
            return end in self.pod_set(node)
        kind = end[0]
        if kind == "ip":
            _, version, address = end
            if node.kind == "cidr":
                block = self.block(node)
                return block is not None and block.contains(version, address)
            return node.kind == "entity" and version in _WORLD_VERSIONS.get(node.entity or "", ())
        if kind == "entity":
            return node.kind == "entity" and node.entity in (end[1], "all", "cluster")
        name = end[1]
        if node.kind == "fqdn":
            return node.match_name == name or (
                node.match_pattern is not None and fqdn_matches(node.match_pattern, name)
            )
        if node.kind == "entity":
            return node.entity in _WORLD_VERSIONS
        if node.kind == "cidr":
            block = self.block(node)
            return block is not None and block.everything
        return False

    def stands_for(self, node: Node, end: End) -> bool:
        """Whether `end` is what `node` itself is, not merely inside a broader set (a selector, `all`, ...)."""
        if isinstance(end, int):
            return self.pods[end].node_id == node.id
        kind = end[0]
        if kind == "ip":
            return (node.kind == "cidr" or (node.kind == "entity" and node.entity != "all")) and self.covers(node, end)
        if kind == "entity":
            return node.kind == "entity" and node.entity == end[1]
        return node.kind == "fqdn" and end[1] in (node.match_name, node.match_pattern)

    # -- evaluation

    def side(self, direction: str, pod: int, other: End) -> ConnectionSet:
        """What `pod`'s policies allow in `direction` (egress: to `other`; ingress: from `other`)."""
        allow, deny = self.side_parts(direction, pod, other)
        base = allow if self.isolated[direction][pod] else ALL_CONNECTIONS
        return base - deny if deny else base

    def side_parts(self, direction: str, pod: int, other: End) -> tuple[ConnectionSet, ConnectionSet]:
        """(allowed, denied) by the edges `pod`'s policies carry in `direction` for `other`."""
        if isinstance(other, int):
            return self._pod_table(direction, pod).get(other, _NOTHING)
        allow = deny = NO_CONNECTIONS
        receiver = self._ports[pod] if direction == "ingress" else None
        for rule in self.rules[direction][pod]:
            if self.covers(rule.peer, other):
                conns = self._connections(rule.edge, receiver)
                if rule.edge.action == "deny":
                    deny = deny | conns
                else:
                    allow = allow | conns
        return allow, deny

    def _pod_table(self, direction: str, pod: int) -> dict[int, tuple[ConnectionSet, ConnectionSet]]:
        """(allowed, denied) for every pod the rules of `pod` name, built on first use."""
        table = self._tables[direction].get(pod)
        if table is None:
            table = {}
            for rule in self.rules[direction][pod]:
                deny = rule.edge.action == "deny"
                for other in rule.peer_pods:
                    conns = self._connections(rule.edge, self._ports[other if direction == "egress" else pod])
                    allowed, denied = table.get(other, _NOTHING)
                    table[other] = (allowed, denied | conns) if deny else (allowed | conns, denied)
            self._tables[direction][pod] = table
        return table

    def _connections(self, edge: Edge, receiver: tuple[ContainerPort, ...] | None) -> ConnectionSet:
        named = any(isinstance(port.port, str) for port in edge.ports)
        key = (edge.id, receiver if named else None)
        found = self._edge_connections.get(key)
        if found is None:
            found = self._edge_connections[key] = edge_connections(edge, receiver)
        return found

    def receiver(self, end: End) -> tuple[ContainerPort, ...] | None:
        return self._ports[end] if isinstance(end, int) else None

    def between(self, src: End, dst: End) -> ConnectionSet:
        """The intended connections from `src` to `dst` (at least one of them a pod)."""
        if isinstance(src, int) and isinstance(dst, int):
            egress = self.side("egress", src, dst)
            return egress & self.side("ingress", dst, src) if egress else egress
        if isinstance(src, int):
            return self.side("egress", src, dst)
        if isinstance(dst, int):
            if src == ("entity", "host"):
                return ALL_CONNECTIONS  # S6: a pod's own node may always reach it
            return self.side("ingress", dst, src)
        raise ValueError("a connection needs a pod at one end at least")

    def drawn(self, src: End, dst: End) -> ConnectionSet:
        """The ports of the enabled allow edges drawn between exactly these two ends."""
        result = NO_CONNECTIONS
        for source in self.standing_for(src):
            for target in self.standing_for(dst):
                for edge in self._joining.get((source, target), ()):
                    result = result | edge_connections(edge, self.receiver(dst))
        return result

    def standing_for(self, end: End) -> list[str]:
        """Ids of the nodes that are `end` itself (see `stands_for`)."""
        if isinstance(end, int):
            return [self.pods[end].node_id]
        found = self._standing.get(end)
        if found is None:
            found = [node.id for node in self.document.nodes if not node.is_pod_set and self.stands_for(node, end)]
            self._standing[end] = found
        return found

    def cut_points(self) -> dict[int, list[int]]:
        """First addresses of the pieces of the address space the drawing's CIDR nodes cut it into."""
        points: dict[int, set[int]] = {4: {0}}
        for node in self.document.nodes:
            block = self.block(node) if node.kind == "cidr" else None
            if block is not None:
                for first, last in block.pieces():
                    points.setdefault(block.version, {0}).update(
                        p for p in (first, last + 1) if p <= _TOP[block.version]
                    )
        return {version: sorted(found) for version, found in points.items()}
