"""Whether Cilium admits a policy at all (SEMANTICS.md C4a).

A CiliumNetworkPolicy that the API server or the agent refuses never takes effect: the analyser treats it as
absent, the importer does not import it and the linter says so. One rule refused takes the whole object (and
every rule of its `specs`) with it. Follows cilium/cilium `pkg/policy/api/rule_validation.go` (`Rule.Sanitize`:
since 1.17 a rule needs an entry in one of its four sections; node peers need the agent flag
`--enable-node-selector-labels`; `icmps` beside `toPorts` in one rule is refused, allow or deny:
errUnsupportedICMPWithToPorts) and the CRD schema (`toPorts[].rules` is a oneOf of the known L7 kinds without
unknown fields, so `rules: {HTTP: ...}` is refused; the entity enum has no `world-ipv4`/`world-ipv6`). It reads
the policy model (model/), as its three callers (analyser, importer, linter) do.
"""

from __future__ import annotations

from .model import Path, Policy, Rule

# The L7 rule kinds of Cilium's L7Rules (pkg/policy/api/l4.go).
L7_KINDS = ("http", "kafka", "dns", "l7proto", "l7")
NODE_PEERS = ("fromNodes", "toNodes")
REFUSED_ENTITIES = ("world-ipv4", "world-ipv6")


def cilium_refusal(policy: Policy, *, node_selector_labels: bool = False) -> tuple[Path, str] | None:
    """(path, why) of the first thing for which Cilium refuses this policy object; None when it admits it."""
    for spec in policy.specs:
        if not spec.is_mapping:
            continue
        if not spec.rules:
            why = "a rule needs an entry in ingress, ingressDeny, egress or egressDeny (refused since Cilium 1.17)"
            return spec.path, why
        for rule in spec.rules:
            found = _entry_refusal(rule, node_selector_labels) if isinstance(rule.raw, dict) else None
            if found is not None:
                return found
    return None


def _entry_refusal(rule: Rule, nodes: bool) -> tuple[Path, str] | None:
    for key in NODE_PEERS:
        if key in rule.peer_fields and not nodes:
            why = f"{key} makes the agent refuse the policy unless it runs with --enable-node-selector-labels"
            return (*rule.path, key), why
    for peer in rule.peers:
        if peer.kind == "entity" and peer.entity in REFUSED_ENTITIES:
            return peer.path, f"the API server refuses entity {peer.entity!r} (not in the CRD's enum)"
    if rule.icmps and rule.port_rules:  # rule_validation.go: len(ICMPs) > 0 && len(ToPorts) > 0
        return (*rule.path, "icmps"), "Cilium refuses icmps beside toPorts in one rule"
    for entry in rule.port_rules:
        for kind in entry.rules if isinstance(entry.rules, dict) else ():
            if kind not in L7_KINDS:
                return (
                    (*entry.path, "rules", kind),
                    f"the API server refuses the unknown L7 rule kind {kind!r} (Cilium knows {', '.join(L7_KINDS)})",
                )
    return None
