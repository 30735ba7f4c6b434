"""Rules about ports: named ports that resolve to nothing, and Cilium's ANY default (SEMANTICS P5, C12)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from .context import LintContext, check
from .model import Fix, KnownWorkload, LintFinding, rule
from .policyview import PolicyView, PortSpec, RuleView, get_at

UNDEFINED_NAME = rule(
    "FL011",
    "named-port-undefined",
    "warning",
    "A named port that no target container defines",
    "A named port resolves on the pod that receives the traffic (ingress: the selected pods, egress: the "
    "peers); when none of those pods has a container port with that name and protocol, the rule matches nothing.",
)
NO_PROTOCOL = rule(
    "FL016",
    "cilium-port-without-protocol",
    "warning",
    "Cilium port without a protocol (ANY, not TCP)",
    "In CiliumNetworkPolicy an omitted protocol means ANY (TCP, UDP and SCTP), unlike NetworkPolicy where it "
    "means TCP: the rule opens UDP too. Say which protocol is meant.",
)
NAME_TO_CIDR = rule(
    "FL021",
    "named-port-to-cidr",
    "warning",
    "A named port towards an ipBlock/CIDR",
    "A named port is looked up in the destination pod's containers; an ipBlock or CIDR destination is not a "
    "pod, so the port cannot resolve and the rule matches nothing. Use the port number.",
)


def _targets(ctx: LintContext, policy: PolicyView, rule_view: RuleView) -> list[KnownWorkload]:
    if rule_view.direction == "ingress":
        return ctx.workloads_of(policy)
    if rule_view.peers is None:
        return list(ctx.inventory.workloads)
    found = {id(w): w for peer in rule_view.peers for w in ctx.peer_workloads(peer)}
    return list(found.values())


def _defines(workload: KnownWorkload, port: PortSpec) -> bool:
    protocol = port.effective_protocol
    return any(name == port.port and protocol in ("ANY", proto) for name, _, proto in workload.ports)


@check
def named_ports(ctx: LintContext) -> Iterator[LintFinding]:
    for policy, rule_view in ctx.rules():
        named = [port for port in rule_view.ports or [] if port.named]
        if not rule_view.effective or rule_view.deny or not named:
            continue
        peers = rule_view.peers or []
        if rule_view.direction == "egress" and peers and all(p.kind == "cidr" for p in peers):
            for port in named:
                yield policy.finding(
                    NAME_TO_CIDR.id,
                    port.path,
                    f"named port {port.port!r} towards CIDR peers only: no pod there to define it, "
                    "the rule matches nothing; write the port number",
                    NAME_TO_CIDR.severity,
                )
            continue
        targets = _targets(ctx, policy, rule_view) if ctx.knows_workloads else []
        for port in named:
            if not targets or any(_defines(w, port) for w in targets):
                continue
            yield policy.finding(
                UNDEFINED_NAME.id,
                port.path,
                f"named port {port.port!r} ({port.effective_protocol}) is defined by no container of "
                f"{', '.join(map(str, targets))}: the rule matches nothing",
                UNDEFINED_NAME.severity,
                _rename_fixes(port, targets),
            )


def _rename_fixes(port: PortSpec, targets: list[KnownWorkload]) -> list[Fix]:
    """Rename to a close match that every target defines (a typo such as `htpp`), when there is one."""
    common = set.intersection(*({name for name, _, _ in w.ports if name} for w in targets))
    close = difflib.get_close_matches(str(port.port), sorted(common), n=1, cutoff=0.6)
    if not close:
        return []
    name = close[0]

    def transform(obj: dict[str, Any]) -> None:
        get_at(obj, port.path)["port"] = name

    return [Fix("rename", f"Use the port name {name!r}", "object", transform)]


@check
def cilium_protocols(ctx: LintContext) -> Iterator[LintFinding]:
    for policy, rule_view in ctx.rules(cilium=True):
        for port in rule_view.ports or []:
            if port.protocol is not None or port.path[-2] != "ports":
                continue
            choices = ["TCP", "ANY"] if port.port != 53 else ["ANY", "TCP"]
            yield policy.finding(
                NO_PROTOCOL.id,
                port.path,
                f"port {port.port if port.port is not None else '(all)'} has no protocol: Cilium reads ANY "
                "(TCP, UDP and SCTP), where a NetworkPolicy would mean TCP",
                NO_PROTOCOL.severity,
                [_protocol_fix(port, protocol) for protocol in choices],
            )


def _protocol_fix(port: PortSpec, protocol: str) -> Fix:
    def transform(obj: dict[str, Any]) -> None:
        get_at(obj, port.path)["protocol"] = protocol

    meaning = "today's meaning, explicit" if protocol == "ANY" else "what a NetworkPolicy author expects"
    return Fix(f"protocol-{protocol.lower()}", f"protocol: {protocol} ({meaning})", "object", transform)
