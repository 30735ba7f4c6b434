"""Does the YAML do what the drawing says? The Check view, the compiler proof and flow replay.

A drawing is compiled (compile.py) and the YAML analysed (analysis.py) over a cluster made from the drawing
itself; separately, the drawing's own meaning is evaluated straight from its nodes and edges (`Intent`). The
two must agree everywhere -- that is the proof of the compilers -- and the Check view shows where the drawing
disagrees with itself: drawn edges that are not effectively allowed, and allowed connections nobody drew.

API:
* `analyse_document(doc, dialect=None) -> Bridge`: the cluster of the drawing (`document_cluster`), the compiled
  policies and the `Analysis` of that YAML over that cluster.
* `Intent(doc, pods)`: the drawing's meaning, evaluated independently of the compilers and the analyser;
  `intent.connection(src, dst)` for analyser peers. `mismatches(bridge, intent)` compares the two everywhere.
* `check_document(doc, dialect=None) -> CheckResult`: the matrix, flagged edges, undrawn connections,
  mismatches; `to_json()` for the editor, `cell_json(src, dst)` for the hover of one cell (the analyser's
  explanation and, per side, isolation and the edges that allow or deny the pair), `explain(src, dst)`.
* Flow replay: `observations_from_document(flow_doc)`, `add_observed(cluster, flow_doc)`,
  `replay(observations, analysis) -> ReplayResult`, `replay_document(doc, dialect=None, observed=None)`.

The cluster of a drawing:
* every document namespace with its labels (`kubernetes.io/metadata.name` included);
* every workload node is a workload `ns/name[Owner]` (`[Workload]` without an owner) with its labels and named
  container ports, standing for all its replicas (one pod class);
* a selector node that is used (an enabled edge touches it, or it is locked) and whose selector matches no
  workload's pods gets one representative pod `ns/<name or id>[Selector]`, labelled to satisfy its pod
  selector and placed in its namespace (for a namespaceSelector, the first matching document namespace by
  name). Without it, a drawing made only of selectors would show no traffic at all. A selector that no pod can
  satisfy (`app=a` and `app NotIn [a]`) or whose namespaceSelector matches no namespace gets none;
* pods carry no IPs, so `settings.ipblockMatchesPods` changes nothing: an ipBlock never matches them.

The drawing's meaning (`Intent`), SEMANTICS.md 3 and 4 applied to nodes and edges rather than to YAML:
* a node covers pods (workload and selector nodes: pods of their namespace(s) that their selector picks;
  entities `all` and `cluster`: every pod), external addresses (CIDR nodes: cidr minus except; `world`,
  `world-ipv4`, `world-ipv6`, `all`), entity peers (`all`, `cluster`, the entity itself) and FQDN peers (an FQDN
  node by name or pattern; `world`/`all`/`0.0.0.0/0` without except, whose addresses include any name's);
* a pod is isolated for egress iff a subject node covering it is locked for egress or an enabled edge is
  enforced on such a node as "source" (likewise ingress and "target");
* for a pod and a peer, a direction allows: everything when not isolated, else the union of the ports of the
  enabled allow edges enforced on a node covering the pod whose other end covers the peer; then minus the ports
  of such deny edges (Cilium deny wins). Named ports resolve on the receiving pod; towards addresses they
  match nothing. An edge without ports allows all ports, or nothing of TCP/UDP/SCTP when it has only ICMP;
* pod to pod = egress of the source AND ingress of the destination; to or from an address, entity or FQDN only
  the pod side counts; a pod's own node (`host`) may always reach it (S6); a workload to itself is not listed.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .analysis import (
    ALL_CONNECTIONS,
    ENTITY_PEERS,
    NO_CONNECTIONS,
    PROTOCOLS,
    Analysis,
    ConnectionSet,
    EntityPeer,
    ExternalPeer,
    Options,
    Peer,
    WorkloadPeer,
    analyse,
    fqdn_matches,
)
from .compile import CompileResult, compile_document
from .document import NAMESPACE_NAME_LABEL, Document, Edge, Node
from .manifests import Cluster, ContainerPort, Namespace, PolicyObject, Workload, read_cluster
from .selectors import LabelSelector, Requirement, SelectorError, parse_selector
from .yamlio import objects_as_written

# ---------------------------------------------------------------------------------------------------------
# The cluster of a drawing

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


def policy_objects(result: CompileResult) -> list[PolicyObject]:
    """The compiled policies as the analyser reads them, with lines that point into the compiled YAML."""
    return read_cluster(objects_as_written(result.objects, f"<compiled {result.dialect} policies>")).policies


@dataclasses.dataclass
class Bridge:
    """A drawing, its compiled policies and what they allow over the drawing's cluster."""

    document: Document
    compiled: CompileResult
    cluster: DocumentCluster
    analysis: Analysis
    peers: dict[WorkloadPeer, BridgePod]

    @property
    def dialect(self) -> str:
        return self.compiled.dialect

    @property
    def pods(self) -> list[BridgePod]:
        return self.cluster.pods


def analyse_document(document: Document, dialect: str | None = None, *, observed: Document | None = None) -> Bridge:
    """Compile `document` and analyse the YAML over its cluster (plus the workloads `observed` flows name)."""
    compiled = compile_document(document, dialect)
    bridge_cluster = document_cluster(document, policy_objects(compiled))
    if observed is not None:
        bridge_cluster = DocumentCluster(add_observed(bridge_cluster.cluster, observed), bridge_cluster.pods)
    options = Options(ipblock_matches_pods=document.settings.ipblock_matches_pods)
    analysis = analyse(bridge_cluster.cluster, options)
    peers = {analysis.workload_peer(pod.workload): pod for pod in bridge_cluster.pods}
    return Bridge(document, compiled, bridge_cluster, analysis, peers)


# ---------------------------------------------------------------------------------------------------------
# The drawing's meaning

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


def _block(node: Node) -> list[tuple[int, int, int]]:
    """(version, first, last) intervals of a CIDR node: its cidr minus every except.

    Written apart from the analyser's own interval code on purpose: the intent is the independent reading that
    the analysed YAML is checked against."""
    try:
        network = ipaddress.ip_network(node.cidr or "", strict=False)
    except ValueError:
        return []
    pieces = [(network.version, int(network.network_address), int(network.broadcast_address))]
    for text in node.except_:
        try:
            hole = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue
        lo, hi = int(hole.network_address), int(hole.broadcast_address)
        cut = []
        for version, first, last in pieces:
            if version != hole.version or hi < first or lo > last:
                cut.append((version, first, last))
                continue
            if first < lo:
                cut.append((version, first, lo - 1))
            if hi < last:
                cut.append((version, hi + 1, last))
        pieces = cut
    return pieces


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
        self._blocks: dict[str, list[tuple[int, int, int]]] = {}
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
                    for pod in self.pod_set(node):
                        self.isolated[direction][pod] = True
                        self.locks[direction][pod].append(node.id)
        self.edges = sorted((edge for edge in document.edges if not edge.disabled), key=lambda e: e.id)
        for edge in self.edges:
            source, target = self.nodes[edge.source], self.nodes[edge.target]
            for side, direction, subject, peer in (
                ("source", "egress", source, target),
                ("target", "ingress", target, source),
            ):
                if side in edge.enforce and subject.is_subject:
                    rule = SideRule(edge, peer, self.pod_set(peer))
                    for pod in self.pod_set(subject):
                        self.isolated[direction][pod] = True
                        self.rules[direction][pod].append(rule)
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

    def block(self, node: Node) -> list[tuple[int, int, int]]:
        found = self._blocks.get(node.id)
        if found is None:
            found = self._blocks[node.id] = _block(node)
        return found

    def covers(self, node: Node, end: End) -> bool:
        """Whether `node` stands for (or includes) `end`."""
        if isinstance(end, int):
            return end in self.pod_set(node)
        kind = end[0]
        if kind == "ip":
            _, version, address = end
            if node.kind == "cidr":
                return any(v == version and lo <= address <= hi for v, lo, hi in self.block(node))
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
        if node.kind == "cidr" and not node.except_:
            return any(lo == 0 and hi == _TOP[v] for v, lo, hi in self.block(node))
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
            if node.kind == "cidr":
                for version, first, last in self.block(node):
                    points.setdefault(version, {0}).update(p for p in (first, last + 1) if p <= _TOP[version])
        return {version: sorted(found) for version, found in points.items()}


# ---------------------------------------------------------------------------------------------------------
# Analyser peers <-> intent ends


def peer_end(pod_index: dict[WorkloadPeer, int], peer: Peer) -> End:
    if isinstance(peer, WorkloadPeer):
        return pod_index[peer]
    if isinstance(peer, ExternalPeer):
        return ("ip", peer.version, peer.first)
    if isinstance(peer, EntityPeer):
        return ("entity", peer.name)
    return ("fqdn", peer.name)


def _pod_index(bridge: Bridge) -> dict[WorkloadPeer, int]:
    positions = {id(pod): i for i, pod in enumerate(bridge.pods)}
    return {peer: positions[id(pod)] for peer, pod in bridge.peers.items()}


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """A pair where the compiled YAML (analysed) and the drawing's meaning disagree."""

    src: str
    dst: str
    allowed: ConnectionSet
    intended: ConnectionSet

    def __str__(self) -> str:
        return f"{self.src} => {self.dst} : YAML allows {self.allowed}, drawing means {self.intended}"


def _address_peer(analysis: Analysis, version: int, address: int, as_source: bool) -> ExternalPeer | None:
    text = str(ipaddress.IPv4Address(address) if version == 4 else ipaddress.IPv6Address(address))
    try:
        return analysis.external_peer(text, as_source)
    except KeyError:
        return None


def mismatches(bridge: Bridge, intent: Intent) -> list[Mismatch]:
    """Every pair on which the analysed YAML and the drawing disagree, port by port.

    External addresses are compared at the first address of every piece of both partitions (the analyser's
    and the drawing's own), so that disagreement anywhere in the address space shows. Entities and FQDNs are
    those the YAML names; an entity or FQDN the drawing enforces but the YAML never names is a mismatch too.
    """
    analysis = bridge.analysis
    index = _pod_index(bridge)
    pods = sorted(index, key=str)
    found: list[Mismatch] = []

    def compare(src: Peer | str, dst: Peer | str, src_end: End, dst_end: End, allowed: ConnectionSet) -> None:
        intended = intent.between(src_end, dst_end)
        if allowed != intended:
            found.append(Mismatch(str(src), str(dst), allowed, intended))

    for src in pods:
        for dst in pods:
            if src != dst:
                compare(src, dst, index[src], index[dst], analysis.connection(src, dst))
    own = intent.cut_points()
    for as_source in (True, False):
        for version, pieces in analysis.external_ranges(as_source).items():
            points = sorted({peer.first for peer in pieces} | set(own.get(version, ())))
            for point in points:
                peer = _address_peer(analysis, version, point, as_source)
                assert peer is not None
                end: End = ("ip", version, point)
                label = f"{peer} at {ipaddress.ip_address(point)}"
                for pod in pods:
                    if as_source:
                        compare(label, pod, end, index[pod], analysis.connection(peer, pod))
                    else:
                        compare(pod, label, index[pod], end, analysis.connection(pod, peer))
    named: dict[tuple[str, str], Peer] = {("entity", name): peer for name, peer in analysis.entities().items()}
    named.update({("fqdn", peer.name): peer for peer in analysis.fqdns()})
    for end, peer in sorted(named.items()):
        for pod in pods:
            if end[0] == "entity":
                compare(peer, pod, end, index[pod], analysis.connection(peer, pod))
            compare(pod, peer, index[pod], end, analysis.connection(pod, peer))
    for end, node_id in sorted(_enforced_named_ends(intent)):
        if end not in named:
            found.append(Mismatch(f"node {node_id}", str(end[1]), NO_CONNECTIONS, ALL_CONNECTIONS))
    return found


def _enforced_named_ends(intent: Intent) -> set[tuple[tuple[str, str], str]]:
    """Entity peers and FQDNs that an enforced edge names (the YAML must name them too)."""
    ends: set[tuple[tuple[str, str], str]] = set()
    for pod in range(len(intent.pods)):
        for direction in ("egress", "ingress"):
            for rule in intent.rules[direction][pod]:
                peer = rule.peer
                if peer.kind == "entity" and peer.entity in ENTITY_PEERS:
                    ends.add((("entity", peer.entity), peer.id))
                elif peer.kind == "fqdn" and direction == "egress":
                    ends.add((("fqdn", peer.match_name or peer.match_pattern or ""), peer.id))
    return ends


# ---------------------------------------------------------------------------------------------------------
# The Check view


def status_of(connections: ConnectionSet) -> str:
    if connections.is_all:
        return "allowed"
    return "partial" if connections else "denied"


@dataclasses.dataclass(frozen=True)
class CheckPeer:
    """A row or column of the matrix: `name` is the connlist text, `node_ids` the drawing's nodes for it."""

    name: str
    kind: str  # workload, selector (a representative pod), external, entity, fqdn
    node_ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "nodeIds": list(self.node_ids)}


@dataclasses.dataclass(frozen=True)
class PairFinding:
    """One pair of a drawn edge whose drawn ports are not all effectively allowed."""

    src: str
    dst: str
    drawn: ConnectionSet
    allowed: ConnectionSet
    reasons: tuple[str, ...]
    explanation: tuple[str, ...]  # the analyser's reasons (first EXPLAINED_PAIRS pairs of an edge only)

    @property
    def missing(self) -> ConnectionSet:
        return self.drawn - self.allowed

    def to_json(self) -> dict[str, Any]:
        return {
            "src": self.src,
            "dst": self.dst,
            "drawn": str(self.drawn),
            "allowed": str(self.allowed),
            "missing": str(self.missing),
            "reasons": list(self.reasons),
            "explanation": list(self.explanation),
        }


@dataclasses.dataclass(frozen=True)
class EdgeFinding:
    """A drawn edge that is not (entirely) in effect, with each affected pair."""

    edge_id: str
    summary: str
    pairs: tuple[PairFinding, ...]

    def to_json(self) -> dict[str, Any]:
        return {"edgeId": self.edge_id, "summary": self.summary, "pairs": [p.to_json() for p in self.pairs]}


@dataclasses.dataclass(frozen=True)
class Undrawn:
    """Connections from `src` to each of `dsts` that are allowed though no edge between them says so."""

    src: str
    dsts: tuple[str, ...]
    connections: ConnectionSet
    via: tuple[str, ...]  # broader edges that allow them (a selector, `all`, a CIDR around the range, ...)
    open_sides: tuple[str, ...]  # "egress" (of the source) / "ingress" (of the destination) not isolated

    @property
    def reason(self) -> str:
        parts = []
        if "egress" in self.open_sides:
            parts.append(f"{self.src} is not isolated for egress")
        if "ingress" in self.open_sides:
            parts.append("the destination is not isolated for ingress")
        if self.via:
            many = len(self.via) > 1
            parts.append(f"edge{'s' if many else ''} {', '.join(self.via)} allow{'' if many else 's'} it")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "src": self.src,
            "dsts": list(self.dsts),
            "connections": str(self.connections),
            "via": list(self.via),
            "open": list(self.open_sides),
            "reason": self.reason,
        }


EXPLAINED_PAIRS = 20  # analyser explanations per flagged edge (the rest are on demand: CheckResult.explain)


@dataclasses.dataclass
class CheckResult:
    """The Check view of a drawing. Peers are sorted (workloads, then addresses, entities, FQDNs)."""

    dialect: str
    peers: list[CheckPeer]
    sources: list[int]  # rows: indices into peers
    destinations: list[int]  # columns
    matrix: list[list[ConnectionSet | None]]  # [row][column]; None for a workload to itself
    flagged: list[EdgeFinding]
    undrawn: list[Undrawn]
    mismatches: list[Mismatch]
    bridge: Bridge
    intent: Intent
    timings: dict[str, float]

    @property
    def ok(self) -> bool:
        return not self.flagged and not self.mismatches and self.bridge.compiled.ok

    def cell(self, src: str, dst: str) -> ConnectionSet | None:
        names = [peer.name for peer in self.peers]
        return self.matrix[self.sources.index(names.index(src))][self.destinations.index(names.index(dst))]

    def explain(self, src: str, dst: str) -> list[str]:
        """The analyser's reasons for one cell: which policies and rules allow or deny what."""
        analysis = self.bridge.analysis
        return str(analysis.explain(analysis.peer(src), analysis.peer(dst))).splitlines()

    def cell_json(self, src: str, dst: str) -> dict[str, Any]:
        """One cell for the hover: what is allowed, the analyser's explanation, and for each pod end whether it
        is isolated (locked on which nodes) and which edges allow or deny this pair there."""
        connections = self.cell(src, dst)
        if connections is None:
            raise KeyError(f"no cell for {src} => {dst}")
        analysis = self.bridge.analysis
        index = _pod_index(self.bridge)
        src_end, dst_end = peer_end(index, analysis.peer(src)), peer_end(index, analysis.peer(dst))
        data: dict[str, Any] = {
            "src": src,
            "dst": dst,
            "connections": str(connections),
            "status": status_of(connections),
            "explanation": self.explain(src, dst),
        }
        for direction, pod, other in (("egress", src_end, dst_end), ("ingress", dst_end, src_end)):
            if isinstance(pod, int):
                rules = [r for r in self.intent.rules[direction][pod] if self.intent.covers(r.peer, other)]
                data[direction] = {
                    "isolated": self.intent.isolated[direction][pod],
                    "lockedOn": sorted(set(self.intent.locks[direction][pod])),
                    "allowedBy": sorted({r.edge.id for r in rules if r.edge.action == "allow"}),
                    "deniedBy": sorted({r.edge.id for r in rules if r.edge.action == "deny"}),
                }
        return data

    def to_json(self, *, timings: bool = False) -> dict[str, Any]:
        """JSON for the editor. The matrix is given as indices into `connections` (each with its status)."""
        index: dict[ConnectionSet, int] = {}
        rows = [
            [None if conns is None else index.setdefault(conns, len(index)) for conns in row] for row in self.matrix
        ]
        data: dict[str, Any] = {
            "dialect": self.dialect,
            "ok": self.ok,
            "issues": [issue.to_json() for issue in self.bridge.compiled.issues],
            "warnings": list(self.bridge.analysis.warnings),
            "peers": [peer.to_json() for peer in self.peers],
            "sources": self.sources,
            "destinations": self.destinations,
            "connections": [{"text": str(conns), "status": status_of(conns)} for conns in index],
            "matrix": rows,
            "flaggedEdges": [finding.to_json() for finding in self.flagged],
            "undrawn": [entry.to_json() for entry in self.undrawn],
            "mismatches": [
                {"src": m.src, "dst": m.dst, "allowed": str(m.allowed), "intended": str(m.intended)}
                for m in self.mismatches
            ],
        }
        if timings:
            data["timings"] = dict(self.timings)
        return data


_KIND_ORDER = {"workload": 0, "selector": 0, "external": 1, "entity": 2, "fqdn": 3}


class _Checker:
    def __init__(self, bridge: Bridge, intent: Intent) -> None:
        self.bridge = bridge
        self.intent = intent
        self.analysis = bridge.analysis
        self.index = _pod_index(bridge)
        self.nodes = intent.nodes
        self._ends: dict[Peer, End] = {}
        self.pod_peers = {i: peer for peer, i in self.index.items()}
        self.issues_by_edge: dict[str, list[str]] = {}
        for issue in bridge.compiled.issues:
            if issue.edge_id is not None and issue.severity == "error":
                self.issues_by_edge.setdefault(issue.edge_id, []).append(issue.message)

    def peers(self) -> tuple[list[CheckPeer], list[Peer], list[int], list[int]]:
        workloads: list[Peer] = sorted(self.index, key=str)
        sources = self.analysis.external_sources()
        destinations = self.analysis.external_destinations()
        everything: dict[Peer, CheckPeer] = {}
        for peer in [*workloads, *sources, *destinations]:
            if peer not in everything:
                everything[peer] = self.describe(peer)
        ordered = sorted(everything, key=lambda p: (_KIND_ORDER[everything[p].kind], str(p)))
        position = {peer: i for i, peer in enumerate(ordered)}
        rows = sorted(position[p] for p in [*workloads, *sources])
        columns = sorted(position[p] for p in [*workloads, *destinations])
        return [everything[p] for p in ordered], ordered, rows, columns

    def describe(self, peer: Peer) -> CheckPeer:
        if isinstance(peer, WorkloadPeer):
            pod = self.bridge.peers[peer]
            return CheckPeer(str(peer), "selector" if pod.representative else "workload", (pod.node_id,))
        end = self.end(peer)
        kind = "external" if isinstance(peer, ExternalPeer) else "entity" if isinstance(peer, EntityPeer) else "fqdn"
        nodes = tuple(node.id for node in self.bridge.document.nodes if self.intent.stands_for(node, end))
        return CheckPeer(str(peer), kind, nodes)

    def end(self, peer: Peer) -> End:
        found = self._ends.get(peer)
        if found is None:
            found = self._ends[peer] = peer_end(self.index, peer)
        return found

    # -- drawn edges not in effect

    def edge_pairs(self, edge: Edge, sources: list[Peer], destinations: list[Peer]) -> Iterator[tuple[Peer, Peer]]:
        source, target = self.nodes[edge.source], self.nodes[edge.target]
        src_peers = [self.pod_peers[i] for i in sorted(self.intent.pod_set(source))]
        src_peers += [p for p in sources if not isinstance(p, WorkloadPeer) and self.intent.covers(source, self.end(p))]
        dst_peers = [self.pod_peers[i] for i in sorted(self.intent.pod_set(target))]
        dst_peers += [
            p for p in destinations if not isinstance(p, WorkloadPeer) and self.intent.covers(target, self.end(p))
        ]
        for src in src_peers:
            for dst in dst_peers:
                if src != dst and (isinstance(src, WorkloadPeer) or isinstance(dst, WorkloadPeer)):
                    yield src, dst

    def flagged(self, sources: list[Peer], destinations: list[Peer]) -> list[EdgeFinding]:
        findings = []
        for edge in self.intent.edges:
            pairs = []
            for src, dst in self.edge_pairs(edge, sources, destinations):
                src_end, dst_end = self.end(src), self.end(dst)
                drawn = edge_connections(edge, self.intent.receiver(dst_end))
                allowed = self.analysis.connection(src, dst)
                problem = (drawn & allowed) if edge.action == "deny" else (drawn - allowed)
                reasons = self.reasons(edge, src_end, dst_end, drawn, allowed)
                if problem or self.unresolved_ports(edge, dst_end):
                    explanation: tuple[str, ...] = ()
                    if len(pairs) < EXPLAINED_PAIRS:
                        explanation = tuple(str(self.analysis.explain(src, dst)).splitlines())
                    pairs.append(PairFinding(str(src), str(dst), drawn, allowed, tuple(reasons), explanation))
            errors = self.issues_by_edge.get(edge.id, [])
            if pairs or errors:
                findings.append(EdgeFinding(edge.id, self.summary(edge, pairs, errors), tuple(pairs)))
        return findings

    @staticmethod
    def summary(edge: Edge, pairs: list[PairFinding], errors: list[str]) -> str:
        if errors:
            return f"edge {edge.id} is not compiled in this dialect: {errors[0]}"
        if edge.action == "deny":
            return f"deny edge {edge.id} leaves {pairs[0].allowed & pairs[0].drawn} allowed ({len(pairs)} pair(s))"
        state = "not in effect" if all(not p.allowed & p.drawn for p in pairs) else "only partly in effect"
        more = f" (and {len(pairs) - 1} more pair(s))" if len(pairs) > 1 else ""
        return f"edge {edge.id} is {state}: {pairs[0].reasons[0]}{more}"

    def unresolved_ports(self, edge: Edge, dst: End) -> list[str]:
        names = sorted({str(p.port) for p in edge.ports if isinstance(p.port, str)})
        receiver = self.intent.receiver(dst) or ()
        return [name for name in names if not any(c.name == name for c in receiver)]

    def reasons(self, edge: Edge, src: End, dst: End, drawn: ConnectionSet, allowed: ConnectionSet) -> list[str]:
        intent = self.intent
        reasons = [f"not compiled: {message}" for message in self.issues_by_edge.get(edge.id, [])]
        name = self.analysis_name
        for port in self.unresolved_ports(edge, dst):
            reasons.append(f"named port {port!r} is not a container port of {name(dst)}, so it allows nothing there")
        if edge.action == "deny":
            if drawn & allowed:
                reasons.append(f"{drawn & allowed} is still allowed")
            return reasons
        for direction, pod, other, side in (("egress", src, dst, "source"), ("ingress", dst, src, "target")):
            if not isinstance(pod, int):
                continue
            if direction == "ingress" and src == ("entity", "host"):
                continue
            allow, deny = intent.side_parts(direction, pod, other)
            effective = (allow if intent.isolated[direction][pod] else ALL_CONNECTIONS) - deny
            short = drawn - effective
            if not short:
                continue
            subject = self.nodes[edge.source if side == "source" else edge.target]
            enforced_here = side in edge.enforce and subject.is_subject and pod in intent.pod_set(subject)
            denied_by = sorted(
                {
                    r.edge.id
                    for r in intent.rules[direction][pod]
                    if r.edge.action == "deny" and intent.covers(r.peer, other)
                }
            )
            if deny & drawn:
                reasons.append(
                    f"{deny & drawn} denied by deny edge{'s' if len(denied_by) > 1 else ''} {', '.join(denied_by)}"
                )
            if not enforced_here and short - deny:
                why = self.isolation(direction, pod)
                others = allow & drawn
                also = f"; its other {direction} edges allow {others} of it" if others else ""
                reasons.append(
                    f"{name(pod)} is isolated for {direction} ({why}) and edge {edge.id} is not enforced on the "
                    f"{side}{also}: enforce it on the {side} too"
                )
        if drawn - allowed and not reasons:
            reasons.append("the compiled policies do not allow it although the drawing does (see mismatches)")
        return reasons

    def analysis_name(self, end: End) -> str:
        if isinstance(end, int):
            return str(self.analysis.workload_peer(self.intent.pods[end].workload))
        if end[0] == "ip":
            return str(ipaddress.ip_address(end[2]))
        return str(end[1])

    def isolation(self, direction: str, pod: int) -> str:
        locks = self.intent.locks[direction][pod]
        edges = sorted({r.edge.id for r in self.intent.rules[direction][pod]})
        parts = []
        if locks:
            parts.append(f"locked on node{'s' if len(locks) > 1 else ''} {', '.join(sorted(set(locks)))}")
        if edges:
            shown = ", ".join(edges[:5]) + (f" and {len(edges) - 5} more" if len(edges) > 5 else "")
            parts.append(f"by edge{'s' if len(edges) > 1 else ''} {shown}")
        return " and ".join(parts)

    # -- allowed connections nobody drew

    def undrawn(
        self, sources: list[Peer], destinations: list[Peer], matrix: list[list[ConnectionSet | None]]
    ) -> list[Undrawn]:
        groups: dict[tuple[Any, ...], list[str]] = {}
        for src, row in zip(sources, matrix, strict=True):
            src_end = self.end(src)
            for dst, allowed in zip(destinations, row, strict=True):
                if not allowed:
                    continue
                dst_end = self.end(dst)
                extra = allowed - self.intent.drawn(src_end, dst_end)
                if not extra:
                    continue
                via, open_sides = self.sources_of(src_end, dst_end)
                groups.setdefault((str(src), extra, via, open_sides), []).append(str(dst))
        return [
            Undrawn(src, tuple(dsts), conns, via, open_sides)
            for (src, conns, via, open_sides), dsts in sorted(
                groups.items(), key=lambda item: (item[0][0], str(item[0][1]), item[0][2], item[0][3])
            )
        ]

    def sources_of(self, src: End, dst: End) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The broader edges (not drawn between exactly these ends) that allow src -> dst, and the sides that
        are not isolated."""
        intent = self.intent
        via: set[str] = set()
        open_sides = []
        for direction, pod, other in (("egress", src, dst), ("ingress", dst, src)):
            if not isinstance(pod, int):
                continue
            if not intent.isolated[direction][pod]:
                open_sides.append(direction)
            for rule in intent.rules[direction][pod]:
                edge = rule.edge
                direct = intent.stands_for(self.nodes[edge.source], src) and intent.stands_for(
                    self.nodes[edge.target], dst
                )
                if edge.action == "allow" and not direct and intent.covers(rule.peer, other):
                    via.add(edge.id)
        return tuple(sorted(via)), tuple(open_sides)


def check_document(document: Document, dialect: str | None = None) -> CheckResult:
    """Compile, analyse and compare a drawing for the editor's Check view."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    bridge = analyse_document(document, dialect)
    timings["compile_and_analyse"] = time.perf_counter() - start
    start = time.perf_counter()
    intent = Intent(document, bridge.pods)
    checker = _Checker(bridge, intent)
    peers, ordered, rows, columns = checker.peers()
    # The analysis' connections placed by position once, so that no cell hashes its peers again.
    row_of = {ordered[row]: i for i, row in enumerate(rows)}
    column_of = {ordered[column]: j for j, column in enumerate(columns)}
    # A cell for every pair with a pod at one end at least, except a workload to itself.
    pods = [isinstance(peer, WorkloadPeer) for peer in ordered]
    matrix: list[list[ConnectionSet | None]] = [
        [NO_CONNECTIONS if row != column and (pods[row] or pods[column]) else None for column in columns]
        for row in rows
    ]
    for (src, dst), conns in bridge.analysis.connections.items():
        matrix[row_of[src]][column_of[dst]] = conns
    found: list[Mismatch] = []
    sources = [ordered[i] for i in rows]
    destinations = [ordered[i] for i in columns]
    ends = [checker.end(dst) for dst in destinations]
    for src, row in zip(sources, matrix, strict=True):
        src_end = checker.end(src)
        for dst, dst_end, allowed in zip(destinations, ends, row, strict=True):
            if allowed is not None and allowed != (intended := intent.between(src_end, dst_end)):
                found.append(Mismatch(str(src), str(dst), allowed, intended))
    timings["matrix"] = time.perf_counter() - start
    start = time.perf_counter()
    flagged = checker.flagged(sources, destinations)
    timings["flagged"] = time.perf_counter() - start
    start = time.perf_counter()
    undrawn = checker.undrawn(sources, destinations, matrix)
    timings["undrawn"] = time.perf_counter() - start
    return CheckResult(bridge.dialect, peers, rows, columns, matrix, flagged, undrawn, found, bridge, intent, timings)


# ---------------------------------------------------------------------------------------------------------
# Flow replay

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
        name = node.cidr if node.kind == "cidr" else node.entity if node.kind == "entity" else None
        name = name or node.match_name or node.match_pattern or node.id
        return cls(node.kind, name, None, None, node.id)

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
            protocol = "ICMPv6" if icmp.get("family") == "IPv6" else "ICMPv4"
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


@dataclasses.dataclass(frozen=True)
class Replayed:
    """An observation judged against policies: `verdict` is allowed, denied or undecided."""

    observation: Observation
    verdict: str
    src: str
    dst: str
    reason: str = ""
    explanation: tuple[str, ...] = ()

    @property
    def breaks(self) -> bool:
        """Traffic that flowed when observed and that the policies would now deny."""
        return self.verdict == "denied" and self.observation.flowed

    @property
    def status(self) -> str:
        if self.verdict == "denied":
            return "DENIED, would break" if self.observation.flowed else "denied, as when observed"
        if self.verdict == "undecided":
            return f"undecided: {self.reason}"
        return "allowed"

    def line(self) -> str:
        observation = self.observation
        port = "" if observation.port is None else f" {observation.port}"
        flows = f"{observation.count} flow{'s' if observation.count != 1 else ''}"
        text = f"{self.src} => {self.dst} : {observation.protocol}{port} : {self.status} ({flows})"
        return text + (f" - {self.reason}" if self.verdict == "denied" and self.reason else "")

    def to_json(self) -> dict[str, Any]:
        observation = self.observation
        return {
            "src": self.src,
            "dst": self.dst,
            "protocol": observation.protocol,
            "port": observation.port,
            "count": observation.count,
            "verdicts": dict(observation.verdicts),
            "edgeId": observation.edge_id,
            "verdict": self.verdict,
            "breaks": self.breaks,
            "reason": self.reason,
        }


@dataclasses.dataclass
class ReplayResult:
    connections: list[Replayed]

    @property
    def breaking(self) -> list[Replayed]:
        return [c for c in self.connections if c.breaks]

    def count(self, verdict: str) -> int:
        return sum(1 for c in self.connections if c.verdict == verdict)

    def summary(self) -> str:
        breaking = self.breaking
        flows = sum(c.observation.count for c in breaking)
        still = sum(1 for c in self.connections if c.verdict == "denied" and not c.breaks)
        head = (
            f"this change would break {len(breaking)} observed connection{'s' if len(breaking) != 1 else ''} "
            f"({flows} flow{'s' if flows != 1 else ''})"
            if breaking
            else "no observed connection would break"
        )
        return (
            f"{head}; {len(self.connections)} observed: {self.count('allowed')} allowed, {len(breaking)} would "
            f"break, {still} denied as when observed, {self.count('undecided')} undecided"
        )

    def lines(self) -> list[str]:
        return [c.line() for c in self.connections]

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "breaking": len(self.breaking),
            "allowed": self.count("allowed"),
            "denied": self.count("denied"),
            "undecided": self.count("undecided"),
            "connections": [c.to_json() for c in self.connections],
        }


class _Replayer:
    """Finds the analyser's peers for observed ends and judges each observation."""

    def __init__(self, analysis: Analysis, explain: bool) -> None:
        self.analysis = analysis
        self.explain = explain
        cluster = analysis.cluster
        self.namespace_labels = {name: ns.labels for name, ns in cluster.namespaces.items()}
        self.by_name: dict[tuple[str, str], list[Workload]] = {}
        for workload in cluster.workloads:
            self.by_name.setdefault((workload.namespace, workload.name), []).append(workload)
        self.fqdns = analysis.fqdns()
        self.entities = analysis.entities()

    def peers(self, endpoint: Endpoint, as_source: bool) -> tuple[list[Peer], str]:
        """The analyser's peers for an observed end (all of them must agree), or [] and why."""
        analysis = self.analysis
        if endpoint.kind == "workload":
            found = self.by_name.get((endpoint.namespace or "", endpoint.name), [])
            same_kind = [w for w in found if w.kind == endpoint.owner]
            return [analysis.workload_peer(w) for w in same_kind or found], "no such workload"
        if endpoint.kind == "selector":
            workloads = list(_workloads_in_scope(analysis.cluster, endpoint, self.namespace_labels))
            return [analysis.workload_peer(w) for w in workloads], "no pod matches its selector"
        if endpoint.kind == "cidr":
            network = ipaddress.ip_network(endpoint.name, strict=False)
            return self.ranges(network.version, int(network.network_address), int(network.broadcast_address), as_source)
        if endpoint.kind == "entity":
            versions = _WORLD_VERSIONS.get(endpoint.name)
            if versions is not None:
                peers: list[Peer] = []
                for version in versions:
                    peers.extend(self.ranges(version, 0, _TOP[version], as_source)[0])
                return peers, "no rule names IP addresses"
            if endpoint.name in self.entities:
                return [self.entities[endpoint.name]], ""
            return [], f"no policy names the entity {endpoint.name!r}, so the analysis has no place for it"
        if endpoint.kind == "fqdn" and not as_source:
            named = [p for p in self.fqdns if p.name == endpoint.name or fqdn_matches(p.name, endpoint.name)]
            if named:
                return named, ""
            # A name no toFQDNs rule mentions is some address of the world.
            peers = []
            for version in (4, 6):
                peers.extend(self.ranges(version, 0, _TOP[version], as_source)[0])
            return peers, "no rule names IP addresses"
        return [], f"the analysis does not model {endpoint.kind} ends"

    def ranges(self, version: int, first: int, last: int, as_source: bool) -> tuple[list[Peer], str]:
        pieces: list[Peer] = []
        address = first
        while address <= last:
            peer = _address_peer(self.analysis, version, address, as_source)
            if peer is None:
                return [], f"no rule names IPv{version} addresses"
            pieces.append(peer)
            address = peer.last + 1
        return pieces, ""

    def isolated(self, pod: WorkloadPeer, direction: str) -> bool:
        explanation = self.analysis.explain(pod, pod)
        side = explanation.ingress if direction == "ingress" else explanation.egress
        return side is None or side.isolated

    def connection(self, src: Peer, dst: Peer) -> ConnectionSet:
        if src != dst:
            return self.analysis.connection(src, dst)
        # Replicas of one workload talking to each other: the connlist leaves the pair out, the policies do not.
        explanation = self.analysis.explain(src, dst)
        egress = explanation.egress.allowed if explanation.egress is not None else ALL_CONNECTIONS
        ingress = explanation.ingress.allowed if explanation.ingress is not None else ALL_CONNECTIONS
        return egress & ingress

    def judge(self, observation: Observation) -> Replayed:
        sources, why_source = self.peers(observation.source, True)
        targets, why_target = self.peers(observation.target, False)
        src_text, dst_text = _end_text(observation.source, sources), _end_text(observation.target, targets)
        if observation.protocol not in PROTOCOLS:
            reason = (
                "ICMP is not analysed (only TCP, UDP and SCTP)"
                if observation.protocol.startswith("ICMP")
                else ("the observation names no protocol and port")
            )
            return Replayed(observation, "undecided", src_text, dst_text, reason)
        if observation.source.kind == "entity" and observation.source.name == "host" and not sources:
            return Replayed(observation, "allowed", src_text, dst_text, "a pod's own node may always reach it")
        if not sources or not targets:
            missing, why = (observation.source, why_source) if not sources else (observation.target, why_target)
            pods = [p for p in (sources or targets) if isinstance(p, WorkloadPeer)]
            direction = "ingress" if not sources else "egress"
            if missing.kind == "entity" and pods and not any(self.isolated(p, direction) for p in pods):
                reason = f"{missing} is named by no policy, and {pods[0]} is not isolated for {direction}"
                return Replayed(observation, "allowed", src_text, dst_text, reason)
            return Replayed(observation, "undecided", src_text, dst_text, f"{missing}: {why}")
        verdicts = {}
        for src in sources:
            for dst in targets:
                conns = self.connection(src, dst)
                verdicts[(src, dst)] = (
                    conns.allows(observation.protocol, observation.port or 0)
                    if (observation.port is not None)
                    else bool(conns)
                )
        if all(verdicts.values()):
            return Replayed(observation, "allowed", src_text, dst_text)
        if any(verdicts.values()):
            return Replayed(
                observation, "undecided", src_text, dst_text, "allowed for some of its pods or addresses only"
            )
        src, dst = next(iter(verdicts))
        explanation = self.analysis.explain(src, dst)
        sides = [
            f"{side.direction.lower()} of {side.pod}"
            for side in (explanation.egress, explanation.ingress)
            if side is not None and not side.allowed.allows(observation.protocol, observation.port or 0)
        ]
        reason = "denied by the " + " and the ".join(sides) if sides else ""
        lines = tuple(str(explanation).splitlines()) if self.explain else ()
        return Replayed(observation, "denied", src_text, dst_text, reason, lines)


def _end_text(endpoint: Endpoint, peers: list[Peer]) -> str:
    """A pod end as the connlist prints its workload; an address, entity or name as observed (the analyser's
    range around it may be much wider)."""
    if endpoint.kind in ("workload", "selector") and len(peers) == 1:
        return str(peers[0])
    return str(endpoint)


def replay(observations: Iterable[Observation], analysis: Analysis, *, explain: bool = False) -> ReplayResult:
    """Mark every observed connection allowed, denied or undecided under the analysed policies.

    The analysis must know the observed workloads: build its cluster with `add_observed` (or analyse a
    document that holds them). With `explain`, denied connections carry the analyser's explanation.
    """
    replayer = _Replayer(analysis, explain)
    judged = [replayer.judge(observation) for observation in observations]
    judged.sort(key=lambda c: (c.src, c.dst, c.observation.protocol, c.observation.port or 0))
    return ReplayResult(judged)


def replay_document(document: Document, dialect: str | None = None, observed: Document | None = None) -> ReplayResult:
    """Before saving: which observed connections (of `observed`, default the document's own observed edges) the
    document's compiled policies would deny."""
    bridge = analyse_document(document, dialect, observed=observed)
    return replay(observations_from_document(observed if observed is not None else document), bridge.analysis)
