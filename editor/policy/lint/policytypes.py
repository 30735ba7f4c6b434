"""Rules about `policyTypes` in native NetworkPolicy (SEMANTICS §3.1 D1, §4.4 K3, §5)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model.objects import DIRECTIONS
from .context import LintContext, check
from .model import Fix, LintFinding, Path, rule
from .policyview import PolicyView, get_at

OUTSIDE = rule(
    "FL001",
    "rules-outside-policytypes",
    "error",
    "Rules for a direction that policyTypes does not list",
    "Kubernetes ignores ingress/egress rules whose direction is missing from policyTypes, but Cilium enforces "
    "them (cilium#48703): the same YAML isolates the pods under Cilium and leaves them open elsewhere.",
)
DEFAULTED = rule(
    "FL002",
    "policytypes-defaulted",
    "info",
    "policyTypes left to defaulting",
    "Without policyTypes the API server fills in [Ingress], plus Egress only when egress rules exist. "
    "Writing it out makes the isolated directions visible to reviewers and offline tools.",
)
IMPLICIT = rule(
    "FL003",
    "policytypes-defaulting-changes-meaning",
    "warning",
    "policyTypes defaulting does something the rules do not say",
    "Without policyTypes an egress-only policy also denies all ingress, and `egress: []` denies nothing: "
    "the defaulted policyTypes, not the rules, decide which directions are isolated.",
)


def set_policy_types(obj: dict[str, Any], base: Path, types: list[str]) -> None:
    """Write `policyTypes` right after `podSelector`, where people look for it."""
    spec = get_at(obj, base)
    ordered = [t for t in ("Ingress", "Egress") if t in types]
    items = [(key, value) for key, value in spec.items() if key != "policyTypes"]
    at = next((i + 1 for i, (key, _) in enumerate(items) if key == "podSelector"), 0)
    items.insert(at, ("policyTypes", ordered))
    spec.clear()
    spec.update(items)


def _types_fix(short_id: str, title: str, base: Path, types: list[str]) -> Fix:
    return Fix(short_id, title, "object", lambda obj: set_policy_types(obj, base, types))


def _remove_direction_fix(base: Path, direction: str) -> Fix:
    def transform(obj: dict[str, Any]) -> None:
        del get_at(obj, base)[direction]

    return Fix(
        f"remove-{direction}", f"Remove the ignored {direction} rules (what Kubernetes does)", "object", transform
    )


@check
def policy_types(ctx: LintContext) -> Iterator[LintFinding]:
    for policy in ctx.policies:
        if policy.cilium:
            continue
        if policy.policy_types:
            yield from _outside(policy)
        else:
            yield _defaulted(policy)


def _outside(policy: PolicyView) -> Iterator[LintFinding]:
    listed = policy.written.effective_policy_types()
    for direction in DIRECTIONS:
        ignored = policy.rules_of(direction, effective_only=False)
        if not ignored or direction.capitalize() in listed:
            continue
        wanted = [*listed, direction.capitalize()]
        yield policy.finding(
            OUTSIDE.id,
            (*policy.base, direction),
            f"{len(ignored)} {direction} rule(s) but policyTypes is {listed}: Kubernetes ignores them, "
            f"Cilium enforces them (cilium#48703), so {direction} of the selected pods is open under most CNIs "
            f"and limited to these rules under Cilium",
            OUTSIDE.severity,
            [
                _types_fix(f"add-{direction}", f"Add {direction.capitalize()} to policyTypes", policy.base, wanted),
                _remove_direction_fix(policy.base, direction),
            ],
        )


def _defaulted(policy: PolicyView) -> LintFinding:
    has_ingress = bool(policy.rules_of("ingress"))
    has_egress = bool(policy.rules_of("egress"))
    defaulted = policy.written.effective_policy_types()
    path = (*policy.base, "policyTypes") if "policyTypes" in policy.spec else policy.base
    if has_egress and not has_ingress:
        return policy.finding(
            IMPLICIT.id,
            path,
            "egress rules but no ingress rules and no policyTypes: the API server defaults policyTypes to "
            "[Ingress, Egress], so this policy also denies all ingress to the selected pods",
            IMPLICIT.severity,
            [
                _types_fix(
                    "egress-only", "Set policyTypes: [Egress] (only what the rules say)", policy.base, ["Egress"]
                ),
                _types_fix(
                    "keep-ingress-deny",
                    "Set policyTypes: [Ingress, Egress] (keep the ingress deny, explicitly)",
                    policy.base,
                    ["Ingress", "Egress"],
                ),
            ],
        )
    if "egress" in policy.written.hollow_sections():
        return policy.finding(
            IMPLICIT.id,
            (*policy.base, "egress"),
            "`egress: []` without policyTypes does not isolate egress: the API server defaults policyTypes to "
            "[Ingress], so the pods may still connect anywhere",
            IMPLICIT.severity,
            [
                _types_fix(
                    "deny-egress",
                    "Set policyTypes: [Ingress, Egress] (deny egress)",
                    policy.base,
                    ["Ingress", "Egress"],
                ),
                _types_fix("keep-meaning", "Set policyTypes: [Ingress] (today's meaning)", policy.base, ["Ingress"]),
            ],
        )
    return policy.finding(
        DEFAULTED.id,
        path,
        f"policyTypes is not set; the API server will use {defaulted}",
        DEFAULTED.severity,
        [_types_fix("explicit", f"Set policyTypes: {defaulted} (same meaning, explicit)", policy.base, defaulted)],
    )
