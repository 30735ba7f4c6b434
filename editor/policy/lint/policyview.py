"""One reading of NetworkPolicy, CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy for lint and rating.

Both dialects are read into the same shape: a subject (which pods), and per direction a list of rules, each
with peers and ports, every part keeping the path it came from so findings can name `spec.egress[1].ports` and
its line. Peers that select pods become a `PodScope` (a namespace selector and a pod selector), whether they were
written as a native `namespaceSelector`/`podSelector` pair or as a Cilium endpoint selector with
`k8s:io.kubernetes.pod.namespace` keys, so coverage and matching are written once.

The reading is lenient: lint runs on objects that may be invalid, so a part it cannot read becomes an "other"
peer (matching nothing, covering nothing) instead of an exception; `validate` reports why it is invalid.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from typing import Any, Literal

from .. import model
from ..kinds import CILIUM_KINDS
from ..model import read_policy
from ..model.objects import DIRECTIONS
from ..selectors import EVERYTHING, LabelSelector, Requirement
from ..yamlio import KubeObject
from .model import Fix, IPNetwork, LintFinding, Path, Severity, format_path

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
CILIUM_NAMESPACE_KEY = "io.kubernetes.pod.namespace"
CILIUM_NAMESPACE_LABELS = "io.cilium.k8s.namespace.labels."
CILIUM_SERVICE_ACCOUNT_KEY = "io.cilium.k8s.policy.serviceaccount"
_UNPREFIXED_SOURCES = ("k8s:", "any:")
PeerKind = Literal["pods", "cidr", "entity", "fqdn", "other"]


def namespace_scope(namespace: str) -> LabelSelector:
    """The namespace selector that picks exactly `namespace` (by its automatic name label)."""
    return LabelSelector(((NAMESPACE_NAME_LABEL, namespace),))


def selector_covers(wide: LabelSelector, narrow: LabelSelector) -> bool:
    """True when everything `narrow` matches, `wide` matches too (a sufficient test: its terms are a subset)."""
    return set(wide.match_labels) <= set(narrow.match_labels) and set(wide.match_expressions) <= set(
        narrow.match_expressions
    )


@dataclasses.dataclass(frozen=True, slots=True)
class PodScope:
    """Pods whose namespace matches `namespaces` and whose labels match `pods`.

    `own_namespace` is set when the namespace part was not written but implied (a native `podSelector`-only
    peer, a Cilium endpoint selector without a namespace key): the policy's namespace.
    """

    namespaces: LabelSelector
    pods: LabelSelector
    own_namespace: str | None = None

    @property
    def all_namespaces(self) -> bool:
        return self.namespaces.is_empty

    def matches(self, namespace_labels: Mapping[str, str], pod_labels: Mapping[str, str]) -> bool:
        return self.namespaces.matches(namespace_labels) and self.pods.matches(pod_labels)

    def covers(self, other: PodScope) -> bool:
        return selector_covers(self.namespaces, other.namespaces) and selector_covers(self.pods, other.pods)

    def describe(self) -> str:
        pods = "all pods" if self.pods.is_empty else f"pods {self.pods}"
        if self.own_namespace is not None:
            return f"{pods} of namespace {self.own_namespace}"
        if self.namespaces.is_empty:
            return f"{pods} of every namespace"
        names = dict(self.namespaces.match_labels).get(NAMESPACE_NAME_LABEL)
        if names is not None and len(self.namespaces.match_labels) == 1 and not self.namespaces.match_expressions:
            return f"{pods} of namespace {names}"
        return f"{pods} of namespaces {self.namespaces}"


@dataclasses.dataclass(frozen=True, slots=True)
class Peer:
    """One peer of a rule. `kind` other: a peer lint does not model (services, nodes, unreadable selectors)."""

    kind: PeerKind
    written: model.Peer  # the peer as written (model/)
    scope: PodScope | None = None
    cidr: IPNetwork | None = None
    excepts: tuple[IPNetwork, ...] = ()
    entity: str | None = None

    @property
    def path(self) -> Path:
        return self.written.path

    @property
    def raw(self) -> Any:
        return self.written.raw

    def covers(self, other: Peer) -> bool:
        if self.kind == "entity" and self.entity == "all":
            return True
        if self.kind == "entity" and self.entity == "cluster":
            return other.kind == "pods" or (other.kind == "entity" and other.entity in CLUSTER_ENTITIES)
        if self.kind == "entity" and self.entity == "world":
            return other.kind == "cidr" or (other.kind == "entity" and other.entity in ("world-ipv4", "world-ipv6"))
        if self.kind == "pods" and other.kind == "pods" and self.scope and other.scope:
            return self.scope.covers(other.scope)
        if self.kind == "cidr" and other.kind == "cidr" and self.cidr is not None and other.cidr is not None:
            return _cidr_covers(self.cidr, self.excepts, other.cidr, other.excepts)
        return self.kind == other.kind and self.kind != "other" and self.raw == other.raw


CLUSTER_ENTITIES = ("cluster", "host", "remote-node", "init", "health", "unmanaged", "ingress")


def _cidr_covers(
    wide: IPNetwork, wide_excepts: tuple[IPNetwork, ...], net: IPNetwork, excepts: tuple[IPNetwork, ...]
) -> bool:
    if wide.version != net.version or not net.subnet_of(wide):  # type: ignore[arg-type]
        return False
    for hole in wide_excepts:
        inside = any(hole.subnet_of(own) for own in excepts if own.version == hole.version)  # type: ignore[arg-type]
        if hole.overlaps(net) and not inside:
            return False
    return True


@dataclasses.dataclass(frozen=True, slots=True)
class PortSpec:
    """One port condition as written; `protocol` None = omitted (TCP in native, ANY in Cilium)."""

    path: Path
    protocol: str | None
    port: int | str | None  # None = every port of the protocol
    end_port: int | None
    default_protocol: str

    @property
    def effective_protocol(self) -> str:
        return self.protocol or self.default_protocol

    @property
    def named(self) -> bool:
        return isinstance(self.port, str)

    def covers(self, other: PortSpec) -> bool:
        mine, theirs = self.effective_protocol, other.effective_protocol
        if mine != "ANY" and mine != theirs:
            return False
        if self.port is None:
            return True
        if isinstance(self.port, str) or isinstance(other.port, str) or other.port is None:
            return self.port == other.port
        return self.port <= other.port and (other.end_port or other.port) <= (self.end_port or self.port)

    def allows(self, protocol: str, number: int, names: tuple[str, ...] = ()) -> bool:
        """Whether traffic on `protocol`/`number` to a container port called one of `names` matches."""
        if self.effective_protocol not in ("ANY", protocol):
            return False
        if self.port is None:
            return True
        if isinstance(self.port, str):
            return self.port in names
        return self.port <= number <= (self.end_port or self.port)

    def describe(self) -> str:
        port = "all ports" if self.port is None else str(self.port)
        if self.end_port is not None:
            port += f"-{self.end_port}"
        return f"{self.effective_protocol}/{port}"


@dataclasses.dataclass
class RuleView:
    """One ingress/egress (or Cilium ingressDeny/egressDeny) rule.

    `peers` None = no peer field: every peer (native `from` missing or empty; Cilium L3 wildcard).
    `ports` None = every port. `effective` False = Kubernetes ignores the rule (direction not in policyTypes).
    """

    direction: str
    deny: bool
    index: int
    path: Path
    raw: Any
    peers: list[Peer] | None
    ports: list[PortSpec] | None
    l7: bool = False  # Cilium `rules:` (HTTP, DNS, Kafka...) on a port: allowed at L4, filtered at L7
    icmp: bool = False
    effective: bool = True
    written: model.Rule | None = None  # the rule as written (model/)

    @property
    def port_rules(self) -> tuple[model.PortRule, ...]:
        """Cilium `toPorts` entries as written."""
        return self.written.port_rules if self.written is not None else ()

    @property
    def section(self) -> str:
        return f"{self.direction}Deny" if self.deny else self.direction

    def ports_cover(self, other: RuleView) -> bool:
        return _all_covered(self.ports, other.ports)

    def peers_cover(self, other: RuleView) -> bool:
        return _all_covered(self.peers, other.peers)

    def covers(self, other: RuleView) -> bool:
        """Every connection `other` allows, this rule allows too.

        Rules with L7 or ICMP parts cover and are covered only by their twins: an L7 rule on a port keeps its
        effect (proxying, DNS visibility for toFQDNs) even when a wider L4 rule allows the same peers.
        """
        if self.l7 or self.icmp or other.l7 or other.icmp:
            return bool(self.raw == other.raw)
        return self.peers_cover(other) and self.ports_cover(other)


def _all_covered(wide: list[Any] | None, narrow: list[Any] | None) -> bool:
    """None means "everything": it covers anything and is covered only by everything."""
    if wide is None:
        return True
    if narrow is None:
        return False
    return all(any(mine.covers(theirs) for mine in wide) for theirs in narrow)


@dataclasses.dataclass
class PolicyView:
    """One policy: a NetworkPolicy, or one rule of a Cilium policy (`spec`, or each item of `specs`)."""

    kind: str
    namespace: str | None  # None for the cluster-wide kind
    name: str
    obj: dict[str, Any]
    base: Path  # ("spec",) or ("specs", i)
    spec: dict[str, Any]
    subject: PodScope | None  # None: a host policy (nodeSelector) or an unreadable selector
    policy_types: list[str] | None  # native only, as written; None = absent
    isolates: dict[str, bool]
    rules: list[RuleView]
    written: model.Spec  # the rule set as written (model/)
    written_policy: model.Policy  # the whole object as written
    item: KubeObject | None = None
    multiple_specs: bool = False
    node_ids: list[str] = dataclasses.field(default_factory=list)

    @property
    def cilium(self) -> bool:
        return self.kind in CILIUM_KINDS

    @property
    def label(self) -> str:
        name = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {name}" + (f" {format_path(self.base)}" if self.multiple_specs else "")

    @property
    def annotations(self) -> dict[str, Any]:
        metadata = self.obj.get("metadata")
        annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
        return annotations if isinstance(annotations, dict) else {}

    def line_of(self, path: Path) -> int | None:
        return self.item.line_of(path) if self.item is not None else None

    def rules_of(self, direction: str, *, deny: bool = False, effective_only: bool = True) -> list[RuleView]:
        return [
            rule
            for rule in self.rules
            if rule.direction == direction and rule.deny == deny and (rule.effective or not effective_only)
        ]

    def finding(
        self, rule_id: str, path: Path, message: str, severity: Severity, fixes: list[Fix] | None = None
    ) -> LintFinding:
        """A finding about this policy at `path`; each fix's short id becomes `<finding id>#<short id>`."""
        finding = LintFinding(
            rule=rule_id,
            severity=severity,
            message=message,
            kind=self.kind,
            namespace=self.namespace,
            name=self.name,
            path=format_path(path),
            source=self.item.source if self.item is not None else None,
            line=self.line_of(path),
            nodes=list(self.node_ids),
        )
        finding.fixes = [dataclasses.replace(fix, id=f"{finding.id}#{fix.id}") for fix in fixes or []]
        return finding


# --------------------------------------------------------------------------------------------------------
# Views of the policy model (model/read.py reads the objects)


def read_policies(item: KubeObject | dict[str, Any]) -> list[PolicyView]:
    """The policies of one object (several for a Cilium `specs:` list); none for other kinds or no spec."""
    policy = read_policy(item)
    if policy is None:
        return []
    source = item if isinstance(item, KubeObject) else None
    specs = [spec for spec in policy.specs if spec.is_mapping]
    views = []
    for spec in specs:
        view = _read_cilium(policy, spec) if policy.cilium else _read_native(policy, spec)
        view.item = source
        view.multiple_specs = len(specs) > 1
        views.append(view)
    return views


def _selector(selector: model.Selector | None) -> LabelSelector | None:
    """A parsed selector (absent or null: everything), or None when it cannot be read (validate reports it)."""
    if selector is None or selector.raw is None:
        return EVERYTHING
    return selector.parsed


def _network(text: Any) -> IPNetwork | None:
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _cidr_peer(peer: model.Peer, block: model.IPBlock | None) -> Peer:
    network = _network(block.cidr) if block is not None else None
    if block is None or network is None:
        return Peer("other", peer)
    holes = tuple(hole for _, text in block.except_items if (hole := _network(text)) is not None)
    return Peer("cidr", peer, cidr=network, excepts=holes)


# --- native NetworkPolicy ---------------------------------------------------------------------------------


def _view(policy: model.Policy, spec: model.Spec, subject: PodScope | None, policy_types: list[str] | None,
          isolates: dict[str, bool], rules: list[RuleView]) -> PolicyView:  # fmt: skip
    name = policy.name or "<unnamed>"
    return PolicyView(policy.kind.name, policy.namespace, name, policy.obj, spec.path, spec.spec, subject,
                      policy_types, isolates, rules, spec, policy)  # fmt: skip


def _read_native(policy: model.Policy, spec: model.Spec) -> PolicyView:
    namespace = policy.namespace or "default"
    pods = _selector(spec.subject)
    subject = PodScope(namespace_scope(namespace), pods, namespace) if pods is not None else None
    written_types = spec.policy_types
    policy_types = [str(t) for t in written_types] if isinstance(written_types, list) else None
    types = spec.effective_policy_types()
    rules = [
        RuleView(
            rule.direction,
            False,
            rule.index,
            rule.path,
            rule.raw,
            [_native_peer(peer, namespace) for peer in rule.peers] or None,
            [_port(port, "TCP") for port in rule.ports] or None,
            effective=rule.direction.capitalize() in types,
            written=rule,
        )
        for rule in spec.rules
    ]
    isolates = {direction: direction.capitalize() in types for direction in DIRECTIONS}
    return _view(policy, spec, subject, policy_types, isolates, rules)


def _native_peer(peer: model.Peer, namespace: str) -> Peer:
    if peer.kind == "cidr":
        return _cidr_peer(peer, peer.block)
    if peer.kind != "pods":
        return Peer("other", peer)
    pods = _selector(peer.pods)
    namespaces = _selector(peer.namespaces) if peer.namespaces is not None else namespace_scope(namespace)
    if pods is None or namespaces is None:
        return Peer("other", peer)
    scope = PodScope(namespaces, pods, None if peer.namespaces is not None else namespace)
    return Peer("pods", peer, scope=scope)


def _port(port: model.Port, default_protocol: str) -> PortSpec:
    protocol = port.protocol if isinstance(port.protocol, str) else None
    number = port.port
    if isinstance(number, str) and number.isdigit():
        number = int(number)
    if number == 0 or isinstance(number, bool) or not isinstance(number, int | str):
        number = None  # Cilium's "0" and an absent port both mean every port
    end = port.end_port
    end_port = end if isinstance(end, int) and not isinstance(end, bool) and isinstance(number, int) else None
    return PortSpec(port.path, protocol, number, end_port, default_protocol)


# --- Cilium ------------------------------------------------------------------------------------------------


def endpoint_scope(selector: LabelSelector | None, namespace: str | None) -> PodScope | None:
    """The pods a Cilium endpoint selector matches (SEMANTICS C5/C6), or None for a non-pod or unreadable one.

    Namespace keys (`k8s:io.kubernetes.pod.namespace`, `io.cilium.k8s.namespace.labels.*`) become the
    namespace selector; without one, a CNP selector means the policy's namespace and a CCNP selector every
    namespace. Other label sources (`reserved:`, `cidr:`) select no pod.
    """
    if selector is None:
        return None
    namespace_terms: list[tuple[str, str]] = []
    namespace_requirements: list[Requirement] = []
    pod_terms: list[tuple[str, str]] = []
    pod_requirements: list[Requirement] = []
    for key, value in selector.match_labels:
        bare = _bare_key(key)
        if bare is None:
            return None
        namespace_key = _namespace_key(bare)
        (namespace_terms if namespace_key else pod_terms).append((namespace_key or bare, value))
    for requirement in selector.match_expressions:
        bare = _bare_key(requirement.key)
        if bare is None:
            return None
        namespace_key = _namespace_key(bare)
        changed = Requirement(namespace_key or bare, requirement.operator, requirement.values)
        (namespace_requirements if namespace_key else pod_requirements).append(changed)
    pods = LabelSelector(tuple(sorted(pod_terms)), tuple(sorted(pod_requirements)))
    if namespace_terms or namespace_requirements:
        namespaces = LabelSelector(tuple(sorted(namespace_terms)), tuple(sorted(namespace_requirements)))
        return PodScope(namespaces, pods)
    if namespace is None:
        return PodScope(EVERYTHING, pods)
    return PodScope(namespace_scope(namespace), pods, namespace)


def _bare_key(key: str) -> str | None:
    for prefix in _UNPREFIXED_SOURCES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    source, colon, _ = key.partition(":")
    return None if colon and "/" not in source and "." not in source else key


def _namespace_key(key: str) -> str | None:
    """The namespace label a Cilium key stands for, or None for a pod label key."""
    if key == CILIUM_NAMESPACE_KEY:
        return NAMESPACE_NAME_LABEL
    if key.startswith(CILIUM_NAMESPACE_LABELS):
        return key[len(CILIUM_NAMESPACE_LABELS) :]
    return None


def _read_cilium(policy: model.Policy, spec: model.Spec) -> PolicyView:
    namespace = policy.namespace
    subject: PodScope | None = None
    if spec.subject is not None:
        subject = endpoint_scope(_selector(spec.subject), namespace)
        if subject is not None and namespace is not None:
            # C1: Cilium always ANDs the policy's namespace into the subject selector.
            subject = PodScope(namespace_scope(namespace), subject.pods, namespace)
    rules = [_cilium_rule(rule, namespace) for rule in spec.rules]
    isolates = {direction: spec.cilium_isolates(direction) for direction in DIRECTIONS}
    return _view(policy, spec, subject, None, isolates, rules)


def _cilium_rule(rule: model.Rule, namespace: str | None) -> RuleView:
    peers = [_cilium_peer(peer, namespace) for peer in rule.peers]
    l7 = any(entry.is_mapping and bool(entry.rules or entry.server_names) for entry in rule.port_rules)
    # C4: an entry without ports allows nothing (pkg/policy/rule.go makes one L4 filter per listed port)
    ports = [_port(port, "ANY") for port in rule.cilium_ports]
    return RuleView(
        rule.direction,
        rule.deny,
        rule.index,
        rule.path,
        rule.raw,
        None if rule.every_peer else peers,
        ports if rule.port_rules else None,
        l7=l7,
        icmp=bool(rule.icmps),
        written=rule,
    )


def _cilium_peer(peer: model.Peer, namespace: str | None) -> Peer:
    if peer.kind == "endpoints":
        scope = endpoint_scope(_selector(peer.pods), namespace)
        return Peer("pods", peer, scope=scope) if scope is not None else Peer("other", peer)
    if peer.kind == "entity":
        return Peer("entity", peer, entity=peer.entity) if isinstance(peer.entity, str) else Peer("other", peer)
    if peer.kind == "cidr":
        return _cidr_peer(peer, peer.block)
    if peer.kind == "fqdn":
        return Peer("fqdn", peer)
    return Peer("other", peer)


# --------------------------------------------------------------------------------------------------------
# Editing objects by path (the fixes)


def get_at(obj: Any, path: Path) -> Any:
    for step in path:
        obj = obj[step]
    return obj


def remove_at(obj: Any, path: Path) -> None:
    """Delete the list item or mapping key at `path`."""
    parent = get_at(obj, path[:-1])
    del parent[path[-1]]
