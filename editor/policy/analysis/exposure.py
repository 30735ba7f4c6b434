"""Exposure: what each workload is open to regardless of which pods exist, as netpol-analyzer's `--exposure`.

A workload no policy (NetworkPolicy, AdminNetworkPolicy or BaselineAdminNetworkPolicy) selects for a direction is
open to the entire cluster ("not protected"); the external address ranges it is open to (or may reach) are listed
as in the connectivity list, for a workload with some other exposure in that direction. Otherwise each rule whose
peers are a selector rather than known pods stands for a representative peer, evaluated through the layers (admin
rules, NetworkPolicies, baseline): `entire-cluster` (every namespace and every pod, or a rule without peers),
`[namespace with {k=v}]/[all pods]`, `ns/[all pods]`, `ns/[pod with {k=v}]`... A pod selector naming labels in a
known namespace where such pods exist is about those pods (the connectivity list shows them), not an exposure;
representatives whose connections `entire-cluster` already covers are not repeated. Follows np-guard/netpol-
analyzer pkg/netpol/connlist (exposure analysis) and its txt output.
"""

from __future__ import annotations

import dataclasses

from ..manifests import NAMESPACE_NAME_LABEL
from ..selectors import LabelSelector
from .connections import ALL_CONNECTIONS, NO_CONNECTIONS, ConnectionSet
from .evaluate import Analysis
from .focus import Focus
from .parse import _IPPeer, _PodPeer, _Rule
from .peers import ExternalPeer, Peer, WorkloadPeer

ENTIRE_CLUSTER = "entire-cluster"
_ALL_IPV4 = ((4, 0, 2**32 - 1),)
ALL_EXTERNAL = "0.0.0.0-255.255.255.255[External]"


@dataclasses.dataclass(frozen=True)
class Exposure:
    workload: WorkloadPeer
    direction: str  # "Ingress" or "Egress"
    peer: str  # ENTIRE_CLUSTER, ALL_EXTERNAL or a representative such as "ns/[pod with {app=x}]"
    connections: ConnectionSet
    named_ports: tuple[str, ...] = ()  # allowed named ports an unknown peer pod may or may not define

    @property
    def connections_text(self) -> str:
        """The connections as netpol-analyzer prints them; a named port has no protocol (` local-port`)."""
        if not self.named_ports:
            return str(self.connections)
        named = " " + ",".join(self.named_ports)
        return f"{self.connections},{named}" if self.connections else named

    def describe(self) -> str:
        """In words, for people: "open to the whole cluster on TCP 8080"."""
        whom = {ENTIRE_CLUSTER: "the whole cluster", ALL_EXTERNAL: "the internet"}.get(self.peer, self.peer)
        towards = "open to" if self.direction == "Ingress" else "may connect to"
        conns = "" if self.connections.is_all else f" on {self.connections_text.strip()}"
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


def _peer_text(peer: _PodPeer) -> str:
    """The representative a pod peer stands for: `entire-cluster`, `ns/[all pods]`, `[namespace with {..}]/..`."""
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
    pod_text = "[all pods]" if all_pods else f"[pod with {_selector_text(peer.pods)}]"  # type: ignore[arg-type]
    return f"{namespace if namespace is not None else '[all namespaces]'}/{pod_text}"


def _about_known_pods(analysis: Analysis, peer: _PodPeer, text: str) -> bool:
    """A pod selector naming labels in one known namespace where such pods exist is about those pods."""
    namespace = text.split("/", 1)[0]
    if namespace.startswith("[") or peer.pods is None or peer.pods.is_empty:
        return False
    pods = peer.pods
    return any(w.namespace == namespace and pods.matches(w.labels) for w in analysis.cluster.workloads)


@dataclasses.dataclass
class _Layers:
    """What decides one direction of a pod class, layer by layer (netpol-analyzer's evaluation order)."""

    admin: list[tuple[str, _Rule]]  # (Allow/Deny/Pass, rule) by priority, then rule order
    isolated: bool  # a NetworkPolicy selects the pod for this direction
    policy_rules: list[_Rule]  # the allow rules of those NetworkPolicies
    baseline: list[tuple[str, _Rule]]
    protected: bool


def _layers(analysis: Analysis, cls: int, direction: str) -> _Layers:
    admin = [
        (rule.action, rule.rule)
        for a in analysis.admin_policies
        if a.priority is not None and a.subjects >> cls & 1
        for rule in a.rules(direction)
    ]
    baseline = [
        (rule.action, rule.rule)
        for a in analysis.admin_policies
        if a.priority is None and a.subjects >> cls & 1
        for rule in a.rules(direction)
    ]
    selecting = [p for p in analysis.policies if p.subjects >> cls & 1 and getattr(p, direction.lower()).applies]
    rules = [r for p in selecting for r in getattr(p, direction.lower()).rules if not r.deny]
    isolated = any(getattr(p, direction.lower()).isolates for p in selecting)
    return _Layers(admin, isolated, rules, baseline, bool(selecting or admin or baseline))


def _matches(rule: _Rule, text: str) -> bool:
    """Whether a rule's peers include a representative: the same selector, one matching every pod, or (for
    `entire-cluster`, whose pods may have any address) an admin `networks` peer holding every IPv4 address."""
    if rule.peers is None:
        return True
    return any(
        (isinstance(p, _PodPeer) and _peer_text(p) in (ENTIRE_CLUSTER, text))
        or (isinstance(p, _IPPeer) and text == ENTIRE_CLUSTER and p.block == _ALL_IPV4)
        for p in rule.peers
    )


def _evaluate(
    analysis: Analysis, layers: _Layers, cls: int, direction: str, text: str
) -> tuple[ConnectionSet, tuple[str, ...]]:
    """What the layers allow towards (or from) a representative peer, and the named ports they allow it that
    cannot be resolved on an unknown pod: admin rules by priority, then the NetworkPolicies if one isolates the
    pod, else the baseline rules and what they leave (allowed by default)."""
    receiver = cls if direction == "Ingress" else None
    allowed, denied, _, named = _tier(analysis, layers.admin, text, receiver, ALL_CONNECTIONS)
    passed = ALL_CONNECTIONS - allowed - denied
    if layers.isolated:
        for rule in layers.policy_rules:
            if _matches(rule, text):
                conns, unresolved = analysis._ports(rule, receiver)
                allowed = allowed | (conns & passed)
                named += unresolved
    else:
        by_baseline, _, passed, unresolved = _tier(analysis, layers.baseline, text, receiver, passed)
        allowed = allowed | by_baseline | passed  # no NetworkPolicy and no baseline rule: allowed by default
        named += unresolved
    return allowed, tuple(sorted(set(named)))


def _tier(
    analysis: Analysis, rules: list[tuple[str, _Rule]], text: str, receiver: int | None, undecided: ConnectionSet
) -> tuple[ConnectionSet, ConnectionSet, ConnectionSet, list[str]]:
    """One tier's rules in order (an admin tier, or the baseline): what its Allow and its Deny rules decide of
    the `undecided` connections, what stays undecided (a Pass only takes its connections from this tier), and
    the named ports the allows cannot resolve."""
    allowed, denied, named = NO_CONNECTIONS, NO_CONNECTIONS, []
    for action, rule in rules:
        if _matches(rule, text):
            conns, unresolved = analysis._ports(rule, receiver)
            if action == "Allow":
                allowed = allowed | (conns & undecided)
                named += unresolved
            elif action == "Deny":
                denied = denied | (conns & undecided)
            undecided = undecided - conns
    return allowed, denied, undecided, named


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
            layers = _layers(analysis, cls, direction)
            found: dict[str, tuple[ConnectionSet, tuple[str, ...]]] = {}
            if not layers.protected:
                unprotected.append((workload, direction))
                found[ENTIRE_CLUSTER] = (ALL_CONNECTIONS, ())
            else:
                rules = [r for _, r in layers.admin] + layers.policy_rules + [r for _, r in layers.baseline]
                texts = {ENTIRE_CLUSTER}
                for rule in rules:
                    for peer in rule.peers or ():
                        if isinstance(peer, _PodPeer):
                            text = _peer_text(peer)
                            if not _about_known_pods(analysis, peer, text):
                                texts.add(text)
                for text in sorted(texts):
                    conns, named = _evaluate(analysis, layers, cls, direction, text)
                    if conns or named:
                        found[text] = (conns, named)
            cluster_wide = found.get(ENTIRE_CLUSTER, (NO_CONNECTIONS, ()))
            for text, (conns, named) in found.items():
                if text != ENTIRE_CLUSTER and not conns - cluster_wide[0] and set(named) <= set(cluster_wide[1]):
                    continue
                if focus.conn is not None and not focus.conn.within(conns):
                    continue
                exposures.append(Exposure(workload, direction, text, conns, named))
            if not found:
                continue  # a workload open to nothing beyond known pods shows no exposure, not even external
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
            suffix = "" if conn else f" : {entry.connections_text}"
            lines.append(f"{str(entry.workload).ljust(width)} \t{arrow} \t{entry.peer}{suffix}")
    if report.unprotected and not conn:
        lines += ["", "Workloads not protected by network policies:"]
        lines += [f"{workload} is not protected on {direction}" for workload, direction in report.unprotected]
    return "\n".join(lines)
