"""The as-written policy model: every supported policy kind read once into typed objects.

A `Policy` is one object (a NetworkPolicy, a CiliumNetworkPolicy or a CiliumClusterwideNetworkPolicy); its
`specs` are its rule sets (`spec`, and for Cilium each item of `specs`); a `Spec` has a subject and `rules`, one
per item of `ingress`/`egress` (and Cilium's `ingressDeny`/`egressDeny`); a `Rule` has `peers`, `ports` and, for
Cilium, `port_rules` (`toPorts` entries). Every part keeps the path it was written at and the value as written
(`raw`), and knows its source line (`line`), so each consumer can name `spec.egress[1].ports[0]` and its line.

The model says what was written and where; it decides nothing a consumer may want to decide differently (the
analyser refuses an invalid field, the linter passes over it, the importer drops it with a warning), so it
keeps values as written and records where a shape is wrong (`Policy.problems`). What every consumer must agree on
is decided here once: which keys are peers (`CILIUM_PEER_FIELDS`, `NATIVE_PEER_FIELDS`; the kinds come from
kinds.py), the defaulted policyTypes (SEMANTICS D1), Cilium isolation (C2, C3) and what a rule without peer fields
selects (C4). Lines are looked up in the source only when asked for.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from ..kinds import CILIUM_KINDS, PolicyKind
from ..selectors import OPERATORS, LabelSelector, Requirement, SelectorError
from ..yamlio import KubeObject

Path = tuple[str | int, ...]
DIRECTIONS = ("ingress", "egress")
# Cilium rule keys that name peers (layer 3), by direction, in the order the analyser reads them.
CILIUM_PEER_FIELDS: dict[str, tuple[str, ...]] = {
    "ingress": ("fromEndpoints", "fromCIDR", "fromCIDRSet", "fromEntities", "fromRequires", "fromGroups", "fromNodes"),
    "egress": (
        "toEndpoints", "toCIDR", "toCIDRSet", "toEntities", "toFQDNs", "toServices", "toRequires", "toGroups",
        "toNodes",
    ),
}  # fmt: skip
NATIVE_PEER_FIELDS = {"ingress": "from", "egress": "to"}
PeerKind = Literal["pods", "endpoints", "cidr", "entity", "fqdn", "nodes", "other"]
_CILIUM_PEER_KINDS: dict[str, PeerKind] = {
    "Endpoints": "endpoints",
    "CIDR": "cidr",
    "CIDRSet": "cidr",
    "Entities": "entity",
    "FQDNs": "fqdn",
    "Nodes": "nodes",
}


@dataclasses.dataclass(slots=True, kw_only=True)
class Part:
    """A part of a policy: where it was written (`path` inside the object) and what (`raw`)."""

    path: Path
    raw: Any = dataclasses.field(default=None, compare=False, repr=False)
    origin: KubeObject | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def line(self) -> int | None:
        """The source line of this part (None for an object that did not come from a file)."""
        return self.origin.line_of(self.path) if self.origin is not None else None

    def line_of(self, path: Path) -> int | None:
        return self.origin.line_of(path) if self.origin is not None else None

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.raw, dict)


@dataclasses.dataclass(slots=True, kw_only=True)
class Selector(Part):
    """A label selector as written, parsed once: `parsed`, or `error` (paths inside it are relative).

    `unknown` lists keys no selector has (a mis-indented `matchLabels` leaves its labels beside it), each with
    its path and what it is a key of, since reading past them would widen the selector.
    """

    parsed: LabelSelector | None
    error: SelectorError | None
    unknown: tuple[tuple[Path, str], ...] = ()

    def terms(self) -> Terms:
        """matchLabels and matchExpressions read for their shape only (strings, known operators), not for
        label syntax, so that a reader that keeps hostile or invalid labels as text can; `problem` says why
        not, with its path. Unknown keys make a selector unreadable rather than ignored."""
        raw = self.raw
        if raw is None:
            return Terms({}, [])
        if not isinstance(raw, dict):
            return Terms({}, [], (self.path, "a label selector must be a mapping"))
        unknown = [key for key in raw if key not in ("matchLabels", "matchExpressions")]
        if unknown:
            return Terms({}, [], (self.path, f"unknown selector key {unknown[0]!r} (mis-indented matchLabels?)"))
        labels = raw.get("matchLabels") or {}
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            message = "matchLabels must map strings to strings (quote numbers and booleans)"
            return Terms({}, [], ((*self.path, "matchLabels"), message))
        expressions = raw.get("matchExpressions")
        if expressions is not None and not isinstance(expressions, list):
            return Terms({}, [], ((*self.path, "matchExpressions"), "must be a list"))
        requirements = []
        for i, expression in enumerate(expressions or []):
            requirement = _requirement(expression)
            if requirement is None:
                where = (*self.path, "matchExpressions", i)
                return Terms({}, [], (where, "not a valid label selector requirement"))
            requirements.append(requirement)
        return Terms(dict(labels), requirements)

    def label_keys(self, operators: tuple[str, ...] | None = None) -> list[str]:
        """The label keys the selector names, as written: its matchLabels, then its expressions (only those
        with one of `operators`, if given); none when its terms cannot be read (see `terms`)."""
        terms = self.terms()
        keys = list(terms.labels)
        keys += [r.key for r in terms.requirements if operators is None or r.operator in operators]
        return keys


@dataclasses.dataclass(slots=True, frozen=True)
class Terms:
    """A selector's terms as written (see `Selector.terms`)."""

    labels: dict[str, str]
    requirements: list[Requirement]
    problem: tuple[Path, str] | None = None


def _requirement(expression: Any) -> Requirement | None:
    if not isinstance(expression, dict) or not isinstance(expression.get("key"), str):
        return None
    operator, values = expression.get("operator"), expression.get("values") or []
    if operator not in OPERATORS or not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return None
    if (operator in ("In", "NotIn")) != bool(values):
        return None
    return Requirement(expression["key"], operator, tuple(sorted(set(values))))


@dataclasses.dataclass(slots=True, kw_only=True)
class IPBlock(Part):
    """A CIDR and its exceptions: a NetworkPolicy `ipBlock`, a Cilium `toCIDR` item or `toCIDRSet` entry."""

    cidr: Any  # as written; a string when valid
    excepts: Any = None  # as written; a list of strings when valid
    cidr_path: Path = ()
    excepts_path: Path = ()

    @property
    def except_items(self) -> list[tuple[Path, Any]]:
        return [((*self.excepts_path, i), text) for i, text in enumerate(_list(self.excepts))]


@dataclasses.dataclass(slots=True, kw_only=True)
class Peer(Part):
    """One peer of a rule, under `field` (`from`/`to` for NetworkPolicy; the Cilium key, e.g. `toCIDRSet`)."""

    field: str
    kind: PeerKind
    pods: Selector | None = None  # podSelector; a Cilium endpoint (or node, requires) selector
    namespaces: Selector | None = None  # NetworkPolicy namespaceSelector
    block: IPBlock | None = None
    entity: Any = None  # a Cilium entity name as written
    match_name: Any = None  # toFQDNs
    match_pattern: Any = None

    @property
    def fqdn_names(self) -> list[str]:
        """A toFQDNs peer's matchName and matchPattern, those written."""
        return _names(self.match_name, self.match_pattern)


@dataclasses.dataclass(slots=True, kw_only=True)
class Port(Part):
    """One port condition as written (`protocol`, `port`, `endPort`); None where a key is absent."""

    protocol: Any = None
    port: Any = None
    end_port: Any = None


@dataclasses.dataclass(slots=True, kw_only=True)
class PortRule(Part):
    """A Cilium `toPorts` entry: `ports`, L7 `rules` and `serverNames` as written."""

    ports: tuple[Port, ...]
    rules: Any = None
    server_names: Any = None

    @property
    def dns(self) -> list[Any]:
        """The entry's L7 DNS rules as written (the names Cilium's DNS proxy lets through)."""
        dns = self.rules.get("dns") if isinstance(self.rules, dict) else None
        return dns if isinstance(dns, list) else []

    @property
    def dns_names(self) -> list[str]:
        """The matchName and matchPattern of the entry's DNS rules (what the DNS proxy lets through)."""
        return [
            name
            for item in self.dns
            if isinstance(item, dict)
            for name in _names(item.get("matchName"), item.get("matchPattern"))
        ]


@dataclasses.dataclass(slots=True, kw_only=True)
class Rule(Part):
    """One item of `ingress`, `egress`, `ingressDeny` or `egressDeny`.

    `peer_fields` are the peer keys written with a value (null is absent, as Cilium's and the API server's
    decoders read it); `peers` the peers under them, in that order. `ports` are a NetworkPolicy rule's ports,
    `port_rules` a Cilium rule's `toPorts` entries (their ports are in `cilium_ports`).
    """

    section: str
    direction: str  # ingress / egress
    deny: bool
    index: int  # position in its section, from 0
    cilium: bool
    peer_fields: tuple[str, ...]
    peers: tuple[Peer, ...]
    ports: tuple[Port, ...] = ()
    port_rules: tuple[PortRule, ...] = ()
    icmps: Any = None

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.raw, dict) or self.raw is None

    @property
    def cilium_ports(self) -> tuple[Port, ...]:
        return tuple(port for rule in self.port_rules for port in rule.ports)

    @property
    def every_peer(self) -> bool:
        """Whether the rule allows every peer (on its ports).

        NetworkPolicy: `from`/`to` missing or empty. Cilium (C4, pkg/policy/rule.go): no peer field, beside
        `toPorts` or `icmps`; a rule with neither, such as Cilium's default deny `- {}`, selects no peer
        (pkg/policy/api/ingress.go GetSourceEndpointSelectorsWithRequirements returns no selector).
        """
        if not self.cilium:
            return not self.peers
        return not self.peer_fields and bool(self.port_rules or self.icmps)

    @property
    def selects_nothing(self) -> bool:
        """Cilium's `- {}`: neither peers nor ports nor ICMP, so it allows nothing (C4)."""
        return self.cilium and not self.peer_fields and not self.port_rules and not self.icmps


@dataclasses.dataclass(slots=True, kw_only=True)
class Spec(Part):
    """One rule set: a NetworkPolicy's `spec`, a Cilium policy's `spec` or one item of its `specs`."""

    index: int | None  # position in `specs`; None for `spec`; `raw` may be something other than a mapping
    subject: Selector | None  # podSelector / endpointSelector; None when absent or null
    nodes: Selector | None = None  # Cilium nodeSelector (a host policy)
    policy_types: Any = None  # NetworkPolicy policyTypes as written
    default_deny: Any = None  # Cilium enableDefaultDeny as written
    rules: tuple[Rule, ...] = ()
    written_sections: tuple[str, ...] = ()  # the rule sections whose key is written, whatever its value (null too)

    @property
    def spec(self) -> dict[str, Any]:
        return self.raw if isinstance(self.raw, dict) else {}

    def section(self, name: str) -> list[Rule]:
        return [rule for rule in self.rules if rule.section == name]

    def hollow_sections(self) -> list[str]:
        """The sections written without an entry (`egress: []`, or `egress:` left null): they isolate nothing."""
        return [name for name in self.written_sections if self.spec.get(name) in (None, [])]

    def effective_policy_types(self) -> list[str]:
        """NetworkPolicy policyTypes after the API server's defaulting (SEMANTICS D1)."""
        written = self.policy_types
        if isinstance(written, list) and written:
            return [t for t in written if t in ("Ingress", "Egress")]
        return ["Ingress", "Egress"] if _list(self.spec.get("egress")) else ["Ingress"]

    def cilium_isolates(self, direction: str) -> bool:
        """Whether a Cilium rule set puts its endpoints into default deny for `direction` (C2, C3)."""
        flags = self.default_deny
        if isinstance(flags, dict) and flags.get(direction) is False:
            return False
        return bool(_list(self.spec.get(direction)) or _list(self.spec.get(f"{direction}Deny")))


@dataclasses.dataclass(slots=True, frozen=True)
class Problem:
    """A part whose shape is wrong (a rule that is not a mapping, a section that is not a list)."""

    path: Path
    expected: Literal["mapping", "list"]
    what: str  # "rule", "peer", "port", "toPorts entry", "section", ...


@dataclasses.dataclass(slots=True, kw_only=True)
class Policy(Part):
    """One policy object as written; `namespace` is defaulted (`default`) and None for a cluster-wide kind."""

    kind: PolicyKind
    name: str | None
    namespace: str | None
    specs: tuple[Spec, ...]
    problems: tuple[Problem, ...] = ()

    @property
    def obj(self) -> dict[str, Any]:
        return self.raw if isinstance(self.raw, dict) else {}

    @property
    def cilium(self) -> bool:
        return self.kind.name in CILIUM_KINDS

    def __str__(self) -> str:
        name = f"{self.namespace}/{self.name}" if self.namespace else str(self.name)
        return f"{self.kind.name} {name}"


def _names(*written: Any) -> list[str]:
    return [str(value) for value in written if value]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def cilium_peer_kind(key: str) -> PeerKind:
    return _CILIUM_PEER_KINDS.get(key.removeprefix("from").removeprefix("to"), "other")
