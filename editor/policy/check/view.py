"""The Check view: the matrix, flagged edges, undrawn connections and explanations on demand."""

from __future__ import annotations

import dataclasses
import ipaddress
import time
from collections.abc import Iterator
from typing import Any

from ..analysis import (
    ALL_CONNECTIONS,
    NO_CONNECTIONS,
    ConnectionSet,
    EntityPeer,
    ExternalPeer,
    Peer,
    WorkloadPeer,
)
from ..analysis.exposure import exposure
from ..document import Document, Edge
from ..json_fields import camel_json
from .bridge import Bridge, analyse_document
from .intent import End, Intent, edge_connections
from .layers import UNEXPLAINED, CellTier, CellTiers, explain_lines, platform_layers
from .proof import Mismatch, _pod_index, mismatches, peer_end


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
        return camel_json(self)


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
    tiers: list[list[CellTier | None]] = dataclasses.field(default_factory=list)  # [row][column], as `matrix`

    @property
    def ok(self) -> bool:
        return not self.flagged and not self.mismatches and self.bridge.compiled.ok

    def cell(self, src: str, dst: str) -> ConnectionSet | None:
        names = [peer.name for peer in self.peers]
        return self.matrix[self.sources.index(names.index(src))][self.destinations.index(names.index(dst))]

    def explain(self, src: str, dst: str) -> list[str]:
        """The analyser's reasons for one cell: which policies and rules allow or deny what."""
        analysis = self.bridge.analysis
        return explain_lines(analysis, analysis.peer(src), analysis.peer(dst))

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
        names = [peer.name for peer in self.peers]
        decided = self.tiers[self.sources.index(names.index(src))][self.destinations.index(names.index(dst))]
        if decided is not None:
            data["tier"], data["tierReason"] = decided.tier, decided.reason
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
        # a cell is (its connections, the tier that decided them): cells alike share one entry
        index: dict[tuple[ConnectionSet, CellTier | None], int] = {}
        tiers = self.tiers or [[None] * len(row) for row in self.matrix]
        rows = [
            [
                None if conns is None else index.setdefault((conns, tier), len(index))
                for conns, tier in zip(row, tier_row, strict=True)
            ]
            for row, tier_row in zip(self.matrix, tiers, strict=True)
        ]
        data: dict[str, Any] = {
            "dialect": self.dialect,
            "ok": self.ok,
            "issues": [issue.to_json() for issue in self.bridge.compiled.issues],
            "warnings": list(self.bridge.analysis.warnings),
            "peers": [peer.to_json() for peer in self.peers],
            "sources": self.sources,
            "destinations": self.destinations,
            "connections": [_cell_json(conns, tier) for conns, tier in index],
            "matrix": rows,
            "flaggedEdges": [finding.to_json() for finding in self.flagged],
            "undrawn": [entry.to_json() for entry in self.undrawn],
            "mismatches": [
                {"src": m.src, "dst": m.dst, "allowed": str(m.allowed), "intended": str(m.intended)}
                for m in self.mismatches
            ],
        }
        data["exposure"] = self.exposure_json()
        if timings:
            data["timings"] = dict(self.timings)
        return data

    def exposure_json(self) -> list[dict[str, Any]]:
        """Per workload (all of them, an empty list when it is open to nothing but the pods its rules name), what it
        is open to (and may reach) whatever pods exist, as `connlist --exposure` finds it, in words: "open to the
        whole cluster on TCP 8080", "open to the internet"."""
        report = exposure(self.bridge.analysis)
        unprotected = set(report.unprotected)
        found: dict[str, dict[str, Any]] = {
            peer.name: {"workload": peer.name, "exposures": []}
            for peer in self.peers
            if peer.kind in ("workload", "selector")
        }
        for entry in report.exposures:
            item = found.setdefault(str(entry.workload), {"workload": str(entry.workload), "exposures": []})
            item["exposures"].append(
                {
                    "direction": entry.direction.lower(),
                    "peer": entry.peer,
                    "connections": str(entry.connections),
                    "text": entry.describe(),
                    "protected": (entry.workload, entry.direction) not in unprotected,
                }
            )
        return list(found.values())


def _cell_json(connections: ConnectionSet, tier: CellTier | None) -> dict[str, Any]:
    data = {"text": str(connections), "status": status_of(connections)}
    if tier is not None:
        data["tier"], data["tierReason"] = tier.tier, tier.reason
    return data


_KIND_ORDER = {"workload": 0, "selector": 0, "external": 1, "entity": 2, "fqdn": 3}


class _Checker:
    def __init__(self, bridge: Bridge, intent: Intent, cell_tiers: CellTiers | None = None) -> None:
        self.bridge = bridge
        self.intent = intent
        self.cell_tiers = cell_tiers  # with platform layers: the tier that overrides an edge is its reason
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
        src_peers: list[Peer] = [self.pod_peers[i] for i in sorted(self.intent.pod_set(source))]
        src_peers += [p for p in sources if not isinstance(p, WorkloadPeer) and self.intent.covers(source, self.end(p))]
        dst_peers: list[Peer] = [self.pod_peers[i] for i in sorted(self.intent.pod_set(target))]
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
            pairs: list[PairFinding] = []
            for src, dst in self.edge_pairs(edge, sources, destinations):
                src_end, dst_end = self.end(src), self.end(dst)
                drawn = edge_connections(edge, self.intent.receiver(dst_end))
                allowed = self.analysis.connection(src, dst)
                problem = (drawn & allowed) if edge.action == "deny" else (drawn - allowed)
                reasons = self.reasons(edge, src_end, dst_end, drawn, allowed)
                if problem and self.cell_tiers is not None:
                    reasons = self.cell_tiers.flag(src, dst, src_end, dst_end, allowed, reasons)
                if problem or self.unresolved_ports(edge, dst_end):
                    explanation: tuple[str, ...] = ()
                    if len(pairs) < EXPLAINED_PAIRS:
                        explanation = tuple(explain_lines(self.analysis, src, dst))
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
            reasons.append(UNEXPLAINED)
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
    cell_tiers = CellTiers(bridge.analysis, intent, platform_layers(document, bridge.compiled))
    checker = _Checker(bridge, intent, cell_tiers if bridge.compiled.platform_objects else None)
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
    tiers: list[list[CellTier | None]] = []
    for src, row in zip(sources, matrix, strict=True):
        src_end = checker.end(src)
        tiers.append([])
        for dst, dst_end, allowed in zip(destinations, ends, row, strict=True):
            tiers[-1].append(None if allowed is None else cell_tiers.cell(src, dst, src_end, dst_end, allowed))
            if bridge.application is None and allowed is not None and allowed != intent.between(src_end, dst_end):
                found.append(Mismatch(str(src), str(dst), allowed, intent.between(src_end, dst_end)))
    if bridge.application is not None:
        found = mismatches(bridge.application_only(), intent)  # the application edges, proved without the tiers
    timings["matrix"] = time.perf_counter() - start
    start = time.perf_counter()
    flagged = checker.flagged(sources, destinations)
    timings["flagged"] = time.perf_counter() - start
    start = time.perf_counter()
    undrawn = checker.undrawn(sources, destinations, matrix)
    timings["undrawn"] = time.perf_counter() - start
    return CheckResult(
        bridge.dialect, peers, rows, columns, matrix, flagged, undrawn, found, bridge, intent, timings, tiers
    )
