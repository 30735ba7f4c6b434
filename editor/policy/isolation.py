"""Which workloads a change isolates, and which traffic they lose by it, found by the analyser.

A workload is isolated in a direction when it is locked that way or when an edge it enforces gives it a policy
for that direction (compile.plan). Isolation is what silently takes traffic away: an "allow DNS" template turns
a pod's policy from [Ingress] to [Ingress, Egress], and every other egress of that pod is gone. Before such a
change is applied, the editor lists what `traffic_lost` finds: the connections that the compiled policies of
the drawing before allow and those after do not, for each newly isolated workload and direction.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections import defaultdict
from typing import Any, Literal

from .analysis import ALL_CONNECTIONS, ConnectionSet, diff
from .check import analyse_document
from .compile import Context, plan
from .document import Document
from .json_fields import camel_json
from .peer_names import address_range, display_peer

Direction = Literal["ingress", "egress"]


@dataclasses.dataclass(frozen=True)
class Loss:
    """Traffic a newly isolated workload loses: to (egress) or from (ingress) `peers`, `connections` of it."""

    node_id: str
    workload: str
    direction: Direction
    peers: tuple[str, ...]
    connections: str

    def __str__(self) -> str:
        way = "can no longer reach" if self.direction == "egress" else "can no longer be reached from"
        return f"{self.workload} {way} {', '.join(self.peers)} ({self.connections})"

    def to_json(self) -> dict[str, Any]:
        return camel_json(self, text=str(self))


def isolation(document: Document) -> dict[str, tuple[bool, bool]]:
    """Node id -> (ingress isolated, egress isolated) for every node that gets a policy."""
    return {s.node.id: (s.isolate_ingress, s.isolate_egress) for s in plan(document, Context(document))}


def newly_isolated(before: Document, after: Document) -> set[tuple[str, Direction]]:
    """(node id, direction) isolated in `after` but not in `before`, for nodes that `before` already had (a new
    node had no traffic to lose)."""
    was, now = isolation(before), isolation(after)
    existing = set(before.node_map())
    fresh: set[tuple[str, Direction]] = set()
    for node_id, (ingress, egress) in now.items():
        if node_id not in existing:
            continue
        old_ingress, old_egress = was.get(node_id, (False, False))
        if ingress and not old_ingress:
            fresh.add((node_id, "ingress"))
        if egress and not old_egress:
            fresh.add((node_id, "egress"))
    return fresh


def _connections_text(lost: ConnectionSet) -> str:
    """`all ports`, `all ports but TCP 5432`, or the ports themselves, whichever reads shorter."""
    if lost.is_all:
        return "all ports"
    kept = ALL_CONNECTIONS - lost
    return f"all ports but {kept}" if len(str(kept)) < len(str(lost)) else str(lost)


def traffic_lost(before: Document, after: Document, dialect: str | None = None) -> list[Loss]:
    """What the newly isolated workloads of `after` can no longer send or receive that `before` allowed, with
    adjacent address ranges that lose the same traffic joined (`Any IP address` when it is all of them)."""
    fresh = newly_isolated(before, after)
    if not fresh:
        return []
    dialect = dialect or after.settings.dialect
    old, new = analyse_document(before, dialect), analyse_document(after, dialect)
    nodes = after.node_map()
    context = Context(after)
    node_of = {str(peer): pod.node_id for bridge in (old, new) for peer, pod in bridge.peers.items()}

    def name(peer_text: str) -> str:
        node_id = node_of.get(peer_text)
        return context.describe(nodes[node_id]) if node_id in nodes else display_peer(peer_text)

    peers: dict[tuple[str, Direction, str], list[str]] = defaultdict(list)
    ranges: dict[tuple[str, Direction, str], list[tuple[Any, Any]]] = defaultdict(list)
    for entry in diff(old.analysis, new.analysis):
        lost = entry.ref1 - entry.ref2
        if entry.kind == "added" or entry.info or not lost:
            continue
        src, dst = node_of.get(entry.src), node_of.get(entry.dst)
        direction: Direction
        if src is not None and (src, "egress") in fresh:
            subject, direction, other = src, "egress", entry.dst
        elif dst is not None and (dst, "ingress") in fresh:
            subject, direction, other = dst, "ingress", entry.src
        else:
            continue
        key = (subject, direction, _connections_text(lost))
        if other.endswith("[External]"):
            first, _, last = other[: -len("[External]")].partition("-")
            ranges[key].append((ipaddress.ip_address(first), ipaddress.ip_address(last)))
        else:
            peers[key].append(name(other))
    for key, found in ranges.items():
        joined: list[list[Any]] = []
        for first, last in sorted(found, key=lambda r: (r[0].version, r[0])):
            if joined and joined[-1][1].version == first.version and int(joined[-1][1]) + 1 == int(first):
                joined[-1][1] = last
            else:
                joined.append([first, last])
        peers[key].extend(address_range(first, last) for first, last in joined)
    losses = [
        Loss(node_id, context.describe(nodes[node_id]), direction, tuple(sorted(set(names))), connections)
        for (node_id, direction, connections), names in peers.items()
    ]
    return sorted(losses, key=lambda loss: (loss.workload, loss.direction, loss.peers))
