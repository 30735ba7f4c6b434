"""The platform layers of a drawing (layers.py) as platform policies, and those compiled for the chosen target.

A platform edge is a rule of the policy of its subject: enforced on "source", an egress rule of the source node's
policy; on "target", an ingress rule of the target node's (a side that is not a pod set carries nothing). The
edges of one layer with the same subject node and priority make one policy, its rules in document order;
consecutive edges with the same rule name, action and ports are one rule with several peers (that is how an
imported rule with several peers is drawn), and consecutive CIDR (or DNS name) peers of a rule are one `networks`
(`domainNames`) peer.

Nodes as peers: workload and selector nodes are pods (`namespaces` when a selector node has no podSelector), CIDR
nodes `networks`, hosts nodes `nodes`, FQDN nodes `domainNames`. What a platform rule cannot say (an entity, a CIDR
with exceptions, an FQDN pattern other than `*.name`) is a compile error on the edge, as is what the target cannot
express (emit.py: Pass and most Baseline rules in Cilium, several Baseline subjects in v1alpha1); the rest compiles.

Targets: the native dialect writes `settings.platformApi` (ClusterNetworkPolicy v1alpha2, or ANP/BANP v1alpha1);
the Cilium dialect writes CiliumClusterwideNetworkPolicy.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Any

from ..compile import CompileResult, Context, RuleExplanation, describe_ports, dns_slug
from ..document import NAMESPACE_NAME_LABEL, Document, Edge, Node, Port
from ..layers import is_platform, priority_of
from ..manifests import PROTOCOLS
from ..selectors import LabelSelector, SelectorError, parse_selector
from ..yamlio import InputError, objects_as_written
from . import model
from .emit import Compiled, to_cilium, to_v1alpha1, to_v1alpha2
from .model import PlatformPeer, PlatformPolicy, PlatformPort, PlatformRef, PlatformRule, PodSet
from .parse import read_platform_policy

TIERS = {"admin": model.ADMIN, "baseline": model.BASELINE}
_VERDICTS = {"allow": model.ALLOW, "deny": model.DENY, "pass": model.PASS}
_RULE_NAME_LIMIT = 100  # the CRDs' maxLength of a rule name


class _Refused(ValueError):
    """A node or edge that no platform rule can express; the message says why."""


@dataclasses.dataclass
class DrawnPolicy:
    """A platform policy made from the drawing, with the node it is for and the edges of each rule."""

    policy: PlatformPolicy
    node_id: str
    rule_edges: dict[tuple[str, int], tuple[str, ...]]  # (direction, 1-based index) -> edge ids


@dataclasses.dataclass
class LayerResult:
    """The compiled platform layers: objects after the application's, the node each is for, explanations."""

    policies: list[DrawnPolicy]
    compiled: Compiled
    object_nodes: list[str]
    explanations: list[RuleExplanation]


def _selector(raw: dict[str, Any] | None, where: str) -> LabelSelector:
    try:
        return parse_selector(raw or {}, where)
    except SelectorError as exc:
        raise _Refused(str(exc)) from None


def pod_set(node: Node) -> PodSet:
    """The pods a workload or selector node stands for, as a platform subject or peer."""
    if node.namespace is not None:
        namespaces = LabelSelector(((NAMESPACE_NAME_LABEL, node.namespace),), ())
    else:
        namespaces = _selector(node.namespace_selector, f"namespaceSelector of node {node.id}")
    if node.kind == "selector" and node.pod_selector is None:
        return PodSet(namespaces)
    return PodSet(namespaces, _selector(node.selector(), f"podSelector of node {node.id}"))


def _peer(node: Node) -> PlatformPeer:
    if node.is_pod_set:
        return PlatformPeer(pods=pod_set(node))
    if node.kind == "cidr":
        if node.except_:
            raise _Refused(f"CIDR node {node.id} has exceptions, which a platform rule cannot express")
        return PlatformPeer(networks=(ipaddress.ip_network(node.cidr or "", strict=False),))
    if node.kind == "hosts":
        return PlatformPeer(nodes=_selector(node.node_selector, f"nodeSelector of node {node.id}"))
    if node.kind == "fqdn":
        name = node.match_name or node.match_pattern or ""
        if node.match_pattern is not None and not (name.startswith("*.") and "*" not in name[2:]):
            raise _Refused(f"FQDN pattern {name!r}: a platform rule's domainNames take a name or *.name only")
        return PlatformPeer(domain_names=(name,))
    raise _Refused(f"entity {node.entity!r} has no platform rule equivalent; draw a CIDR or a selector node")


def _ports(ports: list[Port]) -> tuple[PlatformPort, ...] | None:
    if not ports:
        return None
    found: list[PlatformPort] = []
    for port in ports:
        if isinstance(port.port, str):
            found.append(PlatformPort(None, name=port.port))
            continue
        protocols = PROTOCOLS if port.protocol == "ANY" else (port.protocol,)
        first = 1 if port.port is None else port.port
        last = 65535 if port.port is None else (port.end_port or port.port)
        found.extend(PlatformPort(protocol, first, last) for protocol in protocols)
    return tuple(found)


def _rule_name(edge: Edge) -> str:
    if edge.name is not None:
        return edge.name
    return edge.id if len(edge.id) <= _RULE_NAME_LIMIT else ""


def _merge_peers(peers: list[PlatformPeer]) -> tuple[PlatformPeer, ...]:
    """Consecutive `networks` (and `domainNames`) peers as one peer, as a rule with one such peer is drawn."""
    merged: list[PlatformPeer] = []
    for peer in peers:
        last = merged[-1] if merged else None
        if last is not None and peer.networks and last.networks:
            merged[-1] = PlatformPeer(networks=last.networks + peer.networks)
        elif last is not None and peer.domain_names and last.domain_names:
            merged[-1] = PlatformPeer(domain_names=last.domain_names + peer.domain_names)
        else:
            merged.append(peer)
    return tuple(merged)


@dataclasses.dataclass
class _Group:
    layer: str
    node: Node
    priority: int
    rules: dict[str, list[tuple[str, str, tuple[PlatformPort, ...] | None, list[PlatformPeer], list[str]]]] = (
        dataclasses.field(default_factory=lambda: {"Ingress": [], "Egress": []})
    )


def drawn_policies(document: Document, context: Context, taken: set[str] | None = None) -> list[DrawnPolicy]:
    """The platform policies of the drawing; what cannot be expressed is an error in `context` (not compiled)."""
    groups: dict[tuple[str, str, int], _Group] = {}
    for edge in document.edges:
        if not is_platform(edge) or edge.disabled:
            continue
        source, target = context.nodes[edge.source], context.nodes[edge.target]
        sides = [(s, "Egress", source, target) for s in ("source",) if s in edge.enforce and source.is_pod_set]
        sides += [(s, "Ingress", target, source) for s in ("target",) if s in edge.enforce and target.is_pod_set]
        if not sides:
            context.error(
                f"{context.describe_edge(edge)}: a platform rule needs a workload or selector node at an end it is "
                "enforced on (the policy's subject)",
                edge_id=edge.id,
            )
            continue
        try:
            drawn = [(direction, subject, pod_set(subject), _peer(peer)) for _, direction, subject, peer in sides]
            ports = _ports(edge.ports)
            if any(peer.pods is None for direction, *_, peer in drawn if direction == "Ingress"):
                raise _Refused("an ingress platform rule admits pods only: a CIDR, node or DNS name is an egress peer")
            if any(p.name for p in ports or ()) and any(peer.pods is None for *_, peer in drawn):
                raise _Refused("a named port is a pod's port: it cannot go with a CIDR, node or DNS name peer")
        except (_Refused, ValueError) as exc:
            context.error(f"{context.describe_edge(edge)} is not compiled: {exc}", edge_id=edge.id)
            continue
        for direction, subject, _, peer in drawn:
            key = (edge.layer, subject.id, priority_of(edge))
            group = groups.setdefault(key, _Group(edge.layer, subject, priority_of(edge)))
            rules = group.rules[direction]
            head = (_rule_name(edge), edge.action, ports)
            if rules and rules[-1][:3] == head:  # the same rule drawn to another peer
                rules[-1][3].append(peer)
                rules[-1][4].append(edge.id)
            else:
                rules.append((*head, [peer], [edge.id]))
    return _named(list(groups.values()), set(taken or ()))


def _named(groups: list[_Group], taken: set[str]) -> list[DrawnPolicy]:
    order = {"admin": 0, "baseline": 1}
    groups.sort(key=lambda g: (order[g.layer], g.priority, g.node.id))
    per_node: dict[str, int] = {}
    for group in groups:
        per_node[group.node.id] = per_node.get(group.node.id, 0) + 1
    result = []
    for group in groups:
        base = dns_slug(group.node.policy_name or group.node.display_name())
        if per_node[group.node.id] > 1:
            base = f"{base}-{group.priority}"
        name, number = base, 1
        while name in taken:
            number += 1
            name = f"{base}-{number}"
        taken.add(name)
        tier = TIERS[group.layer]
        ref = PlatformRef("ClusterNetworkPolicy", name, tier, group.priority, f"drawing node {group.node.id}")
        rules: dict[str, tuple[PlatformRule, ...]] = {}
        rule_edges: dict[tuple[str, int], tuple[str, ...]] = {}
        for direction, drafts in group.rules.items():
            made = []
            for index, (rule_name, action, ports, peers, edge_ids) in enumerate(drafts, start=1):
                verdict = _VERDICTS[action]
                made.append(
                    PlatformRule(
                        direction,
                        index,
                        rule_name,
                        model.V1ALPHA2_ACTIONS[verdict],
                        verdict,
                        _merge_peers(peers),
                        ports,
                    )
                )
                rule_edges[(direction, index)] = tuple(edge_ids)
            rules[direction] = tuple(made)
        policy = PlatformPolicy(ref, pod_set(group.node), rules["Ingress"], rules["Egress"])
        result.append(DrawnPolicy(policy, group.node.id, rule_edges))
    return result


def _rule_text(drawn: DrawnPolicy, rule: PlatformRule, context: Context, edges_by_id: dict[str, Edge]) -> str:
    verb = {model.ALLOW: "Accepts", model.DENY: "Denies", model.PASS: "Passes (to NetworkPolicy)"}[rule.verdict]
    preposition = "from" if rule.direction == "Ingress" else "to"
    ports = "all ports"
    if rule.ports is not None:
        ports = describe_ports(
            Port(p.protocol or "ANY", p.name if p.name is not None else p.first, None if p.last == p.first else p.last)
            for p in rule.ports
        )
    edges = drawn.rule_edges[(rule.direction, rule.index)]
    ends = [edges_by_id[e].target if rule.direction == "Egress" else edges_by_id[e].source for e in edges]
    peers = ", ".join(dict.fromkeys(context.describe(context.nodes[node_id]) for node_id in ends))
    label = "edge" if len(edges) == 1 else "edges"
    return f"{verb} connections {preposition} {peers} on {ports} ({drawn.policy.ref.rank}; {label} {', '.join(edges)})."


def compile_layers(document: Document, dialect: str, context: Context, taken: set[str] | None = None) -> LayerResult:
    """The platform layers compiled for `dialect` (errors and caveats go to `context`); `taken`: names of the
    application's cluster-scoped objects (CCNPs), which the platform's CCNPs must not reuse."""
    drawn = drawn_policies(document, context, taken if dialect == "cilium" else None)
    policies = [d.policy for d in drawn]
    if dialect == "cilium":
        compiled = to_cilium(policies)
    elif document.settings.platform_api == "v1alpha1":
        compiled = to_v1alpha1(policies)
    else:
        compiled = to_v1alpha2(policies)
    by_name = {d.policy.ref.name: d for d in drawn}
    for message in compiled.not_expressed:
        node_id, edge_id = _culprit(drawn, message)
        context.error(f"platform layer: {message}", node_id=node_id, edge_id=edge_id)
    for message in compiled.caveats:
        node_id, edge_id = _culprit(drawn, message)
        context.warning(f"platform layer: {message}", node_id=node_id, edge_id=edge_id)
    first_baseline = next((d.node_id for d in drawn if d.policy.tier == model.BASELINE), "")
    object_nodes = []
    for obj in compiled.objects:
        found = by_name.get(obj["metadata"]["name"])
        object_nodes.append(found.node_id if found is not None else first_baseline)
    explanations = []
    edges_by_id = {edge.id: edge for edge in document.edges}
    for obj in compiled.objects:
        found = by_name.get(obj["metadata"]["name"])
        if found is None or obj["kind"] not in ("ClusterNetworkPolicy", "AdminNetworkPolicy"):
            continue  # a BANP merges the Baseline policies, a CCNP regroups the rules: no rule-for-rule match
        for rule in (*found.policy.ingress, *found.policy.egress):
            explanations.append(
                RuleExplanation(
                    obj["kind"],
                    None,
                    found.policy.ref.name,
                    rule.direction.lower(),
                    rule.index - 1,
                    found.rule_edges[(rule.direction, rule.index)],
                    _rule_text(found, rule, context, edges_by_id),
                    found.node_id,
                )
            )
    return LayerResult(drawn, compiled, object_nodes, explanations)


def _culprit(drawn: list[DrawnPolicy], message: str) -> tuple[str | None, str | None]:
    """The node and edge a message of emit.py is about (it names the policy and the rule)."""
    for item in drawn:
        if f"'{item.policy.ref.name}'" not in message:
            continue
        for (direction, index), edge_ids in item.rule_edges.items():
            rule = item.policy.rules(direction)[index - 1]
            if re.search(re.escape(rule.label) + r"(?=[\s:(]|$)", message):
                return item.node_id, edge_ids[0]
        return item.node_id, None
    return None, None


def read_back(result: CompileResult) -> list[PlatformPolicy]:
    """The platform policies of the native dialect's objects (ClusterNetworkPolicy, ANP, BANP) as the model."""
    objects = result.objects[len(result.objects) - result.platform_objects :]
    warnings: list[str] = []
    found = []
    for item in objects_as_written(objects, "<compiled platform policies>"):
        try:
            found.append(read_platform_policy(item, warnings))
        except InputError:
            continue  # an object its CRD refuses: the compile answer's validation reports it, the cluster ignores it
    return found


def drawn_as_emitted(document: Document, result: CompileResult) -> list[DrawnPolicy]:
    """The drawing's platform policies named as `result` emitted them (after the application's cluster-scoped
    objects, whose names they do not reuse in the Cilium dialect)."""
    application = result.objects[: len(result.objects) - result.platform_objects]
    taken = {obj["metadata"]["name"] for obj in application if "namespace" not in obj["metadata"]}
    return drawn_policies(document, Context(document), taken if result.dialect == "cilium" else None)
