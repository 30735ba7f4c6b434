"""Continuous intake: a piece of a flow stream -> observed edges, keyed for aggregation by edge and time bucket.

A stream (`hubble observe --follow -o jsonpb`, Gadget lines) arrives in pieces of whole lines. Each piece is
read by `read_flows` like an uploaded log, so every format and rule of the importer applies, and comes out as
the edges of a small graph: one ObservedEdge per (source, destination, protocol, port) with its count,
first/last seen and verdicts. Storage adds these into one row per edge key and time bucket, never keeping a
flow: it grows with distinct edges x buckets, not with traffic.

The key names what an edge means (the two nodes' kind, namespace, name, labels, address, and the port), not
the node ids, so the same traffic seen in two pieces (or two streams) lands in the same row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from ..document import Document
from .importer import read_flows
from .model import FlowOptions, FlowSummary

HOUR_BUCKETS_FOR = timedelta(days=7)  # hour buckets this long; older rows are folded into day buckets
# Node fields that do not change what the node stands for (the editor's layout and explanations).
_NOT_MEANING = ("id", "position", "note", "isolate", "policyName")


@dataclasses.dataclass(frozen=True)
class ObservedEdge:
    key: str  # sha256 of what the edge means: stable across pieces, streams and restarts
    source: dict[str, Any]  # the node as document JSON, without id/layout
    target: dict[str, Any]
    protocol: str
    port: int | None
    count: int
    first_seen: str | None
    last_seen: str | None
    verdicts: dict[str, int]

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
    edges = _edges(result.document)
    seen = [parse_seen(time, _EPOCH) for edge in edges for time in (edge.first_seen, edge.last_seen) if time]
    if not seen or hour_bucket(min(seen)) == hour_bucket(max(seen)):
        return edges, result.summary
    step = timedelta(hours=1) if max(seen) - min(seen) <= timedelta(days=2) else timedelta(days=1)
    window = hour_bucket(min(seen)) if step == timedelta(hours=1) else day_bucket(min(seen))
    edges = []
    while window <= max(seen):
        until = window + step - timedelta(microseconds=1)  # normalised times have nine digits: pad to them
        bounded = dataclasses.replace(options, since=_rfc3339(window), until=_rfc3339(until)[:-1] + "999Z")
        edges.extend(_edges(read_flows([("stream", io.BytesIO(piece))], bounded).document))
        window += step
    return edges, result.summary


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _edges(document: Document) -> list[ObservedEdge]:
    nodes = {node.id: _meaning(node.to_json()) for node in document.nodes}
    edges = []
    for edge in document.edges:
        observed = edge.observed
        if observed is None:
            continue
        port = edge.ports[0] if edge.ports else None
        protocol = port.protocol if port else "ANY"
        number = port.port if port and isinstance(port.port, int) else None
        source, target = nodes[edge.source], nodes[edge.target]
        edges.append(
            ObservedEdge(
                edge_key(source, target, protocol, number),
                source,
                target,
                protocol,
                number,
                observed.count,
                observed.first_seen,
                observed.last_seen,
                dict(observed.verdicts),
            )
        )
    return edges


def parse_seen(text: str | None, default: datetime) -> datetime:
    """A normalised RFC 3339 time from the importer (nine fractional digits, Z) as a datetime; `default` when
    the log gave none."""
    if not text:
        return default
    try:
        return datetime.fromisoformat(text[:26] + "+00:00")
    except ValueError:
        return default


def hour_bucket(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_bucket(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
