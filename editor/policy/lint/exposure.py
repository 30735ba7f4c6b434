"""Who a policy exposes and whom it selects: world ingress to a non-gateway, and policies that select nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..selectors import EVERYTHING
from .context import LintContext, check
from .model import GATEWAY_ANNOTATION, Fix, LintFinding, format_path, rule
from .policyview import Peer, PodScope, PolicyView, RuleView, get_at

WORLD_INGRESS = rule(
    "FL018",
    "world-ingress",
    "warning",
    "Ingress from the internet to a workload that is not an ingress gateway",
    "A rule without `from`, an ipBlock of 0.0.0.0/0 or ::/0, or the entity world/all admits every address on "
    "the internet. Only an ingress gateway should need that; everything else is reached through it.",
)
SELECTS_NOTHING = rule(
    "FL012",
    "selects-no-workload",
    "warning",
    "A policy that selects none of the known workloads",
    "A subject selector that matches no pod protects nothing; usually a label typo or a policy in the wrong "
    "namespace. Checked only when workload manifests are part of the input.",
)


def world_peer(peer: Peer) -> bool:
    """A peer that includes every internet address."""
    if peer.kind == "entity":
        return peer.entity in ("world", "world-ipv4", "world-ipv6", "all")
    return peer.kind == "cidr" and peer.cidr is not None and peer.cidr.prefixlen == 0


def _world_parts(rule_view: RuleView) -> list[tuple[tuple[str | int, ...], str]]:
    if rule_view.peers is None:
        return [(rule_view.path, "it has no peers, so every source may connect, the internet included")]
    return [
        (peer.path, f"{_describe(peer)} admits every internet address") for peer in rule_view.peers if world_peer(peer)
    ]


def _describe(peer: Peer) -> str:
    return f"entity {peer.entity}" if peer.kind == "entity" else f"CIDR {peer.cidr}"


@check
def world_ingress(ctx: LintContext) -> Iterator[LintFinding]:
    for policy in ctx.policies:
        if policy.subject is None:
            continue
        for rule_view in policy.rules_of("ingress"):
            parts = _world_parts(rule_view)
            if not parts or ctx.is_gateway(policy):
                continue
            for path, reason in parts:
                cluster_fix = _cluster_only_fix(policy, rule_view, path)
                fixes = [fix for fix in (cluster_fix, _mark_gateway_fix(policy)) if fix is not None]
                yield policy.finding(
                    WORLD_INGRESS.id,
                    path,
                    f"{reason}, to {policy.subject.describe()}, which does not look like an ingress gateway "
                    f'(mark it with the annotation {GATEWAY_ANNOTATION}: "true" if it is one)',
                    WORLD_INGRESS.severity,
                    fixes,
                )


def _mark_gateway_fix(policy: PolicyView) -> Fix:
    def transform(obj: dict[str, Any]) -> None:
        metadata = obj.setdefault("metadata", {})
        metadata.setdefault("annotations", {})[GATEWAY_ANNOTATION] = "true"

    return Fix("mark-gateway", "These pods are an ingress gateway (annotate the policy)", "object", transform)


def _cluster_only_fix(policy: PolicyView, rule_view: RuleView, path: tuple[str | int, ...]) -> Fix | None:
    """Admit only in-cluster sources instead: a rule without peers gets one; a world peer is replaced."""
    if policy.cilium:
        if path == rule_view.path:

            def transform(obj: dict[str, Any]) -> None:
                get_at(obj, path)["fromEntities"] = ["cluster"]

        elif path[-2] == "fromEntities":

            def transform(obj: dict[str, Any]) -> None:
                get_at(obj, path[:-1])[path[-1]] = "cluster"

        else:
            return None
    elif path == rule_view.path:

        def transform(obj: dict[str, Any]) -> None:
            get_at(obj, path)["from"] = [{"namespaceSelector": {}}]

    else:

        def transform(obj: dict[str, Any]) -> None:
            get_at(obj, path[:-1])[path[-1]] = {"namespaceSelector": {}}

    return Fix("cluster-only", f"Admit only pods of the cluster at {format_path(path)}", "object", transform)


@check
def selects_no_workload(ctx: LintContext) -> Iterator[LintFinding]:
    if not ctx.knows_workloads:
        return
    for policy in ctx.policies:
        subject = policy.subject
        if subject is None or ctx.workloads_of(policy):
            continue
        candidates = ctx.matching(PodScope(subject.namespaces, EVERYTHING))
        if not candidates:
            continue  # the input says nothing about the namespaces this policy is for
        where = policy.namespace or "any namespace"
        names = ", ".join(sorted(str(w) for w in candidates)[:5]) + (", ..." if len(candidates) > 5 else "")
        yield policy.finding(
            SELECTS_NOTHING.id,
            (*policy.base, "endpointSelector" if policy.cilium else "podSelector"),
            f"selects {subject.describe()}, but none of the {len(candidates)} known workload(s) in {where} "
            f"({names}) has those labels: the policy protects nothing",
            SELECTS_NOTHING.severity,
        )
