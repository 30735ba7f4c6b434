"""AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1), as
np-guard/netpol-analyzer evaluates them (pkg/netpol/eval/internal/k8s/adminnetpol.go, baseline_admin_netpol.go):

For one direction of a pod and one peer, port by port: the AdminNetworkPolicies that select the pod, by priority
(lowest number first), then their rules in order: the first rule whose peers include the peer and whose ports
include the port decides (Allow, Deny, or Pass: on to the next layer). What no admin rule decided (or passed) is
up to the NetworkPolicies when one selects the pod for that direction; otherwise to the
BaselineAdminNetworkPolicy's rules in order (Allow or Deny), and what is left is allowed.

Every error names the policy, the field and its file:line; the texts contain netpol-analyzer's own messages so
that both tools' errors can be matched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..manifests import PolicyObject
from ..selectors import LabelSelector
from ..yamlio import InputError
from .connections import ALL_CONNECTIONS, MAX_PORT, MIN_PORT, NO_CONNECTIONS, PROTOCOLS, ConnectionSet
from .parse import PeerSel, PolicyRef, _Direction, _IPPeer, _PodPeer, _Policy, _PolicyReader, _PortEntry, _Rule

if TYPE_CHECKING:
    from .evaluate import Analysis, _DirectionState

ADMIN_KINDS = ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy")
_ACTIONS = {"AdminNetworkPolicy": ("Allow", "Deny", "Pass"), "BaselineAdminNetworkPolicy": ("Allow", "Deny")}


@dataclasses.dataclass
class AdminRule:
    name: str
    action: str  # Allow, Deny or Pass
    rule: _Rule  # peers and ports; its bits are filled in against the cluster

    @property
    def verb(self) -> str:
        return {"Allow": "allows", "Deny": "denies", "Pass": "passes"}[self.action]


@dataclasses.dataclass
class AdminPolicy:
    ref: PolicyRef
    priority: int | None  # None for the baseline policy
    subject: _PodPeer  # namespaces and pods it applies to
    ingress: list[AdminRule]
    egress: list[AdminRule]
    subjects: int = 0

    def rules(self, direction: str) -> list[AdminRule]:
        return self.ingress if direction == "Ingress" else self.egress


def _one_of(reader: _PolicyReader, obj: Any, path: tuple[str | int, ...], fields: tuple[str, ...], what: str) -> str:
    if not isinstance(obj, dict):
        raise reader.error(path, f"exactly one field must be set in a {what} (one of {', '.join(fields)})")
    present = [f for f in fields if obj.get(f) is not None]
    if len(present) != 1:
        raise reader.error(path, f"exactly one field must be set in a {what} (one of {', '.join(fields)})")
    return present[0]


def _pods_peer(reader: _PolicyReader, value: Any, path: tuple[str | int, ...]) -> _PodPeer:
    if not isinstance(value, dict):
        raise reader.error(path, "must be a mapping with namespaceSelector and podSelector")
    namespaces = reader.selector(value.get("namespaceSelector") or {}, (*path, "namespaceSelector"))
    pods = reader.selector(value.get("podSelector") or {}, (*path, "podSelector"))
    return _PodPeer(namespaces, pods, "")


def _peer(reader: _PolicyReader, value: Any, path: tuple[str | int, ...], egress: bool) -> list[PeerSel]:
    fields = ("namespaces", "pods", "nodes", "networks") if egress else ("namespaces", "pods")
    field = _one_of(reader, value, path, fields, "rule peer")
    if field == "namespaces":
        return [_PodPeer(reader.selector(value["namespaces"], (*path, "namespaces")), None, "")]
    if field == "pods":
        return [_pods_peer(reader, value["pods"], (*path, "pods"))]
    if field == "nodes":
        reader.warn((*path, "nodes"), "nodes are not modelled (no Node objects): the peer matches nothing")
        return []
    networks = value["networks"]
    if not isinstance(networks, list) or not networks:
        raise reader.error((*path, "networks"), "must be a non-empty list of CIDRs")
    peers: list[PeerSel] = []
    for index, cidr in enumerate(networks):
        block = reader.block(cidr, None, (*path, "networks", index))
        if block[0][0] == 6:
            # as netpol-analyzer: its admin policy evaluation reads IPv4 networks only
            reader.warn((*path, "networks", index), f"IPv6 network {cidr} is not analysed; ignored")
            continue
        peers.append(_IPPeer(block, kubernetes=True))
    return peers


def _port(reader: _PolicyReader, value: Any, path: tuple[str | int, ...]) -> _PortEntry:
    field = _one_of(reader, value, path, ("portNumber", "namedPort", "portRange"), "port")
    if field == "namedPort":
        if not isinstance(value["namedPort"], str):
            raise reader.error((*path, "namedPort"), "must be a port name")
        return _PortEntry(PROTOCOLS, value["namedPort"])
    spec = value[field]
    if not isinstance(spec, dict):
        raise reader.error((*path, field), "must be a mapping")
    protocol = spec.get("protocol") or "TCP"
    if protocol not in PROTOCOLS:
        raise reader.error((*path, field, "protocol"), f"unsupported protocol {protocol!r} (use TCP, UDP or SCTP)")
    if field == "portNumber":
        port = spec.get("port")
        if isinstance(port, bool) or not isinstance(port, int) or not MIN_PORT <= port <= MAX_PORT:
            raise reader.error((*path, field, "port"), "must be a port number in 1-65535")
        return _PortEntry((protocol,), port)
    start, end = spec.get("start"), spec.get("end")
    valid = all(isinstance(v, int) and not isinstance(v, bool) and MIN_PORT <= v <= MAX_PORT for v in (start, end))
    if not valid or end < start:  # type: ignore[operator]
        raise reader.error(
            (*path, field),
            f'port range {start}-{end} is illegal (netpol-analyzer: "port range {start}-{end} is legal; start and '
            'end values of the port range should be in {1-65535} and end may not be less than start")',
        )
    return _PortEntry((protocol,), start, end)


def _rules(reader: _PolicyReader, spec: dict[str, Any], label: str, kind: str) -> list[AdminRule]:
    egress = label == "Egress"
    key, peer_key = label.lower(), ("to" if egress else "from")
    raw = reader.get(spec, ("spec",), key, list) or []
    rules = []
    for index, value in enumerate(raw):
        path: tuple[str | int, ...] = ("spec", key, index)
        if not isinstance(value, dict):
            raise reader.error(path, "a rule must be a mapping")
        action = value.get("action")
        if action not in _ACTIONS[kind]:
            raise reader.error(
                (*path, "action"), f"unrecognized action {action!r}: {kind} rules are {', '.join(_ACTIONS[kind])}"
            )
        peers_raw = value.get(peer_key)
        if not isinstance(peers_raw, list) or not peers_raw:
            raise reader.error((*path, peer_key), f"{peer_key} field must be defined and contain at least one item")
        peers = [p for i, peer in enumerate(peers_raw) for p in _peer(reader, peer, (*path, peer_key, i), egress)]
        ports_raw = value.get("ports")
        if ports_raw is not None and not isinstance(ports_raw, list):
            raise reader.error((*path, "ports"), "must be a list")
        ports = [_port(reader, port, (*path, "ports", i)) for i, port in enumerate(ports_raw or [])]
        raw_name = value.get("name")
        name = raw_name if isinstance(raw_name, str) else str(index)
        rules.append(AdminRule(name, action, _Rule(index + 1, label, peers, ports or None)))
    return rules


def read_admin(policy: PolicyObject, warnings: list[str]) -> AdminPolicy:
    reader = _PolicyReader(policy, warnings)
    spec: dict[str, Any] = reader.get(policy.obj, (), "spec", dict) or {}
    priority = None
    if policy.kind == "AdminNetworkPolicy":
        priority = spec.get("priority")
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 1000:
            raise reader.error(
                ("spec", "priority"),
                f'Invalid Priority Value: {priority} in Admin Network Policy: "{policy.name}"; Priority value must '
                "be between 0-1000",
            )
    subject_raw: Any = spec.get("subject")  # unchecked YAML: _one_of checks that it is a mapping
    field = _one_of(reader, subject_raw, ("spec", "subject"), ("namespaces", "pods"), "subject")
    if field == "namespaces":
        subject = _PodPeer(reader.selector(subject_raw["namespaces"], ("spec", "subject", "namespaces")), None, "")
    else:
        subject = _pods_peer(reader, subject_raw["pods"], ("spec", "subject", "pods"))
    ref = PolicyRef(policy.kind, None, policy.name, policy.where())
    return AdminPolicy(
        ref,
        priority,
        subject,
        _rules(reader, spec, "Ingress", policy.kind),
        _rules(reader, spec, "Egress", policy.kind),
    )


def read_admins(objects: list[PolicyObject], warnings: list[str]) -> list[AdminPolicy]:
    """The admin policies, by priority (the baseline one last); only one baseline policy may exist."""
    admins: list[AdminPolicy] = []
    baseline: PolicyObject | None = None
    for policy in objects:
        if policy.kind == "BaselineAdminNetworkPolicy":
            if baseline is not None:
                raise InputError(
                    f"{policy}: only one baseline admin network policy may be provided in input resources; one "
                    f"already exists ({baseline.where()})",
                    policy.source.source,
                    policy.source.line,
                )
            baseline = policy
        admins.append(read_admin(policy, warnings))
    return sorted(admins, key=lambda a: (a.priority is None, a.priority or 0, a.ref.name))


@dataclasses.dataclass
class AdminDecision:
    """How the admin layers decide one side of a pair, before and after the NetworkPolicies."""

    allowed: ConnectionSet
    matches: list[tuple[AdminPolicy, AdminRule, ConnectionSet]]  # the rules that decided, with what they decided


class AdminState:
    """A direction's effective connections with the admin layers around the NetworkPolicy layer (`base`)."""

    def __init__(self, analysis: Analysis, base: _DirectionState, direction: str) -> None:
        self.analysis = analysis
        self.base = base
        self.direction = direction
        self.isolated = base.isolated
        self.allow = base.allow
        self.deny = base.deny
        self.admins = [a for a in analysis.admin_policies if a.priority is not None]
        self.baseline = [a for a in analysis.admin_policies if a.priority is None]
        self.cache: dict[tuple[int, int], AdminDecision] = {}

    def _ports(self, rule: AdminRule, cls: int, peer: int) -> ConnectionSet:
        n_classes = len(self.analysis.universe.classes)
        receiver = cls if self.direction == "Ingress" else (peer if peer < n_classes else None)
        return self.analysis._ports(rule.rule, receiver)[0]

    def _walk(
        self,
        policies: Sequence[AdminPolicy],
        cls: int,
        peer: int,
        left: ConnectionSet,
        matches: list[tuple[AdminPolicy, AdminRule, ConnectionSet]],
    ) -> tuple[ConnectionSet, ConnectionSet]:
        """The rules of `policies` in order over the connections `left` undecided (each match appended to
        `matches`): what they allow, and what none of them decides."""
        allowed = NO_CONNECTIONS
        for admin in policies:
            if not admin.subjects >> cls & 1:
                continue
            for rule in admin.rules(self.direction):
                if rule.rule.bits >> peer & 1:
                    conns = self._ports(rule, cls, peer) & left
                    if conns:
                        matches.append((admin, rule, conns))
                        if rule.action == "Allow":
                            allowed = allowed | conns
                        left = left - conns
        return allowed, left

    def decide(self, cls: int, peer: int) -> AdminDecision:
        key = (cls, peer)
        found = self.cache.get(key)
        if found is not None:
            return found
        matches: list[tuple[AdminPolicy, AdminRule, ConnectionSet]] = []
        allowed, _ = self._walk(self.admins, cls, peer, ALL_CONNECTIONS, matches)
        passed = ALL_CONNECTIONS - allowed - _decided(matches, "Deny")
        if self.base.isolated[cls]:
            allowed = allowed | (passed & self.base.allow[cls].get(peer, NO_CONNECTIONS))
        else:
            baseline_allowed, passed = self._walk(self.baseline, cls, peer, passed, matches)
            allowed = allowed | baseline_allowed | passed
        denied = self.base.deny[cls].get(peer)
        found = AdminDecision(allowed - denied if denied is not None else allowed, matches)
        self.cache[key] = found
        return found

    def effective(self, cls: int, peer: int) -> ConnectionSet:
        return self.decide(cls, peer).allowed


def _decided(matches: list[tuple[AdminPolicy, AdminRule, ConnectionSet]], action: str) -> ConnectionSet:
    result = NO_CONNECTIONS
    for _, rule, conns in matches:
        if rule.action == action:
            result = result | conns
    return result


def admin_shadow(admin: AdminPolicy) -> _Policy:
    """The admin policy as the universe sees a policy: only its rules' CIDRs matter there (they cut the external
    ranges); it selects nothing and isolates nothing."""
    return _Policy(
        admin.ref,
        None,
        LabelSelector(),
        False,
        _Direction([r.rule for r in admin.ingress], False, False),
        _Direction([r.rule for r in admin.egress], False, False),
        frozenset(),
    )
