"""Rules about name resolution: egress isolation without DNS, and Cilium toFQDNs without the DNS proxy rule.

Once a pod's egress is isolated, its DNS queries to the cluster DNS are dropped unless a rule allows them
(Cilium editor tutorial "allow kube-dns"); Cilium learns the IPs behind `toFQDNs` only from DNS answers its proxy
sees, so toFQDNs needs an egress rule to the DNS server with a `rules.dns` section (SEMANTICS C10).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..analysis import fqdn_matches
from .context import LintContext, check
from .model import Fix, LintFinding, LintSettings, Path, format_path, rule
from .policyview import CILIUM_NAMESPACE_KEY, NAMESPACE_NAME_LABEL, PolicyView, RuleView, get_at

NO_DNS = rule(
    "FL004",
    "egress-without-dns",
    "warning",
    "Egress isolated without DNS to the cluster DNS",
    "Once egress is isolated every connection needs an allow rule, DNS queries included: without a rule to "
    "the cluster DNS on port 53, every name lookup of the selected pods times out.",
)
FQDN_NO_PROXY = rule(
    "FL014",
    "fqdn-without-dns-rule",
    "error",
    "toFQDNs without a DNS rule that the DNS proxy sees",
    "Cilium resolves toFQDNs names only from DNS answers that pass its DNS proxy, which needs an egress rule "
    "to the cluster DNS with `rules: {dns: ...}`; without it the FQDN rule allows nothing.",
)

FQDN_NOT_RESOLVED = rule(
    "FL025",
    "fqdn-not-passed-by-dns-rule",
    "error",
    "toFQDNs names that no DNS rule lets through",
    "Cilium learns an FQDN's addresses only from DNS answers its proxy allows: a toFQDNs name that no "
    "`rules.dns` matchName/matchPattern covers never resolves, so the rule allows nothing.",
)


def dns_rule(settings: LintSettings, *, cilium: bool, proxy: bool) -> dict[str, Any]:
    """An egress rule that allows DNS to the cluster DNS pods, in the policy's dialect.

    Cilium: port 53 with protocol ANY (UDP and TCP), and the DNS proxy rule when `proxy` (needed by toFQDNs).
    """
    if cilium:
        labels = {f"k8s:{CILIUM_NAMESPACE_KEY}": settings.dns_namespace}
        labels.update({f"k8s:{key}": value for key, value in sorted(settings.dns_labels.items())})
        to_ports: dict[str, Any] = {"ports": [{"port": str(settings.dns_port), "protocol": "ANY"}]}
        if proxy:
            to_ports["rules"] = {"dns": [{"matchPattern": "*"}]}
        return {"toEndpoints": [{"matchLabels": labels}], "toPorts": [to_ports]}
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: settings.dns_namespace}},
                "podSelector": {"matchLabels": dict(sorted(settings.dns_labels.items()))},
            }
        ],
        "ports": [{"protocol": "UDP", "port": settings.dns_port}, {"protocol": "TCP", "port": settings.dns_port}],
    }


def _add_rule_fix(policy: PolicyView, settings: LintSettings, *, proxy: bool, title: str) -> Fix:
    new_rule = dns_rule(settings, cilium=policy.cilium, proxy=proxy)

    def transform(obj: dict[str, Any]) -> None:
        spec = get_at(obj, policy.base)
        if not isinstance(spec.get("egress"), list):
            spec["egress"] = []
        spec["egress"].append(new_rule)

    return Fix("add-dns-rule", title, "object", transform)


def _dns_target(settings: LintSettings) -> str:
    labels = ",".join(f"{key}={value}" for key, value in sorted(settings.dns_labels.items()))
    return f"{settings.dns_namespace}/{labels}"


def _misplaced_dns_peers(ctx: LintContext, rules: list[RuleView]) -> list[str]:
    """Peers that select the DNS pods' labels but in another namespace (a `podSelector` without namespace)."""
    dns = ctx.dns_workload
    hints = []
    for rule_view in rules:
        for peer in rule_view.peers or []:
            scope = peer.scope
            if scope is None or scope.pods.is_empty or not scope.pods.matches(dns.labels):
                continue
            if not ctx.peer_matches(peer, dns):
                hints.append(f"{format_path(peer.path)} selects {scope.describe()}, not namespace {dns.namespace}")
    return hints


def _reaches_dns(ctx: LintContext, policy: PolicyView) -> bool:
    # a Cilium policy's allows add up whether or not it isolates itself (`enableDefaultDeny.egress: false`, as the
    # platform's cluster-DNS accept is written): once another policy isolates the pod they let DNS through
    return (policy.isolates["egress"] or policy.cilium) and any(
        ctx.rule_reaches_dns(r) for r in policy.rules_of("egress")
    )


def _has_dns_proxy(ctx: LintContext, policy: PolicyView) -> bool:
    return policy.cilium and any(_proxies_dns(r) and ctx.rule_reaches_dns(r) for r in policy.rules_of("egress"))


def _proxies_dns(rule_view: RuleView) -> bool:
    return any(entry.dns for entry in rule_view.port_rules)


@check
def egress_without_dns(ctx: LintContext) -> Iterator[LintFinding]:
    for policy in ctx.policies:
        if policy.subject is None or not policy.isolates["egress"]:
            continue
        holds, failing = ctx.holds_for_pods(policy, lambda other: _reaches_dns(ctx, other), ctx.admin_gives_dns)
        if holds:
            continue
        who = f" ({', '.join(failing)})" if failing else ""
        hints = _misplaced_dns_peers(ctx, policy.rules_of("egress"))
        message = (
            f"isolates egress of {policy.subject.describe()}{who}, but no egress rule allows DNS "
            f"(UDP {ctx.settings.dns_port}) to the cluster DNS {_dns_target(ctx.settings)}: name lookups fail"
        )
        if hints:
            message += "; " + "; ".join(hints)
        key = next((k for k in ("egress", "policyTypes") if k in policy.spec), None)
        path = (*policy.base, key) if key else policy.base
        fix = _add_rule_fix(
            policy,
            ctx.settings,
            proxy=False,
            title=f"Allow DNS to {_dns_target(ctx.settings)} on port {ctx.settings.dns_port}",
        )
        yield policy.finding(NO_DNS.id, path, message, NO_DNS.severity, [fix])


@check
def fqdn_without_dns_proxy(ctx: LintContext) -> Iterator[LintFinding]:
    for policy in ctx.policies:
        fqdn_rules = [r for r in policy.rules_of("egress") if any(p.kind == "fqdn" for p in r.peers or [])]
        if not policy.cilium or not fqdn_rules:
            continue
        holds, _ = ctx.holds_for_pods(policy, lambda other: _has_dns_proxy(ctx, other))
        if holds:
            continue
        proxied = [r for r in policy.rules_of("egress") if _proxies_dns(r)]
        hints = _misplaced_dns_peers(ctx, proxied)
        message = (
            f"{format_path(fqdn_rules[0].path)} uses toFQDNs, but no egress rule with `rules: {{dns: ...}}` reaches "
            f"the cluster DNS {_dns_target(ctx.settings)}: Cilium never learns the IPs, the FQDN rule allows nothing"
        )
        if hints:
            message += "; " + "; ".join(hints)
        fix = _add_rule_fix(
            policy, ctx.settings, proxy=True, title=f"Add a DNS rule with the DNS proxy to {_dns_target(ctx.settings)}"
        )
        yield policy.finding(FQDN_NO_PROXY.id, fqdn_rules[0].path, message, FQDN_NO_PROXY.severity, [fix])


def _dns_patterns(policy: PolicyView) -> list[str]:
    """The names and patterns of the `rules.dns` entries of a policy's egress rules (what its DNS proxy passes)."""
    return [
        name for rule_view in policy.rules_of("egress") for entry in rule_view.port_rules for name in entry.dns_names
    ]


def _fqdn_names(rule_view: RuleView) -> list[tuple[Path, str]]:
    return [
        (peer.path, name) for peer in rule_view.peers or [] if peer.kind == "fqdn" for name in peer.written.fqdn_names
    ]


@check
def fqdn_not_resolved(ctx: LintContext) -> Iterator[LintFinding]:
    for policy in ctx.policies:
        if not policy.cilium:
            continue
        names = [found for r in policy.rules_of("egress") for found in _fqdn_names(r)]
        if not names or not ctx.holds_for_pods(policy, lambda other: _has_dns_proxy(ctx, other))[0]:
            continue  # FL014 covers a missing DNS proxy rule
        for path, name in names:

            def passes(other: PolicyView, name: str = name) -> bool:
                return _has_dns_proxy(ctx, other) and any(fqdn_matches(p, name) for p in _dns_patterns(other))

            if not ctx.holds_for_pods(policy, passes)[0]:
                yield policy.finding(
                    FQDN_NOT_RESOLVED.id,
                    path,
                    f"{name!r} is let through by no DNS rule (`rules.dns` matchName/matchPattern) of the DNS proxy: "
                    "Cilium never sees its DNS answers, so this FQDN rule allows nothing",
                    FQDN_NOT_RESOLVED.severity,
                )
