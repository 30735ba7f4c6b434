"""Application edges that a platform rule decides against: the canvas shows them as `overridden`, with the reason
in `fenceline probe`'s words ("Not in effect: ClusterNetworkPolicy 'x' (Admin tier, priority 10) denies it by
Egress rule y").

Each application allow edge is probed through the tiers (`tiers.TierEvaluator`, the code `fenceline probe` runs)
between a representative pod of each end (a workload's labels and ports; for a selector node, the fewest labels
its selectors match, in the first namespace it covers) or the first address of a CIDR node, at the edge's own
ports and at every port of a platform rule that falls inside them. The NetworkPolicy tier is the compiler's plan:
a side the edge is enforced on and whose node is isolated is decided by NetworkPolicy (the edge allows it); a side
that is not isolated goes on to the Baseline tier. So an Admin Deny overrides an application edge, a Pass does
not, and a Baseline Deny overrides only an edge whose side no NetworkPolicy isolates.

The policies are those compiled (read back from the emitted objects, so names and priorities are the YAML's); in
the Cilium dialect, whose CCNPs have no order or Pass, the platform Deny rules alone, which win over every allow.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from ..check.cluster import label_selector, satisfying_labels
from ..compile import CompileResult, Context, plan
from ..document import NAMESPACE_NAME_LABEL, Document, Edge, Node
from ..document_schema import APPLICATION
from ..manifests import PROTOCOLS, ContainerPort
from .from_drawing import drawn_as_emitted, read_back
from .model import DENY, PlatformPolicy, PlatformRef
from .tiers import Decision, Endpoint, TierEvaluator


@dataclasses.dataclass
class _Plan:
    """The NetworkPolicy tier as the compiler plans it, for one edge: isolated sides that carry the edge allow it."""

    allows: dict[str, bool | None]  # direction -> allowed by NetworkPolicy; None: not isolated (on to Baseline)

    def decide(self, direction: str, subject: Endpoint, peer: Endpoint, protocol: str, port: int) -> Decision | None:
        del subject, peer, protocol, port
        verdict = self.allows.get(direction)
        return None if verdict is None else Decision(direction, verdict, "NetworkPolicy")


def compiled_policies(document: Document, result: CompileResult) -> list[PlatformPolicy]:
    """The platform policies as emitted (read back from the objects), or the Cilium dialect's Deny rules."""
    if result.dialect == "cilium":
        found = []
        for item in drawn_as_emitted(document, result):
            ref = dataclasses.replace(item.policy.ref, kind="CiliumClusterwideNetworkPolicy")
            found.append(_denies_only(item.policy, ref))
        return found
    return read_back(result)


def _denies_only(policy: PlatformPolicy, ref: PlatformRef) -> PlatformPolicy:
    return PlatformPolicy(
        ref,
        policy.subject,
        tuple(r for r in policy.ingress if r.verdict == DENY),
        tuple(r for r in policy.egress if r.verdict == DENY),
    )


class _Ends:
    """Representative endpoints of the drawing's nodes (None: a node no platform rule can be probed against)."""

    def __init__(self, document: Document) -> None:
        self.namespaces = {ns.name: {**ns.labels, NAMESPACE_NAME_LABEL: ns.name} for ns in document.namespaces}
        self._found: dict[str, Endpoint | None] = {}

    def of(self, node: Node) -> Endpoint | None:
        if node.id not in self._found:
            self._found[node.id] = self._make(node)
        return self._found[node.id]

    def _make(self, node: Node) -> Endpoint | None:
        if node.kind == "cidr":
            try:
                return Endpoint((str(ipaddress.ip_network(node.cidr or "", strict=False).network_address),))
            except ValueError:
                return None
        if not node.is_pod_set:
            return None
        ports = tuple(ContainerPort(p.name, p.port, p.protocol) for p in node.container_ports)
        if node.kind == "workload":
            labels: dict[str, str] | None = dict(node.labels)
        else:
            selector = label_selector(node.selector())
            labels = satisfying_labels(selector) if selector is not None else None
        namespace = node.namespace
        if namespace is None:
            chosen = label_selector(node.namespace_selector)
            namespace = next(
                (n for n in sorted(self.namespaces) if chosen and chosen.matches(self.namespaces[n])), None
            )
        if labels is None or namespace is None:
            return None
        namespace_labels = self.namespaces.get(namespace, {NAMESPACE_NAME_LABEL: namespace})
        return Endpoint((), namespace, node.display_name(), labels, namespace_labels, ports)


def _samples(edge: Edge, target: Node, policies: list[PlatformPolicy]) -> list[tuple[str, int]]:
    """(protocol, port) points to probe: the edge's own ports, and every platform rule port inside them."""
    rule_points = {
        (p.protocol, n)
        for policy in policies
        for rule in (*policy.ingress, *policy.egress)
        for p in rule.ports or ()
        if p.protocol is not None
        for n in (p.first, p.last)
    }
    named = {c.name: (c.protocol, c.port) for c in target.container_ports if c.name}
    for policy in policies:
        for rule in (*policy.ingress, *policy.egress):
            rule_points.update(named[p.name] for p in rule.ports or () if p.name in named)
    ranges: list[tuple[str, int, int]] = []
    for port in edge.ports or ():
        protocols = PROTOCOLS if port.protocol == "ANY" else (port.protocol,)
        if isinstance(port.port, str):
            if port.port in named:
                ranges.append((named[port.port][0], named[port.port][1], named[port.port][1]))
            continue
        first, last = (1, 65535) if port.port is None else (port.port, port.end_port or port.port)
        ranges.extend((protocol, first, last) for protocol in protocols)
    if not edge.ports:
        ranges = [(protocol, 1, 65535) for protocol in PROTOCOLS]
    points = [(protocol, first) for protocol, first, _ in ranges]
    inside = [(protocol, n) for protocol, n in rule_points if any(p == protocol and a <= n <= b for p, a, b in ranges)]
    points += sorted(inside)
    return list(dict.fromkeys(points))


def _reason(decision: Decision) -> str:
    rule = decision.rule.rsplit(" (", 1)[0]  # "Egress rule y (Deny)": the action is the verb
    return f"Not in effect: {decision.policy} denies it by {rule}"


def overridden_edges(document: Document, result: CompileResult) -> dict[str, str]:
    """Application allow edges a platform rule decides against -> the reason."""
    policies = compiled_policies(document, result)
    if not policies:
        return {}
    subjects = {subject.node.id: subject for subject in plan(document, Context(document))}
    nodes = document.node_map()
    ends = _Ends(document)
    found: dict[str, str] = {}
    for edge in document.edges:
        if edge.layer != APPLICATION or edge.disabled or edge.action != "allow":
            continue
        source, target = ends.of(nodes[edge.source]), ends.of(nodes[edge.target])
        if source is None or target is None:
            continue
        allows: dict[str, bool | None] = {}
        for direction, node_id, side in (("Egress", edge.source, "source"), ("Ingress", edge.target, "target")):
            subject = subjects.get(node_id)
            isolated = subject is not None and (
                subject.isolate_egress if direction == "Egress" else subject.isolate_ingress
            )
            allows[direction] = (side in edge.enforce) if isolated else None
        evaluator = TierEvaluator(policies, _Plan(allows))
        reason = _first_denial(evaluator, source, target, _samples(edge, nodes[edge.target], policies))
        if reason is not None:
            found[edge.id] = reason
    return found


def _first_denial(
    evaluator: TierEvaluator, source: Endpoint, target: Endpoint, samples: list[tuple[str, int]]
) -> str | None:
    for protocol, port in samples:
        sides = []
        if source.in_pod_network:
            sides.append(evaluator.decide("Egress", source, target, protocol, port))
        if target.in_pod_network:
            sides.append(evaluator.decide("Ingress", target, source, protocol, port))
        for decision in sides:
            if not decision.allowed and decision.tier in ("Admin", "Baseline"):
                return _reason(decision)
    return None
