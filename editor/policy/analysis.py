"""Who may talk to whom under a set of manifests and policies, why, and how two policy sets differ.

The semantics are SEMANTICS.md section 3 (Kubernetes NetworkPolicy, with the API server's defaulting applied
here because files are not defaulted) and section 4 (CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy).

API:
* `analyse(cluster, options=Options()) -> Analysis` validates every policy of a `manifests.Cluster` (raising
  `yamlio.InputError` naming policy, field and file:line) and computes the permitted connections.
* `Analysis.connections`: `{(src_peer, dst_peer): ConnectionSet}` for every pair with something allowed.
  Peers are `WorkloadPeer` (`ns/name[Kind]`), `ExternalPeer` (an IP interval, `a-b[External]`), `EntityPeer`
  (a Cilium entity such as `host[Entity]`, present only when a Cilium policy names it) and `FqdnPeer` (a
  `toFQDNs` name or pattern, an opaque external destination, `api.example.com[FQDN]`).
* `Analysis.connection(src, dst)`, `.explain(src, dst) -> Explanation` (which policy and rule allowed or denied
  what), `.peers()`, `.peer(text)`, `.workload_peer(workload)` and `.external_peer(ip, as_source)` to find
  peers, `.warnings` (rules that cannot apply, ambiguous Cilium rules, ignored fields).
* The peers outside the pods: `.external_ranges(as_source)` (address intervals per IP version), `.entities()`,
  `.fqdns()`, and all of them per side, `.external_sources()` and `.external_destinations()`.
* `format_connlist(analysis)`: np-guard/netpol-analyzer's txt connlist format; `format_explanations(analysis)`;
  `diff(a, b) -> list[DiffEntry]` and `format_diff(entries)` in netpol-analyzer's diff format.
* `ConnectionSet`: protocol -> disjoint port intervals for TCP, UDP and SCTP (the only protocols NetworkPolicy
  defines); `ALL_CONNECTIONS` and `NO_CONNECTIONS` are its extremes.

How it scales: pods with the same namespace, labels, container ports (and, with `ipblock_matches_pods`, the same
ipBlock membership) form one class and are evaluated once; rule peers are bitsets over classes and IP
intervals. External IPs are the disjoint intervals of the address space cut at every CIDR boundary that rules
use, separately for sources (ingress rules) and destinations (egress rules), as netpol-analyzer does.
"""

from __future__ import annotations

import bisect
import dataclasses
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .manifests import NAMESPACE_NAME_LABEL, Cluster, ContainerPort, Pod, PolicyObject, Workload
from .selectors import LabelSelector, Requirement, SelectorError, parse_selector
from .yamlio import InputError

PROTOCOLS = ("TCP", "UDP", "SCTP")
MIN_PORT, MAX_PORT = 1, 65535

# ---------------------------------------------------------------------------------------------------------
# Connection sets

Intervals = tuple[tuple[int, int], ...]
_FULL: Intervals = ((MIN_PORT, MAX_PORT),)


def _merge(intervals: Iterable[tuple[int, int]]) -> Intervals:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _intersect(a: Intervals, b: Intervals) -> Intervals:
    result: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            result.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(result)


def _subtract(a: Intervals, b: Intervals) -> Intervals:
    result: list[tuple[int, int]] = []
    for lo, hi in a:
        for blo, bhi in b:
            if bhi < lo or blo > hi:
                continue
            if blo > lo:
                result.append((lo, blo - 1))
            lo = bhi + 1
            if lo > hi:
                break
        if lo <= hi:
            result.append((lo, hi))
    return tuple(result)


@dataclasses.dataclass(frozen=True)
class ConnectionSet:
    """Allowed (protocol, port) pairs: for TCP, UDP and SCTP (in that order) sorted disjoint port intervals."""

    ranges: tuple[Intervals, Intervals, Intervals] = ((), (), ())

    @staticmethod
    def of(protocols: Iterable[str], lo: int = MIN_PORT, hi: int = MAX_PORT) -> ConnectionSet:
        """The ports lo..hi of each of `protocols`."""
        wanted = set(protocols)
        return _interned(tuple(((lo, hi),) if p in wanted else () for p in PROTOCOLS))

    def __or__(self, other: ConnectionSet) -> ConnectionSet:
        if other is NO_CONNECTIONS or self is ALL_CONNECTIONS or self == other:
            return self
        if self is NO_CONNECTIONS or other is ALL_CONNECTIONS:
            return other
        return _interned(tuple(_merge(a + b) for a, b in zip(self.ranges, other.ranges, strict=True)))

    def __and__(self, other: ConnectionSet) -> ConnectionSet:
        if other is ALL_CONNECTIONS or self is NO_CONNECTIONS or self == other:
            return self
        if self is ALL_CONNECTIONS or other is NO_CONNECTIONS:
            return other
        return _interned(tuple(_intersect(a, b) for a, b in zip(self.ranges, other.ranges, strict=True)))

    def __sub__(self, other: ConnectionSet) -> ConnectionSet:
        if other is NO_CONNECTIONS or self is NO_CONNECTIONS:
            return self
        return _interned(tuple(_subtract(a, b) for a, b in zip(self.ranges, other.ranges, strict=True)))

    def __bool__(self) -> bool:
        return any(self.ranges)

    @property
    def is_all(self) -> bool:
        return all(r == _FULL for r in self.ranges)

    def allows(self, protocol: str, port: int) -> bool:
        if protocol not in PROTOCOLS:
            return False
        return any(lo <= port <= hi for lo, hi in self.ranges[PROTOCOLS.index(protocol)])

    def items(self) -> Iterator[tuple[str, Intervals]]:
        """(protocol, intervals) for each protocol with something allowed."""
        for protocol, intervals in zip(PROTOCOLS, self.ranges, strict=True):
            if intervals:
                yield protocol, intervals

    def to_dict(self) -> dict[str, list[list[int]]]:
        return {protocol: [[lo, hi] for lo, hi in intervals] for protocol, intervals in self.items()}

    def __str__(self) -> str:
        if self.is_all:
            return "All Connections"
        if not self:
            return "No Connections"
        parts = [
            f"{protocol} " + ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in intervals)
            for protocol, intervals in self.items()
        ]
        return ",".join(sorted(parts))


NO_CONNECTIONS = ConnectionSet()
ALL_CONNECTIONS = ConnectionSet((_FULL, _FULL, _FULL))
_INTERN: dict[tuple[Intervals, ...], ConnectionSet] = {}


def _interned(ranges: tuple[Intervals, ...]) -> ConnectionSet:
    """One object per value, so the identity fast paths above hit and sets stay cheap to compare."""
    found = _INTERN.get(ranges)
    if found is None:
        found = ConnectionSet(ranges)  # type: ignore[arg-type]
        if len(_INTERN) < 100_000:
            _INTERN[ranges] = found
    return found


_INTERN[NO_CONNECTIONS.ranges] = NO_CONNECTIONS
_INTERN[ALL_CONNECTIONS.ranges] = ALL_CONNECTIONS

# ---------------------------------------------------------------------------------------------------------
# Peers


@dataclasses.dataclass(frozen=True)
class WorkloadPeer:
    namespace: str
    name: str
    kind: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}[{self.kind}]"


@dataclasses.dataclass(frozen=True)
class ExternalPeer:
    """An interval of IP addresses outside the cluster (as integers, with the IP version)."""

    version: int
    first: int
    last: int

    def __str__(self) -> str:
        make = ipaddress.IPv4Address if self.version == 4 else ipaddress.IPv6Address
        return f"{make(self.first)}-{make(self.last)}[External]"


@dataclasses.dataclass(frozen=True)
class EntityPeer:
    """A Cilium entity that is not a pod or an IP range (host, remote-node, kube-apiserver, ...)."""

    name: str

    def __str__(self) -> str:
        return f"{self.name}[Entity]"


@dataclasses.dataclass(frozen=True)
class FqdnPeer:
    """A `toFQDNs` name or pattern: an external destination whose addresses are not known statically."""

    name: str

    def __str__(self) -> str:
        return f"{self.name}[FQDN]"


Peer = WorkloadPeer | ExternalPeer | EntityPeer | FqdnPeer


@dataclasses.dataclass(frozen=True)
class Options:
    """Implementation-defined behaviour (SEMANTICS.md 3.6)."""

    # Whether a NetworkPolicy ipBlock also matches pods whose IP (status.podIP) it contains. Off: the
    # netpol-analyzer and Cilium behaviour; on: cyclonus, the upstream e2e tests and Calico.
    ipblock_matches_pods: bool = False


# ---------------------------------------------------------------------------------------------------------
# Parsed policies (validated, defaulted, not yet matched against the cluster)

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


_SELECTOR_FIELDS = ("matchLabels", "matchExpressions")
_REQUIREMENT_FIELDS = ("key", "operator", "values")
# The L7 rule kinds of Cilium's L7Rules (pkg/policy/api/l4.go); the analyser allows their port either way.
_L7_KINDS = ("http", "kafka", "dns", "l7proto", "l7")


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

    def get(self, obj: dict[str, Any], path: tuple[str | int, ...], key: str, kind: type[dict] | type[list]) -> Any:
        """`obj[key]` if absent/null or of the expected type; an error naming the field otherwise."""
        value = obj.get(key)
        if value is not None and not isinstance(value, kind):
            raise self.error((*path, key), "must be a mapping" if kind is dict else "must be a list")
        return value

    def selector(self, obj: Any, path: tuple[str | int, ...], *, cilium: bool = False) -> LabelSelector:
        """A label selector; an unknown field in it is an error, like any other invalid selector (V5).

        `{matchLabels: null, role: frontend}` (a mis-indented matchLabels) read leniently is `{}`: every pod
        of the namespace, the widest reading of a line meant to narrow. The API server refuses the object
        (kubectl's strict field validation for NetworkPolicy, the CRD schema's `additionalProperties` for
        Cilium), and netpol-analyzer stops on an invalid policy rather than guess, so the analyser does too:
        a connection list for a policy that cannot be applied would describe no real cluster.
        """
        if isinstance(obj, dict):
            for key in obj:
                if key not in _SELECTOR_FIELDS:
                    raise self.error((*path, key), _unknown_field(key, "a label selector", _SELECTOR_FIELDS))
            expressions = obj.get("matchExpressions")
            for index, expression in enumerate(expressions if isinstance(expressions, list) else []):
                for key in expression if isinstance(expression, dict) else ():
                    if key not in _REQUIREMENT_FIELDS:
                        where = (*path, "matchExpressions", index, key)
                        raise self.error(where, _unknown_field(key, "a matchExpressions entry", _REQUIREMENT_FIELDS))
        try:
            return parse_selector(obj, "", source_prefixes=cilium)
        except SelectorError as exc:
            raise self.error((*path, *exc.path), f"selector error: {exc.detail}") from None

    def block(self, cidr: Any, excepts: Any, path: tuple[str | int, ...]) -> Block:
        """The addresses of `cidr` minus every `except` entry (each a strict subset, V2)."""
        network = self.network(cidr, (*path, "cidr"))
        intervals = [(network.version, int(network.network_address), int(network.broadcast_address))]
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
    spec = reader.get(policy.obj, (), "spec", dict) or {}
    raw_selector = reader.get(spec, ("spec",), "podSelector", dict)
    subject = reader.selector(raw_selector or {}, ("spec", "podSelector"))  # D3: absent means {}
    types = reader.get(spec, ("spec",), "policyTypes", list) or []
    ingress_rules = reader.get(spec, ("spec",), "ingress", list) or []
    egress_rules = reader.get(spec, ("spec",), "egress", list) or []
    for index, value in enumerate(types):
        if value not in ("Ingress", "Egress"):
            raise reader.error(("spec", "policyTypes", index), f"{value!r} is not Ingress or Egress")
    if len(types) > 2:
        raise reader.error(("spec", "policyTypes"), "may list at most 2 types (Ingress, Egress)")
    if not types:  # D1, SetDefaults_NetworkPolicy
        types = ["Ingress", *(["Egress"] if egress_rules else [])]
    directions = {}
    for label, rules, peer_key in (("Ingress", ingress_rules, "from"), ("Egress", egress_rules, "to")):
        parsed = [
            _read_np_rule(reader, rule, ("spec", label.lower(), index), label, peer_key, namespace)
            for index, rule in enumerate(rules)
        ]
        applies = label in types
        if rules and not applies:
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


def _read_np_rule(
    reader: _PolicyReader, rule: Any, path: tuple[str | int, ...], label: str, peer_key: str, namespace: str
) -> _Rule:
    if rule is None:
        rule = {}
    if not isinstance(rule, dict):
        raise reader.error(path, "a rule must be a mapping")
    raw_peers = reader.get(rule, path, peer_key, list) or []
    raw_ports = reader.get(rule, path, "ports", list) or []
    peers: list[PeerSel] = []
    for index, peer in enumerate(raw_peers):
        peer_path = (*path, peer_key, index)
        if not isinstance(peer, dict):
            raise reader.error(peer_path, "a peer must be a mapping")
        pods = reader.get(peer, peer_path, "podSelector", dict)
        namespaces = reader.get(peer, peer_path, "namespaceSelector", dict)
        ip_block = reader.get(peer, peer_path, "ipBlock", dict)
        if pods is None and namespaces is None and ip_block is None:
            raise reader.error(
                peer_path,
                "rule NetworkPolicyPeer error: cannot have empty rule peer; "
                "set podSelector, namespaceSelector or ipBlock",
            )
        if ip_block is not None:
            if pods is not None or namespaces is not None:
                raise reader.error(
                    peer_path,
                    "rule NetworkPolicyPeer error: cannot have both ipBlock and podSelector/namespaceSelector "
                    "in one peer (use separate list items)",
                )
            block = reader.block(ip_block.get("cidr"), ip_block.get("except"), (*peer_path, "ipBlock"))
            peers.append(_IPPeer(block, kubernetes=True))
        else:
            peers.append(
                _PodPeer(
                    None if namespaces is None else reader.selector(namespaces, (*peer_path, "namespaceSelector")),
                    None if pods is None else reader.selector(pods, (*peer_path, "podSelector")),
                    namespace,
                )
            )
    ports = [_read_np_port(reader, entry, (*path, "ports", index)) for index, entry in enumerate(raw_ports)]
    return _Rule(path[-1] + 1, label, peers or None, ports or None)  # type: ignore[operator]


def _read_np_port(reader: _PolicyReader, entry: Any, path: tuple[str | int, ...]) -> _PortEntry:
    if not isinstance(entry, dict):
        raise reader.error(path, "a port entry must be a mapping")
    protocol = entry.get("protocol")
    if protocol is None:
        protocol = "TCP"  # D2
    elif protocol not in PROTOCOLS:
        raise reader.error((*path, "protocol"), f"unsupported protocol {protocol!r} (use TCP, UDP or SCTP)")
    port = entry.get("port")
    end = entry.get("endPort")
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
                f"endPort {end} is less than port {port}: port range {port}-{end} is illegal; start and end values "
                "of the port range should be in {1-65535} and end may not be less than start",
            )
    return _PortEntry((protocol,), port, end)


# -- Cilium

_CILIUM_L3 = {
    "Ingress": ("fromEndpoints", "fromCIDR", "fromCIDRSet", "fromEntities", "fromRequires", "fromGroups", "fromNodes"),
    "Egress": (
        "toEndpoints",
        "toCIDR",
        "toCIDRSet",
        "toEntities",
        "toFQDNs",
        "toServices",
        "toRequires",
        "toGroups",
        "toNodes",
    ),
}
_CILIUM_UNSUPPORTED = ("fromRequires", "fromGroups", "fromNodes", "toServices", "toRequires", "toGroups", "toNodes")
_CILIUM_PROTOCOLS = {"TCP": ("TCP",), "UDP": ("UDP",), "SCTP": ("SCTP",), "ANY": PROTOCOLS}


def _normalise_cilium_key(key: str) -> str:
    """`k8s:app` and `any:app` select the Kubernetes label `app`; other sources (`reserved:host`) stay."""
    source, colon, rest = key.partition(":")
    if colon and source in ("k8s", "any"):
        return rest
    return key


def _normalise_cilium(selector: LabelSelector) -> LabelSelector:
    return LabelSelector(
        tuple(sorted((_normalise_cilium_key(k), v) for k, v in selector.match_labels)),
        tuple(
            sorted(Requirement(_normalise_cilium_key(r.key), r.operator, r.values) for r in selector.match_expressions)
        ),
    )


def _read_cilium(policy: PolicyObject, warnings: list[str]) -> list[_Policy]:
    reader = _PolicyReader(policy, warnings)
    spec = reader.get(policy.obj, (), "spec", dict)
    specs = reader.get(policy.obj, (), "specs", list)
    rules: list[tuple[tuple[str | int, ...], Any, int | None]] = []
    if spec is not None:
        rules.append((("spec",), spec, None))
    for index, rule in enumerate(specs or []):
        rules.append((("specs", index), rule, index))
    if not rules:
        raise reader.error((), "needs spec or specs")
    result = []
    for path, rule, spec_index in rules:
        parsed = _read_cilium_rule(reader, rule, path, spec_index)
        if parsed is not None:
            result.append(parsed)
    return result


def _read_cilium_rule(
    reader: _PolicyReader, rule: Any, path: tuple[str | int, ...], spec_index: int | None
) -> _Policy | None:
    policy = reader.policy
    if not isinstance(rule, dict):
        raise reader.error(path, "a rule must be a mapping")
    endpoint_selector = reader.get(rule, path, "endpointSelector", dict)
    if endpoint_selector is None:
        if rule.get("nodeSelector") is not None:
            reader.warn((*path, "nodeSelector"), "host policies (nodeSelector) are not analysed; rule skipped")
            return None
        raise reader.error(path, "needs endpointSelector (or nodeSelector)")
    selector = _normalise_cilium(reader.selector(endpoint_selector, (*path, "endpointSelector"), cilium=True))
    namespace = policy.namespace
    if namespace is not None:  # C1: a CNP applies only in its own namespace, whatever the selector says
        named = dict(selector.match_labels).get(_NS_KEY)
        if named is not None and named != namespace:
            reader.warn((*path, "endpointSelector"), f"namespace {named!r} replaced by the policy's {namespace!r}")
        selector = LabelSelector(
            tuple((k, v) for k, v in selector.match_labels if k != _NS_KEY), selector.match_expressions
        )
    default_deny = reader.get(rule, path, "enableDefaultDeny", dict) or {}
    directions = {}
    for label in ("Ingress", "Egress"):
        key = label.lower()
        allow = reader.get(rule, path, key, list) or []
        deny = reader.get(rule, path, f"{key}Deny", list) or []
        parsed = [
            _read_cilium_peer_rule(reader, item, (*path, key, i), label, label, namespace, False)
            for i, item in enumerate(allow)
        ] + [
            _read_cilium_peer_rule(reader, item, (*path, f"{key}Deny", i), label, f"{label}Deny", namespace, True)
            for i, item in enumerate(deny)
        ]
        flag = default_deny.get(key)
        if flag is not None and not isinstance(flag, bool):
            raise reader.error((*path, "enableDefaultDeny", key), "must be true or false")
        directions[label] = _Direction(parsed, bool(parsed) and flag is not False, bool(parsed))  # C2, C3
    ref = PolicyRef(policy.kind, namespace, policy.name, policy.where(), spec_index)
    keys = selector.label_keys().union(*(_pod_keys(d.rules) for d in directions.values()))
    return _Policy(ref, namespace, selector, True, directions["Ingress"], directions["Egress"], keys)


def _read_cilium_peer_rule(
    reader: _PolicyReader,
    rule: Any,
    path: tuple[str | int, ...],
    direction: str,
    label: str,
    namespace: str | None,
    deny: bool,
) -> _Rule:
    if rule is None:
        rule = {}
    if not isinstance(rule, dict):
        raise reader.error(path, "a rule must be a mapping")
    present = [key for key in _CILIUM_L3[direction] if rule.get(key) is not None]
    peers: list[PeerSel] | None = None
    if present:  # C4: any L3 field, even an empty list, restricts peers to what the fields select
        peers = []
        for key in present:
            peers.extend(_read_cilium_l3(reader, rule, path, key, namespace, deny))
    elif not rule:
        reader.warn(
            path,
            "an empty rule {} allows everything in current Cilium but nothing in releases before 1.17 "
            "(ambiguous; write the peers and ports you mean)",
        )
    ports, l7 = _read_cilium_ports(reader, rule, path, deny)
    return _Rule(int(path[-1]) + 1, label, peers, ports, deny, l7)


def _read_cilium_l3(
    reader: _PolicyReader,
    rule: dict[str, Any],
    path: tuple[str | int, ...],
    key: str,
    namespace: str | None,
    deny: bool,
) -> list[PeerSel]:
    values = reader.get(rule, path, key, list)
    if key in _CILIUM_UNSUPPORTED or (key == "toFQDNs" and deny):
        reader.warn((*path, key), "is not modelled by the analyser; it allows nothing here")
        return []
    peers: list[PeerSel] = []
    for index, value in enumerate(values):
        item_path = (*path, key, index)
        if key in ("fromEndpoints", "toEndpoints"):
            if not isinstance(value, dict):
                raise reader.error(item_path, "an endpoint selector must be a mapping")
            peers.append(
                _EndpointPeer(_scope_endpoint_selector(reader.selector(value, item_path, cilium=True), namespace))
            )
        elif key in ("fromCIDR", "toCIDR"):
            network = reader.network(value, item_path)
            peers.append(
                _IPPeer(
                    ((network.version, int(network.network_address), int(network.broadcast_address)),), kubernetes=False
                )
            )
        elif key in ("fromCIDRSet", "toCIDRSet"):
            if not isinstance(value, dict):
                raise reader.error(item_path, "a CIDR set must be a mapping with cidr and except")
            if value.get("cidr") is None:
                reader.warn(item_path, "cidrGroupRef/cidrSelector are not modelled; this entry allows nothing")
                continue
            peers.append(_IPPeer(reader.block(value.get("cidr"), value.get("except"), item_path), kubernetes=False))
        elif key in ("fromEntities", "toEntities"):
            if value not in ENTITIES:
                raise reader.error(item_path, f"unknown entity {value!r} (known: {', '.join(ENTITIES)})")
            peers.append(_EntityPeerSel(value))
        else:  # toFQDNs
            if not isinstance(value, dict) or not (value.get("matchName") or value.get("matchPattern")):
                raise reader.error(item_path, "needs matchName or matchPattern")
            name, pattern = value.get("matchName"), value.get("matchPattern")
            peers.append(
                _FqdnSel(
                    str(name).lower().rstrip(".") if name else None,
                    str(pattern).lower().rstrip(".") if pattern else None,
                )
            )
    return peers


def _scope_endpoint_selector(selector: LabelSelector, namespace: str | None) -> LabelSelector:
    """C5/C6: a peer selector without a namespace (or reserved) key is limited to the policy's namespace
    (CNP) or to cluster pods in any namespace (CCNP)."""
    selector = _normalise_cilium(selector)
    keys = selector.label_keys()
    if any(k == _NS_KEY or k.startswith(_NS_LABELS_PREFIX) or k.startswith("reserved:") for k in keys):
        return selector
    if namespace is not None:
        return LabelSelector(tuple(sorted((*selector.match_labels, (_NS_KEY, namespace)))), selector.match_expressions)
    return LabelSelector(
        selector.match_labels, tuple(sorted((*selector.match_expressions, Requirement(_NS_KEY, "Exists"))))
    )


def _read_cilium_ports(
    reader: _PolicyReader, rule: dict[str, Any], path: tuple[str | int, ...], deny: bool
) -> tuple[list[_PortEntry] | None, bool]:
    to_ports = reader.get(rule, path, "toPorts", list) or []
    if not to_ports:
        # A rule with only `icmps` allows ICMP alone: nothing of TCP, UDP or SCTP.
        return ([] if rule.get("icmps") else None), False
    entries: list[_PortEntry] = []
    l7 = False
    for index, port_rule in enumerate(to_ports):
        rule_path = (*path, "toPorts", index)
        if not isinstance(port_rule, dict):
            raise reader.error(rule_path, "a toPorts entry must be a mapping")
        rules = reader.get(port_rule, rule_path, "rules", dict) or {}
        if rules and deny:
            raise reader.error((*rule_path, "rules"), "deny rules cannot carry L7 rules")
        # A warning, where an unknown selector field is an error: the analyser allows an L7 rule's port whole,
        # so the connection list is the same whichever way the API server treats the unknown kind.
        for kind in rules:
            if kind not in _L7_KINDS:
                reader.warn(
                    (*rule_path, "rules", kind),
                    f"unknown L7 rule kind {kind!r} (Cilium knows {', '.join(_L7_KINDS)}): the API server rejects "
                    "this policy, or drops the field when it is applied without validation, and then no L7 rule "
                    "filters the requests on these ports",
                )
        l7 = l7 or any(kind in rules for kind in _L7_KINDS)
        ports = reader.get(port_rule, rule_path, "ports", list) or []
        if not ports:
            entries.append(_PortEntry(PROTOCOLS, None))
        for p_index, port in enumerate(ports):
            entry = _read_cilium_port(reader, port, (*rule_path, "ports", p_index))
            if entry is not None:
                entries.append(entry)
    return entries, l7


def _read_cilium_port(reader: _PolicyReader, port: Any, path: tuple[str | int, ...]) -> _PortEntry | None:
    if not isinstance(port, dict):
        raise reader.error(path, "a port must be a mapping")
    protocol = port.get("protocol") or "ANY"  # C12: omitted means ANY, unlike NetworkPolicy
    if protocol not in _CILIUM_PROTOCOLS:
        if protocol in ("ICMP", "ICMPV6", "VRRP", "IGMP"):
            reader.warn((*path, "protocol"), f"{protocol} is not modelled (only TCP, UDP and SCTP)")
            return None
        raise reader.error((*path, "protocol"), f"unknown protocol {protocol!r} (use TCP, UDP, SCTP or ANY)")
    value = port.get("port")
    number: int | str | None
    if value is None or value in (0, "0", ""):
        number = None
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isdigit():
        number = int(value)
    elif isinstance(value, str) and _IANA_SVC_NAME.fullmatch(value.lower()):
        number = value.lower()
    else:
        raise reader.error((*path, "port"), f"{value!r} is not a port number or a port name")
    if isinstance(number, int) and not MIN_PORT <= number <= MAX_PORT:
        raise reader.error((*path, "port"), f"port {number} is not in 0-65535")
    end = port.get("endPort")
    if end is not None and (isinstance(end, bool) or not isinstance(end, int)):
        raise reader.error((*path, "endPort"), "must be a port number")
    if not isinstance(number, int) or end in (None, 0):
        end = None  # endPort is ignored for named ports and port 0
    elif not number <= end <= MAX_PORT:
        raise reader.error((*path, "endPort"), f"endPort {end} is less than port {number}")
    return _PortEntry(_CILIUM_PROTOCOLS[protocol], number, end)


# ---------------------------------------------------------------------------------------------------------
# The cluster side: pod classes and the peer index space


@dataclasses.dataclass
class _PodClass:
    index: int
    namespace: str
    labels: dict[str, str]
    ports: tuple[ContainerPort, ...]
    identity: dict[str, str]  # Cilium identity labels
    ips: tuple[str, ...]
    workloads: list[Workload]


def _identity(namespace: str, labels: Mapping[str, str], ns_labels: Mapping[str, str], account: str) -> dict[str, str]:
    identity = dict(labels)
    identity[_NS_KEY] = namespace
    identity.update({_NS_LABELS_PREFIX + k: v for k, v in ns_labels.items()})
    identity["io.cilium.k8s.policy.serviceaccount"] = account
    identity["io.cilium.k8s.policy.cluster"] = "default"
    return identity


def _cut_points(blocks: Iterable[Block]) -> dict[int, list[ExternalPeer]]:
    """The disjoint intervals of each used IP version's address space, cut at every block boundary."""
    cuts: dict[int, set[int]] = {4: {0}}
    for block in blocks:
        for version, first, last in block:
            cuts.setdefault(version, {0}).update((first, last + 1))
    atoms: dict[int, list[ExternalPeer]] = {}
    for version, points in cuts.items():
        top = _WORLD_BLOCKS[version][0][2]
        ordered = sorted(p for p in points if p <= top)
        atoms[version] = [
            ExternalPeer(version, lo, (ordered[i + 1] - 1) if i + 1 < len(ordered) else top)
            for i, lo in enumerate(ordered)
        ]
    return atoms


# Stand-ins for the wildcards of a name that is itself a pattern, which no DNS name contains.
_ANY_CHARS, _ANY_LABELS = "\x01", "\x02"


def fqdn_matches(pattern: str, name: str) -> bool:
    """Whether Cilium's `matchPattern` covers `name` (`*` alone: every name; `*` any run of name characters
    within a label; `**.` any number of leading labels). `name` may itself be a pattern (an FQDN peer comes
    from some rule's matchPattern): it is covered when each of its wildcards falls inside a wildcard of
    `pattern` that reaches at least as far, so that every name it stands for is covered too."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern in ("*", name):
        return True
    char = f"(?:[-a-z0-9_]|{_ANY_CHARS})"
    regex = re.escape(pattern).replace(r"\*\*\.", f"(?:{char}+\\.|{_ANY_LABELS})*").replace(r"\*", f"{char}*")
    return re.fullmatch(regex, name.replace("**.", _ANY_LABELS).replace("*", _ANY_CHARS)) is not None


def _fqdn_selects(selector: _FqdnSel, peer: FqdnPeer) -> bool:
    if selector.name is not None:
        return selector.name == peer.name
    return fqdn_matches(selector.pattern or "", peer.name)


class _Universe:
    """Every endpoint a rule can match, numbered: pod classes first, then IP intervals, entities and FQDNs."""

    def __init__(self, cluster: Cluster, policies: list[_Policy], options: Options) -> None:
        rules = [(r, d) for p in policies for d in ("Ingress", "Egress") for r in getattr(p, d.lower()).rules]
        ip_blocks = {s.block for r, _ in rules for s in r.peers or () if isinstance(s, _IPPeer)}
        pod_blocks = sorted(b for b in ip_blocks if options.ipblock_matches_pods and self._k8s_block(rules, b))
        self.classes: list[_PodClass] = []
        self.workload_classes: dict[tuple[str, str, str], list[int]] = {}
        self.class_pods: list[list[str]] = []
        by_key: dict[tuple[Any, ...], _PodClass] = {}
        for workload in cluster.workloads:
            ns_labels = _namespace_labels(cluster, workload.namespace)
            # a workload built without pods (e.g. from a drawing) stands for pods with its labels and ports
            pods = workload.pods or [Pod(workload.namespace, workload.name, workload.labels, workload.ports)]
            for pod in pods:
                membership = tuple(b for b in pod_blocks if any(_ip_in_block(ip, b) for ip in pod.ips))
                key = (pod.namespace, tuple(sorted(pod.labels.items())), pod.ports, pod.service_account, membership)
                cls = by_key.get(key)
                if cls is None:
                    identity = _identity(pod.namespace, pod.labels, ns_labels, pod.service_account)
                    cls = _PodClass(len(self.classes), pod.namespace, pod.labels, pod.ports, identity, pod.ips, [])
                    by_key[key] = cls
                    self.classes.append(cls)
                    self.class_pods.append([])
                if all(w.key != workload.key for w in cls.workloads):
                    cls.workloads.append(workload)
                self.class_pods[cls.index].append(pod.name)
                indices = self.workload_classes.setdefault(workload.key, [])
                if cls.index not in indices:
                    indices.append(cls.index)
        self.pod_blocks = {b: i for i, b in enumerate(pod_blocks)}
        self.class_blocks = [
            {b for b in pod_blocks if any(_ip_in_block(ip, b) for ip in cls.ips)} for cls in self.classes
        ]
        self.peers: list[Peer | None] = [None] * len(self.classes)
        cutting = rules + [
            (r, d) for p in policies for d in ("Ingress", "Egress") for r in getattr(p, d.lower()).ignored
        ]
        in_blocks = [s.block for r, d in cutting if d == "Ingress" for s in r.peers or () if isinstance(s, _IPPeer)]
        out_blocks = [s.block for r, d in cutting if d == "Egress" for s in r.peers or () if isinstance(s, _IPPeer)]
        self.src_atoms = self._add_atoms(_cut_points(in_blocks))
        self.dst_atoms = self._add_atoms(_cut_points(out_blocks))
        entity_names = {s.name for r, _ in rules for s in r.peers or () if isinstance(s, _EntityPeerSel)}
        entity_names |= {
            k.removeprefix("reserved:")
            for r, _ in rules
            for s in r.peers or ()
            if isinstance(s, _EndpointPeer)
            for k in s.selector.label_keys()
            if k.startswith("reserved:")
        }
        self.entities = {name: self._add(EntityPeer(name)) for name in ENTITY_PEERS if name in entity_names}
        fqdns = sorted({s.name or s.pattern or "" for r, _ in rules for s in r.peers or () if isinstance(s, _FqdnSel)})
        self.fqdns = {name: self._add(FqdnPeer(name)) for name in fqdns}
        class_bits = (1 << len(self.classes)) - 1
        entity_bits = sum(1 << i for i in self.entities.values())
        self.all_src = class_bits | self._bits(self.src_atoms) | entity_bits
        self.all_dst = class_bits | self._bits(self.dst_atoms) | entity_bits | sum(1 << i for i in self.fqdns.values())
        self.class_bits = class_bits
        self._starts: dict[tuple[str, int], list[int]] = {}

    @staticmethod
    def _k8s_block(rules: list[tuple[_Rule, str]], block: Block) -> bool:
        return any(
            isinstance(s, _IPPeer) and s.kubernetes and s.block == block for r, _ in rules for s in r.peers or ()
        )

    def _add(self, peer: Peer) -> int:
        self.peers.append(peer)
        return len(self.peers) - 1

    def _add_atoms(self, atoms: dict[int, list[ExternalPeer]]) -> dict[int, list[tuple[ExternalPeer, int]]]:
        return {version: [(atom, self._add(atom)) for atom in found] for version, found in atoms.items()}

    @staticmethod
    def _bits(atoms: dict[int, list[tuple[ExternalPeer, int]]]) -> int:
        return sum(1 << index for found in atoms.values() for _, index in found)

    def atom_index(self, direction: str, version: int, address: int) -> int | None:
        """The universe index of the interval holding `address` among sources ("Ingress") or destinations."""
        atoms = (self.src_atoms if direction == "Ingress" else self.dst_atoms).get(version)
        if not atoms:
            return None
        return atoms[bisect.bisect_right(self.starts(direction, version), address) - 1][1]

    def starts(self, direction: str, version: int) -> list[int]:
        """First addresses of the source ("Ingress") or destination intervals of an IP version, ascending."""
        key = (direction, version)
        if key not in self._starts:
            atoms = (self.src_atoms if direction == "Ingress" else self.dst_atoms).get(version, [])
            self._starts[key] = [a.first for a, _ in atoms]
        return self._starts[key]


def _namespace_labels(cluster: Cluster, name: str) -> Mapping[str, str]:
    # R5: the control plane sets the name label on every namespace, also on one built in code without it
    namespace = cluster.namespaces.get(name)
    return {**(namespace.labels if namespace is not None else {}), NAMESPACE_NAME_LABEL: name}


def _ip_in_block(ip: str, block: Block) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(v == address.version and lo <= int(address) <= hi for v, lo, hi in block)


class _LabelIndex:
    """The pod classes carrying each label and each label key, as bitsets, so that a selector is a few set
    operations rather than a test of every class: the Check view matches hundreds of classes against
    thousands of rule peers. `select` is `LabelSelector.matches`, operator by operator."""

    def __init__(self, labels: Iterable[Mapping[str, str]]) -> None:
        self.pairs: dict[tuple[str, str], int] = {}
        self.keys: dict[str, int] = {}
        for index, found in enumerate(labels):
            bit = 1 << index
            for pair in found.items():
                self.pairs[pair] = self.pairs.get(pair, 0) | bit
                self.keys[pair[0]] = self.keys.get(pair[0], 0) | bit

    def select(self, selector: LabelSelector, scope: int) -> int:
        """The classes among `scope` whose labels `selector` matches."""
        bits = scope
        for pair in selector.match_labels:
            bits &= self.pairs.get(pair, 0)
        for requirement in selector.match_expressions:
            if not bits:
                break
            key, operator = requirement.key, requirement.operator
            if operator in ("In", "NotIn"):
                having = 0
                for value in requirement.values:
                    having |= self.pairs.get((key, value), 0)
                bits = bits & having if operator == "In" else bits & ~having  # NotIn: absent keys match too
            elif operator == "Exists":
                bits &= self.keys.get(key, 0)
            else:
                bits &= ~self.keys.get(key, 0)
        return bits


class _Matcher:
    """Turns rule peers into bitsets over the universe, caching what repeats across rules."""

    def __init__(self, universe: _Universe, cluster: Cluster) -> None:
        self.u = universe
        self.cluster = cluster
        self.cache: dict[Any, int] = {}
        self.ns_classes: dict[str, int] = {}
        for cls in universe.classes:
            self.ns_classes[cls.namespace] = self.ns_classes.get(cls.namespace, 0) | (1 << cls.index)
        self.labels = _LabelIndex(cls.labels for cls in universe.classes)
        self._identities: _LabelIndex | None = None

    @property
    def identities(self) -> _LabelIndex:
        """The index of Cilium identity labels, built when a Cilium policy first needs it."""
        if self._identities is None:
            self._identities = _LabelIndex(cls.identity for cls in self.u.classes)
        return self._identities

    def subjects(self, policy: _Policy) -> int:
        scope = self.u.class_bits if policy.namespace is None else self.ns_classes.get(policy.namespace, 0)
        return (self.identities if policy.on_identity else self.labels).select(policy.selector, scope)

    def rule(self, rule: _Rule, direction: str) -> int:
        everything = self.u.all_src if direction == "Ingress" else self.u.all_dst
        if rule.peers is None:
            return everything
        bits = 0
        for selector in rule.peers:
            bits |= self.peer(selector, direction)
        return bits & everything

    def peer(self, selector: PeerSel, direction: str) -> int:
        key = (selector, direction)
        if key not in self.cache:
            self.cache[key] = self._peer(selector, direction)
        return self.cache[key]

    def _peer(self, selector: PeerSel, direction: str) -> int:
        u = self.u
        atoms = u.src_atoms if direction == "Ingress" else u.dst_atoms
        if isinstance(selector, _PodPeer):
            if selector.namespaces is None:
                ns_bits = self.ns_classes.get(selector.policy_namespace, 0)
            else:
                ns_selector = selector.namespaces
                ns_bits = 0
                for name, bits in self.ns_classes.items():
                    if ns_selector.matches(_namespace_labels(self.cluster, name)):
                        ns_bits |= bits
            if selector.pods is None:
                return ns_bits
            return self.labels.select(selector.pods, ns_bits)
        if isinstance(selector, _IPPeer):
            bits = 0
            for version, lo, hi in selector.block:
                # intervals are cut at every block boundary: those starting inside the block lie inside it
                found = atoms.get(version, [])
                starts = u.starts(direction, version)
                for _, index in found[bisect.bisect_left(starts, lo) : bisect.bisect_right(starts, hi)]:
                    bits |= 1 << index
            if selector.kubernetes and selector.block in u.pod_blocks:
                bits |= sum(1 << c.index for c in u.classes if selector.block in u.class_blocks[c.index])
            if any(lo == 0 and hi == _WORLD_BLOCKS[v][0][2] for v, lo, hi in selector.block):
                bits |= sum(1 << i for i in u.fqdns.values())
            return bits
        if isinstance(selector, _EndpointPeer):
            endpoint = selector.selector
            bits = self.identities.select(endpoint, u.class_bits)
            if any(k.startswith("reserved:") for k in endpoint.label_keys()):
                for name, index in u.entities.items():
                    if endpoint.matches({f"reserved:{name}": ""}):
                        bits |= 1 << index
                for version, found in atoms.items():
                    if endpoint.matches({"reserved:world": "", f"reserved:world-ipv{version}": ""}):
                        bits |= sum(1 << i for _, i in found)
            return bits
        if isinstance(selector, _EntityPeerSel):
            return self._entity(selector.name, atoms)
        return sum(1 << index for name, index in u.fqdns.items() if _fqdn_selects(selector, FqdnPeer(name)))

    def _entity(self, name: str, atoms: dict[int, list[tuple[ExternalPeer, int]]]) -> int:
        u = self.u
        fqdn_bits = sum(1 << i for i in u.fqdns.values())
        if name in _WORLD_VERSIONS:
            return sum(1 << i for v in _WORLD_VERSIONS[name] for _, i in atoms.get(v, ())) | fqdn_bits
        entity_bits = sum(1 << i for i in u.entities.values())
        if name == "cluster":
            return u.class_bits | entity_bits
        if name == "all":
            return u.class_bits | entity_bits | fqdn_bits | sum(1 << i for found in atoms.values() for _, i in found)
        if name in u.entities:
            return 1 << u.entities[name]
        return 0


def _resolve_ports(entries: list[_PortEntry] | None, receiver: _PodClass | None) -> tuple[ConnectionSet, list[str]]:
    """The connections a rule's port list allows towards `receiver` (None: not a pod), and the named ports
    that did not resolve there."""
    if entries is None:
        return ALL_CONNECTIONS, []
    result = NO_CONNECTIONS
    unresolved: list[str] = []
    for entry in entries:
        if entry.port is None:
            result = result | ConnectionSet.of(entry.protocols)
        elif isinstance(entry.port, int):
            result = result | ConnectionSet.of(entry.protocols, entry.port, entry.end or entry.port)
        else:
            found = False
            for port in receiver.ports if receiver is not None else ():
                if port.name == entry.port and port.protocol in entry.protocols:
                    result = result | ConnectionSet.of((port.protocol,), port.port, port.port)
                    found = True
                    break
            if not found:
                unresolved.append(entry.port)
    return result, unresolved


# ---------------------------------------------------------------------------------------------------------
# Explanations


@dataclasses.dataclass(frozen=True)
class RuleMatch:
    """A rule whose peers include the other end: what it allows (or denies) for this pair."""

    policy: PolicyRef
    rule: str  # e.g. "Ingress rule #2", "EgressDeny rule #1"
    connections: ConnectionSet
    deny: bool = False
    l7: bool = False
    unresolved_ports: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class DirectionExplanation:
    """Why one side (the source's egress or the destination's ingress) allows what it allows."""

    direction: str  # "Egress" or "Ingress"
    pod: Peer  # the side whose policies decide
    other: Peer
    allowed: ConnectionSet
    isolated: bool
    selecting: tuple[PolicyRef, ...]  # policies that select the pod for this direction
    isolating: tuple[PolicyRef, ...]
    matches: tuple[RuleMatch, ...]
    with_rules: tuple[PolicyRef, ...] = ()  # selecting policies that have allow rules in this direction
    always: str = ""  # why everything is allowed regardless of policy, when that is so

    def lines(self) -> list[str]:
        head = f"{self.direction} of {self.pod}: {self.allowed}"
        if self.always:
            return [f"{head} ({self.always})"]
        if not self.selecting:
            return [f"{head} due to the system default (Allow all): no policy selects it for {self.direction}"]
        lines = [head]
        if not self.isolated:
            lines.append(
                f"  not isolated for {self.direction}: the selecting policies disable default deny, so anything "
                "their deny rules leave is allowed"
            )
        matched = {m.policy for m in self.matches if not m.deny}
        for match in self.matches:
            verb = "denies" if match.deny else "allows"
            text = f"  {match.policy} {verb} connections by {match.rule}: {match.connections}"
            if match.l7:
                text += " (L7 rules filter requests on these ports)"
            if match.unresolved_ports:
                text += f" (named port {', '.join(match.unresolved_ports)} not defined on the receiving pod)"
            lines.append(text)
        for policy in self.isolating:
            if policy not in matched:
                lines.append(
                    f"  {policy} selects {self.pod}, but {self.other} is not allowed by any {self.direction} rule"
                    + ("" if policy in self.with_rules else " (no rules defined)")
                )
        return lines


@dataclasses.dataclass(frozen=True)
class Explanation:
    src: Peer
    dst: Peer
    connections: ConnectionSet
    egress: DirectionExplanation | None  # None when the source is not a pod
    ingress: DirectionExplanation | None  # None when the destination is not a pod

    def __str__(self) -> str:
        lines = [f"{self.src} => {self.dst} : {self.connections}"]
        for side in (self.egress, self.ingress):
            if side is not None:
                lines.extend("  " + line for line in side.lines())
        if self.egress is None:
            lines.append(f"  {self.src} is not a pod: no policy restricts it as a source")
        if self.ingress is None:
            lines.append(f"  {self.dst} is not a pod: no policy restricts it as a destination")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# The analysis


class _DirectionState:
    """Per pod class, one direction: isolated?, what the selecting policies allow and deny, peer by peer."""

    def __init__(self) -> None:
        self.isolated: list[bool] = []
        self.allow: list[dict[int, ConnectionSet]] = []
        self.deny: list[dict[int, ConnectionSet]] = []

    def effective(self, cls: int, peer: int) -> ConnectionSet:
        allowed = self.allow[cls].get(peer, NO_CONNECTIONS) if self.isolated[cls] else ALL_CONNECTIONS
        denied = self.deny[cls].get(peer)
        return allowed - denied if denied is not None else allowed


class Analysis:
    """Permitted connections of a cluster; build it with `analyse`."""

    def __init__(self, cluster: Cluster, options: Options) -> None:
        self.cluster = cluster
        self.options = options
        self.warnings: list[str] = []
        self.policies: list[_Policy] = []
        seen: dict[tuple[str, str | None, str], str] = {}
        for policy in cluster.policies:
            key = (policy.kind, policy.namespace, policy.name)
            if key in seen:
                name = f"{policy.namespace}/{policy.name}" if policy.namespace else policy.name
                raise InputError(
                    f'{policy.kind} "{name}" already exists: it is defined twice (first at {seen[key]}); '
                    "object names must be unique per kind and namespace",
                    policy.source.source,
                    policy.source.line,
                )
            seen[key] = policy.where()
            if policy.kind == "NetworkPolicy":
                self.policies.append(_read_networkpolicy(policy, self.warnings))
            else:
                self.policies.extend(_read_cilium(policy, self.warnings))
        self.universe = _Universe(cluster, self.policies, options)
        matcher = _Matcher(self.universe, cluster)
        for policy in self.policies:
            policy.subjects = matcher.subjects(policy)
            for direction in ("Ingress", "Egress"):
                for rule in getattr(policy, direction.lower()).rules:
                    rule.bits = matcher.rule(rule, direction)
        self._port_cache: dict[tuple[int, int], tuple[ConnectionSet, list[str]]] = {}
        self.ingress = self._direction("Ingress")
        self.egress = self._direction("Egress")
        self._warn_named_ports()
        self.connections: dict[tuple[Peer, Peer], ConnectionSet] = {}
        self._workload_peers: dict[tuple[str, str, str], WorkloadPeer] = {}
        self._compute()

    # -- evaluation

    def _ports(self, rule: _Rule, receiver: int | None) -> tuple[ConnectionSet, list[str]]:
        if rule.ports is None or all(not isinstance(e.port, str) for e in rule.ports):
            receiver = None
        key = (id(rule), -1 if receiver is None else receiver)
        found = self._port_cache.get(key)
        if found is None:
            cls = self.universe.classes[receiver] if receiver is not None else None
            found = _resolve_ports(rule.ports, cls)
            self._port_cache[key] = found
        return found

    def _direction(self, direction: str) -> _DirectionState:
        state = _DirectionState()
        n_classes = len(self.universe.classes)
        selecting_of: list[list[_Policy]] = [[] for _ in range(n_classes)]
        for policy in self.policies:
            if getattr(policy, direction.lower()).applies:
                for index in _bit_indices(policy.subjects):
                    selecting_of[index].append(policy)
        for index, selecting in enumerate(selecting_of):
            state.isolated.append(any(getattr(p, direction.lower()).isolates for p in selecting))
            allow: dict[int, ConnectionSet] = {}
            deny: dict[int, ConnectionSet] = {}
            for policy in selecting:
                for rule in getattr(policy, direction.lower()).rules:
                    target = deny if rule.deny else allow
                    if direction == "Ingress":
                        conns = self._ports(rule, index)[0]
                        if conns:
                            for peer in _bit_indices(rule.bits):
                                target[peer] = target.get(peer, NO_CONNECTIONS) | conns
                    else:
                        for peer in _bit_indices(rule.bits):
                            conns = self._ports(rule, peer if peer < n_classes else None)[0]
                            if conns:
                                target[peer] = target.get(peer, NO_CONNECTIONS) | conns
            state.allow.append(allow)
            state.deny.append(deny)
        return state

    def _warn_named_ports(self) -> None:
        """Named ports that can match nothing: towards IPs, or not defined on any pod the rule applies to."""
        u = self.universe
        non_pods = u.all_dst & ~u.class_bits
        for policy in self.policies:
            if not policy.subjects:
                continue
            for direction in ("Ingress", "Egress"):
                for rule in getattr(policy, direction.lower()).rules:
                    named = sorted({e.port for e in rule.ports or () if isinstance(e.port, str)})
                    if not named:
                        continue
                    where = f"{policy.ref.where}: {policy.ref} {rule.label} rule #{rule.index}: named port"
                    if direction == "Egress" and rule.bits & non_pods:
                        self.warnings.append(
                            f"{where} {', '.join(named)} cannot apply to IP, entity or FQDN destinations"
                        )
                    receivers = policy.subjects if direction == "Ingress" else rule.bits & u.class_bits
                    defined = {(p.name, p.protocol) for i in _bit_indices(receivers) for p in u.classes[i].ports}
                    missing = sorted(
                        {
                            f"{e.port} ({'/'.join(e.protocols)})"
                            for e in rule.ports or ()
                            if isinstance(e.port, str) and not any((e.port, p) in defined for p in e.protocols)
                        }
                    )
                    if missing and receivers:
                        self.warnings.append(
                            f"{where} {', '.join(missing)} is not a container port of any pod it applies to"
                        )

    def _class_pair(self, src: int, dst: int) -> ConnectionSet:
        return self.egress.effective(src, dst) & self.ingress.effective(dst, src)

    def _from_outside(self, peer: int, dst: int) -> ConnectionSet:
        if peer == self.universe.entities.get("host"):
            return ALL_CONNECTIONS  # S6/K5: a pod's own node may always reach it
        return self.ingress.effective(dst, peer)

    def _compute(self) -> None:
        u = self.universe
        workload_classes = list(u.workload_classes.items())
        for (namespace, kind, name), _ in workload_classes:
            self._workload_peers[(namespace, kind, name)] = WorkloadPeer(namespace, name, kind)
        self._check_consistent(workload_classes)
        rows: list[tuple[WorkloadPeer, int]] = [
            (self._workload_peers[key], classes[0]) for key, classes in workload_classes
        ]
        rows_of: dict[int, list[WorkloadPeer]] = {}
        for peer, cls in rows:
            rows_of.setdefault(cls, []).append(peer)
        reachable = self._reachable_classes()
        for src_peer, src in rows:
            for dst in reachable(src):
                conns = self._class_pair(src, dst)
                if conns:
                    for dst_peer in rows_of.get(dst, ()):
                        if dst_peer is not src_peer:
                            self.connections[(src_peer, dst_peer)] = conns
        sources = [(a, i) for found in u.src_atoms.values() for a, i in found]
        sources += [(u.peers[i], i) for i in u.entities.values()]
        for peer, index in sources:
            for dst_peer, dst in rows:
                conns = self._from_outside(index, dst)
                if conns:
                    self.connections[(peer, dst_peer)] = conns  # type: ignore[index]
        targets = [(a, i) for found in u.dst_atoms.values() for a, i in found]
        targets += [(u.peers[i], i) for i in (*u.entities.values(), *u.fqdns.values())]
        for src_peer, src in rows:
            for peer, index in targets:
                conns = self.egress.effective(src, index)
                if conns:
                    self.connections[(src_peer, peer)] = conns  # type: ignore[index]

    def _reachable_classes(self) -> Callable[[int], list[int]]:
        """The classes a class may have connections to, ascending: those its isolated egress allows, or, when
        its egress is open, those whose ingress is open or allows it. Every other pair is denied on one side,
        so the pods x pods loop (250,000 pairs for 500 workloads) looks only at pairs a rule connects."""
        n_classes = len(self.universe.classes)
        open_ingress = {c for c in range(n_classes) if not self.ingress.isolated[c]}
        admitted_by: list[set[int]] = [set() for _ in range(n_classes)]
        for dst in range(n_classes):
            if self.ingress.isolated[dst]:
                for src in self.ingress.allow[dst]:
                    if src < n_classes:
                        admitted_by[src].add(dst)

        def reachable(src: int) -> list[int]:
            if self.egress.isolated[src]:
                return sorted(dst for dst in self.egress.allow[src] if dst < n_classes)
            return sorted(open_ingress | admitted_by[src])

        return reachable

    def _check_consistent(self, workload_classes: list[tuple[tuple[str, str, str], list[int]]]) -> None:
        """Pods of one workload must get the same connections, since the output has one line per workload."""
        u = self.universe
        all_classes = range(len(u.classes))
        outside_in = [i for found in u.src_atoms.values() for _, i in found] + list(u.entities.values())
        outside_out = [i for found in u.dst_atoms.values() for _, i in found]
        outside_out += [*u.entities.values(), *u.fqdns.values()]
        for key, classes in workload_classes:
            if len(classes) < 2:
                continue
            first = classes[0]
            for other in classes[1:]:
                same = all(
                    self._class_pair(first, c) == self._class_pair(other, c)
                    and self._class_pair(c, first) == self._class_pair(c, other)
                    for c in all_classes
                    if c not in classes
                )
                same = same and all(self._from_outside(p, first) == self._from_outside(p, other) for p in outside_in)
                same = same and all(
                    self.egress.effective(first, p) == self.egress.effective(other, p) for p in outside_out
                )
                if not same:
                    raise self._inconsistent(key, first, other)

    def _inconsistent(self, key: tuple[str, str, str], first: int, other: int) -> InputError:
        u = self.universe
        a, b = u.classes[first], u.classes[other]
        pod_a, pod_b = u.class_pods[first][0], u.class_pods[other][0]
        namespace, _, name = key
        workload = next(w for w in a.workloads if w.key == key)
        detail = ""
        for label in sorted(set(a.labels) | set(b.labels)):
            if a.labels.get(label) != b.labels.get(label):
                user = self._selector_using(label)
                has_a = (
                    f"has label `{label}={a.labels[label]}`" if label in a.labels else f"does not have label `{label}`"
                )
                has_b = (
                    f"has label `{label}={b.labels[label]}`" if label in b.labels else f"does not have label `{label}`"
                )
                detail = f': Pod "{namespace}/{pod_a}" {has_a}, and Pod "{namespace}/{pod_b}" {has_b}'
                if user:
                    detail += f", while {user} selects by `{label}`"
                break
        else:
            detail = f': Pods "{namespace}/{pod_a}" and "{namespace}/{pod_b}" differ in their container ports or IPs'
        source, _, line = workload.where.rpartition(":")
        return InputError(
            f"Found Pods of the same owner workload `{namespace}/{name}` and with differences in their labels "
            f"(or ports) that the policies select differently{detail}. The connectivity list has one line per "
            "workload, so it cannot show these pods apart; give each set of pods its own owner or align the labels",
            source,
            int(line),
        )

    def _selector_using(self, label: str) -> str:
        return next((str(p.ref) for p in self.policies if label in p.pod_label_keys), "")

    # -- queries

    def peers(self) -> list[Peer]:
        """Every peer that appears in a connection, sorted by its printed form."""
        found = {p for pair in self.connections for p in pair}
        return sorted(found, key=str)

    def workload_peer(self, workload: Workload) -> WorkloadPeer:
        return self._workload_peers[workload.key]

    def peer(self, text: str) -> Peer:
        """The peer printed as `text` (`ns/name[Kind]`, `ns/name` when unambiguous, `a-b[External]`, ...)."""
        candidates = {p for p in self._all_peers() if str(p) == text}
        if not candidates:
            candidates = {p for p in self._workload_peers.values() if f"{p.namespace}/{p.name}" == text}
        if len(candidates) != 1:
            raise KeyError(text if not candidates else f"{text} is ambiguous")
        return candidates.pop()

    def _all_peers(self) -> Iterator[Peer]:
        yield from self._workload_peers.values()
        yield from (p for p in self.universe.peers if p is not None)

    def external_peer(self, ip: str, as_source: bool) -> ExternalPeer:
        """The external interval containing `ip`, as a source or as a destination of traffic."""
        address = ipaddress.ip_address(ip)
        index = self.universe.atom_index("Ingress" if as_source else "Egress", address.version, int(address))
        if index is None:
            raise KeyError(f"no external range for {ip} (no rule mentions IPv{address.version} addresses)")
        return self.universe.peers[index]  # type: ignore[return-value]

    def connection(self, src: Peer, dst: Peer) -> ConnectionSet:
        return self.connections.get((src, dst), NO_CONNECTIONS)

    def external_ranges(self, as_source: bool) -> dict[int, list[ExternalPeer]]:
        """IP version -> the address intervals, ascending, as cut for sources (ingress rules) or destinations."""
        atoms = self.universe.src_atoms if as_source else self.universe.dst_atoms
        return {version: [peer for peer, _ in found] for version, found in sorted(atoms.items())}

    def entities(self) -> dict[str, EntityPeer]:
        """The Cilium entities some rule names (only those are peers), by name."""
        return {name: self.universe.peers[i] for name, i in self.universe.entities.items()}  # type: ignore[misc]

    def fqdns(self) -> list[FqdnPeer]:
        """The names and patterns of `toFQDNs` rules, each an opaque destination."""
        return [self.universe.peers[i] for i in self.universe.fqdns.values()]  # type: ignore[misc]

    def external_sources(self) -> list[Peer]:
        """Every peer outside the pods that may open connections: address intervals, then entities."""
        ranges: list[Peer] = [peer for found in self.external_ranges(True).values() for peer in found]
        return ranges + list(self.entities().values())

    def external_destinations(self) -> list[Peer]:
        """Every peer outside the pods that may be connected to: address intervals, entities, then FQDNs."""
        ranges: list[Peer] = [peer for found in self.external_ranges(False).values() for peer in found]
        return ranges + list(self.entities().values()) + list(self.fqdns())

    def _index(self, peer: Peer, direction: str) -> int:
        """The universe index of a peer: its first pod class for a workload."""
        if isinstance(peer, WorkloadPeer):
            return self.universe.workload_classes[(peer.namespace, peer.kind, peer.name)][0]
        if isinstance(peer, ExternalPeer):
            index = self.universe.atom_index(direction, peer.version, peer.first)
            if index is None:
                raise KeyError(str(peer))
            return index
        for index, candidate in enumerate(self.universe.peers):
            if candidate == peer:
                return index
        raise KeyError(str(peer))

    def explain(self, src: Peer, dst: Peer) -> Explanation:
        """Which policies and rules decide what `src` may open to `dst`."""
        n_classes = len(self.universe.classes)
        src_index = self._index(src, "Ingress")
        dst_index = self._index(dst, "Egress")
        egress = ingress = None
        if isinstance(src, WorkloadPeer):
            egress = self._explain_side("Egress", src_index, dst_index, src, dst, dst_index < n_classes)
        if isinstance(dst, WorkloadPeer):
            ingress = self._explain_side("Ingress", dst_index, src_index, dst, src, True)
        return Explanation(src, dst, self.connection(src, dst), egress, ingress)

    def _explain_side(
        self, direction: str, cls: int, other: int, pod: Peer, other_peer: Peer, other_is_pod: bool
    ) -> DirectionExplanation:
        state = self.ingress if direction == "Ingress" else self.egress
        if direction == "Ingress":
            other = self._index(other_peer, "Ingress")
        if direction == "Ingress" and other == self.universe.entities.get("host"):
            always = "traffic from the pod's own node is always allowed"
            return DirectionExplanation(direction, pod, other_peer, ALL_CONNECTIONS, False, (), (), (), always=always)
        bit = 1 << cls
        selecting = [p for p in self.policies if p.subjects & bit and getattr(p, direction.lower()).applies]
        matches: list[RuleMatch] = []
        with_rules: list[PolicyRef] = []
        for policy in selecting:
            side = getattr(policy, direction.lower())
            if any(not r.deny for r in side.rules):
                with_rules.append(policy.ref)
            for rule in side.rules:
                if not rule.bits >> other & 1:
                    continue
                receiver = cls if direction == "Ingress" else (other if other_is_pod else None)
                conns, unresolved = self._ports(rule, receiver)
                matches.append(
                    RuleMatch(
                        policy.ref, f"{rule.label} rule #{rule.index}", conns, rule.deny, rule.l7, tuple(unresolved)
                    )
                )
        return DirectionExplanation(
            direction,
            pod,
            other_peer,
            state.effective(cls, other),
            state.isolated[cls],
            tuple(p.ref for p in selecting),
            tuple(p.ref for p in selecting if getattr(p, direction.lower()).isolates),
            tuple(matches),
            tuple(with_rules),
        )


def _bit_indices(bits: int) -> Iterator[int]:
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


def analyse(cluster: Cluster, options: Options | None = None) -> Analysis:
    """Validate the cluster's policies and compute who may talk to whom. Raises InputError on invalid policies."""
    return Analysis(cluster, options or Options())


# ---------------------------------------------------------------------------------------------------------
# Output


def format_connlist(analysis: Analysis) -> str:
    """netpol-analyzer's txt format: `src => dst : conns`, sorted by source then destination text."""
    lines = sorted((str(src), str(dst), str(conns)) for (src, dst), conns in analysis.connections.items())
    return "\n".join(f"{src} => {dst} : {conns}" for src, dst, conns in lines)


def format_explanations(analysis: Analysis) -> str:
    """An explanation for every pair where a policy has a say; pairs open by default are summarised."""
    u = analysis.universe
    workloads: list[Peer] = list(analysis._workload_peers.values())
    entities: list[Peer] = [u.peers[i] for i in u.entities.values()]  # type: ignore[misc]
    sources = workloads + [p for found in u.src_atoms.values() for p, _ in found] + entities
    targets = workloads + [p for found in u.dst_atoms.values() for p, _ in found] + entities
    targets += [u.peers[i] for i in u.fqdns.values()]  # type: ignore[misc]
    blocks: list[str] = []
    default_open: list[str] = []
    for src in sorted(sources, key=str):
        for dst in sorted(targets, key=str):
            if src == dst or not (isinstance(src, WorkloadPeer) or isinstance(dst, WorkloadPeer)):
                continue
            explanation = analysis.explain(src, dst)
            sides = [s for s in (explanation.egress, explanation.ingress) if s is not None]
            if all(not s.selecting and not s.always for s in sides):
                default_open.append(f"{src} => {dst}")
            else:
                blocks.append(str(explanation))
    if default_open:
        blocks.append(
            "Allowed by the system default (Allow all), no policy selects the pods at either end:\n"
            + "\n".join(default_open)
        )
    return "\n\n".join(blocks)


@dataclasses.dataclass(frozen=True)
class DiffEntry:
    kind: str  # "changed", "added" or "removed"
    src: str
    dst: str
    ref1: ConnectionSet
    ref2: ConnectionSet
    info: str = ""  # e.g. "workload ns/x[Deployment] added"

    def __str__(self) -> str:
        text = (
            f"diff-type: {self.kind}, source: {self.src}, destination: {self.dst}, ref1: {self.ref1}, ref2: {self.ref2}"
        )
        return f"{text}, workloads-diff-info: {self.info}" if self.info else text


def _external_lookup(analysis: Analysis, direction: str) -> Callable[[ExternalPeer], ExternalPeer | None]:
    def find(piece: ExternalPeer) -> ExternalPeer | None:
        index = analysis.universe.atom_index(direction, piece.version, piece.first)
        return None if index is None else analysis.universe.peers[index]  # type: ignore[return-value]

    return find


def _joint_atoms(a: Analysis, b: Analysis, direction: str) -> list[ExternalPeer]:
    """The common refinement of both analyses' intervals, so that both can be compared piece by piece."""
    atoms: list[ExternalPeer] = []
    for analysis in (a, b):
        atoms.extend(p for pieces in analysis.external_ranges(direction == "Ingress").values() for p in pieces)
    blocks = [((p.version, p.first, p.last),) for p in atoms]
    return [p for pieces in _cut_points(blocks).values() for p in pieces]


def diff(a: Analysis, b: Analysis) -> list[DiffEntry]:
    """Connections added, removed or changed from `a` (ref1) to `b` (ref2)."""
    workloads_a = {str(p): p for p in a._workload_peers.values()}
    workloads_b = {str(p): p for p in b._workload_peers.values()}
    names = sorted(set(workloads_a) | set(workloads_b))
    entries: list[DiffEntry] = []

    def add(src: str, dst: str, ref1: ConnectionSet, ref2: ConnectionSet) -> None:
        if ref1 == ref2:
            return
        kind = "added" if not ref1 else "removed" if not ref2 else "changed"
        info = [
            f"workload {name} {'added' if name not in workloads_a else 'removed'}"
            for name in (src, dst)
            if name in workloads_a.keys() ^ workloads_b.keys()
        ]
        entries.append(DiffEntry(kind, src, dst, ref1, ref2, ", ".join(info)))

    def conns(analysis: Analysis, peers: Mapping[str, WorkloadPeer], src: Any, dst: Any) -> ConnectionSet:
        if src is None or dst is None:
            return NO_CONNECTIONS
        return analysis.connection(src, dst)

    for src in names:
        for dst in names:
            if src != dst:
                ref1 = conns(a, workloads_a, workloads_a.get(src), workloads_a.get(dst))
                ref2 = conns(b, workloads_b, workloads_b.get(src), workloads_b.get(dst))
                add(src, dst, ref1, ref2)
    find_a_src, find_b_src = _external_lookup(a, "Ingress"), _external_lookup(b, "Ingress")
    find_a_dst, find_b_dst = _external_lookup(a, "Egress"), _external_lookup(b, "Egress")
    for piece in _joint_atoms(a, b, "Ingress"):
        for name in names:
            ref1 = conns(a, workloads_a, find_a_src(piece), workloads_a.get(name))
            ref2 = conns(b, workloads_b, find_b_src(piece), workloads_b.get(name))
            add(str(piece), name, ref1, ref2)
    for piece in _joint_atoms(a, b, "Egress"):
        for name in names:
            ref1 = conns(a, workloads_a, workloads_a.get(name), find_a_dst(piece))
            ref2 = conns(b, workloads_b, workloads_b.get(name), find_b_dst(piece))
            add(name, str(piece), ref1, ref2)
    others_a = {str(p): p for p in a.universe.peers if isinstance(p, EntityPeer | FqdnPeer)}
    others_b = {str(p): p for p in b.universe.peers if isinstance(p, EntityPeer | FqdnPeer)}
    for other in sorted(set(others_a) | set(others_b)):
        for name in names:
            for forward in (True, False):
                if forward and other.endswith("[FQDN]"):
                    continue
                pa, pb = others_a.get(other), others_b.get(other)
                wa, wb = workloads_a.get(name), workloads_b.get(name)
                if forward:
                    add(other, name, conns(a, workloads_a, pa, wa), conns(b, workloads_b, pb, wb))
                else:
                    add(name, other, conns(a, workloads_a, wa, pa), conns(b, workloads_b, wb, pb))
    order = {"changed": 0, "added": 1, "removed": 2}
    return sorted(entries, key=lambda e: (order[e.kind], e.src, e.dst))


def format_diff(entries: list[DiffEntry]) -> str:
    if not entries:
        return "No connections diff"
    return "Connectivity diff:\n" + "\n".join(str(entry) for entry in entries)
