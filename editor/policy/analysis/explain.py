"""Explanations: which policies and rules decide what one peer may open to another."""

from __future__ import annotations

import dataclasses

from .connections import ConnectionSet
from .parse import PolicyRef
from .peers import Peer


@dataclasses.dataclass(frozen=True)
class RuleMatch:
    """A rule whose peers include the other end: what it allows (or denies) for this pair."""

    policy: PolicyRef
    rule: str  # e.g. "Ingress rule #2", "EgressDeny rule #1"
    connections: ConnectionSet
    deny: bool = False
    l7: bool = False
    unresolved_ports: tuple[str, ...] = ()
    cluster_named_ports: bool = False  # names resolve over every pod of the cluster (Cilium egress, C10a)
    icmp: frozenset[tuple[str, int]] | None = frozenset()  # the ICMP it covers under Cilium (_Rule.icmp)


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
            if match.unresolved_ports and match.cluster_named_ports:
                text += f" (named port {', '.join(match.unresolved_ports)}: no single number among the cluster's pods)"
            elif match.unresolved_ports:
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
