"""ICMP where Cilium enforces the policies: whether a pair's rules let one ICMP type through, and why.

Kubernetes NetworkPolicy leaves ICMP to each implementation (SEMANTICS.md 3.6 P6), so connection sets hold TCP, UDP
and SCTP only. Cilium defines it (4.3 C12), and this module answers it from the same explanation records
(`Analysis.explain`) as the ports: a rule without toPorts and icmps allows every protocol, ICMP included; one with
toPorts allows no ICMP; one with `icmps` allows the ICMP types it lists (`_Rule.icmp`). A side that no policy
isolates lets everything through, a deny rule covering the type wins over every allow rule (C14), and traffic from
the pod's own node is always allowed (K5), as for TCP. ICMP errors (`ERROR_TYPES`) are not the policies' to decide:
Cilium's conntrack relates them to the connection they report on and enforces no policy on related traffic, and
lets fragmentation-needed through whatever the policies say, neither of which an observation keeps. A
NetworkPolicy in a Cilium cluster reads as Cilium translates it (K1: ports become toPorts, a rule without ports
has none). Callers decide whether Cilium enforces the policies (`cilium_enforced`, or the drawing's dialect).
"""

from __future__ import annotations

from .evaluate import Analysis
from .explain import DirectionExplanation, Explanation, RuleMatch
from .explain_text import attribution_lines, side_reasons

ICMP_PROTOCOLS = ("ICMPv4", "ICMPv6")  # an observed ICMP connection's protocol; its port is the ICMP type
_TYPES = range(256)  # ICMP types are 8-bit numbers
# The ICMP errors: cilium/cilium bpf/lib/conntrack.h marks these types TUPLE_F_RELATED (the connection they report
# on), bpf_lxc.c skips policy enforcement for CT_RELATED traffic, and bpf/lib/policy.h lets ICMPv4 type 3 code 4
# (fragmentation needed) through whatever the policy (allow-icmp-frag-needed, on by default).
ERROR_TYPES = {"ICMPv4": frozenset({3, 11, 12}), "ICMPv6": frozenset({1, 2, 3, 4})}


def icmp_text(protocol: str, kind: int | str | None) -> str:
    """`ICMPv4 type 8`; `ICMPv6` when the type is not known."""
    return protocol if kind is None else f"{protocol} type {kind}"


def cilium_enforced(analysis: Analysis) -> bool:
    """Whether the analysed policies are enforced by Cilium, as far as they tell: some of them are Cilium's own
    kinds, which no other implementation reads."""
    return any(policy.on_identity for policy in analysis.policies)


def is_error(protocol: str, kind: int | None) -> bool:
    """Whether this ICMP is an error (destination unreachable, time exceeded, ...), which passes as related to
    the connection it reports on whatever the policies say."""
    return kind is not None and kind in ERROR_TYPES.get(protocol, ())


def _covers(match: RuleMatch, protocol: str, kind: int) -> bool:
    return match.icmp is None or (protocol, kind) in match.icmp


def _allows(side: DirectionExplanation | None, protocol: str, kind: int) -> bool:
    if side is None or side.always:
        return True
    matching = [m for m in side.matches if _covers(m, protocol, kind)]
    if any(m.deny for m in matching):
        return False
    return not side.isolated or bool(matching)


def side_allows(side: DirectionExplanation | None, protocol: str, kind: int | None) -> bool:
    """Whether one side (None: an end that is not a pod) lets ICMP of `protocol` and type `kind` (None: some type
    of that protocol) through."""
    if kind is not None:
        return _allows(side, protocol, kind)
    return any(_allows(side, protocol, each) for each in _TYPES)


def allows(explanation: Explanation, protocol: str, kind: int | None) -> bool:
    """Whether the pair's source egress and destination ingress both let the ICMP through (without a type: some
    type through both)."""
    if kind is None:
        return any(allows(explanation, protocol, each) for each in _TYPES)
    return _allows(explanation.egress, protocol, kind) and _allows(explanation.ingress, protocol, kind)


def attribution(explanation: Explanation, protocol: str, kind: int | None) -> list[str]:
    """Why this ICMP connection is allowed or denied, per direction, in the words `attribution` gives TCP: the
    policy and rule that allowed it, or the policies that isolate a side and that no rule of theirs admits it
    (or the deny rule that won)."""
    chosen = kind if kind is not None else next((t for t in _TYPES if allows(explanation, protocol, t)), 0)
    reasons = [
        side_reasons(side, label, lambda m: _covers(m, protocol, chosen), lambda s: _allows(s, protocol, chosen))
        for side, label in ((explanation.egress, "Egress"), (explanation.ingress, "Ingress"))
    ]
    # With no type observed: some type of the protocol, the first one the pair lets through.
    return attribution_lines(icmp_text(protocol, kind), reasons[0], reasons[1])
