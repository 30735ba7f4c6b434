"""Exposure: what each workload is open to regardless of which pods exist, as netpol-analyzer's `--exposure`.

A workload no policy selects for a direction is open to the entire cluster ("not protected"); the external address
ranges it is open to (or may reach) are listed as in the connectivity list. Otherwise each allow rule whose peers
are a selector rather than known pods stands for a representative peer: `entire-cluster` (every namespace and every
pod, or a rule without peers), `[namespace with {k=v}]/[all pods]`, `ns/[all pods]`, `ns/[pod with {k=v}]`... A pod
selector naming labels in a known namespace where such pods exist is about those pods (the connectivity list shows
them), not an exposure; representatives whose connections `entire-cluster` already covers are not repeated. Follows
np-guard/netpol-analyzer pkg/netpol/connlist (exposure analysis) and its txt output.
"""

from __future__ import annotations

import dataclasses

from ..manifests import NAMESPACE_NAME_LABEL
from ..selectors import LabelSelector
from .connections import ALL_CONNECTIONS, NO_CONNECTIONS, ConnectionSet
from .evaluate import Analysis
from .focus import Focus
from .parse import _PodPeer, _Rule
from .peers import ExternalPeer, Peer, WorkloadPeer

ENTIRE_CLUSTER = "entire-cluster"
ALL_EXTERNAL = "0.0.0.0-255.255.255.255[External]"


@dataclasses.dataclass(frozen=True)
class Exposure:
    workload: WorkloadPeer
    direction: str  # "Ingress" or "Egress"
    peer: str  # ENTIRE_CLUSTER, ALL_EXTERNAL or a representative such as "ns/[pod with {app=x}]"
    connections: ConnectionSet

    def describe(self) -> str:
        """In words, for people: "open to the whole cluster on TCP 8080"."""
        whom = {ENTIRE_CLUSTER: "the whole cluster", ALL_EXTERNAL: "the internet"}.get(self.peer, self.peer)
        towards = "open to" if self.direction == "Ingress" else "may connect to"
        conns = "" if self.connections.is_all else f" on {self.connections}"
        return f"{towards} {whom}{conns}"


@dataclasses.dataclass(frozen=True)
class ExposureReport:
    exposures: list[Exposure]
    unprotected: list[tuple[WorkloadPeer, str]]  # (workload, "Egress"/"Ingress") no policy selects


def _selector_text(selector: LabelSelector) -> str:
    """`{app=x,{Key:env,Operator:Exists,Values:[],}}`: labels, then expressions as netpol-analyzer prints them
    (Go's struct format of a LabelSelectorRequirement)."""
    parts = [f"{k}={v}" for k, v in selector.match_labels]
    parts += [
        f"{{Key:{r.key},Operator:{r.operator},Values:[{' '.join(r.values)}],}}" for r in selector.match_expressions
    ]
    return "{" + ",".join(parts) + "}"


def _representative(analysis: Analysis, peer: _PodPeer) -> str | None:
    """The representative a pod peer stands for; None when it is about pods the input holds."""
    namespace: str | None = peer.policy_namespace
    if peer.namespaces is not None:
        labels = dict(peer.namespaces.match_labels)
        if peer.namespaces.is_empty:
            namespace = None
        elif not peer.namespaces.match_expressions and list(labels) == [NAMESPACE_NAME_LABEL]:
            namespace = labels[NAMESPACE_NAME_LABEL]
        else:
            namespace = f"[namespace with {_selector_text(peer.namespaces)}]"
    all_pods = peer.pods is None or peer.pods.is_empty
    if namespace is None and all_pods:
        return ENTIRE_CLUSTER
    if namespace is not None and not namespace.startswith("[") and not all_pods and peer.pods is not None:
        pods = peer.pods
        if any(w.namespace == namespace and pods.matches(w.labels) for w in analysis.cluster.workloads):
            return None
    pod_text = "[all pods]" if all_pods else f"[pod with {_selector_text(peer.pods)}]"  # type: ignore[arg-type]
    return f"{namespace if namespace is not None else '[all namespaces]'}/{pod_text}"


def _rule_exposures(analysis: Analysis, rule: _Rule, conns: ConnectionSet) -> dict[str, ConnectionSet]:
    if rule.peers is None:
        return {ENTIRE_CLUSTER: conns}
    found: dict[str, ConnectionSet] = {}
    for peer in rule.peers:
        if isinstance(peer, _PodPeer):
            text = _representative(analysis, peer)
            if text is not None:
                found[text] = found.get(text, NO_CONNECTIONS) | conns
    return found


def exposure(analysis: Analysis, focus: Focus | None = None) -> ExposureReport:
    """Every workload's exposure, per direction, in netpol-analyzer's order."""
    focus = focus or Focus()
    exposures: list[Exposure] = []
    unprotected: list[tuple[WorkloadPeer, str]] = []
    # the addresses outside the cluster a workload is open to (or may reach) are part of its exposure as well
    external: dict[tuple[Peer, str], dict[Peer, ConnectionSet]] = {}
    for (src, dst), conns in analysis.connections.items():
        if isinstance(src, ExternalPeer) and isinstance(dst, WorkloadPeer):
            external.setdefault((dst, "Ingress"), {})[src] = conns
        elif isinstance(dst, ExternalPeer) and isinstance(src, WorkloadPeer):
            external.setdefault((src, "Egress"), {})[dst] = conns
    for (namespace, kind, name), classes in analysis.universe.workload_classes.items():
        workload = analysis._workload_peers[(namespace, kind, name)]
        cls = classes[0]
        for direction in ("Egress", "Ingress"):
            if not focus.keeps_side(workload, direction):
                continue
            selecting = [
                p for p in analysis.policies if p.subjects >> cls & 1 and getattr(p, direction.lower()).applies
            ]
            found: dict[str, ConnectionSet] = {}
            if not selecting:
                unprotected.append((workload, direction))
                found = {ENTIRE_CLUSTER: ALL_CONNECTIONS}
            for policy in selecting:
                for rule in getattr(policy, direction.lower()).rules:
                    if rule.deny:
                        continue
                    conns = analysis._ports(rule, cls if direction == "Ingress" else None)[0]
                    if conns:
                        for text, more in _rule_exposures(analysis, rule, conns).items():
                            found[text] = found.get(text, NO_CONNECTIONS) | more
            cluster_wide = found.get(ENTIRE_CLUSTER, NO_CONNECTIONS)
            for text, conns in found.items():
                if text != ENTIRE_CLUSTER and not conns - cluster_wide:
                    continue
                if focus.conn is not None and not focus.conn.within(conns):
                    continue
                exposures.append(Exposure(workload, direction, text, conns))
            for outside, conns in external.get((workload, direction), {}).items():
                if focus.conn is None or focus.conn.within(conns):
                    exposures.append(Exposure(workload, direction, str(outside), conns))
    exposures.sort(key=lambda e: (str(e.workload), e.peer))
    unprotected.sort(key=lambda u: (str(u[0]), u[1]))
    return ExposureReport(exposures, unprotected)


def format_exposure(report: ExposureReport, focus: Focus | None = None) -> str:
    """The "Exposure Analysis Result" section of netpol-analyzer's txt output."""
    conn = focus.conn if focus else None
    width = max((len(str(e.workload)) for e in report.exposures), default=0)
    lines = [f"Exposure Analysis Result{f' On {conn}' if conn else ''}:"]
    for direction, arrow in (("Egress", "=>"), ("Ingress", "<=")):
        section = [e for e in report.exposures if e.direction == direction]
        if not section:
            continue
        if len(lines) > 1:
            lines.append("")
        lines.append(f"{direction} Exposure:")
        for entry in section:
            suffix = "" if conn else f" : {entry.connections}"
            lines.append(f"{str(entry.workload).ljust(width)} \t{arrow} \t{entry.peer}{suffix}")
    if report.unprotected and not conn:
        lines += ["", "Workloads not protected by network policies:"]
        lines += [f"{workload} is not protected on {direction}" for workload, direction in report.unprotected]
    return "\n".join(lines)
