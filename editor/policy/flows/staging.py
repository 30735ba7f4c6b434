"""Staged revisions: everything observed so far, replayed against a revision before it goes live (issue 17).

The observations of a drawing (aggregated rows: an edge as two node descriptions and a port, with counts and
first/last seen) become a document of observed edges, which the analyser's replay judges against the staged
revision's compiled policies (`check.replay_document`): each connection is allowed, denied (with the rule
side that denies it) or undecided. The would-be-denied ones are listed per workload, and any of them can be
added to the drawing as an allow edge. Nothing here touches a database: the caller hands the rows in.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from typing import Any

import msgspec

from ..analysis.icmp import ICMP_PROTOCOLS, icmp_text
from ..check import analyse_document, decides_icmp, observations_from_document, replay
from ..compile import CompileResult, compile_document
from ..dialects import REGISTRY
from ..document import Document, Edge, Node, Observed, Port, icmp_entry, icmp_protocol, icmp_type_number, safe_id
from ..icmp_wildcard import is_icmp_wildcard

# What every observed ICMP edge was stored as before ICMP was kept (no family, no type); no other row has it.
LEGACY_ICMP = "ANY"


@dataclasses.dataclass(frozen=True)
class ObservedRow:
    """One observed edge, summed over the buckets the caller chose (e.g. since the staging date)."""

    key: str
    edge: dict[str, Any]  # {"source": node, "target": node, "protocol", "port"}
    count: int
    denied: int  # of which the cluster dropped when observed
    first_seen: str
    last_seen: str

    @property
    def drawable(self) -> bool:
        """Whether "add to the drawing" can draw this row as the one connection it is: not a row stored as
        protocol ANY (an ICMP edge whose family and type were not kept: drawn, it would allow everything between
        its ends), nor ICMP without a type (Cilium's icmps field needs one)."""
        protocol, port = self.edge["protocol"], self.edge["port"]
        return protocol != LEGACY_ICMP and not (protocol in ICMP_PROTOCOLS and not isinstance(port, int))

    @property
    def connection(self) -> str:
        """The protocol and port as the page shows them: TCP/9080, ICMPv4 type 8, ANY (a row stored before
        ICMP was kept)."""
        return connection_text(self.edge["protocol"], self.edge["port"])


def drawing_refusal(row: ObservedRow, dialect_name: str) -> str | None:
    """Why "add to the drawing" cannot draw this row in a drawing of that dialect, as the page says it; None
    when it can. ICMP is drawn as `icmps`, which NetworkPolicy cannot write (SEMANTICS.md 3.5 P6): the native
    compiler would leave the edge out of the YAML, while drift would count the ping as carried."""
    protocol = row.edge["protocol"]
    if protocol == LEGACY_ICMP:
        return "ICMP stored before its type was kept: it cannot be drawn."
    if not row.drawable:
        return "ICMP without a type: it cannot be drawn."
    chosen = REGISTRY.get(dialect_name)
    if protocol in ICMP_PROTOCOLS and not (chosen and chosen.has("icmp")):
        able = ", ".join(d.label for d in REGISTRY.values() if d.has("icmp"))
        title = chosen.title if chosen else f"The dialect {dialect_name!r}"
        return f"{title} has no ICMP rules: it cannot be drawn unless the drawing uses {able}."
    return None


def connection_text(protocol: str, port: int | None) -> str:
    if protocol in ICMP_PROTOCOLS:
        return icmp_text(protocol, port)
    return protocol if port is None else f"{protocol}/{port}"


def drawn_connections(edge: Edge) -> str:
    """What a drawn edge allows, as the page shows it: its ports and ICMP types, or all."""
    texts = []
    for port in edge.ports:
        number = "" if port.port is None else f"/{port.port}" + ("" if port.end_port is None else f"-{port.end_port}")
        texts.append(port.protocol + number)
    for icmp in edge.icmps:
        texts.append(icmp_text(icmp_protocol(icmp), icmp.get("type")))  # a number, or a name such as EchoRequest
    return ", ".join(texts) or "all"


@dataclasses.dataclass(frozen=True)
class WouldDeny:
    key: str  # the observation's edge key, for "add to the drawing"
    source: str
    target: str
    protocol: str
    port: int | None
    count: int
    first_seen: str
    last_seen: str
    reason: str  # which side's policy denies it
    flowed: bool  # it got through when observed: promoting would break it
    workload: str  # the group it is listed under: its source workload, else its target, else its source

    @property
    def connection(self) -> str:
        """The protocol and port as the page shows them: TCP/9080, ICMPv4 type 8."""
        return connection_text(self.protocol, self.port)


@dataclasses.dataclass
class StagedReport:
    would_deny: dict[str, list[WouldDeny]]  # workload ("namespace/name") -> its connections, sorted
    allowed: int
    undecided: int

    @property
    def denied(self) -> int:
        return sum(len(items) for items in self.would_deny.values())

    @classmethod
    def of(cls, would_deny: dict[str, list[WouldDeny]], allowed: int = 0, undecided: int = 0) -> StagedReport:
        """A report with its groups and each group's connections in display order."""
        for items in would_deny.values():
            items.sort(key=lambda item: (item.source, item.target, item.protocol, item.port or 0))
        return cls(dict(sorted(would_deny.items())), allowed, undecided)


def _meaning(node: dict[str, Any]) -> bytes:
    return msgspec.json.encode(
        {key: value for key, value in node.items() if key not in ("id", "position", "note", "isolate", "labels")},
        order="sorted",
    )


def _node_id(node: dict[str, Any]) -> str:
    readable = "/".join(str(node.get(key)) for key in ("namespace", "name") if node.get(key))
    digest = hashlib.sha256(_meaning(node)).hexdigest()[:8]
    return safe_id(f"{readable or node.get('kind', 'node')}-{digest}")


class _Nodes:
    """The nodes of a document, found by what they stand for; new ones are added with a stable id."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.by_meaning = {_meaning(node.to_json()): node.id for node in document.nodes}

    def find(self, description: dict[str, Any]) -> str | None:
        return self.by_meaning.get(_meaning(description))

    def add(self, description: dict[str, Any]) -> str:
        found = self.find(description)
        if found is not None:
            return found
        node = Node.from_json({**description, "id": _node_id(description)})
        if node.namespace:
            self.document.ensure_namespace(node.namespace)
        self.document.nodes.append(node)
        self.by_meaning[_meaning(description)] = node.id
        return node.id


def _edge(source: str, target: str, description: dict[str, Any], edge_id: str) -> Edge:
    """The observed connection as an edge: its one port, or its one ICMP type as `icmps` (what the flow import
    draws, and what the Cilium compiler writes as an `icmps` rule). A row stored as protocol ANY (an ICMP edge,
    before ICMP was kept) becomes an edge of neither: its replay names no protocol."""
    protocol, port = description["protocol"], description["port"]
    if protocol in ICMP_PROTOCOLS:
        return Edge(id=edge_id, source=source, target=target, icmps=[icmp_entry(protocol, port)])
    if protocol == LEGACY_ICMP:
        return Edge(id=edge_id, source=source, target=target)
    return Edge(id=edge_id, source=source, target=target, ports=[Port(protocol, port)])


def observed_document(rows: Iterable[ObservedRow]) -> Document:
    """The observations as a document of observed edges (ids are the rows' keys), for replay."""
    document = Document(name="Observed")
    nodes = _Nodes(document)
    for row in rows:
        source, target = nodes.add(row.edge["source"]), nodes.add(row.edge["target"])
        edge = _edge(source, target, row.edge, row.key)
        verdicts = {"FORWARDED": row.count - row.denied} if row.count > row.denied else {}
        if row.denied:
            verdicts["DROPPED:POLICY_DENIED"] = row.denied
        edge.observed = Observed(row.count, row.first_seen, row.last_seen, verdicts)
        document.edges.append(edge)
    return document


class StagedJudge:
    """A staged revision compiled once, judging observed rows as they arrive.

    The compiled policies never change for a revision, so they are kept; each batch of rows is analysed over
    the revision's cluster plus the workloads those rows name (a connection's verdict depends on the policies
    and on its two ends, not on the other rows, except for a Service end whose selector picks workloads that
    other rows named). Judging the rows in batches therefore gives the same report as judging them all at once.
    """

    def __init__(self, staged: Document) -> None:
        self.staged = staged
        self.compiled: CompileResult = compile_document(staged, None)

    def report(self, rows: list[ObservedRow]) -> StagedReport:
        """What the staged policies would do to these observed connections, denied ones per workload."""
        # Looked up by an observation's edge id, which may be None (then no row).
        by_key: dict[str | None, ObservedRow] = {row.key: row for row in rows}
        observed = observed_document(rows)
        bridge = analyse_document(self.staged, None, observed=observed, compiled=self.compiled)
        result = replay(observations_from_document(observed), bridge.analysis, icmp=decides_icmp(bridge.dialect))
        would_deny: dict[str, list[WouldDeny]] = {}
        for connection in result.connections:
            row = by_key.get(connection.observation.edge_id)
            if row is None or connection.verdict != "denied":
                continue
            observation = connection.observation
            workload = _workload(row.edge["source"]) or _workload(row.edge["target"]) or connection.src
            would_deny.setdefault(workload, []).append(
                WouldDeny(
                    row.key,
                    connection.src,
                    connection.dst,
                    observation.protocol,
                    observation.port,
                    row.count,
                    row.first_seen,
                    row.last_seen,
                    connection.reason,
                    observation.flowed,
                    workload,
                )
            )
        return StagedReport.of(would_deny, result.count("allowed"), result.count("undecided"))


def staged_report(staged: Document, rows: list[ObservedRow]) -> StagedReport:
    """What the staged document's policies would do to every observed connection, denied ones per workload."""
    return StagedJudge(staged).report(rows)


def _workload(node: dict[str, Any]) -> str | None:
    if node.get("kind") == "workload":
        return f"{node.get('namespace')}/{node.get('name')}"
    return None


def add_observed_edge(document: Document, row: ObservedRow) -> Document:
    """The document with this observed connection drawn as an allow edge (its nodes added when missing); the
    document unchanged for a row it cannot draw (`drawing_refusal`)."""
    if drawing_refusal(row, document.settings.dialect) is not None:
        return document
    copy = Document.from_json(document.to_json())
    nodes = _Nodes(copy)
    source, target = nodes.add(row.edge["source"]), nodes.add(row.edge["target"])
    taken = {edge.id for edge in copy.edges}
    edge_id = safe_id(f"observed-{row.key[:12]}")
    while edge_id in taken:
        edge_id = safe_id(f"{edge_id}-{len(taken)}")
    edge = _edge(source, target, row.edge, edge_id)
    edge.observed = Observed(row.count, row.first_seen, row.last_seen)
    copy.edges.append(edge)
    return copy


# ---- drift ------------------------------------------------------------------------------------------------


def node_identity(node: dict[str, Any]) -> tuple[Any, ...]:
    """What a node is for drift: a workload by namespace and name (a hand-drawn node and an imported one
    match), other nodes by the address, entity or name they stand for."""
    kind = node.get("kind")
    if kind == "workload":
        return ("workload", node.get("namespace"), node.get("name"))
    if kind == "selector":
        return ("selector", node.get("namespace"), msgspec.json.encode(node.get("podSelector") or {}, order="sorted"))
    return (kind, node.get("entity"), node.get("cidr"), node.get("matchName"), node.get("matchPattern"))


def _covers(edge: Edge, protocol: str, port: int | None, cilium: bool) -> bool:
    """Whether a drawn edge carries observed traffic of `protocol` and `port` (the ICMP type for ICMP).

    An edge without ports carries every protocol, ICMP included, unless it has `icmps`: then ICMP of those
    types only (SEMANTICS.md P1: no ports, all ports and protocols; C12: with toPorts, ICMP only as `icmps`
    allow it; Cilium's L3-only rule allows all traffic). An edge with ports carries none of ICMP, ANY
    included (Cilium's ANY is TCP, UDP and SCTP; C12), except through its `icmps`. In a `cilium` drawing,
    `icmps` type 0 carries every type of its family, as its compiled policy allows (icmp_wildcard.py, FL026)."""
    if protocol in ICMP_PROTOCOLS:
        if not edge.ports and not edge.icmps:
            return True
        return any(_icmp_covers(icmp, protocol, port, cilium) for icmp in edge.icmps)
    if protocol == LEGACY_ICMP:  # an ICMP edge of unknown family and type, stored before ICMP was kept
        return not edge.ports
    if not edge.ports:
        return not edge.icmps
    for drawn in edge.ports:
        if drawn.protocol not in (protocol, "ANY"):
            continue
        if drawn.port is None or port is None or isinstance(drawn.port, str):
            return True  # all ports, or a named port the log cannot tell apart
        if drawn.port == port or (drawn.end_port is not None and drawn.port <= port <= drawn.end_port):
            return True
    return False


def _icmp_covers(icmp: dict[str, Any], protocol: str, kind: int | None, cilium: bool) -> bool:
    if icmp_protocol(icmp) != protocol:
        return False
    return kind is None or icmp_type_number(icmp) == kind or (cilium and is_icmp_wildcard(icmp))


@dataclasses.dataclass
class Drift:
    new: list[ObservedRow]  # observed, but no enabled edge of the drawing carries it
    unused: list[Edge]  # enabled edges no observation in the window went over


def drift(document: Document, rows: list[ObservedRow]) -> Drift:
    """The drawing against what was observed: traffic it does not have, and edges nothing used."""
    identity = {node.id: node_identity(node.to_json()) for node in document.nodes}
    cilium = decides_icmp(document.settings.dialect)  # the dialect's ICMP rules are Cilium's
    drawn = [edge for edge in document.edges if not edge.disabled and edge.action == "allow"]
    by_ends: dict[tuple[Any, Any], list[Edge]] = {}
    for edge in drawn:
        by_ends.setdefault((identity.get(edge.source), identity.get(edge.target)), []).append(edge)
    used: set[str] = set()
    new = []
    for row in rows:
        ends = (node_identity(row.edge["source"]), node_identity(row.edge["target"]))
        carriers = [
            edge for edge in by_ends.get(ends, []) if _covers(edge, row.edge["protocol"], row.edge["port"], cilium)
        ]
        if carriers:
            used.update(edge.id for edge in carriers)
        elif row.count > row.denied:  # traffic that flowed; a policy drop is not something the drawing lacks
            new.append(row)
    new.sort(key=lambda row: (-row.count, row.key))
    return Drift(new, [edge for edge in drawn if edge.id not in used])


def remove_edge(document: Document, edge_id: str) -> Document:
    copy = Document.from_json(document.to_json())
    copy.edges = [edge for edge in copy.edges if edge.id != edge_id]
    return copy
