"""What a flow import takes (options) and gives back (the document plus a summary a person can check)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from ..document import Document

if TYPE_CHECKING:
    from .tables import FlowGraph

# Verdict names a user may filter on (`--verdict`); a drop matches DROPPED whatever its reason.
VERDICT_NAMES = ("FORWARDED", "REDIRECTED", "DROPPED", "AUDIT", "ERROR", "TRACED", "TRANSLATED")
KEEP_SKIPPED = 20  # skipped lines reported in detail; the rest are only counted


class ReadStopped(Exception):
    """The caller's `stop()` asked read_flows to end before the input did (a time limit, a closed request)."""


@dataclasses.dataclass(frozen=True)
class FlowOptions:
    """Filters and choices for an import. Empty filters keep everything."""

    namespaces: frozenset[str] = frozenset()  # keep flows with either end in one of these
    since: str | None = None  # RFC 3339; flows before it are left out
    until: str | None = None  # RFC 3339; flows after it are left out
    verdicts: frozenset[str] = frozenset()  # VERDICT_NAMES to keep
    collapse_cidr: int | None = None  # widen unnamed IPv4 peers to this prefix length (e.g. 24)
    collapse_cidr6: int | None = None  # the same for IPv6
    fqdn: bool = True  # name world peers by DNS (Cilium toFQDNs) when the log tells their names
    max_bytes: int | None = None  # refuse inputs larger than this (the upload limit)

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, parse_time(value))
        unknown = set(self.verdicts) - set(VERDICT_NAMES)
        if unknown:
            raise ValueError(f"unknown verdict {sorted(unknown)[0]!r}; use one of {', '.join(VERDICT_NAMES)}")
        if self.collapse_cidr is not None and not 0 <= self.collapse_cidr <= 32:
            raise ValueError(f"--collapse-cidr {self.collapse_cidr} is not an IPv4 prefix length (0-32)")
        if self.collapse_cidr6 is not None and not 0 <= self.collapse_cidr6 <= 128:
            raise ValueError(f"--collapse-cidr6 {self.collapse_cidr6} is not an IPv6 prefix length (0-128)")


_RFC3339 = re.compile(
    r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d{1,9})\d*)?([Zz]|[+-]\d\d:\d\d)"
)  # fmt: skip
NORMAL_TIME_LENGTH = len("2021-10-04T11:22:26.592280339Z")


def normalize_time(text: str) -> str:
    """RFC 3339 -> UTC with nine fractional digits, so that times compare as strings. "" when unreadable."""
    match = _RFC3339.fullmatch(text)
    if not match:
        return ""
    date, clock, fraction, zone = match.groups()
    fraction = (fraction or "").ljust(9, "0")
    if zone in ("Z", "z", "+00:00", "-00:00"):
        return f"{date}T{clock}.{fraction}Z"
    try:
        moment = datetime.fromisoformat(f"{date}T{clock}{zone}").astimezone(UTC)
    except (ValueError, OverflowError):  # 2021-02-30, 25:00, or a zone that leaves the calendar
        return ""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{fraction}Z"


def parse_time(text: str) -> str:
    """A user-given time bound, normalised; a date alone means its midnight UTC. Raises ValueError."""
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d\d-\d\d", value):
        value += "T00:00:00Z"
    normal = normalize_time(value)
    if not normal:
        raise ValueError(f"{text!r} is not an RFC 3339 time such as 2024-05-01T12:00:00Z")
    return normal


class SkippedLine(NamedTuple):
    """A line the import passed over, shown as `file:line: reason` (the compiler-error form editors link)."""

    source: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


@dataclasses.dataclass
class FileReport:
    """One input file: what it turned out to be and what came out of it."""

    name: str
    formats: dict[str, int] = dataclasses.field(default_factory=dict)  # record format -> records
    compression: str | None = None
    layout: str = "lines"  # "lines", "json-array" or "empty"
    bytes_read: int = 0
    records: int = 0
    skipped: int = 0

    @property
    def format(self) -> str:
        """The main record format, e.g. "hubble jsonpb", or "empty"."""
        if not self.formats:
            return "empty" if self.layout == "empty" else "unknown"
        return max(self.formats.items(), key=lambda item: item[1])[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "format": self.format,
            "formats": dict(self.formats),
            "compression": self.compression,
            "layout": self.layout,
            "bytes": self.bytes_read,
            "records": self.records,
            "skipped": self.skipped,
        }


@dataclasses.dataclass
class FlowSummary:
    """What an import read, used and left out, for the person who has to trust the resulting graph."""

    files: list[FileReport] = dataclasses.field(default_factory=list)
    flows_read: int = 0  # flow records and Gadget connections decoded
    flows_used: int = 0  # those that became part of an edge
    replies: int = 0  # reply packets, left out (a reply never needs a rule of its own)
    lines_skipped: int = 0
    skipped: list[SkippedLine] = dataclasses.field(default_factory=list)  # the first KEEP_SKIPPED, in order
    events_lost: int = 0  # Hubble lost_events: the log is incomplete
    lost_records: int = 0
    ignored: dict[str, int] = dataclasses.field(default_factory=dict)  # reason -> flows left out for it
    warnings: list[str] = dataclasses.field(default_factory=list)
    workloads: int = 0
    nodes: int = 0
    edges: int = 0
    denied_edges: int = 0  # edges seen only as policy drops, added disabled

    def skip(self, source: str, line: int, reason: str) -> None:
        self.lines_skipped += 1
        if len(self.skipped) < KEEP_SKIPPED:
            self.skipped.append(SkippedLine(source, line, reason))

    def lines(self) -> list[str]:
        """The summary as short lines of text (the CLI prints them on stderr)."""
        out = []
        for report in self.files:
            compression = f", {report.compression}" if report.compression else ""
            out.append(
                f"{report.name}: {report.format}{compression}, {report.records} records, {report.skipped} skipped"
            )
        if not any(report.records for report in self.files):
            out.append("no flow records found: the input is empty or holds nothing Fenceline can read")
        out.append(
            f"flows read {self.flows_read}, used {self.flows_used}, replies left out {self.replies}; "
            f"{self.workloads} workloads, {self.nodes} nodes, {self.edges} edges ({self.denied_edges} denied, disabled)"
        )
        if self.events_lost:
            out.append(
                f"{self.events_lost} events lost in {self.lost_records} lost_events records: "
                "the log is incomplete, so traffic may be missing from the graph"
            )
        out.extend(f"left out {count}: {reason}" for reason, count in sorted(self.ignored.items()))
        out.extend(f"warning: {warning}" for warning in self.warnings)
        if self.lines_skipped:
            out.append(f"{self.lines_skipped} lines skipped" + (", first ones:" if self.skipped else ""))
            out.extend(f"  {line}" for line in self.skipped)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "files": [report.to_json() for report in self.files],
            "flowsRead": self.flows_read,
            "flowsUsed": self.flows_used,
            "replies": self.replies,
            "linesSkipped": self.lines_skipped,
            "skipped": [{"source": s.source, "line": s.line, "reason": s.reason} for s in self.skipped],
            "eventsLost": self.events_lost,
            "lostRecords": self.lost_records,
            "ignored": dict(sorted(self.ignored.items())),
            "warnings": list(self.warnings),
            "workloads": self.workloads,
            "nodes": self.nodes,
            "edges": self.edges,
            "deniedEdges": self.denied_edges,
        }


class FlowImport:
    """What an import gave: the document (made on first use: `dump_chunks` writes its JSON without it) and the
    summary."""

    def __init__(self, graph: FlowGraph, summary: FlowSummary) -> None:
        self.graph = graph
        self.summary = summary

    @property
    def document(self) -> Document:
        return self.graph.document()

    def dump_chunks(self) -> Iterator[bytes]:
        """The document's indented JSON (Document.dump_chunks), in pieces."""
        return self.graph.dump_chunks()
