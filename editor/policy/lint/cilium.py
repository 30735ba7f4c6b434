"""Cilium-only traps: the empty rule whose meaning changed, and namespace labels in a namespaced policy (C4, C7)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .context import LintContext, check
from .model import Fix, LintFinding, rule
from .policyview import CILIUM_NAMESPACE_LABELS, get_at

EMPTY_RULE = rule(
    "FL015",
    "cilium-empty-rule",
    "warning",
    "A `- {}` rule in a Cilium policy",
    'Older Cilium read an empty rule as "allow nothing" (old docs use `ingress: [{}]` for default deny); '
    "current Cilium reads it as an L3/L4 wildcard that allows everything. Say which one is meant.",
)
NAMESPACE_LABELS = rule(
    "FL020",
    "cilium-namespace-labels-in-cnp",
    "warning",
    "Namespace labels (`io.cilium.k8s.namespace.labels.*`) in a CiliumNetworkPolicy",
    "Cilium documents namespace-label selectors as supported only in CiliumClusterwideNetworkPolicy and "
    "ignored in CiliumNetworkPolicy, while the code honours them: behaviour may change. Select namespaces by "
    "`k8s:io.kubernetes.pod.namespace`, or use a native NetworkPolicy namespaceSelector.",
)


@check
def empty_rules(ctx: LintContext) -> Iterator[LintFinding]:
    for policy in ctx.policies:
        if not policy.cilium:
            continue
        for rule_view in policy.rules:
            if rule_view.raw != {}:
                continue
            key = "fromEntities" if rule_view.direction == "ingress" else "toEntities"
            verb = "denies" if rule_view.deny else "allows"
            yield policy.finding(
                EMPTY_RULE.id,
                rule_view.path,
                f"`- {{}}` {verb} everything in current Cilium but nothing in older releases; write "
                f"`{key}: [all]` for everything, or use a NetworkPolicy with policyTypes for a default deny",
                EMPTY_RULE.severity,
                [_entities_fix(rule_view.path, key)],
            )


def _entities_fix(path: tuple[str | int, ...], key: str) -> Fix:
    def transform(obj: dict[str, Any]) -> None:
        get_at(obj, path[:-1])[path[-1]] = {key: ["all"]}

    return Fix("explicit-all", f"`{key}: [all]` (today's meaning, explicit)", "object", transform)


@check
def namespace_labels(ctx: LintContext) -> Iterator[LintFinding]:
    for policy in ctx.policies:
        if policy.kind != "CiliumNetworkPolicy":
            continue
        for rule_view in policy.rules:
            for peer in rule_view.peers or []:
                keys = _keys(peer.raw) if peer.kind == "pods" else []
                found = [
                    k for k in keys if k.removeprefix("k8s:").removeprefix("any:").startswith(CILIUM_NAMESPACE_LABELS)
                ]
                if found:
                    yield policy.finding(
                        NAMESPACE_LABELS.id,
                        peer.path,
                        f"selects namespaces by `{found[0]}`: documented as ignored in CiliumNetworkPolicy "
                        "(honoured by the code); prefer `k8s:io.kubernetes.pod.namespace` or a "
                        "CiliumClusterwideNetworkPolicy",
                        NAMESPACE_LABELS.severity,
                    )


def _keys(selector: Any) -> list[str]:
    if not isinstance(selector, dict):
        return []
    keys = [k for k in selector.get("matchLabels") or {} if isinstance(k, str)]
    keys += [
        e["key"]
        for e in selector.get("matchExpressions") or []
        if isinstance(e, dict) and isinstance(e.get("key"), str)
    ]
    return keys
