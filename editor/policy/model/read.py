"""Policy objects (decoded YAML, with or without their source) -> the as-written model of objects.py.

`read_policy(item)` reads one object of a kind in kinds.py (None for any other kind). Reading never fails: a
part of the wrong shape is kept with what could be read and recorded in `Policy.problems`, for each consumer to
refuse, skip or warn about as it does.
"""

from __future__ import annotations

from typing import Any, Literal

from ..kinds import CILIUM_KINDS, CLUSTER_SCOPED, KINDS, PolicyKind
from ..selectors import LabelSelector, SelectorError, parse_selector
from ..yamlio import KubeObject
from .objects import (
    CILIUM_PEER_FIELDS,
    DIRECTIONS,
    NATIVE_PEER_FIELDS,
    IPBlock,
    Path,
    Peer,
    PeerKind,
    Policy,
    Port,
    PortRule,
    Problem,
    Rule,
    Selector,
    Spec,
    cilium_peer_kind,
)

SELECTOR_FIELDS = ("matchLabels", "matchExpressions")
REQUIREMENT_FIELDS = ("key", "operator", "values")
# what an unknown selector key is a key of -> the keys it may have
KNOWN_FIELDS = {"a label selector": SELECTOR_FIELDS, "a matchExpressions entry": REQUIREMENT_FIELDS}


def read_policy(item: KubeObject | dict[str, Any]) -> Policy | None:
    """The model of one policy object, or None when it is not a mapping of a policy kind."""
    obj = item.obj if isinstance(item, KubeObject) else item
    if not isinstance(obj, dict):
        return None
    name = obj.get("kind")
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        return None
    return _Reader(kind, item if isinstance(item, KubeObject) else None).policy(obj)


class _Reader:
    def __init__(self, kind: PolicyKind, origin: KubeObject | None) -> None:
        self.kind = kind
        self.cilium = kind.name in CILIUM_KINDS
        self.origin = origin
        self.problems: list[Problem] = []

    def problem(self, path: Path, expected: Literal["mapping", "list"], what: str) -> None:
        self.problems.append(Problem(path, expected, what))

    def items(self, value: Any, path: Path, what: str) -> list[Any]:
        """The items of a list; none (and a problem) when something else is written."""
        if isinstance(value, list):
            return value
        if value is not None:
            self.problem(path, "list", what)
        return []

    def mapping(self, value: Any, path: Path, what: str) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        if value is not None:
            self.problem(path, "mapping", what)
        return {}

    def policy(self, obj: dict[str, Any]) -> Policy:
        metadata = obj.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        name = metadata.get("name") if isinstance(metadata.get("name"), str) else None
        namespace: str | None = None
        if self.kind.name not in CLUSTER_SCOPED:
            written = metadata.get("namespace")
            namespace = written if isinstance(written, str) and written else "default"
        written_specs: list[tuple[Path, Any, int | None]] = []
        if obj.get("spec") is not None:
            written_specs.append((("spec",), obj["spec"], None))
        if self.cilium:
            for index, value in enumerate(self.items(obj.get("specs"), ("specs",), "specs")):
                written_specs.append((("specs", index), value, index))
        specs = []
        for path, value, spec_index in written_specs:
            if not isinstance(value, dict):
                self.problem(path, "mapping", "spec")
            specs.append(self.spec(value if isinstance(value, dict) else {}, path, spec_index, value))
        return Policy(
            path=(),
            raw=obj,
            origin=self.origin,
            kind=self.kind,
            name=name,
            namespace=namespace,
            specs=tuple(specs),
            problems=tuple(self.problems),
        )

    def spec(self, spec: dict[str, Any], path: Path, index: int | None, raw: Any) -> Spec:
        rules: list[Rule] = []
        written: list[str] = []
        for direction in DIRECTIONS:
            for deny in (False, True) if self.cilium else (False,):
                section = f"{direction}Deny" if deny else direction
                if section in spec:
                    written.append(section)
                for i, value in enumerate(self.items(spec.get(section), (*path, section), "section")):
                    rules.append(self.rule(value, (*path, section, i), section, direction, deny, i))
        subject_key = "endpointSelector" if self.cilium else "podSelector"
        return Spec(
            path=path,
            raw=raw,
            origin=self.origin,
            index=index,
            subject=self.selector(spec.get(subject_key), (*path, subject_key)),
            nodes=self.selector(spec.get("nodeSelector"), (*path, "nodeSelector")) if self.cilium else None,
            policy_types=None if self.cilium else spec.get("policyTypes"),
            default_deny=spec.get("enableDefaultDeny") if self.cilium else None,
            rules=tuple(rules),
            written_sections=tuple(written),
        )

    def rule(self, value: Any, path: Path, section: str, direction: str, deny: bool, index: int) -> Rule:
        if value is not None and not isinstance(value, dict):
            self.problem(path, "mapping", "rule")
        rule = value if isinstance(value, dict) else {}
        fields: list[str] = []
        peers: list[Peer] = []
        keys = CILIUM_PEER_FIELDS[direction] if self.cilium else (NATIVE_PEER_FIELDS[direction],)
        for key in keys:
            if rule.get(key) is None:
                continue  # absent, or null: both decoders read null as absent
            fields.append(key)
            for i, item in enumerate(self.items(rule[key], (*path, key), "peers")):
                peers.append(self.peer(key, item, (*path, key, i)))
        ports: list[Port] = []
        port_rules: list[PortRule] = []
        if self.cilium:
            for i, entry in enumerate(self.items(rule.get("toPorts"), (*path, "toPorts"), "toPorts")):
                port_rules.append(self.port_rule(entry, (*path, "toPorts", i)))
        else:
            for i, entry in enumerate(self.items(rule.get("ports"), (*path, "ports"), "ports")):
                ports.append(self.port(entry, (*path, "ports", i)))
        return Rule(
            path=path,
            raw=value,
            origin=self.origin,
            section=section,
            direction=direction,
            deny=deny,
            index=index,
            cilium=self.cilium,
            peer_fields=tuple(fields),
            peers=tuple(peers),
            ports=tuple(ports),
            port_rules=tuple(port_rules),
            icmps=rule.get("icmps") if self.cilium else None,
        )

    def peer(self, key: str, value: Any, path: Path) -> Peer:
        if not self.cilium:
            if not isinstance(value, dict):
                self.problem(path, "mapping", "peer")
                return self.made_peer(path, value, key, "other")
            block = None
            if value.get("ipBlock") is not None:
                block = self.block(value["ipBlock"], (*path, "ipBlock"), cidr_key="cidr")
            pods = self.selector(value.get("podSelector"), (*path, "podSelector"))
            namespaces = self.selector(value.get("namespaceSelector"), (*path, "namespaceSelector"))
            native: PeerKind = "cidr" if block is not None else ("pods" if pods or namespaces else "other")
            return self.made_peer(path, value, key, native, pods=pods, namespaces=namespaces, block=block)
        kind = cilium_peer_kind(key)
        if kind in ("endpoints", "nodes") or key.endswith("Requires"):
            pods = self.selector(value, path, always=True)
            return self.made_peer(path, value, key, kind, pods=pods)
        if key.endswith("CIDR"):
            block = IPBlock(path=path, raw=value, origin=self.origin, cidr=value, cidr_path=path)
            return self.made_peer(path, value, key, kind, block=block)
        if key.endswith("CIDRSet"):
            block = self.block(value, path, cidr_key="cidr") if isinstance(value, dict) else None
            return self.made_peer(path, value, key, kind, block=block)
        if kind == "entity":
            return self.made_peer(path, value, key, kind, entity=value)
        if kind == "fqdn" and isinstance(value, dict):
            name, pattern = value.get("matchName"), value.get("matchPattern")
            return self.made_peer(path, value, key, kind, match_name=name, match_pattern=pattern)
        return self.made_peer(path, value, key, kind)

    def made_peer(self, path: Path, value: Any, key: str, kind: PeerKind, **parts: Any) -> Peer:
        return Peer(path=path, raw=value, origin=self.origin, field=key, kind=kind, **parts)

    def block(self, value: Any, path: Path, *, cidr_key: str) -> IPBlock:
        written = value if isinstance(value, dict) else {}
        return IPBlock(
            path=path,
            raw=value,
            origin=self.origin,
            cidr=written.get(cidr_key),
            excepts=written.get("except"),
            cidr_path=(*path, cidr_key),
            excepts_path=(*path, "except"),
        )

    def port_rule(self, value: Any, path: Path) -> PortRule:
        entry = self.mapping(value, path, "toPorts entry")
        ports = self.items(entry.get("ports"), (*path, "ports"), "ports")
        return PortRule(
            path=path,
            raw=value,
            origin=self.origin,
            ports=tuple(self.port(port, (*path, "ports", i)) for i, port in enumerate(ports)),
            rules=entry.get("rules"),
            server_names=entry.get("serverNames"),
        )

    def port(self, value: Any, path: Path) -> Port:
        if not isinstance(value, dict):
            self.problem(path, "mapping", "port")
            return Port(path=path, raw=value, origin=self.origin)
        return Port(
            path=path,
            raw=value,
            origin=self.origin,
            protocol=value.get("protocol"),
            port=value.get("port"),
            end_port=value.get("endPort"),
        )

    def selector(self, value: Any, path: Path, *, always: bool = False) -> Selector | None:
        """The selector at `path`; None when absent or null (unless `always`: a list item is always a selector)."""
        if value is None and not always:
            return None
        return read_selector(value, path, cilium=self.cilium, origin=self.origin)


def read_selector(value: Any, path: Path, *, cilium: bool, origin: KubeObject | None = None) -> Selector:
    """A label selector as written, parsed (with Cilium's label-source prefixes when `cilium`)."""
    key = (cilium, repr(value))  # repr tells 1 from True and "1"; parsing depends on nothing else
    cached = _PARSED.get(key)
    if cached is None:
        cached = _PARSED[key] = _parse(value, cilium)
    parsed, error, unknown = cached
    if len(_PARSED) > _MAX_PARSED:
        _PARSED.clear()
    where = tuple(((*path, *inside), what) for inside, what in unknown) if unknown else ()
    return Selector(path=path, raw=value, origin=origin, parsed=parsed, error=error, unknown=where)


# Selectors repeat across the policies of a cluster (`{}`, `app: web`), and parsing checks every key and value
# against the label syntax, so each distinct selector is parsed once.
_Parsed = tuple[LabelSelector | None, SelectorError | None, tuple[tuple[Path, str], ...]]
_PARSED: dict[tuple[bool, str], _Parsed] = {}
_MAX_PARSED = 20_000


def _parse(value: Any, cilium: bool) -> _Parsed:
    unknown: list[tuple[Path, str]] = []
    if isinstance(value, dict):
        unknown += [((key,), "a label selector") for key in value if key not in SELECTOR_FIELDS]
        expressions = value.get("matchExpressions")
        for i, expression in enumerate(expressions if isinstance(expressions, list) else []):
            for key in expression if isinstance(expression, dict) else ():
                if key not in REQUIREMENT_FIELDS:
                    unknown.append((("matchExpressions", i, key), "a matchExpressions entry"))
    try:
        return parse_selector(value, "", source_prefixes=cilium), None, tuple(unknown)
    except SelectorError as exc:
        return None, exc, tuple(unknown)
