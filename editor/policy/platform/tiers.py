"""Tier precedence for one connection, with attribution: which tier, policy and rule decided it.

Semantics (network-policy-api, `site-src/api-overview.md` and NPEP-2091 / `apis/v1alpha2/clusternetworkpolicy_types.go`;
v1alpha1: `apis/v1alpha1/adminnetworkpolicy_types.go`), each direction on its own: the source's egress and the
destination's ingress must both allow a connection.

1. Admin tier: the policies selecting the pod, lowest `priority` number first (equal priorities: by name, with a
   warning), each policy's rules in order; the first rule whose peers and ports match decides. Accept/Allow and
   Deny are final; Pass skips the rest of the Admin tier.
2. NetworkPolicy tier (the `MiddleTier` hook, the existing analysis): when it isolates the pod in this direction it
   decides (allowed when some rule allows, denied otherwise).
3. Baseline tier: like the Admin tier (Pass is not an action there).
4. Otherwise allowed.

Peers: `namespaces` and `pods` match pods (not host-network pods, which are not in the pod network); `networks`
match any address, pods' and nodes' included; `nodes` match a node's addresses (a host-network pod has its
node's). Only pods are subjects.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from typing import Protocol

from ..manifests import ContainerPort, Workload
from .inputs import Node
from .model import ADMIN, ALLOW, BASELINE, PASS, PlatformPeer, PlatformPolicy, PlatformPort, PlatformRule, PodSet


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One end of a connection: a pod (`namespace`/`name`) or a bare address."""

    ips: tuple[str, ...]
    namespace: str | None = None
    name: str | None = None
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    namespace_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    ports: tuple[ContainerPort, ...] = ()
    host_network: bool = False
    node: Node | None = None  # the node it runs on (host network) or whose address it is
    workload: Workload | None = None

    @property
    def in_pod_network(self) -> bool:
        """A pod that pod selectors can match and that policies can select."""
        return self.namespace is not None and not self.host_network

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace is not None else self.ips[0]


@dataclasses.dataclass(frozen=True)
class Decision:
    """The verdict of one direction, and who gave it."""

    direction: str
    allowed: bool
    tier: str  # "Admin", "NetworkPolicy", "Baseline" or "default"
    policy: str = ""  # e.g. "ClusterNetworkPolicy 'x' (Admin tier, priority 6)"
    rule: str = ""  # e.g. "Egress rule deny-all (Deny)"
    passed: tuple[str, ...] = ()  # Pass rules that sent it on to the NetworkPolicy tier

    def __str__(self) -> str:
        text = f"{self.direction.lower()}: "
        if self.passed:
            text += "passed by " + ", ".join(self.passed) + ", then "
        if self.tier == "default":
            return text + "no policy decides (allowed by default)"
        return text + f"{self.policy} {self.rule}".strip()


class MiddleTier(Protocol):
    """The NetworkPolicy tier: a Decision when its policies isolate `subject` in `direction`, else None."""

    def decide(
        self, direction: str, subject: Endpoint, peer: Endpoint, protocol: str, port: int
    ) -> Decision | None: ...


def _pods_match(pods: PodSet, endpoint: Endpoint) -> bool:
    return (
        endpoint.in_pod_network
        and pods.namespaces.matches(endpoint.namespace_labels)
        and (pods.pods is None or pods.pods.matches(endpoint.labels))
    )


def _in_networks(networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...], ips: tuple[str, ...]) -> bool:
    for ip in ips:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            continue
        if any(address.version == n.version and address in n for n in networks):
            return True
    return False


def _peer_matches(peer: PlatformPeer, endpoint: Endpoint) -> bool:
    if peer.pods is not None:
        return _pods_match(peer.pods, endpoint)
    if peer.networks:
        return _in_networks(peer.networks, endpoint.ips)
    if peer.nodes is not None:
        return endpoint.node is not None and peer.nodes.matches(endpoint.node.labels)
    return False  # domainNames: names, not addresses; a connection to an address never matches them here


def _port_matches(entry: PlatformPort, receiver: Endpoint, protocol: str, port: int) -> bool:
    if entry.name is not None:
        return any(p.name == entry.name and p.protocol == protocol and p.port == port for p in receiver.ports)
    return entry.protocol == protocol and entry.first <= port <= entry.last


def rule_matches(rule: PlatformRule, peer: Endpoint, receiver: Endpoint, protocol: str, port: int) -> bool:
    if not any(_peer_matches(p, peer) for p in rule.peers):
        return False
    return rule.ports is None or any(_port_matches(e, receiver, protocol, port) for e in rule.ports)


def ordered(policies: list[PlatformPolicy], tier: str) -> list[PlatformPolicy]:
    """One tier's policies in evaluation order: priority (BANP has none), then name."""
    found = [p for p in policies if p.tier == tier]
    return sorted(found, key=lambda p: (p.ref.priority if p.ref.priority is not None else -1, p.ref.name))


class TierEvaluator:
    def __init__(self, policies: list[PlatformPolicy], middle: MiddleTier) -> None:
        self.admin = ordered(policies, ADMIN)
        self.baseline = ordered(policies, BASELINE)
        self.middle = middle

    def decide(self, direction: str, subject: Endpoint, peer: Endpoint, protocol: str, port: int) -> Decision:
        """The verdict for `subject`'s `direction` (Egress: subject is the source) towards `peer`."""
        receiver = subject if direction == "Ingress" else peer
        passed: list[str] = []
        if subject.in_pod_network:
            found = self._tier(self.admin, direction, subject, peer, receiver, protocol, port)
            if found is not None and found[0].verdict == PASS:
                passed.append(_describe(*found)[0] + " " + _describe(*found)[1])
            elif found is not None:
                return self._decision(direction, ADMIN, *found)
        middle = self.middle.decide(direction, subject, peer, protocol, port)
        if middle is not None:
            return dataclasses.replace(middle, passed=tuple(passed))
        if subject.in_pod_network:
            found = self._tier(self.baseline, direction, subject, peer, receiver, protocol, port)
            if found is not None:
                return dataclasses.replace(self._decision(direction, BASELINE, *found), passed=tuple(passed))
        return Decision(direction, True, "default", passed=tuple(passed))

    @staticmethod
    def _tier(
        policies: list[PlatformPolicy],
        direction: str,
        subject: Endpoint,
        peer: Endpoint,
        receiver: Endpoint,
        protocol: str,
        port: int,
    ) -> tuple[PlatformRule, PlatformPolicy] | None:
        for policy in policies:
            if not _pods_match(policy.subject, subject):
                continue
            for rule in policy.rules(direction):
                if rule_matches(rule, peer, receiver, protocol, port):
                    return rule, policy
        return None

    @staticmethod
    def _decision(direction: str, tier: str, rule: PlatformRule, policy: PlatformPolicy) -> Decision:
        name, text = _describe(rule, policy)
        return Decision(direction, rule.verdict == ALLOW, tier, name, text)


def _describe(rule: PlatformRule, policy: PlatformPolicy) -> tuple[str, str]:
    return f"{policy.ref} ({policy.ref.rank})", f"{rule.label} ({rule.action})"


class _NetworkPolicyDenies:
    """A NetworkPolicy tier that isolates everything and allows nothing: what the Admin tier alone decides."""

    def decide(self, direction: str, subject: Endpoint, peer: Endpoint, protocol: str, port: int) -> Decision:
        return Decision(direction, False, "NetworkPolicy")


def admin_accepts(
    policies: list[PlatformPolicy], direction: str, subject: Endpoint, peer: Endpoint, protocol: str, port: int
) -> Decision | None:
    """The Admin tier's Accept of `subject`'s `direction` towards `peer`, whatever the NetworkPolicies say (None
    when the Admin tier does not accept it: no rule matches, a Deny, or a Pass handing it to NetworkPolicy)."""
    decision = TierEvaluator(policies, _NetworkPolicyDenies()).decide(direction, subject, peer, protocol, port)
    return decision if decision.allowed and decision.tier == ADMIN else None
