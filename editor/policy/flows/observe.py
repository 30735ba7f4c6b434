"""Continuous intake: a piece of a flow stream -> observed edges, keyed for aggregation by edge and time bucket.

A stream (`hubble observe --follow -o jsonpb`, Gadget lines) arrives in pieces of whole lines. Each piece is
read by `read_flows` like an uploaded log, so every format and rule of the importer applies, and comes out as
the edges of a small graph: one ObservedEdge per (source, destination, protocol, port) with its count,
first/last seen and verdicts (ICMP as protocol ICMPv4 or ICMPv6 and its type as the port, as `check.Observation`
has it). Storage adds these into one row per edge key and time bucket, never keeping a
flow: it grows with distinct edges x buckets, not with traffic.

The key names what an edge means (the two nodes' kind, namespace, name, labels, address, and the port), not
the node ids, so the same traffic seen in two pieces (or two streams) lands in the same row.

The graph is read from its JSON (`FlowGraph.dump_chunks`, written straight from the importer's rows), not from
Node and Edge objects: making those and turning them back into JSON took a quarter of observe's CPU time (24 of
83 ms for 8,000 flows). Each node's meaning is encoded once per piece, and an edge's key and stored description
are joined from its two ends' (bench/bench_observation_intake.py compares the rows with the code before).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from ..document import icmp_protocol
from ..gcpause import paused_gc
from .importer import read_flows
from .model import FlowOptions, FlowSummary
from .tables import FlowGraph

HOUR_BUCKETS_FOR = timedelta(days=7)  # hour buckets this long; older rows are folded into day buckets
# Node fields that do not change what the node stands for (the editor's layout and explanations).
_NOT_MEANING = ("id", "position", "note", "isolate", "policyName")


class ObservedEdge(msgspec.Struct, frozen=True, gc=False):  # a Struct: made several times faster than a dataclass
    key: str  # sha256 of what the edge means: stable across pieces, streams and restarts
    source: dict[str, Any]  # the node as document JSON, without id/layout
    target: dict[str, Any]
    protocol: str  # TCP, UDP, SCTP, ICMPv4, ICMPv6; ANY in rows stored before ICMP was kept (an ICMP edge)
    port: int | None  # the ICMP type for ICMP
    count: int
    first_seen: str | None
    last_seen: str | None
    verdicts: dict[str, int]
    # As stored: {"source", "target", "protocol", "port"} as JSON text, and the times as datetimes (None: the
    # log gave none, or one that cannot be read).
    description: str = ""
    first: datetime | None = None
    last: datetime | None = None

    @property
    def denied(self) -> bool:
        return any(verdict.startswith("DROPPED") for verdict in self.verdicts)


def _meaning(node: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in node.items() if key not in _NOT_MEANING}


def edge_key(source: dict[str, Any], target: dict[str, Any], protocol: str, port: int | None) -> str:
    canonical = msgspec.json.encode([source, target, protocol, port], order="sorted")
    return hashlib.sha256(canonical).hexdigest()


def observe(piece: bytes, options: FlowOptions | None = None) -> tuple[list[ObservedEdge], FlowSummary]:
    """The edges one piece of a stream shows, each within one hour (or one day, for a piece spanning more
    than two days), and the import summary (skipped lines, lost events).

    A live stream's piece covers a second or so and is read once. A piece of older traffic that spans hours
    (a saved log pushed later) is read once more per hour it covers, so that every count lands in its own
    bucket.
    """
    options = options or FlowOptions()
    result = read_flows([("stream", io.BytesIO(piece))], options)
    edges = _edges(result.graph)
    # As parse_seen(text, _EPOCH) of each time the log gave (a time is None here when it was unreadable).
    seen = [edge.first or _EPOCH for edge in edges if edge.first_seen]
    seen += [edge.last or _EPOCH for edge in edges if edge.last_seen]
    if not seen or hour_bucket(min(seen)) == hour_bucket(max(seen)):
        return edges, result.summary
    step = timedelta(hours=1) if max(seen) - min(seen) <= timedelta(days=2) else timedelta(days=1)
    window = hour_bucket(min(seen)) if step == timedelta(hours=1) else day_bucket(min(seen))
    edges = []
    while window <= max(seen):
        until = window + step - timedelta(microseconds=1)  # normalised times have nine digits: pad to them
        bounded = dataclasses.replace(options, since=_rfc3339(window), until=_rfc3339(until)[:-1] + "999Z")
        edges.extend(_edges(read_flows([("stream", io.BytesIO(piece))], bounded).graph))
        window += step
    return edges, result.summary


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Port(msgspec.Struct):
    protocol: str
    port: int | str | None = None


class _Observed(msgspec.Struct, rename="camel"):
    count: int
    first_seen: str | None = None
    last_seen: str | None = None
    verdicts: dict[str, int] = {}


class _Edge(msgspec.Struct):
    source: str
    target: str
    ports: list[_Port] = []
    icmps: list[dict[str, Any]] = []
    observed: _Observed | None = None


class _Graph(msgspec.Struct):
    """The parts of a document's JSON an observation needs (the rest of it is skipped unread)."""

    nodes: list[dict[str, Any]] = []
    edges: list[_Edge] = []


_GRAPH = msgspec.json.Decoder(_Graph)


class _End(msgspec.Struct, gc=False):
    """A node's meaning, once per piece: as a dict, as JSON (its keys in document order, as stored) and as
    canonical JSON (keys sorted, for edge_key)."""

    meaning: dict[str, Any]
    text: bytes
    canonical: bytes


def _ends(nodes: list[dict[str, Any]]) -> dict[str, _End]:
    encode = msgspec.json.encode
    ends = {}
    for node in nodes:
        meaning = _meaning(node)
        ends[node["id"]] = _End(meaning, encode(meaning), encode(meaning, order="sorted"))
    return ends


def _edges(graph: FlowGraph) -> list[ObservedEdge]:
    """The observed edges of an imported graph, read from its JSON (indented by one space: the least
    `dump_chunks` writes)."""
    with paused_gc():  # everything made here lives until the piece is stored
        return _observed_edges(_GRAPH.decode(b"".join(graph.dump_chunks(1))))


def _observed_edges(read: _Graph) -> list[ObservedEdge]:
    ends = _ends(read.nodes)
    encode, sha256 = msgspec.json.encode, hashlib.sha256
    edges = []
    # The importer draws the DNS server's side of a DNS edge as a second edge with the same ends, ports and
    # counts (Cilium applies DNS rules on egress only): its flows are counted once.
    drawn: set[tuple[str, str, bytes, bytes]] = set()
    for edge in read.edges:
        observed = edge.observed
        if observed is None:
            continue
        protocol, number = _protocol_and_port(edge)
        protocol_text, number_text = encode(protocol), encode(number)
        ends_and_ports = (edge.source, edge.target, encode(edge.ports), encode(edge.icmps) if edge.icmps else b"")
        if ends_and_ports in drawn:
            continue
        drawn.add(ends_and_ports)
        source, target = ends[edge.source], ends[edge.target]
        # edge_key(source, target, protocol, number), from the ends' canonical JSON
        key = sha256(b"[%b,%b,%b,%b]" % (source.canonical, target.canonical, protocol_text, number_text)).hexdigest()
        description = b'{"source":%b,"target":%b,"protocol":%b,"port":%b}' % (
            source.text,
            target.text,
            protocol_text,
            number_text,
        )
        first_seen, last_seen = observed.first_seen, observed.last_seen
        edges.append(
            ObservedEdge(
                key,
                source.meaning,
                target.meaning,
                protocol,
                number,
                observed.count,
                first_seen,
                last_seen,
                dict(observed.verdicts),
                description.decode(),
                _parsed(first_seen),
                _parsed(last_seen),
            )
        )
    return edges


def _protocol_and_port(edge: _Edge) -> tuple[str, int | None]:
    """What the importer's edge carries (it draws one edge per protocol and port or ICMP type): a port's
    protocol and number, or ICMPv4/ICMPv6 and the ICMP type (as check.Observation has it). Edges of this
    version always have one or the other; ("ANY", None) is what every ICMP edge was stored as before."""
    if edge.ports:
        port = edge.ports[0]
        return port.protocol, port.port if isinstance(port.port, int) else None
    if edge.icmps:
        icmp = edge.icmps[0]
        kind = icmp.get("type")
        return icmp_protocol(icmp), kind if isinstance(kind, int) else None
    return "ANY", None


def _parsed(text: str | None) -> datetime | None:
    """A normalised RFC 3339 time from the importer (nine fractional digits, Z) as a datetime; None when the
    log gave none, or one that cannot be read."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text[:26] + "+00:00")
    except ValueError:
        return None


def parse_seen(text: str | None, default: datetime) -> datetime:
    """_parsed(text), or `default`."""
    moment = _parsed(text)
    return default if moment is None else moment


def hour_bucket(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_bucket(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
