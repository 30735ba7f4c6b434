"""Whether Cilium admits a policy at all (SEMANTICS.md C4a).

A CiliumNetworkPolicy that the API server or the agent refuses never takes effect: the analyser treats it as
absent, the importer does not import it and the linter says so. One rule refused takes the whole object (and
every rule of its `specs`) with it. Follows cilium/cilium `pkg/policy/api/rule_validation.go` (`Rule.Sanitize`:
since 1.17 a rule needs an entry in one of its four sections; node peers need the agent flag
`--enable-node-selector-labels`) and the CRD schema (`toPorts[].rules` is a oneOf of the known L7 kinds without
unknown fields, so `rules: {HTTP: ...}` is refused; the entity enum has no `world-ipv4`/`world-ipv6`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Path = tuple[str | int, ...]

# The L7 rule kinds of Cilium's L7Rules (pkg/policy/api/l4.go).
L7_KINDS = ("http", "kafka", "dns", "l7proto", "l7")
SECTIONS = ("ingress", "ingressDeny", "egress", "egressDeny")
NODE_PEERS = ("fromNodes", "toNodes")
REFUSED_ENTITIES = ("world-ipv4", "world-ipv6")


def cilium_rules(obj: Mapping[str, Any]) -> list[tuple[Path, Mapping[str, Any]]]:
    """The rules of a Cilium policy object (`spec` and each of `specs`) that are mappings, with their paths."""
    rules: list[tuple[Path, Mapping[str, Any]]] = []
    spec = obj.get("spec")
    if isinstance(spec, Mapping):
        rules.append((("spec",), spec))
    specs = obj.get("specs")
    for index, rule in enumerate(specs if isinstance(specs, list) else []):
        if isinstance(rule, Mapping):
            rules.append((("specs", index), rule))
    return rules


def cilium_refusal(obj: Mapping[str, Any], *, node_selector_labels: bool = False) -> tuple[Path, str] | None:
    """(path, why) of the first thing for which Cilium refuses this policy object; None when it admits it."""
    for path, rule in cilium_rules(obj):
        found = _rule_refusal(rule, path, node_selector_labels)
        if found is not None:
            return found
    return None


def _rule_refusal(rule: Mapping[str, Any], path: Path, nodes: bool) -> tuple[Path, str] | None:
    if not any(rule.get(section) for section in SECTIONS):
        return path, "a rule needs an entry in ingress, ingressDeny, egress or egressDeny (refused since Cilium 1.17)"
    for section in SECTIONS:
        items = rule.get(section)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, Mapping):
                found = _entry_refusal(item, (*path, section, index), nodes)
                if found is not None:
                    return found
    return None


def _entry_refusal(item: Mapping[str, Any], where: Path, nodes: bool) -> tuple[Path, str] | None:
    for key in NODE_PEERS:
        if item.get(key) is not None and not nodes:
            return (
                *where,
                key,
            ), f"{key} makes the agent refuse the policy unless it runs with --enable-node-selector-labels"
    for key in ("fromEntities", "toEntities"):
        values = item.get(key)
        for index, value in enumerate(values if isinstance(values, list) else []):
            if value in REFUSED_ENTITIES:
                return (*where, key, index), f"the API server refuses entity {value!r} (not in the CRD's enum)"
    to_ports = item.get("toPorts")
    for index, port_rule in enumerate(to_ports if isinstance(to_ports, list) else []):
        l7 = port_rule.get("rules") if isinstance(port_rule, Mapping) else None
        for kind in l7 if isinstance(l7, Mapping) else ():
            if kind not in L7_KINDS:
                return (
                    (*where, "toPorts", index, "rules", kind),
                    f"the API server refuses the unknown L7 rule kind {kind!r} (Cilium knows {', '.join(L7_KINDS)})",
                )
    return None
