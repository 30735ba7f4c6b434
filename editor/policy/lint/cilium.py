"""Cilium-only traps: the default-deny rule `- {}`, policies Cilium refuses, labels missing from identities,
namespace labels in a namespaced policy and ICMP type 0, which Cilium reads as every type (SEMANTICS.md C4, C4a,
C7, C10c, C12)."""

from __future__ import annotations

from collections.abc import Iterator

from ..admission import cilium_refusal
from ..icmp_wildcard import icmp_wildcards, wildcard_text
from ..kinds import CILIUM_KINDS
from ..labelsfilter import in_identity
from .context import LintContext, check
from .model import LintFinding, rule
from .policyview import CILIUM_NAMESPACE_LABELS

EMPTY_RULE = rule(
    "FL015",
    "cilium-empty-rule",
    "info",
    "A `- {}` rule in a Cilium policy: Cilium's default deny",
    "A rule without peers or ports selects nothing: it isolates its direction for the selected pods and allows "
    "nothing. This is Cilium's own default-deny idiom (examples/policies/l3/egress-default-deny).",
)
REFUSED = rule(
    "FL023",
    "cilium-refused-policy",
    "error",
    "A Cilium policy that the API server or the agent refuses",
    "An unknown L7 rule kind (`rules: {HTTP: ...}`), the entity world-ipv4/world-ipv6, a rule with all four "
    "sections empty (Cilium 1.17+) or node peers without --enable-node-selector-labels: the whole policy never "
    "takes effect.",
)
FILTERED_LABEL = rule(
    "FL024",
    "cilium-selector-on-filtered-label",
    "warning",
    "A Cilium selector on a label that Cilium leaves out of identities",
    "Cilium drops labels such as pod-template-hash, statefulset.kubernetes.io/pod-name and most kubernetes.io/* "
    "from security identities, so a selector requiring one of them matches no pod.",
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
ICMP_WILDCARD = rule(
    "FL026",
    "cilium-icmp-type-zero",
    "warning",
    "ICMP type 0 (EchoReply) in a Cilium rule: every ICMP type of its family",
    "Cilium makes an ICMP type the port of its filter, and port 0 is a wildcard: type 0, IPv4's EchoReply, allows "
    "(or denies) every ICMPv4 type, and 0 in IPv6 every ICMPv6 type (cilium/cilium#41304).",
)


@check
def empty_rules(ctx: LintContext) -> Iterator[LintFinding]:
    for policy, rule_view in ctx.rules(cilium=True):
        if rule_view.raw not in ({}, None):
            continue
        what = "denies nothing" if rule_view.deny else "allows nothing"
        yield policy.finding(
            EMPTY_RULE.id,
            rule_view.path,
            f"`- {{}}` is Cilium's default deny: it isolates the {rule_view.direction} of the selected pods and "
            f"{what} (pkg/policy/api/{rule_view.direction}.go selects no peer for it)",
            EMPTY_RULE.severity,
        )


@check
def refused_policies(ctx: LintContext) -> Iterator[LintFinding]:
    seen: set[int] = set()
    for policy in ctx.policies:
        if not policy.cilium or id(policy.obj) in seen:
            continue
        seen.add(id(policy.obj))  # one finding per object, not one per rule of its `specs`
        refused = cilium_refusal(policy.written_policy)
        if refused is not None:
            path, why = refused
            yield policy.finding(REFUSED.id, path, f"{why}: Cilium refuses the whole policy", REFUSED.severity)


@check
def filtered_labels(ctx: LintContext) -> Iterator[LintFinding]:
    for policy in ctx.policies:
        if policy.kind not in CILIUM_KINDS:
            continue
        peers = [peer.written.pods for r in policy.rules for peer in r.peers or [] if peer.kind == "pods"]
        for selector in [policy.written.subject, *peers]:
            if selector is None:
                continue
            # keys the selector needs present (NotIn/DoesNotExist also match a missing label)
            dropped = [k for k in selector.label_keys(("In", "Exists")) if not in_identity(_bare(k))]
            if dropped:
                yield policy.finding(
                    FILTERED_LABEL.id,
                    selector.path,
                    f"requires the label `{dropped[0]}`, which Cilium leaves out of security identities "
                    "(pkg/labelsfilter/filter.go): it selects no pod; select by a label the pods keep",
                    FILTERED_LABEL.severity,
                )


def _bare(key: str) -> str:
    return key.removeprefix("k8s:").removeprefix("any:")


@check
def namespace_labels(ctx: LintContext) -> Iterator[LintFinding]:
    for policy, rule_view in ctx.rules(kind="CiliumNetworkPolicy"):
        for peer in rule_view.peers or []:
            keys = peer.written.pods.label_keys() if peer.kind == "pods" and peer.written.pods is not None else []
            found = [k for k in keys if _bare(k).startswith(CILIUM_NAMESPACE_LABELS)]
            if found:
                yield policy.finding(
                    NAMESPACE_LABELS.id,
                    peer.path,
                    f"selects namespaces by `{found[0]}`: documented as ignored in CiliumNetworkPolicy "
                    "(honoured by the code); prefer `k8s:io.kubernetes.pod.namespace` or a "
                    "CiliumClusterwideNetworkPolicy",
                    NAMESPACE_LABELS.severity,
                )


@check
def icmp_type_zero(ctx: LintContext) -> Iterator[LintFinding]:
    """Type 0 in an `icmps` field of a policy Cilium admits (a refused one is FL023's: it allows nothing)."""
    for policy in ctx.policies:
        if not policy.cilium or cilium_refusal(policy.written_policy) is not None:
            continue
        for rule_view in policy.rules:
            if rule_view.written is None:
                continue
            for path, field in icmp_wildcards(rule_view.written):
                text = wildcard_text(field, rule_view.deny)
                yield policy.finding(ICMP_WILDCARD.id, path, text, ICMP_WILDCARD.severity)
