"""The nodes and edges of the document a flow import makes or extends, found by what they stand for.

A node is matched by id or by meaning (the same workload, CIDR, entity... under another id), so importing
into a drawing reuses its nodes; an edge is matched by (source, target, single port), so a re-import adds
counts to it instead of drawing it twice.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec

from ..document import SUBJECT_KINDS, Document, Edge, Node, Observed, Port, safe_id
from .model import normalize_time

_NO_LABELS_NOTE = "This workload's pods have no labels, so its policies select every pod in its namespace."
_UNKNOWN_LABELS_NOTE = (
    "The flow log did not record this workload's labels, so it is not locked and policies select it "
    "by no label (every pod in its namespace): add its labels."
)


class NodeTable:
    """The document's nodes, found by id or by what they stand for, and the ones this import touched."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.by_id = document.node_map()
        self._by_meaning: dict[tuple[Any, ...], str] = {}
        for node in document.nodes:
            self._by_meaning.setdefault(meaning_of(node), node.id)
        self.created: set[str] = set()
        self.touched: set[str] = set()
        self.touched_workloads: set[str] = set()
        self.labels_known: dict[str, bool] = {}
        self._namespaces: set[str] = set()  # namespaces the document is known to have

    def find_workload(self, namespace: str, name: str) -> str | None:
        return self._by_meaning.get(("workload", namespace, name))

    def _add(self, node: Node, meaning: tuple[Any, ...]) -> str:
        """Add `node` (whose meaning_of is `meaning`), or return the id of the node that already means it."""
        existing = self._by_meaning.get(meaning)
        if existing is None and node.id in self.by_id:
            existing = node.id if meaning_of(self.by_id[node.id]) == meaning else None
            if existing is None:
                node.id = safe_id(f"{node.id}+{len(self.by_id)}")
                meaning = meaning_of(node)
        if existing is not None:
            self.touched.add(existing)
            return existing
        self.document.nodes.append(node)
        self.by_id[node.id] = node
        self._by_meaning[meaning] = node.id
        self.created.add(node.id)
        self.touched.add(node.id)
        return node.id

    def workload(
        self,
        namespace: str,
        name: str,
        labels: dict[str, str] | None,
        owner_kind: str | None,
        ns_labels: dict[str, str],
    ) -> str:
        if ns_labels or namespace not in self._namespaces:  # else ensure_namespace would change nothing
            self._namespaces.add(self.document.ensure_namespace(namespace, ns_labels).name)
        # Positional, every field a workload import sets: a graph of bare pods makes 100,000 of these.
        node = Node(safe_id(f"{namespace}/{name}"), "workload", name, namespace, owner_kind, dict(labels or {}))
        if labels == {}:
            node.note = _NO_LABELS_NOTE
        elif labels is None:
            node.note = _UNKNOWN_LABELS_NOTE
        result = self._add(node, ("workload", namespace, name))
        self.touched_workloads.add(result)
        if labels is not None:
            self.labels_known[result] = True
        else:
            self.labels_known.setdefault(result, False)
        return result

    def selector(self, namespace: str, service: str, selector: dict[str, str]) -> str:
        self.document.ensure_namespace(namespace)
        node = Node(
            id=safe_id(f"{namespace}/svc:{service}"),
            kind="selector",
            name=service,
            namespace=namespace,
            pod_selector={"matchLabels": dict(sorted(selector.items()))},
        )
        return self._add(node, meaning_of(node))

    def entity(self, entity: str) -> str:
        return self._add(Node(id=f"entity:{entity}", kind="entity", entity=entity), ("entity", entity))

    def cidr(self, cidr: str) -> str:
        node = Node(id=safe_id(f"cidr:{cidr}"), kind="cidr", cidr=cidr)
        return self._add(node, meaning_of(node))

    def fqdn(self, name: str) -> str:
        node = Node(id=safe_id(f"fqdn:{name}"), kind="fqdn", match_name=name)
        return self._add(node, meaning_of(node))


def meaning_of(node: Node) -> tuple[Any, ...]:
    """What makes two nodes the same thing, whatever their ids."""
    if node.kind == "workload":
        return ("workload", node.namespace, node.name)
    if node.kind == "selector":
        return ("selector", node.namespace, msgspec.json.encode(node.pod_selector or {}, order="sorted"))
    if node.kind == "entity":
        return ("entity", node.entity)
    if node.kind == "cidr":
        return ("cidr", node.cidr, tuple(node.except_))
    if node.kind == "fqdn":
        return ("fqdn", node.match_name, node.match_pattern)
    return (node.kind, node.id)


class EdgeTable:
    """The document's edges, matched by (source, target, single port) so that a re-import adds counts.

    Only the edges the document had are matched: `add` is called once per (source, target, protocol, port)."""

    def __init__(self, document: Document, nodes: NodeTable) -> None:
        self.document = document
        self.nodes = nodes
        self._taken = {edge.id for edge in document.edges}
        self._next = len(document.edges) + 1
        self._existing: dict[tuple[str, str, str, int], list[Edge]] = {}
        for edge in document.edges:
            if len(edge.ports) == 1 and not edge.icmps and isinstance(number := edge.ports[0].port, int):
                key = (edge.source, edge.target, edge.ports[0].protocol, number or 0)
                self._existing.setdefault(key, []).append(edge)
            elif len(edge.icmps) == 1 and not edge.ports:
                icmp = edge.icmps[0]
                protocol = "ICMPv6" if icmp.get("family") == "IPv6" else "ICMPv4"
                if isinstance(icmp.get("type"), int):
                    self._existing.setdefault((edge.source, edge.target, protocol, icmp["type"]), []).append(edge)
        # The nodes that enforce an edge on their side (see add): locked subjects. Made after the locks are set.
        subjects = [node for node in document.nodes if node.kind in SUBJECT_KINDS]
        self._egress_locked = {node.id for node in subjects if node.isolate.egress}
        self._ingress_locked = {node.id for node in subjects if node.isolate.ingress}

    def _new_id(self) -> str:
        # New ids only grow, so only the document's own ids can be in the way.
        number, taken = self._next, self._taken
        if taken:
            while f"e{number}" in taken:
                number += 1
        self._next = number + 1
        return f"e{number}"

    def add(
        self,
        source: str,
        target: str,
        protocol: str,
        port: int,
        observed: Observed,
        denied: bool,
        l7: dict[str, Any] | None,
    ) -> None:
        """Add counts to the edge the document has for this (source, target, protocol, port), or a new edge;
        `denied`: seen only as policy denials (the new edge is shown, disabled)."""
        if self._existing:
            existing = self._existing.get((source, target, protocol, port))
            if existing:
                for edge in existing:
                    _add_observed(edge, dataclasses.replace(observed, verdicts=dict(observed.verdicts)))
                    # New requests join rules of their kind; an edge without L7 rules is never narrowed to them.
                    if l7 and edge.l7:
                        edge.l7 = _merge_l7(edge.l7, {kind: rules for kind, rules in l7.items() if kind in edge.l7})
                return
        # A side enforces the edge only where that node is locked: the compiler isolates any subject an
        # enabled edge is enforced on, and a peer (kube-dns, a service of another team) must not be locked
        # to the few clients a log happened to show.
        from_source = source in self._egress_locked
        on_target = target in self._ingress_locked
        dns_ingress = on_target and bool(l7 and "dns" in l7)
        if from_source:
            enforce = ["source"] if dns_ingress or not on_target else ["source", "target"]
        else:
            enforce = [] if dns_ingress or not on_target else ["target"]
        note = "Observed only as denied by today's policies; enable it to allow this traffic." if denied else None
        edge = self._new_edge(source, target, protocol, port, l7, enforce, denied, observed, note)
        if dns_ingress:
            # Cilium applies DNS rules on egress only, so the DNS server's side admits the traffic at L4 in
            # an edge of its own.
            twin_observed = dataclasses.replace(observed, verdicts=dict(observed.verdicts))
            note = f"The DNS server's side of edge {edge.id} (Cilium applies DNS rules on egress only)."
            self._new_edge(source, target, protocol, port, None, ["target"], denied, twin_observed, note)

    def _new_edge(
        self,
        source: str,
        target: str,
        protocol: str,
        port: int,
        l7: dict[str, Any] | None,
        enforce: list[str],
        disabled: bool,
        observed: Observed,
        note: str | None,
    ) -> Edge:
        if protocol.startswith("ICMP"):
            ports, icmps = [], [{"family": "IPv6" if protocol == "ICMPv6" else "IPv4", "type": port}]
        else:
            ports, icmps = [Port(protocol, port)], []
        # Every field positionally, in Edge's order: a graph of bare pods makes 100,000s of edges.
        edge = Edge(self._new_id(), source, target, ports, icmps, l7, [], enforce, "allow", disabled, observed, note)
        self.document.edges.append(edge)
        return edge


def _add_observed(edge: Edge, observed: Observed) -> None:
    if edge.observed is None:
        edge.observed = observed
        return
    old = edge.observed
    old.count += observed.count
    firsts = [time for time in (old.first_seen, observed.first_seen) if time]
    lasts = [time for time in (old.last_seen, observed.last_seen) if time]
    old.first_seen = min(firsts, key=normalize_time) if firsts else None
    old.last_seen = max(lasts, key=normalize_time) if lasts else None
    for verdict, count in observed.verdicts.items():
        old.verdicts[verdict] = old.verdicts.get(verdict, 0) + count


def _merge_l7(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old or {})
    for kind, rules in new.items():
        present = list(merged.get(kind, []))
        present.extend(rule for rule in rules if rule not in present)
        merged[kind] = present
    return merged
