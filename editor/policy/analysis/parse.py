"""Policies read, validated and defaulted, not yet matched against a cluster; Kubernetes NetworkPolicy.

Every error names the policy, the field and its file:line (`_PolicyReader`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from ..manifests import PolicyObject
from ..model import Part, Path, Policy, Port, Problem, Rule, Selector, read_policy
from ..model.read import KNOWN_FIELDS, read_selector
from ..selectors import EVERYTHING, LabelSelector
from ..yamlio import InputError
from .connections import MAX_PORT, MIN_PORT, PROTOCOLS

_IANA_SVC_NAME = re.compile(r"(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?=[a-z0-9]))*")
Block = tuple[tuple[int, int, int], ...]  # (ip version, first, last) intervals
ENTITY_PEERS = ("host", "remote-node", "kube-apiserver", "health", "init", "ingress", "unmanaged")
ENTITIES = (*ENTITY_PEERS, "world", "world-ipv4", "world-ipv6", "cluster", "all", "none")
_NS_KEY = "io.kubernetes.pod.namespace"
_NS_LABELS_PREFIX = "io.cilium.k8s.namespace.labels."
_WORLD_BLOCKS: dict[int, Block] = {4: ((4, 0, 2**32 - 1),), 6: ((6, 0, 2**128 - 1),)}
_WORLD_VERSIONS = {"world": (4, 6), "world-ipv4": (4,), "world-ipv6": (6,)}


@dataclasses.dataclass(frozen=True)
class PolicyRef:
    """A policy (or one rule of a Cilium policy's `specs`) as explanations name it."""

    kind: str
    namespace: str | None
    name: str
    where: str
    spec_index: int | None = None  # position in `specs` of a Cilium policy

    def __str__(self) -> str:
        name = f"{self.namespace}/{self.name}" if self.namespace else self.name
        suffix = f" specs[{self.spec_index}]" if self.spec_index is not None else ""
        return f"{self.kind} '{name}'{suffix}"


@dataclasses.dataclass(frozen=True)
class _PodPeer:
    """Kubernetes peer: pods matching `pods` in namespaces matching `namespaces` (None: the policy's)."""

    namespaces: LabelSelector | None
    pods: LabelSelector | None
    policy_namespace: str


@dataclasses.dataclass(frozen=True)
class _IPPeer:
    block: Block
    kubernetes: bool  # a NetworkPolicy ipBlock, which may match pod IPs (Options); Cilium CIDRs never do


@dataclasses.dataclass(frozen=True)
class _EndpointPeer:
    """Cilium endpoint selector over identity labels (pod labels plus the namespace and reserved labels)."""

    selector: LabelSelector


@dataclasses.dataclass(frozen=True)
class _EntityPeerSel:
    name: str


@dataclasses.dataclass(frozen=True)
class _FqdnSel:
    name: str | None
    pattern: str | None


PeerSel = _PodPeer | _IPPeer | _EndpointPeer | _EntityPeerSel | _FqdnSel


@dataclasses.dataclass(frozen=True)
class _PortEntry:
    protocols: tuple[str, ...]
    port: int | str | None  # None: every port
    end: int | None = None


@dataclasses.dataclass
class _Rule:
    index: int  # 1-based position in its list, as explanations count
    label: str  # "Ingress", "Egress", "IngressDeny", "EgressDeny"
    peers: list[PeerSel] | None  # None: every peer
    ports: list[_PortEntry] | None  # None: every port of every protocol
    deny: bool = False
    l7: bool = False
    bits: int = 0  # matched peer indices, filled in when compiled against the cluster
    # Cilium egress: a named port resolves against every pod of the cluster, not the receiving one (C10a)
    cluster_named_ports: bool = False
    icmps: frozenset[tuple[str, int]] = frozenset()  # a Cilium rule's `icmps`: (ICMPv4 or ICMPv6, type) pairs

    @property
    def icmp(self) -> frozenset[tuple[str, int]] | None:
        """The ICMP this rule allows (or denies, for a deny rule) where Cilium enforces it: all of it (None) for
        a rule without ports, Cilium's L3-only rule, else the types of its `icmps`; ports alone allow no ICMP
        (SEMANTICS.md C12). cilium/cilium pkg/policy/rule.go mergeIngress/mergeEgress: a rule with no toPorts
        and no icmps is one filter of port 0 and protocol ANY (every protocol); each icmps field is a filter of
        its type on protocol ICMP or ICMPv6 (pkg/policy/api/icmp.go ICMPField.PortProtocol). A NetworkPolicy
        rule reads as Cilium translates it (K1: its ports become toPorts, and a rule without ports has none)."""
        return None if self.ports is None else self.icmps


@dataclasses.dataclass
class _Direction:
    rules: list[_Rule]
    isolates: bool  # puts the selected pods into default deny for this direction
    applies: bool  # the policy has a say in this direction at all
    # Rules of a direction missing from policyTypes: they allow nothing, but their CIDRs still cut the external
    # ranges, as netpol-analyzer does, so that both tools print the same intervals.
    ignored: list[_Rule] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Policy:
    ref: PolicyRef
    # The pods it applies to: those of `namespace` (None: every namespace, a CCNP) that `selector` matches,
    # on their labels (NetworkPolicy) or on their Cilium identity labels.
    namespace: str | None
    selector: LabelSelector
    on_identity: bool
    ingress: _Direction
    egress: _Direction
    pod_label_keys: frozenset[str]  # keys its pod selectors look at (for messages about label differences)
    subjects: int = 0  # bitset of selected classes


def _unknown_field(key: Any, what: str, known: tuple[str, ...]) -> str:
    return (
        f"unknown field {key!r}: {what} has only {' and '.join(known)} (mis-indented?); the API server rejects "
        "this policy"
    )


def _path_text(path: Iterable[str | int]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


class _PolicyReader:
    """Validation and defaulting of one policy object; every error names the field and its line."""

    def __init__(self, policy: PolicyObject, warnings: list[str]) -> None:
        self.policy = policy
        self.warnings = warnings
        self._model: Policy | None = None
        self._problems: dict[Path, Problem] | None = None

    @property
    def model(self) -> Policy:
        """The policy as written, read once (model/); not kept after the analyser's own form is made."""
        if self._model is None:
            self._model = read_policy(self.policy.source)
            if self._model is None:
                raise self.error(("kind",), "is not a kind of kinds.py")
        return self._model

    def check(self, path: Path, message: str | None = None) -> None:
        """Refuse the part at `path` when the model found it of the wrong shape (not a mapping, not a list)."""
        if self._problems is None:
            self._problems = {problem.path: problem for problem in self.model.problems}
        problem = self._problems.get(path) if self._problems else None
        if problem is not None:
            raise self.error(path, message or f"must be a {problem.expected}")

    def mapping(self, part: Part | None, path: Path) -> None:
        """Refuse a part written where a mapping belongs (a selector, an ipBlock) that is something else."""
        if part is not None and not isinstance(part.raw, dict):
            raise self.error(path, "must be a mapping")

    def error(self, path: tuple[str | int, ...], message: str) -> InputError:
        field = _path_text(path)
        return InputError(
            f"{self.policy}: {field + ': ' if field else ''}{message}",
            self.policy.source.source,
            self.policy.source.line_of(path),
        )

    def warn(self, path: tuple[str | int, ...], message: str) -> None:
        field = _path_text(path)
        line = self.policy.source.line_of(path)
        self.warnings.append(f"{self.policy.source.source}:{line}: {self.policy}: {field}: {message}")

    def get(
        self, obj: dict[str, Any], path: tuple[str | int, ...], key: str, kind: type[dict[str, Any]] | type[list[Any]]
    ) -> Any:
        """`obj[key]` if absent/null or of the expected type; an error naming the field otherwise."""
        value = obj.get(key)
        if value is not None and not isinstance(value, kind):
            raise self.error((*path, key), "must be a mapping" if kind is dict else "must be a list")
        return value

    def selector(self, obj: Any, path: tuple[str | int, ...], *, cilium: bool = False) -> LabelSelector:
        """A label selector read from `obj` (see `selector_of`)."""
        return self.selector_of(read_selector(obj, path, cilium=cilium), path)

    def selector_of(self, selector: Selector | None, path: Path) -> LabelSelector:
        """A label selector (absent: every pod); an unknown field in it is an error, like any other invalid
        selector (V5).

        `{matchLabels: null, role: frontend}` (a mis-indented matchLabels) read leniently is `{}`: every pod
        of the namespace, the widest reading of a line meant to narrow. The API server refuses the object
        (kubectl's strict field validation for NetworkPolicy, the CRD schema's `additionalProperties` for
        Cilium), and netpol-analyzer stops on an invalid policy rather than guess, so the analyser does too:
        a connection list for a policy that cannot be applied would describe no real cluster.
        """
        if selector is None:
            return EVERYTHING
        for where, what in selector.unknown:
            raise self.error(where, _unknown_field(where[-1], what, KNOWN_FIELDS[what]))
        if selector.error is not None:
            raise self.error((*path, *selector.error.path), f"selector error: {selector.error.detail}")
        assert selector.parsed is not None
        return selector.parsed

    def block(self, cidr: Any, excepts: Any, path: tuple[str | int, ...]) -> Block:
        """The addresses of `cidr` minus every `except` entry (each a strict subset, V2).

        The same blocks recur across a cluster's policies (egress to the same ranges), and Python's address
        parser is slow, so a valid block is computed once per written (cidr, except) pair.
        """
        key = (cidr, repr(excepts))
        block = _BLOCKS.get(key) if isinstance(cidr, str) else None
        if block is None:
            block = self._block(cidr, excepts, path)
            if isinstance(cidr, str) and len(_BLOCKS) < _MAX_BLOCKS:
                _BLOCKS[key] = block
        return block

    def _block(self, cidr: Any, excepts: Any, path: tuple[str | int, ...]) -> Block:
        network = self.network(cidr, (*path, "cidr"))
        intervals: list[tuple[int, int, int]] = [
            (network.version, int(network.network_address), int(network.broadcast_address))
        ]
        if excepts is not None and not isinstance(excepts, list):
            raise self.error((*path, "except"), "must be a list of CIDRs")
        for index, text in enumerate(excepts or []):
            excluded = self.network(text, (*path, "except", index))
            if excluded.version != network.version or not (
                excluded.subnet_of(network) and excluded.prefixlen > network.prefixlen  # type: ignore[arg-type]
            ):
                raise self.error((*path, "except", index), f"CIDR error: {text} must be a strict subset of cidr {cidr}")
            intervals = _block_subtract(intervals, int(excluded.network_address), int(excluded.broadcast_address))
        return tuple(intervals)

    def network(self, text: Any, path: tuple[str | int, ...]) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        if not isinstance(text, str):
            raise self.error(path, f"CIDR error: invalid CIDR address: {text!r} (expected a string like 10.0.0.0/8)")
        try:
            return ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise self.error(path, f"CIDR error: invalid CIDR address: {text}") from None


_BLOCKS: dict[tuple[str, str], Block] = {}
_MAX_BLOCKS = 20_000


def _block_subtract(intervals: list[tuple[int, int, int]], lo: int, hi: int) -> list[tuple[int, int, int]]:
    result: list[tuple[int, int, int]] = []
    for version, first, last in intervals:
        if hi < first or lo > last:
            result.append((version, first, last))
            continue
        if first < lo:
            result.append((version, first, lo - 1))
        if hi < last:
            result.append((version, hi + 1, last))
    return result


def _read_networkpolicy(policy: PolicyObject, warnings: list[str]) -> _Policy:
    reader = _PolicyReader(policy, warnings)
    namespace = policy.namespace or "default"
    reader.check(("spec",))
    spec = reader.model.specs[0] if reader.model.specs else None
    subject_selector = spec.subject if spec is not None else None
    reader.mapping(subject_selector, ("spec", "podSelector"))
    subject = reader.selector_of(subject_selector, ("spec", "podSelector"))  # D3: absent means {}
    written_types = spec.policy_types if spec is not None else None
    if written_types is not None and not isinstance(written_types, list):
        raise reader.error(("spec", "policyTypes"), "must be a list")
    types = written_types or []
    reader.check(("spec", "ingress"))
    reader.check(("spec", "egress"))
    for index, value in enumerate(types):
        if value not in ("Ingress", "Egress"):
            raise reader.error(("spec", "policyTypes", index), f"{value!r} is not Ingress or Egress")
    if len(types) > 2:
        raise reader.error(("spec", "policyTypes"), "may list at most 2 types (Ingress, Egress)")
    rules = {label: spec.section(label.lower()) if spec is not None else [] for label in ("Ingress", "Egress")}
    if not types:  # D1, SetDefaults_NetworkPolicy
        types = ["Ingress", *(["Egress"] if rules["Egress"] else [])]
    directions = {}
    for label, peer_key in (("Ingress", "from"), ("Egress", "to")):
        parsed = [_read_np_rule(reader, rule, label, peer_key, namespace) for rule in rules[label]]
        applies = label in types
        if rules[label] and not applies:
            reader.warn(
                ("spec", label.lower()),
                f"ignored: policyTypes {types} does not include {label} (Cilium applies "
                "them anyway, cilium#48703; drop the rules or add the type)",
            )
        directions[label] = _Direction(parsed, applies, applies) if applies else _Direction([], False, False, parsed)
    ref = PolicyRef("NetworkPolicy", namespace, policy.name, policy.where())
    keys = subject.label_keys().union(*(_pod_keys(d.rules) for d in directions.values()))
    return _Policy(ref, namespace, subject, False, directions["Ingress"], directions["Egress"], keys)


def _pod_keys(rules: list[_Rule]) -> frozenset[str]:
    keys: set[str] = set()
    for rule in rules:
        for peer in rule.peers or ():
            if isinstance(peer, _PodPeer) and peer.pods is not None:
                keys |= peer.pods.label_keys()
            elif isinstance(peer, _EndpointPeer):
                keys |= peer.selector.label_keys()
    return frozenset(keys)


def _read_np_rule(reader: _PolicyReader, rule: Rule, label: str, peer_key: str, namespace: str) -> _Rule:
    path = rule.path
    reader.check(path, "a rule must be a mapping")
    reader.check((*path, peer_key))
    reader.check((*path, "ports"))
    peers: list[PeerSel] = []
    for peer in rule.peers:
        peer_path = peer.path
        reader.check(peer_path, "a peer must be a mapping")
        reader.mapping(peer.pods, (*peer_path, "podSelector"))
        reader.mapping(peer.namespaces, (*peer_path, "namespaceSelector"))
        reader.mapping(peer.block, (*peer_path, "ipBlock"))
        if peer.pods is None and peer.namespaces is None and peer.block is None:
            raise reader.error(
                peer_path,
                "rule NetworkPolicyPeer error: cannot have empty rule peer; "
                "set podSelector, namespaceSelector or ipBlock",
            )
        if peer.block is not None:
            if peer.pods is not None or peer.namespaces is not None:
                raise reader.error(
                    peer_path,
                    "rule NetworkPolicyPeer error: cannot have both ipBlock and podSelector/namespaceSelector "
                    "in one peer (use separate list items)",
                )
            peers.append(_IPPeer(reader.block(peer.block.cidr, peer.block.excepts, peer.block.path), kubernetes=True))
        else:
            namespaces = peer.namespaces
            peers.append(
                _PodPeer(
                    None if namespaces is None else reader.selector_of(namespaces, namespaces.path),
                    None if peer.pods is None else reader.selector_of(peer.pods, peer.pods.path),
                    namespace,
                )
            )
    ports = [_read_np_port(reader, port) for port in rule.ports]
    return _Rule(rule.index + 1, label, peers or None, ports or None)


def _read_np_port(reader: _PolicyReader, entry: Port) -> _PortEntry:
    path = entry.path
    reader.check(path, "a port entry must be a mapping")
    protocol = entry.protocol
    if protocol is None:
        protocol = "TCP"  # D2
    elif protocol not in PROTOCOLS:
        raise reader.error((*path, "protocol"), f"unsupported protocol {protocol!r} (use TCP, UDP or SCTP)")
    port = entry.port
    end = entry.end_port
    if isinstance(port, bool) or not isinstance(port, int | str | None):
        raise reader.error((*path, "port"), "must be a port number or a port name")
    if isinstance(port, int) and not MIN_PORT <= port <= MAX_PORT:
        raise reader.error((*path, "port"), f"port {port} is not in 1-65535")
    if isinstance(port, str) and not (len(port) <= 15 and _IANA_SVC_NAME.fullmatch(port)):
        raise reader.error(
            (*path, "port"),
            f"{port!r} is not a valid port name (at most 15 lowercase letters, digits and '-', with a letter)",
        )
    if end is not None:
        if isinstance(end, bool) or not isinstance(end, int):
            raise reader.error((*path, "endPort"), "must be a port number")
        if not isinstance(port, int):
            raise reader.error(
                (*path, "endPort"), "endPort may only be set together with a numeric port (not a named port)"
            )
        if not port <= end <= MAX_PORT:
            raise reader.error(
                (*path, "endPort"),
                # the quoted part is netpol-analyzer's message (sic), so that both tools' errors match
                f"port range {port}-{end} is illegal: endPort {end} "
                + (f"is less than port {port}" if end < port else f"is more than {MAX_PORT}")
                + f' (netpol-analyzer: "port range {port}-{end} is legal; start and end values of the port range '
                'should be in {1-65535} and end may not be less than start")',
            )
    return _PortEntry((protocol,), port, end)
