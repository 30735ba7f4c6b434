"""Rules about ipBlock / CIDR peers that point into the cluster (SEMANTICS §3.6, C9, K4).

Pod IPs are ephemeral, Services are translated to pod IPs before policy is applied, and Cilium never matches
a CIDR rule against a Cilium-managed pod: a CIDR meant to reach pods or Services does not work, or works only
until the pod restarts (Cilium editor tutorial "allow egress to pod").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from .context import LintContext, check
from .model import Fix, IPNetwork, KnownWorkload, LintFinding, rule
from .policyview import NAMESPACE_NAME_LABEL, Peer, PolicyView, get_at

CLUSTER_CIDR = rule(
    "FL009",
    "ipblock-targets-cluster",
    "warning",
    "ipBlock/CIDR pointing at pods or Services",
    "An ipBlock inside the pod or Service CIDR, or the IP of a known pod, is meant to reach pods: but pod IPs "
    "change, Service IPs are translated before policy applies, and Cilium never matches CIDR rules to pods.",
)
HOST_ADDRESS = rule(
    "FL010",
    "ipblock-single-private-address",
    "info",
    "A single private address in an ipBlock/CIDR",
    "A /32 (or /128) in a private range is often a pod IP copied from `kubectl get pod -o wide`; if it is, "
    "the rule breaks when the pod restarts. For a VM or a database outside the cluster it is right.",
)
COVERS_CLUSTER = rule(
    "FL022",
    "ipblock-covers-cluster",
    "info",
    "An ipBlock that also covers the pod or Service CIDR",
    "Whether an ipBlock matches traffic from pods depends on the CNI: Calico matches pod IPs, Cilium never "
    "does. Excepting the cluster ranges makes the rule mean the same everywhere.",
)
PRIVATE = tuple(
    ipaddress.ip_network(text)
    for text in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


def _same_family(a: IPNetwork, b: IPNetwork) -> bool:
    return a.version == b.version


def _inside(net: IPNetwork, ranges: list[IPNetwork]) -> IPNetwork | None:
    return next((r for r in ranges if _same_family(net, r) and net.subnet_of(r)), None)  # type: ignore[arg-type]


def _pod_with_ip(ctx: LintContext, net: IPNetwork) -> KnownWorkload | None:
    if net.num_addresses != 1:
        return None
    for workload in ctx.inventory.workloads:
        for text in workload.ips:
            try:
                if ipaddress.ip_address(text) == net.network_address:
                    return workload
            except ValueError:
                continue
    return None


def _cidr_peers(policy: PolicyView) -> Iterator[Peer]:
    for rule_view in policy.rules:
        if rule_view.effective:
            yield from (peer for peer in rule_view.peers or [] if peer.kind == "cidr" and peer.cidr is not None)


@check
def cluster_cidrs(ctx: LintContext) -> Iterator[LintFinding]:
    pods, services = ctx.settings.pod_cidrs, ctx.settings.service_cidrs
    for policy in ctx.policies:
        for peer in _cidr_peers(policy):
            net = peer.cidr
            assert net is not None
            owner = _pod_with_ip(ctx, net)
            in_pods, in_services = _inside(net, pods), _inside(net, services)
            if owner is not None or in_pods is not None or in_services is not None:
                if owner is not None:
                    what = f"is the IP of a pod of {owner}"
                elif in_pods is not None:
                    what = f"is inside the pod CIDR {in_pods}"
                else:
                    what = f"is inside the Service CIDR {in_services}: policy sees the pod IP after translation"
                fixes = [_selector_fix(policy, peer, owner)] if owner is not None and not policy.cilium else []
                yield policy.finding(
                    CLUSTER_CIDR.id,
                    peer.path,
                    f"{net} {what}; ipBlock/CIDR rules are for addresses outside the cluster (Cilium never "
                    "matches them to pods, pod IPs change): select the pods by labels instead",
                    CLUSTER_CIDR.severity,
                    fixes,
                )
            elif net.num_addresses == 1 and _inside(net, list(PRIVATE)) is not None:
                yield policy.finding(
                    HOST_ADDRESS.id,
                    peer.path,
                    f"{net} is a single private address: if it is a pod's IP the rule breaks when the pod is "
                    "rescheduled (and Cilium never matches it), so select the pod by labels; for a machine "
                    "outside the cluster it is right",
                    HOST_ADDRESS.severity,
                )
            elif not policy.cilium:
                covered = [
                    r
                    for r in pods + services
                    if _same_family(net, r)
                    and r != net
                    and r.subnet_of(net)  # type: ignore[arg-type]
                    and not any(_same_family(r, hole) and r.subnet_of(hole) for hole in peer.excepts)  # type: ignore[arg-type]
                ]
                if covered:
                    ranges = ", ".join(map(str, covered))
                    yield policy.finding(
                        COVERS_CLUSTER.id,
                        peer.path,
                        f"{net} also covers the cluster range(s) {ranges}: Calico matches pod traffic through it, "
                        "Cilium does not; except them to mean the same on every CNI",
                        COVERS_CLUSTER.severity,
                        [_except_fix(peer, covered)],
                    )


def _selector_fix(policy: PolicyView, peer: Peer, owner: KnownWorkload) -> Fix:
    new: dict[str, Any] = {"podSelector": {"matchLabels": dict(sorted(owner.labels.items()))}}
    if owner.namespace != policy.namespace:
        new = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: owner.namespace}}, **new}

    def transform(obj: dict[str, Any]) -> None:
        get_at(obj, peer.path[:-1])[peer.path[-1]] = new

    return Fix("select-pods", f"Select the pods of {owner} by their labels", "object", transform)


def _except_fix(peer: Peer, ranges: list[IPNetwork]) -> Fix:
    def transform(obj: dict[str, Any]) -> None:
        block = get_at(obj, (*peer.path, "ipBlock"))
        block["except"] = [*(block.get("except") or []), *map(str, ranges)]

    return Fix("except-cluster", f"Except the cluster ranges {', '.join(map(str, ranges))}", "object", transform)
