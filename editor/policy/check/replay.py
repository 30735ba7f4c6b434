"""Flow replay: observed traffic judged against the analysed policies."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable
from typing import Any

from ..analysis import (
    ALL_CONNECTIONS,
    PROTOCOLS,
    Analysis,
    ConnectionSet,
    Peer,
    WorkloadPeer,
    fqdn_matches,
)
from ..analysis import icmp as cilium_icmp
from ..analysis.explain import DirectionExplanation, Explanation
from ..analysis.explain_text import attribution
from ..analysis.icmp import ICMP_PROTOCOLS, cilium_enforced, icmp_text, is_error
from ..dialects import REGISTRY
from ..document import Document
from ..manifests import Workload
from .bridge import analyse_document
from .cluster import _TOP, _WORLD_VERSIONS
from .layers import CellTier, connection_tier
from .observed import Endpoint, Observation, _workloads_in_scope, observations_from_document
from .proof import _address_peer


@dataclasses.dataclass(frozen=True)
class Replayed:
    """An observation judged against policies: `verdict` is allowed, denied or undecided."""

    observation: Observation
    verdict: str
    src: str
    dst: str
    reason: str = ""
    explanation: tuple[str, ...] = ()
    tier: CellTier | None = None  # with platform layers: the tier that decided it (check/layers.py)

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
            "explanation": list(self.explanation),
            **({"tier": self.tier.tier, "tierReason": self.tier.reason} if self.tier is not None else {}),
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

    def __init__(self, analysis: Analysis, explain: bool, icmp: bool) -> None:
        self.analysis = analysis
        self.explain = explain
        self.icmp = icmp
        self._explained: dict[tuple[Peer, Peer], Explanation] = {}
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
            named: list[Peer] = [
                p for p in self.fqdns if p.name == endpoint.name or fqdn_matches(p.name, endpoint.name)
            ]
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

    def explained(self, src: Peer, dst: Peer) -> Explanation:
        found = self._explained.get((src, dst))
        if found is None:
            found = self._explained[(src, dst)] = self.analysis.explain(src, dst)
        return found

    def allows(self, src: Peer, dst: Peer, observation: Observation) -> bool:
        if observation.protocol in ICMP_PROTOCOLS:
            return cilium_icmp.allows(self.explained(src, dst), observation.protocol, observation.port)
        if observation.port is not None:
            return self.connection(src, dst).allows(observation.protocol, observation.port)
        return bool(self.connection(src, dst))

    def side_allows(self, side: DirectionExplanation, observation: Observation) -> bool:
        if observation.protocol in ICMP_PROTOCOLS:
            return cilium_icmp.side_allows(side, observation.protocol, observation.port)
        return side.allowed.allows(observation.protocol, observation.port or 0)

    def icmp_undecided(self) -> str:
        """Why ICMP cannot be judged here, or "" when it can."""
        if not self.icmp:
            return (
                "ICMP is left to each NetworkPolicy implementation (SEMANTICS.md P6); it is decided for policies "
                "Cilium enforces only"
            )
        if self.analysis.admin_policies:
            return "ICMP under AdminNetworkPolicy tiers is not analysed"
        return ""

    def attribution(self, src: Peer, dst: Peer, observation: Observation) -> list[str]:
        """The `--explain` wording for this one connection (any port of it when the observation has none)."""
        if observation.protocol in ICMP_PROTOCOLS:
            return cilium_icmp.attribution(self.explained(src, dst), observation.protocol, observation.port)
        if observation.port is not None:
            return attribution(self.analysis, src, dst, observation.protocol, observation.port)
        conns = self.connection(src, dst)
        ranges = dict(conns.items()).get(observation.protocol)
        return attribution(self.analysis, src, dst, observation.protocol, ranges[0][0] if ranges else 1)

    def judge(self, observation: Observation) -> Replayed:
        sources, why_source = self.peers(observation.source, True)
        targets, why_target = self.peers(observation.target, False)
        src_text, dst_text = _end_text(observation.source, sources), _end_text(observation.target, targets)
        if observation.protocol in ICMP_PROTOCOLS:
            reason = self.icmp_undecided()
            if reason:
                return Replayed(observation, "undecided", src_text, dst_text, reason)
        elif observation.protocol not in PROTOCOLS:
            return Replayed(observation, "undecided", src_text, dst_text, "the observation names no protocol and port")
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
        verdicts = {(src, dst): self.allows(src, dst, observation) for src in sources for dst in targets}
        src, dst = next(iter(verdicts))
        lines = tuple(self.attribution(src, dst, observation)) if self.explain else ()
        tier = (
            connection_tier(self.analysis, src, dst, observation.protocol, observation.port)
            if observation.protocol in PROTOCOLS
            else None
        )
        if all(verdicts.values()):
            return Replayed(observation, "allowed", src_text, dst_text, explanation=lines, tier=tier)
        if any(verdicts.values()):
            return Replayed(
                observation, "undecided", src_text, dst_text, "allowed for some of its pods or addresses only"
            )
        explanation = self.explained(src, dst)
        sides = [
            f"{side.direction.lower()} of {side.pod}"
            for side in (explanation.egress, explanation.ingress)
            if side is not None and not self.side_allows(side, observation)
        ]
        reason = "denied by the " + " and the ".join(sides) if sides else ""
        if observation.protocol in ICMP_PROTOCOLS:
            if not sides:  # no type observed: each side lets some type through, but not one type both
                ends = " and the ".join(
                    f"{s.direction.lower()} of {s.pod}" for s in (explanation.egress, explanation.ingress) if s
                )
                reason = f"no {observation.protocol} type passes both the {ends}"
            # Dropped by policy when seen, it was not related to a tracked connection: the policies decide it.
            if is_error(observation.protocol, observation.port) and observation.flowed:
                what = icmp_text(observation.protocol, observation.port)
                reason = (
                    f"{what} is an ICMP error: Cilium lets it through as related to a connection it tracks whatever "
                    f"the policies say, which the observation does not tell; the policies alone would deny it "
                    f"({reason.removeprefix('denied by the ')})"
                )
                return Replayed(observation, "undecided", src_text, dst_text, reason)
        return Replayed(observation, "denied", src_text, dst_text, reason, lines, tier)


def _end_text(endpoint: Endpoint, peers: list[Peer]) -> str:
    """A pod end as the connlist prints its workload; an address, entity or name as observed (the analyser's
    range around it may be much wider)."""
    if endpoint.kind in ("workload", "selector") and len(peers) == 1:
        return str(peers[0])
    return str(endpoint)


def replay(
    observations: Iterable[Observation], analysis: Analysis, *, explain: bool = False, icmp: bool | None = None
) -> ReplayResult:
    """Mark every observed connection allowed, denied or undecided under the analysed policies.

    The analysis must know the observed workloads: build its cluster with `add_observed` (or analyse a
    document that holds them). With `explain`, every allowed or denied connection carries its attribution:
    which policy and rule allowed it, or why each side denies it, in the words of `connlist --explain`.
    ICMP is judged when Cilium enforces the policies (`icmp`; None: when some of them are Cilium policies,
    `analysis.icmp.cilium_enforced`), and undecided otherwise (NetworkPolicy leaves it to the implementation).
    """
    replayer = _Replayer(analysis, explain, cilium_enforced(analysis) if icmp is None else icmp)
    judged = [replayer.judge(observation) for observation in observations]
    judged.sort(key=lambda c: (c.src, c.dst, c.observation.protocol, c.observation.port or 0))
    return ReplayResult(judged)


def replay_document(
    document: Document, dialect: str | None = None, observed: Document | None = None, *, explain: bool = False
) -> ReplayResult:
    """Before saving: which observed connections (of `observed`, default the document's own observed edges) the
    document's compiled policies would deny; with `explain`, each with its attribution."""
    bridge = analyse_document(document, dialect, observed=observed)
    observations = observations_from_document(observed if observed is not None else document)
    return replay(observations, bridge.analysis, explain=explain, icmp=decides_icmp(bridge.dialect))


def decides_icmp(dialect: str) -> bool:
    """Whether a drawing of this dialect is enforced by an implementation that defines ICMP: one whose rules
    can name ICMP types (Cilium's; NetworkPolicy leaves ICMP to each implementation, SEMANTICS.md P6)."""
    return REGISTRY[dialect].has("icmp")
