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

from ..kinds import CILIUM_KINDS, CLUSTER_SCOPED, POLICY_KINDS
from ..selectors import EVERYTHING, LabelSelector, Requirement, SelectorError, parse_selector
from ..yamlio import KubeObject
from .model import Fix, IPNetwork, LintFinding, Path, Severity, format_path

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
CILIUM_NAMESPACE_KEY = "io.kubernetes.pod.namespace"
CILIUM_NAMESPACE_LABELS = "io.cilium.k8s.namespace.labels."
CILIUM_SERVICE_ACCOUNT_KEY = "io.cilium.k8s.policy.serviceaccount"
DIRECTIONS = ("ingress", "egress")
# Cilium rule keys that name peers (layer 3), by direction; a rule with none of them is an L3 wildcard (C4).
CILIUM_PEER_KEYS = {
    "ingress": ("fromEndpoints", "fromEntities", "fromCIDR", "fromCIDRSet", "fromRequires", "fromNodes", "fromGroups"),
    "egress": (
        "toEndpoints", "toEntities", "toCIDR", "toCIDRSet", "toFQDNs", "toServices", "toRequires", "toNodes",
        "toGroups",
    ),
}  # fmt: skip
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


@dataclasses.dataclass(frozen=True)
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


@dataclasses.dataclass(frozen=True)
class Peer:
    """One peer of a rule. `kind` other: a peer lint does not model (services, nodes, unreadable selectors)."""

    kind: PeerKind
    path: Path
    raw: Any
    scope: PodScope | None = None
    cidr: IPNetwork | None = None
    excepts: tuple[IPNetwork, ...] = ()
    entity: str | None = None

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


@dataclasses.dataclass(frozen=True)
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
# Reading objects


def read_policies(item: KubeObject | dict[str, Any]) -> list[PolicyView]:
    """The policies of one object (several for a Cilium `specs:` list); none for other kinds or no spec."""
    obj = item.obj if isinstance(item, KubeObject) else item
    source = item if isinstance(item, KubeObject) else None
    if not isinstance(obj, dict) or obj.get("kind") not in POLICY_KINDS:
        return []
    kind = str(obj["kind"])
    metadata: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    name: str = metadata["name"] if isinstance(metadata.get("name"), str) else "<unnamed>"
    namespace: str | None = None
    if kind not in CLUSTER_SCOPED:
        written = metadata.get("namespace")
        namespace = written if isinstance(written, str) and written else "default"
    specs: list[tuple[Path, Any]] = []
    if isinstance(obj.get("spec"), dict):
        specs.append((("spec",), obj["spec"]))
    if kind in CILIUM_KINDS and isinstance(obj.get("specs"), list):
        specs += [(("specs", i), spec) for i, spec in enumerate(obj["specs"]) if isinstance(spec, dict)]
    views = []
    for base, spec in specs:
        if kind == "NetworkPolicy":
            view = _read_native(kind, namespace or "default", name, obj, base, spec)
        else:
            view = _read_cilium(kind, namespace, name, obj, base, spec)
        view.item = source
        view.multiple_specs = len(specs) > 1
        views.append(view)
    return views


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _selector(value: Any, *, cilium: bool = False) -> LabelSelector | None:
    """A parsed selector, or None when it cannot be read (validate reports it)."""
    if value is None:
        return EVERYTHING
    try:
        return parse_selector(value, source_prefixes=cilium)
    except SelectorError:
        return None


def _network(text: Any) -> IPNetwork | None:
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _cidr_peer(path: Path, raw: Any, cidr: Any, excepts: Any) -> Peer:
    network = _network(cidr)
    if network is None:
        return Peer("other", path, raw)
    holes = tuple(hole for hole in (_network(text) for text in _list(excepts)) if hole is not None)
    return Peer("cidr", path, raw, cidr=network, excepts=holes)


# --- native NetworkPolicy ---------------------------------------------------------------------------------


def effective_policy_types(spec: dict[str, Any]) -> list[str]:
    """policyTypes after the API server's defaulting (SEMANTICS D1)."""
    written = spec.get("policyTypes")
    if isinstance(written, list) and written:
        return [t for t in written if t in ("Ingress", "Egress")]
    return ["Ingress", "Egress"] if _list(spec.get("egress")) else ["Ingress"]


def _read_native(
    kind: str, namespace: str, name: str, obj: dict[str, Any], base: Path, spec: dict[str, Any]
) -> PolicyView:
    pods = _selector(spec.get("podSelector"))
    subject = PodScope(namespace_scope(namespace), pods, namespace) if pods is not None else None
    written_types = spec.get("policyTypes")
    policy_types = [str(t) for t in written_types] if isinstance(written_types, list) else None
    types = effective_policy_types(spec)
    rules: list[RuleView] = []
    for direction in DIRECTIONS:
        peers_key = "from" if direction == "ingress" else "to"
        for index, raw in enumerate(_list(spec.get(direction))):
            path = (*base, direction, index)
            rule = raw if isinstance(raw, dict) else {}
            written_peers = _list(rule.get(peers_key))
            peers = [_native_peer((*path, peers_key, i), peer, namespace) for i, peer in enumerate(written_peers)]
            written_ports = _list(rule.get("ports"))
            ports = [_port((*path, "ports", i), port, "TCP") for i, port in enumerate(written_ports)]
            rules.append(
                RuleView(
                    direction,
                    False,
                    index,
                    path,
                    raw,
                    peers or None,
                    ports or None,
                    effective=direction.capitalize() in types,
                )
            )
    isolates = {direction: direction.capitalize() in types for direction in DIRECTIONS}
    return PolicyView(kind, namespace, name, obj, base, spec, subject, policy_types, isolates, rules)


def _native_peer(path: Path, raw: Any, namespace: str) -> Peer:
    if not isinstance(raw, dict):
        return Peer("other", path, raw)
    if "ipBlock" in raw:
        block = raw["ipBlock"] if isinstance(raw["ipBlock"], dict) else {}
        return _cidr_peer(path, raw, block.get("cidr"), block.get("except"))
    has_pods, has_namespaces = "podSelector" in raw, "namespaceSelector" in raw
    if not has_pods and not has_namespaces:
        return Peer("other", path, raw)
    pods = _selector(raw.get("podSelector")) if has_pods else EVERYTHING
    namespaces = _selector(raw.get("namespaceSelector")) if has_namespaces else namespace_scope(namespace)
    if pods is None or namespaces is None:
        return Peer("other", path, raw)
    return Peer("pods", path, raw, scope=PodScope(namespaces, pods, None if has_namespaces else namespace))


def _port(path: Path, raw: Any, default_protocol: str) -> PortSpec:
    if not isinstance(raw, dict):
        return PortSpec(path, None, None, None, default_protocol)
    protocol = raw.get("protocol") if isinstance(raw.get("protocol"), str) else None
    port = raw.get("port")
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if port == 0 or isinstance(port, bool) or not isinstance(port, int | str):
        port = None  # Cilium's "0" and an absent port both mean every port
    end = raw.get("endPort")
    end_port = end if isinstance(end, int) and not isinstance(end, bool) and isinstance(port, int) else None
    return PortSpec(path, protocol, port, end_port, default_protocol)


# --- Cilium ------------------------------------------------------------------------------------------------


def endpoint_scope(raw: Any, namespace: str | None) -> PodScope | None:
    """The pods a Cilium endpoint selector matches (SEMANTICS C5/C6), or None for a non-pod or unreadable one.

    Namespace keys (`k8s:io.kubernetes.pod.namespace`, `io.cilium.k8s.namespace.labels.*`) become the
    namespace selector; without one, a CNP selector means the policy's namespace and a CCNP selector every
    namespace. Other label sources (`reserved:`, `cidr:`) select no pod.
    """
    selector = _selector(raw, cilium=True)
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


def cilium_isolates(spec: dict[str, Any], direction: str) -> bool:
    """Whether the rule puts its endpoints into default-deny for `direction` (SEMANTICS C2, C3)."""
    default_deny = spec.get("enableDefaultDeny")
    if isinstance(default_deny, dict) and default_deny.get(direction) is False:
        return False
    return bool(_list(spec.get(direction)) or _list(spec.get(f"{direction}Deny")))


def _read_cilium(
    kind: str, namespace: str | None, name: str, obj: dict[str, Any], base: Path, spec: dict[str, Any]
) -> PolicyView:
    subject: PodScope | None = None
    if "endpointSelector" in spec:
        subject = endpoint_scope(spec.get("endpointSelector"), namespace)
        if subject is not None and namespace is not None:
            # C1: Cilium always ANDs the policy's namespace into the subject selector.
            subject = PodScope(namespace_scope(namespace), subject.pods, namespace)
    rules: list[RuleView] = []
    for direction in DIRECTIONS:
        for deny in (False, True):
            section = f"{direction}Deny" if deny else direction
            for index, raw in enumerate(_list(spec.get(section))):
                rules.append(_cilium_rule(direction, deny, index, (*base, section, index), raw, namespace))
    isolates = {direction: cilium_isolates(spec, direction) for direction in DIRECTIONS}
    return PolicyView(kind, namespace, name, obj, base, spec, subject, None, isolates, rules)


def _cilium_rule(direction: str, deny: bool, index: int, path: Path, raw: Any, namespace: str | None) -> RuleView:
    rule = raw if isinstance(raw, dict) else {}
    peers: list[Peer] = []
    has_peer_field = False
    for key in CILIUM_PEER_KEYS[direction]:
        if rule.get(key) is None:
            continue  # absent, or null (Cilium's decoder reads null as absent)
        has_peer_field = True
        for i, value in enumerate(_list(rule[key])):
            peers.append(_cilium_peer(key, (*path, key, i), value, namespace))
    ports: list[PortSpec] = []
    l7 = False
    port_key = "toPorts"
    for i, entry in enumerate(_list(rule.get(port_key))):
        if not isinstance(entry, dict):
            continue
        l7 = l7 or bool(entry.get("rules")) or bool(entry.get("serverNames"))
        # C4: an entry without ports allows nothing (pkg/policy/rule.go makes one L4 filter per listed port)
        written = _list(entry.get("ports"))
        ports += [_port((*path, port_key, i, "ports", j), port, "ANY") for j, port in enumerate(written)]
    # C4: no peer field is an L3 wildcard only beside toPorts or icmps; `- {}` selects nothing (default deny)
    wildcard = bool(_list(rule.get(port_key)) or rule.get("icmps"))
    return RuleView(
        direction,
        deny,
        index,
        path,
        raw,
        peers if has_peer_field or not wildcard else None,
        ports if _list(rule.get(port_key)) else None,
        l7=l7,
        icmp=bool(rule.get("icmps")),
    )


def _cilium_peer(key: str, path: Path, raw: Any, namespace: str | None) -> Peer:
    if key.endswith("Endpoints"):
        scope = endpoint_scope(raw, namespace)
        return Peer("pods", path, raw, scope=scope) if scope is not None else Peer("other", path, raw)
    if key.endswith("Entities"):
        return Peer("entity", path, raw, entity=raw) if isinstance(raw, str) else Peer("other", path, raw)
    if key.endswith("CIDR"):
        return _cidr_peer(path, raw, raw, ())
    if key.endswith("CIDRSet") and isinstance(raw, dict):
        return _cidr_peer(path, raw, raw.get("cidr"), raw.get("except"))
    if key == "toFQDNs":
        return Peer("fqdn", path, raw)
    return Peer("other", path, raw)


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
