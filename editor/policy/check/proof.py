"""Analyser peers mapped to intent ends, and the comparison of the two everywhere (the compilers' proof)."""

from __future__ import annotations

import dataclasses
import ipaddress

from ..analysis import (
    ALL_CONNECTIONS,
    ENTITY_PEERS,
    NO_CONNECTIONS,
    Analysis,
    ConnectionSet,
    EntityPeer,
    ExternalPeer,
    FqdnPeer,
    Peer,
    WorkloadPeer,
)
from .bridge import Bridge
from .intent import End, Intent, edge_connections


def peer_end(pod_index: dict[WorkloadPeer, int], peer: Peer) -> End:
    if isinstance(peer, WorkloadPeer):
        return pod_index[peer]
    if isinstance(peer, ExternalPeer):
        return ("ip", peer.version, peer.first)
    if isinstance(peer, EntityPeer):
        return ("entity", peer.name)
    if isinstance(peer, FqdnPeer):
        return ("fqdn", peer.name)
    return ("ingress-controller",)  # no drawn workload: an Ingress or Route object lets it in


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
    for end, other in sorted(named.items()):
        for pod in pods:
            if end[0] == "entity":
                compare(other, pod, end, index[pod], analysis.connection(other, pod))
            compare(pod, other, index[pod], end, analysis.connection(pod, other))
    for end, node_id in sorted(_enforced_named_ends(intent)):
        if end not in named:
            found.append(Mismatch(f"node {node_id}", str(end[1]), NO_CONNECTIONS, ALL_CONNECTIONS))
    return found


def _enforced_named_ends(intent: Intent) -> set[tuple[tuple[str, str], str]]:
    """Entity peers and FQDNs that an enforced edge allowing something there names (the YAML must name them too;
    an edge whose only ports are named ones allows nothing towards them, and the compiler may leave it out)."""
    ends: set[tuple[tuple[str, str], str]] = set()
    for pod in range(len(intent.pods)):
        for direction in ("egress", "ingress"):
            for rule in intent.rules[direction][pod]:
                peer = rule.peer
                if not edge_connections(rule.edge, None):
                    continue
                if peer.kind == "entity" and peer.entity in ENTITY_PEERS:
                    ends.add((("entity", peer.entity), peer.id))
                elif peer.kind == "fqdn" and direction == "egress":
                    ends.add((("fqdn", peer.match_name or peer.match_pattern or ""), peer.id))
    return ends
