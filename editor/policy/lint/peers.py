"""Rules about how peers are written: one `-` too many, `{}` selectors, namespaces (SEMANTICS R3-R5, C5, C7).

These are the traps of the Cilium editor tutorials "combine policy rules", "empty selectors" and "allow cross
namespace": YAML that looks like what was meant but selects more, or less.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from .. import model
from ..selectors import EVERYTHING
from .context import LintContext, check
from .model import Fix, LintFinding, format_path, rule
from .policyview import (
    CILIUM_NAMESPACE_KEY,
    CILIUM_NAMESPACE_LABELS,
    NAMESPACE_NAME_LABEL,
    Peer,
    PodScope,
    PolicyView,
    RuleView,
    get_at,
    remove_at,
)

PEERLESS = rule(
    "FL005",
    "peerless-ports-rule",
    "warning",
    "A `- ports:` item split off from the rule before it",
    "A `-` in front of `ports` starts a second rule with no peers: it allows those ports to or from everyone, "
    "and the rule before it allows every port to its peers. Rules are ORed, so both are wider than meant.",
)
ALL_NAMESPACES = rule(
    "FL006",
    "all-namespaces-peer",
    "info",
    "`namespaceSelector: {}` selects every pod of every namespace",
    'An empty namespaceSelector is not "this namespace": it matches every namespace of the cluster. '
    "For the policy's own namespace write `podSelector: {}` instead.",
)
OWN_NAMESPACE = rule(
    "FL007",
    "own-namespace-only-peer",
    "info",
    "An empty pod selector peer means the policy's namespace only",
    "`podSelector: {}` (or a Cilium `{}` endpoint selector) selects all pods of the policy's own namespace, "
    "not of the cluster; to reach other namespaces add a namespace selector.",
)
OTHER_NAMESPACE = rule(
    "FL008",
    "peer-in-other-namespace",
    "warning",
    "A pod selector peer whose pods live in another namespace",
    "A peer with only a pod selector matches pods of the policy's own namespace; pods with those labels in "
    "other namespaces (a Prometheus in `monitoring`, the DNS in `kube-system`) are not matched.",
)
HANDMADE_LABEL = rule(
    "FL013",
    "handmade-namespace-label",
    "warning",
    "Namespace chosen by a hand-made `name` label",
    "Namespaces carry a `name` label only if someone added it; `kubernetes.io/metadata.name` is set by the "
    "control plane on every namespace and cannot be changed, so selectors on it cannot silently stop matching.",
)
SPLIT_PEERS = rule(
    "FL019",
    "split-namespace-and-pod-peers",
    "info",
    "namespaceSelector and podSelector in two peers (OR) instead of one (AND)",
    "Two list items `- namespaceSelector` and `- podSelector` allow all pods of those namespaces plus the "
    "matching pods of this namespace; one item with both selectors allows only the matching pods there.",
)
# Label values of cluster add-ons that conventionally run in their own namespace (FL008 without workloads).
ADDON_NAMES = (
    "prometheus", "alertmanager", "grafana", "kube-dns", "coredns", "ingress-nginx", "traefik", "cert-manager",
    "metrics-server", "kube-state-metrics", "node-exporter", "fluent-bit", "fluentd", "loki", "promtail",
    "jaeger", "opentelemetry-collector", "otel-collector", "istiod", "argocd-server", "vault",
)  # fmt: skip
HANDMADE_KEYS = ("name", "namespace", "ns")


def _rules_by_section(policy: PolicyView) -> Iterator[list[RuleView]]:
    for section in sorted({r.section for r in policy.rules}):
        yield [r for r in policy.rules if r.section == section]


def _ports_key(policy: PolicyView) -> str:
    return "toPorts" if policy.cilium else "ports"


@check
def peerless_ports(ctx: LintContext) -> Iterator[LintFinding]:
    for policy in ctx.policies:
        for rules in _rules_by_section(policy):
            for before, current in itertools.pairwise(rules):
                if current.peers is not None or current.ports is None or not before.peers or before.ports is not None:
                    continue
                yield policy.finding(
                    PEERLESS.id,
                    current.path,
                    f"has ports but no peers, so it allows {_ports(current)} to or from everyone, while "
                    f"{format_path(before.path)} allows every port to its peers; if one rule was meant, remove "
                    f"the `-` before `{_ports_key(policy)}`",
                    PEERLESS.severity,
                    [_merge_fix(policy, before, current)],
                )


def _ports(rule_view: RuleView) -> str:
    return ", ".join(port.describe() for port in rule_view.ports or [])


def _merge_fix(policy: PolicyView, before: RuleView, current: RuleView) -> Fix:
    key = _ports_key(policy)

    def transform(obj: dict[str, Any]) -> None:
        get_at(obj, before.path)[key] = get_at(obj, current.path)[key]
        remove_at(obj, current.path)

    return Fix(
        "merge",
        f"Move these ports into {format_path(before.path)} (one rule: those peers, these ports)",
        "object",
        transform,
    )


def _peers(policy: PolicyView) -> Iterator[tuple[RuleView, Peer]]:
    for rule_view in policy.rules:
        for peer in rule_view.peers or []:
            yield rule_view, peer


@check
def empty_selectors(ctx: LintContext) -> Iterator[LintFinding]:
    for policy in ctx.policies:
        for _, peer in _peers(policy):
            scope = peer.scope
            if peer.kind != "pods" or scope is None or not scope.pods.is_empty:
                continue
            if scope.all_namespaces and not policy.cilium:
                yield policy.finding(
                    ALL_NAMESPACES.id,
                    peer.path,
                    "`namespaceSelector: {}` selects every pod in every namespace, not only this namespace",
                    ALL_NAMESPACES.severity,
                    [_replace_peer_fix(peer, {"podSelector": {}}, "Only this namespace: `podSelector: {}`")],
                )
            elif scope.own_namespace is not None and policy.namespace is not None:
                yield policy.finding(
                    OWN_NAMESPACE.id,
                    peer.path,
                    f"selects all pods of namespace {policy.namespace} only, not of the whole cluster",
                    OWN_NAMESPACE.severity,
                    [_all_namespaces_fix(policy, peer)],
                )


def _replace_peer_fix(peer: Peer, new: dict[str, Any], title: str) -> Fix:
    def transform(obj: dict[str, Any]) -> None:
        parent = get_at(obj, peer.path[:-1])
        parent[peer.path[-1]] = new

    return Fix("replace-peer", title, "object", transform)


def _written(peer: Peer) -> dict[str, Any]:
    """The peer as a mapping to build a fix on: Cilium reads a null endpoint selector (`toEndpoints: [null]`)
    as `{}`, and null matchLabels or matchExpressions as absent, so the fixes must too."""
    if not isinstance(peer.raw, dict):
        return {}
    return {key: value for key, value in peer.raw.items() if value is not None}


def _all_namespaces_fix(policy: PolicyView, peer: Peer) -> Fix:
    raw = _written(peer)
    if policy.cilium:
        exists = {"key": f"k8s:{CILIUM_NAMESPACE_KEY}", "operator": "Exists"}
        new: dict[str, Any] = {**raw, "matchExpressions": [*raw.get("matchExpressions", []), exists]}
        return _replace_peer_fix(peer, new, "Every namespace: require only that the namespace label exists")
    return _replace_peer_fix(peer, {**raw, "namespaceSelector": {}}, "Every namespace: add `namespaceSelector: {}`")


@check
def other_namespace(ctx: LintContext) -> Iterator[LintFinding]:
    for policy in ctx.policies:
        for _, peer in _peers(policy):
            scope = peer.scope
            if scope is None or scope.own_namespace is None or scope.pods.is_empty:
                continue
            matching = ctx.matching(PodScope(EVERYTHING, scope.pods))
            if any(w.namespace == scope.own_namespace for w in matching):
                continue
            elsewhere = sorted({w.namespace for w in matching})
            if elsewhere:
                names = ", ".join(str(w) for w in matching)
                yield policy.finding(
                    OTHER_NAMESPACE.id,
                    peer.path,
                    f"selects {scope.describe()}, but the pods with those labels are in {', '.join(elsewhere)} "
                    f"({names}): without a namespace selector they are not matched",
                    OTHER_NAMESPACE.severity,
                    [_namespace_fix(policy, peer, elsewhere)],
                )
                continue
            addon = next((v for _, v in scope.pods.match_labels if v in ADDON_NAMES), None)
            if addon is None or addon in scope.own_namespace:
                continue
            fixes = []
            if scope.pods.matches(ctx.settings.dns_labels) and ctx.settings.dns_namespace != scope.own_namespace:
                fixes.append(_namespace_fix(policy, peer, [ctx.settings.dns_namespace]))
            yield policy.finding(
                OTHER_NAMESPACE.id,
                peer.path,
                f"selects {scope.describe()}; {addon} usually runs in its own namespace, which this peer does "
                f"not match (add a namespace selector naming that namespace)",
                "info",
                fixes,
            )


def _namespace_fix(policy: PolicyView, peer: Peer, namespaces: list[str]) -> Fix:
    new = _written(peer)
    if policy.cilium:
        key = f"k8s:{CILIUM_NAMESPACE_KEY}"
        if len(namespaces) == 1:
            new["matchLabels"] = {**new.get("matchLabels", {}), key: namespaces[0]}
        else:
            expression = {"key": key, "operator": "In", "values": namespaces}
            new["matchExpressions"] = [*new.get("matchExpressions", []), expression]
    else:
        new = {"namespaceSelector": _names_selector(namespaces), **new}
    return _replace_peer_fix(peer, new, f"Match those pods in namespace {', '.join(namespaces)}")


def _names_selector(namespaces: list[str]) -> dict[str, Any]:
    if len(namespaces) == 1:
        return {"matchLabels": {NAMESPACE_NAME_LABEL: namespaces[0]}}
    return {"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": namespaces}]}


@check
def handmade_namespace_label(ctx: LintContext) -> Iterator[LintFinding]:
    for policy in ctx.policies:
        for _, peer in _peers(policy):
            if policy.cilium:
                selector, prefix, proper = peer.written.pods, CILIUM_NAMESPACE_LABELS, f"k8s:{CILIUM_NAMESPACE_KEY}"
            else:
                selector, prefix, proper = peer.written.namespaces, "", NAMESPACE_NAME_LABEL
            if selector is None:
                continue
            path = selector.path
            key = _handmade_key(selector, prefix)
            if key is None:
                continue
            yield policy.finding(
                HANDMADE_LABEL.id,
                path,
                f"chooses the namespace by the label `{key}`, which exists only if someone added it to the "
                f"namespace; `{proper}` is set on every namespace automatically",
                HANDMADE_LABEL.severity,
                [_rename_key_fix(path, key, proper)],
            )


def _handmade_key(selector: model.Selector, prefix: str) -> str | None:
    for key in selector.label_keys():
        bare = key.removeprefix("k8s:").removeprefix("any:")
        if bare.startswith(prefix) and bare[len(prefix) :] in HANDMADE_KEYS:
            return key
    return None


def _rename_key_fix(path: tuple[str | int, ...], old: str, new: str) -> Fix:
    def transform(obj: dict[str, Any]) -> None:
        selector = get_at(obj, path)
        labels = selector.get("matchLabels")
        if isinstance(labels, dict) and old in labels:
            selector["matchLabels"] = {(new if key == old else key): value for key, value in labels.items()}
        for expression in selector.get("matchExpressions") or []:
            if isinstance(expression, dict) and expression.get("key") == old:
                expression["key"] = new

    return Fix("use-metadata-name", f"Use `{new}` instead of `{old}`", "object", transform)


@check
def split_peers(ctx: LintContext) -> Iterator[LintFinding]:
    for policy, rule_view in ctx.rules(cilium=False):
        peers = rule_view.peers or []
        for first, second in itertools.pairwise(peers):
            shapes = {_only_selector(first), _only_selector(second)}
            if shapes != {"namespaceSelector", "podSelector"}:
                continue
            yield policy.finding(
                SPLIT_PEERS.id,
                second.path,
                f"{format_path(first.path)} and {format_path(second.path)} are two peers (ORed): "
                f"all pods of the selected namespaces, plus the selected pods of {policy.namespace}; "
                "one peer with both selectors would mean those pods in those namespaces",
                SPLIT_PEERS.severity,
                [_join_fix(first, second)],
            )


def _only_selector(peer: Peer) -> str | None:
    if not isinstance(peer.raw, dict) or len(peer.raw) != 1:
        return None
    key = next(iter(peer.raw))
    if key in ("namespaceSelector", "podSelector") and peer.raw[key]:
        return str(key)
    return None


def _join_fix(first: Peer, second: Peer) -> Fix:
    def transform(obj: dict[str, Any]) -> None:
        peers = get_at(obj, first.path[:-1])
        namespace_peer, pod_peer = sorted((peers[first.path[-1]], peers[second.path[-1]]), key=lambda p: next(iter(p)))
        peers[first.path[-1]] = {**namespace_peer, **pod_peer}
        del peers[second.path[-1]]

    return Fix("join", "One peer: those pods in those namespaces (AND)", "object", transform)
