"""The nodes and edges of the document a flow import makes or extends, found by what they stand for.

A node is matched by id or by meaning (the same workload, CIDR, entity... under another id), so importing
into a drawing reuses its nodes; an edge is matched by (source, target, single port), so a re-import adds
counts to it instead of drawing it twice.

What an import adds is first a row: a msgspec Struct that encodes, field for field, as the Node's or Edge's
to_json() would. A graph of bare pods has 100,000s of each, so `FlowGraph.dump_chunks` writes the JSON
straight from the rows, and the Node and Edge objects are made only when the document itself is asked for.
(When the compiled build made the graph, a FlowGraph holds its CompactGraph instead: see _graphc.pyx.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from ..document import Document, Edge, Isolation, Node, Observed, Port, icmp_entry, icmp_protocol, json_chunks, safe_id
from .model import normalize_time

_NO_LABELS_NOTE = "This workload's pods have no labels, so its policies select every pod in its namespace."
_UNKNOWN_LABELS_NOTE = (
    "The flow log did not record this workload's labels, so it is not locked and policies select it "
    "by no label (every pod in its namespace): add its labels."
)
_DENIED_NOTE = "Observed only as denied by today's policies; enable it to allow this traffic."
# The enforce lists an edge can have, shared by the rows (an Edge gets a copy of its own).
_BOTH: list[str] = ["source", "target"]
_SOURCE: list[str] = ["source"]
_TARGET: list[str] = ["target"]
_NEITHER: list[str] = []
_NO_ICMPS: list[dict[str, Any]] = []  # shared by the rows of port edges: read only


# What a workload is made of: namespace, name, selector labels (None: unknown), owner kind, namespace labels.
WorkloadSpec = tuple[str, str, dict[str, str] | None, str | None, dict[str, str]]


class IsolateRow(msgspec.Struct, gc=False):
    ingress: bool = False
    egress: bool = False


class NodeRow(msgspec.Struct, omit_defaults=True, gc=False):
    """A node this import made, as Node.to_json() writes it (labels sorted; only the fields an import sets)."""

    id: str
    kind: str
    name: str = ""
    namespace: str | None = None
    owner: str | None = None
    labels: dict[str, str] = {}
    pod_selector: dict[str, Any] | None = msgspec.field(default=None, name="podSelector")
    cidr: str | None = None
    entity: str | None = None
    match_name: str | None = msgspec.field(default=None, name="matchName")
    note: str | None = None
    isolate: IsolateRow | None = None  # subjects only

    def node(self) -> Node:
        isolate = self.isolate
        return Node(
            self.id,
            self.kind,
            self.name,
            self.namespace,
            self.owner,
            dict(self.labels),
            pod_selector=self.pod_selector,
            cidr=self.cidr,
            entity=self.entity,
            match_name=self.match_name,
            note=self.note,
            isolate=Isolation(isolate.ingress, isolate.egress) if isolate is not None else Isolation(),
        )


class ObservedRow(msgspec.Struct, omit_defaults=True, gc=False):
    """Observed.to_json() of an edge this import made (verdicts sorted)."""

    count: int
    first_seen: str | None = msgspec.field(default=None, name="firstSeen")
    last_seen: str | None = msgspec.field(default=None, name="lastSeen")
    verdicts: dict[str, int] = {}

    def observed(self) -> Observed:
        return Observed(self.count, self.first_seen, self.last_seen, dict(self.verdicts))


class EdgeRow(msgspec.Struct, omit_defaults=True, gc=False):
    """An edge this import made, as Edge.to_json() writes it (ports shared between rows: read only)."""

    id: str
    source: str
    target: str
    ports: list[dict[str, Any]]
    enforce: list[str]
    icmps: list[dict[str, Any]] = []
    l7: dict[str, Any] | None = None
    disabled: bool = False
    observed: ObservedRow | None = None
    note: str | None = None

    def edge(self) -> Edge:
        ports = [Port(port["protocol"], port["port"]) for port in self.ports]
        observed = None if self.observed is None else self.observed.observed()
        icmps = [dict(icmp) for icmp in self.icmps]
        return Edge(
            self.id, self.source, self.target, ports, icmps, self.l7, [], list(self.enforce), "allow", self.disabled,
            observed, self.note,
        )  # fmt: skip


class NodeTable:
    """The document's nodes, found by id or by what they stand for, and the rows of the ones this import made."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.by_id: dict[str, Node | NodeRow] = dict(document.node_map())
        self._by_meaning: dict[tuple[Any, ...], str] = {}
        for node in document.nodes:
            self._by_meaning.setdefault(meaning_of(node), node.id)
        self.rows: list[NodeRow] = []  # the nodes this import made, in order
        # The document's own nodes this import found again (each made node counts as touched too).
        self.touched: set[str] = set()
        self.touched_workloads: set[str] = set()
        self.labels_unknown: set[str] = set()  # made workloads whose labels no flow gave: never locked
        self._namespaces: set[str] = set()  # namespaces the document is known to have

    def find_workload(self, namespace: str, name: str) -> str | None:
        return self._by_meaning.get(("workload", namespace, name))

    def _add(self, row: NodeRow, meaning: tuple[Any, ...]) -> str:
        """Add `row` (whose node means `meaning`), or return the id of the node that already means it."""
        existing = self._by_meaning.get(meaning)
        if existing is None and row.id in self.by_id:
            found = self.by_id[row.id]
            existing = row.id if isinstance(found, Node) and meaning_of(found) == meaning else None
            if existing is None:
                row.id = safe_id(f"{row.id}+{len(self.by_id)}")
        if existing is not None:
            if isinstance(self.by_id[existing], Node):
                self.touched.add(existing)
            return existing
        self.rows.append(row)
        self.by_id[row.id] = row
        self._by_meaning[meaning] = row.id
        return row.id

    def counts(self) -> tuple[int, int]:
        """(workloads, nodes) this import made or found again."""
        made_workloads = sum(row.kind == "workload" for row in self.rows)
        return made_workloads + len(self.touched_workloads), len(self.rows) + len(self.touched)

    def workload(
        self,
        namespace: str,
        name: str,
        labels: dict[str, str] | None,
        owner_kind: str | None,
        ns_labels: dict[str, str],
    ) -> str:
        """The id of the workload `name` in `namespace`, made with these selector labels (None: unknown), owner
        kind and namespace labels unless the document or this import has it."""
        return self.workloads([(namespace, name, labels, owner_kind, ns_labels)])[0]

    def workloads(self, specs: Iterable[WorkloadSpec]) -> list[str]:
        """workload() of each spec, in order: a graph of bare pods makes 100,000 of them."""
        ids: list[str] = []
        by_meaning, by_id, rows, namespaces = self._by_meaning, self.by_id, self.rows, self._namespaces
        for namespace, name, labels, owner_kind, ns_labels in specs:
            if ns_labels or namespace not in namespaces:  # else ensure_namespace would change nothing
                namespaces.add(self.document.ensure_namespace(namespace, ns_labels).name)
            if labels:
                # one label (a bare pod's `run`): the pod's own dict, read only from here on
                row_labels = dict(sorted(labels.items())) if len(labels) > 1 else labels
                note = None
            else:
                row_labels = {}
                note = _NO_LABELS_NOTE if labels is not None else _UNKNOWN_LABELS_NOTE
            node_id = safe_id(f"{namespace}/{name}")
            row = NodeRow(node_id, "workload", name, namespace, owner_kind, row_labels, note=note, isolate=IsolateRow())
            meaning = ("workload", namespace, name)
            if meaning not in by_meaning and node_id not in by_id:  # the usual case: new, under its own id
                rows.append(row)
                by_id[node_id] = row
                by_meaning[meaning] = node_id
                if labels is None:
                    self.labels_unknown.add(node_id)
                ids.append(node_id)
                continue
            result = self._add(row, meaning)
            if rows and rows[-1] is row:  # made now, under another id
                if labels is None:
                    self.labels_unknown.add(result)
            elif isinstance(by_id[result], Node):
                self.touched_workloads.add(result)
            elif labels is not None:  # made earlier by this import, and now its labels are known
                self.labels_unknown.discard(result)
            ids.append(result)
        return ids

    def selector(self, namespace: str, service: str, selector: dict[str, str]) -> str:
        self.document.ensure_namespace(namespace)
        pod_selector = {"matchLabels": dict(sorted(selector.items()))}
        row = NodeRow(safe_id(f"{namespace}/svc:{service}"), "selector", service, namespace, isolate=IsolateRow())
        row.pod_selector = pod_selector
        return self._add(row, _selector_meaning(namespace, pod_selector))

    def entity(self, entity: str) -> str:
        return self._add(NodeRow(f"entity:{entity}", "entity", entity=entity), ("entity", entity))

    def cidr(self, cidr: str) -> str:
        return self._add(NodeRow(safe_id(f"cidr:{cidr}"), "cidr", cidr=cidr), ("cidr", cidr, ()))

    def fqdn(self, name: str) -> str:
        return self._add(NodeRow(safe_id(f"fqdn:{name}"), "fqdn", match_name=name), ("fqdn", name, None))


def meaning_of(node: Node) -> tuple[Any, ...]:
    """What makes two nodes the same thing, whatever their ids."""
    if node.kind == "workload":
        return ("workload", node.namespace, node.name)
    if node.kind == "selector":
        return _selector_meaning(node.namespace, node.pod_selector)
    if node.kind == "entity":
        return ("entity", node.entity)
    if node.kind == "cidr":
        return ("cidr", node.cidr, tuple(node.except_))
    if node.kind == "fqdn":
        return ("fqdn", node.match_name, node.match_pattern)
    return (node.kind, node.id)


def _selector_meaning(namespace: str | None, pod_selector: dict[str, Any] | None) -> tuple[Any, ...]:
    return ("selector", namespace, msgspec.json.encode(pod_selector or {}, order="sorted"))


class EdgeTable:
    """The document's edges, matched by (source, target, single port) so that a re-import adds counts.

    Only the edges the document had are matched: `add` is called once per (source, target, protocol, port)."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.rows: list[EdgeRow] = []  # the edges this import made, in order
        self._taken = {edge.id for edge in document.edges}
        self._next = len(document.edges) + 1
        self._existing: dict[tuple[str, str, str, int], list[Edge]] = {}
        for edge in document.edges:
            if len(edge.ports) == 1 and not edge.icmps and isinstance(number := edge.ports[0].port, int):
                key = (edge.source, edge.target, edge.ports[0].protocol, number or 0)
                self._existing.setdefault(key, []).append(edge)
            elif len(edge.icmps) == 1 and not edge.ports:
                icmp = edge.icmps[0]
                protocol = icmp_protocol(icmp)
                if isinstance(icmp.get("type"), int):
                    self._existing.setdefault((edge.source, edge.target, protocol, icmp["type"]), []).append(edge)
        self._ports: dict[tuple[str, int], list[dict[str, Any]]] = {}

    def _new_id(self) -> str:
        """The next edge id the document does not have (the caller then adds 1 to _next). New ids only grow, so
        only the document's own ids can be in the way."""
        number, taken = self._next, self._taken
        while f"e{number}" in taken:
            number += 1
        self._next = number
        return f"e{number}"

    def add(
        self,
        source: str,
        target: str,
        protocol: str,
        port: int,
        observed: ObservedRow,
        denied: bool,
        l7: dict[str, Any] | None,
        source_locked: int,
        target_locked: int,
    ) -> None:
        """Add counts to the edge the document has for this (source, target, protocol, port), or a new edge;
        `denied`: seen only as policy denials (the new edge is shown, disabled); `source_locked`: whether the
        source is a subject locked in egress, `target_locked` the target in ingress (true when not 0)."""
        if self._existing:
            existing = self._existing.get((source, target, protocol, port))
            if existing:
                for edge in existing:
                    _add_observed(edge, observed.observed())
                    # New requests join rules of their kind; an edge without L7 rules is never narrowed to them.
                    if l7 and edge.l7:
                        edge.l7 = _merge_l7(edge.l7, {kind: rules for kind, rules in l7.items() if kind in edge.l7})
                return
        # A side enforces the edge only where that node is locked: the compiler isolates any subject an
        # enabled edge is enforced on, and a peer (kube-dns, a service of another team) must not be locked
        # to the few clients a log happened to show.
        on_target = target_locked
        dns_ingress = on_target and l7 is not None and "dns" in l7
        if source_locked:
            enforce = _BOTH if on_target and not dns_ingress else _SOURCE
        else:
            enforce = _TARGET if on_target and not dns_ingress else _NEITHER
        if protocol[0] == "I":  # ICMPv4, ICMPv6
            ports: list[dict[str, Any]] = []
            icmps = [icmp_entry(protocol, port)]
        else:
            ports = self._ports.get((protocol, port)) or self._ports.setdefault(
                (protocol, port), [{"protocol": protocol, "port": port}]
            )
            icmps = _NO_ICMPS
        edge_id = self._new_id() if self._taken else f"e{self._next}"
        self._next += 1
        rows = self.rows
        rows.append(
            EdgeRow(
                edge_id, source, target, ports, enforce, icmps, l7, denied, observed, _DENIED_NOTE if denied else None
            )
        )
        if dns_ingress:
            # Cilium applies DNS rules on egress only, so the DNS server's side admits the traffic at L4 in
            # an edge of its own.
            note = f"The DNS server's side of edge {edge_id} (Cilium applies DNS rules on egress only)."
            twin_id = self._new_id() if self._taken else f"e{self._next}"
            self._next += 1
            rows.append(EdgeRow(twin_id, source, target, ports, _TARGET, icmps, None, denied, observed, note))


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


class FlowGraph:
    """The document an import made or extended: its nodes and edges as rows until the document is asked for."""

    def __init__(self, document: Document, nodes: list[NodeRow], edges: list[EdgeRow], compact: Any = None) -> None:
        self._document = document
        self._nodes: list[NodeRow] | None = nodes
        self._edges: list[EdgeRow] = edges
        # Or the nodes and edges the compiled build made (_graphc.CompactGraph), `nodes` among them.
        self._compact = compact

    def document(self) -> Document:
        """The Document, its new Node and Edge objects made from the rows (once)."""
        if self._compact is not None:
            self._compact.extend(self._document)
            self._compact, self._nodes = None, None
        if self._nodes is not None:
            self._document.nodes.extend(row.node() for row in self._nodes)
            self._document.edges.extend(row.edge() for row in self._edges)
            self._nodes, self._edges = None, []
        return self._document

    def dump_chunks(self, indent: int = 2) -> Iterator[bytes]:
        """document().dump_chunks(), byte for byte, written from the rows when the document was not made."""
        document = self._document
        if self._compact is not None and indent > 0:
            chunks: Iterator[bytes] = self._compact.chunks(document, indent)
            return chunks
        if self._nodes is None or self._compact is not None:
            return self.document().dump_chunks(indent)
        nodes: list[Any] = [*document.nodes, *self._nodes]
        edges: list[Any] = [*document.edges, *self._edges]
        return json_chunks(document.head_json(), [(b'"nodes"', nodes), (b'"edges"', edges)], indent)
