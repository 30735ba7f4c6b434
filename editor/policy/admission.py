"""Whether Cilium admits a policy at all (SEMANTICS.md C4a).

A CiliumNetworkPolicy that the API server or the agent refuses never takes effect: the analyser treats it as
absent, the importer does not import it and the linter says so. One rule refused takes the whole object (and
every rule of its `specs`) with it. Follows cilium/cilium `pkg/policy/api/rule_validation.go` (`Rule.Sanitize`:
since 1.17 a rule needs an entry in one of its four sections; node peers need the agent flag
`--enable-node-selector-labels`; `icmps` beside `toPorts` in one rule is refused, allow or deny:
errUnsupportedICMPWithToPorts) and the CRD schema (`toPorts[].rules` is a oneOf of the known L7 kinds without
unknown fields, so `rules: {HTTP: ...}` is refused; the entity enum has no `world-ipv4`/`world-ipv6`; toPorts
protocols are an enum without ICMP; an ICMP field's family and type text have an enum and a pattern). It reads
the policy model (model/), as its three callers (analyser, importer, linter) do.
"""

from __future__ import annotations

import re

from .document import ICMP_TYPE_NAMES
from .model import Path, Policy, Rule

# The L7 rule kinds of Cilium's L7Rules (pkg/policy/api/l4.go).
L7_KINDS = ("http", "kafka", "dns", "l7proto", "l7")
NODE_PEERS = ("fromNodes", "toNodes")
REFUSED_ENTITIES = ("world-ipv4", "world-ipv6")
# The CRD's ICMPField (pkg/policy/api/icmp.go markers): `family` is an enum of these, `type` (required) an integer
# or a string of its pattern: a plain number 0-255 or a type name, but the pattern misspells one ("ExtendedEcho
# Reply"), so the API server refuses that name in either family.
ICMP_FAMILIES = ("IPv4", "IPv6")
_ICMP_NUMBER_TEXT = re.compile(r"[0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]")
_ICMP_NAMES_ADMITTED = frozenset(
    name for names in ICMP_TYPE_NAMES.values() for name in names if name != "ExtendedEchoReply"
)
_ICMP_NAMES_ADMITTED |= {"ExtendedEcho Reply"}  # as misspelt; no family has it, so the agent cannot decode it


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
    refused = icmp_field_refusal(rule)
    if refused is not None:
        return refused
    for port in rule.cilium_ports:  # the CRD's enum: TCP, UDP, SCTP, ANY ("Matching on ICMP is not supported")
        if isinstance(port.protocol, str) and port.protocol.upper() in ("ICMP", "ICMPV6"):
            why = f"the API server refuses toPorts protocol {port.protocol} (ICMP goes in icmps)"
            return (*port.path, "protocol"), why
    for entry in rule.port_rules:
        for kind in entry.rules if isinstance(entry.rules, dict) else ():
            if kind not in L7_KINDS:
                return (
                    (*entry.path, "rules", kind),
                    f"the API server refuses the unknown L7 rule kind {kind!r} (Cilium knows {', '.join(L7_KINDS)})",
                )
    return None


def icmp_field_refusal(rule: Rule) -> tuple[Path, str] | None:
    """(path, why) of the first `icmps` field whose family or type the CRD's schema refuses; None if none."""
    for i, item in enumerate(rule.icmps if isinstance(rule.icmps, list) else ()):
        fields = item.get("fields") if isinstance(item, dict) else None
        for j, field in enumerate(fields if isinstance(fields, list) else ()):
            if not isinstance(field, dict):
                continue
            path = (*rule.path, "icmps", i, "fields", j)
            family, kind = field.get("family"), field.get("type")
            if family is not None and family not in ICMP_FAMILIES:
                return (*path, "family"), f"the API server refuses ICMP family {family!r} (IPv4 or IPv6)"
            if kind is None or isinstance(kind, bool) or not isinstance(kind, (int, str)):
                return (*path, "type"), "the API server refuses an ICMP field without a type (a number or a name)"
            if isinstance(kind, str) and not (_ICMP_NUMBER_TEXT.fullmatch(kind) or kind in _ICMP_NAMES_ADMITTED):
                why = "a number 0-255 without leading zeros or a type name; the CRD misspells ExtendedEchoReply"
                return (*path, "type"), f"the API server refuses ICMP type {kind!r} ({why})"
    return None
