"""Platform policies drawn: the nodes and edges of the admin or baseline layer that compile back to them
(from_drawing.py is the other way), for the importer and the platform templates.

A policy's subject is a platform-layer node carrying the policy's name (`policyName`), reused when a node of that
layer already stands for the same pods under that name (or a peer node added by the same call takes the name);
each rule x peer is an edge in rule order, enforced on the
subject's side ("source" for an egress rule), with the rule's action, the policy's priority and the rule's name
(the edge id when it is free, else `name`). A peer reuses any node that stands for exactly it (an application
workload too); otherwise it is a new node of the layer: `namespaces` a selector node without podSelector, `pods` a
selector node, each `networks` entry a CIDR node, `nodes` a hosts node, each `domainNames` entry an FQDN node.
"""

from __future__ import annotations

import dataclasses

from ..document import NAMESPACE_NAME_LABEL, Document, Edge, Node, Port, safe_id
from ..document_schema import ID_PATTERN
from ..selectors import LabelSelector
from .from_drawing import pod_set
from .model import ADMIN, ALLOW, DENY, PASS, PlatformPeer, PlatformPolicy, PlatformPort, PodSet

_ACTIONS = {ALLOW: "allow", DENY: "deny", PASS: "pass"}


@dataclasses.dataclass
class Drawn:
    nodes: list[Node]
    edges: list[Edge]
    warnings: list[str]


def _label_text(selector: LabelSelector) -> str:
    parts = [f"{k}={v}" for k, v in selector.match_labels]
    parts += [f"{r.key} {r.operator} {','.join(r.values)}".strip() for r in selector.match_expressions]
    return ", ".join(parts)


def _namespace_of(selector: LabelSelector) -> str | None:
    """X when the selector is exactly `kubernetes.io/metadata.name: X` (the namespace X)."""
    labels = selector.match_labels
    if len(labels) == 1 and labels[0][0] == NAMESPACE_NAME_LABEL and not selector.match_expressions:
        return labels[0][1]
    return None


def _pod_set_node(pods: PodSet, layer: str, document: Document) -> Node:
    namespace = _namespace_of(pods.namespaces)
    where = namespace or ("every namespace" if pods.namespaces.is_empty else _label_text(pods.namespaces))
    if pods.pods is None:
        name = f"namespace {namespace}" if namespace is not None else where
        name = name if namespace is not None or pods.namespaces.is_empty else f"namespaces {where}"
    else:
        name = f"{_label_text(pods.pods) or 'all pods'} ({where})"
    node = Node(id="", kind="selector", name=name, layer=layer)
    if namespace is not None:
        document.ensure_namespace(namespace)
        node.namespace = namespace
    else:
        node.namespace_selector = pods.namespaces.to_dict()
    node.pod_selector = None if pods.pods is None else pods.pods.to_dict()
    return node


def _same_pods(node: Node, pods: PodSet) -> bool:
    if not node.is_pod_set:
        return False
    try:
        return pod_set(node) == pods
    except ValueError:
        return False


class _Drawer:
    def __init__(self, document: Document) -> None:
        self.document = document
        self.taken = {node.id for node in document.nodes}
        self.edge_ids = {edge.id for edge in document.edges}
        self.result = Drawn([], [], [])

    def _add(self, node: Node, wanted: str) -> Node:
        base = safe_id(wanted)
        node.id, number = base, 1
        while node.id in self.taken:
            number += 1
            node.id = f"{base}-{number}"
        self.taken.add(node.id)
        self.document.nodes.append(node)
        self.result.nodes.append(node)
        return node

    def subject(self, policy: PlatformPolicy, layer: str) -> Node:
        for node in self.document.nodes:
            if node.layer == layer and node.policy_name == policy.ref.name and _same_pods(node, policy.subject):
                return node
        for node in self.result.nodes:  # a peer this drawing added (the DNS pods of the DNS template's first half)
            if node.layer == layer and node.policy_name is None and _same_pods(node, policy.subject):
                node.policy_name = policy.ref.name
                return node
        node = _pod_set_node(policy.subject, layer, self.document)
        node.policy_name = policy.ref.name
        return self._add(node, f"{layer}:{policy.ref.name}")

    def peers(self, peer: PlatformPeer, layer: str) -> list[Node]:
        if peer.pods is not None:
            pods = peer.pods
            found = next((n for n in self.document.nodes if _same_pods(n, pods)), None)
            return [found or self._add(_pod_set_node(pods, layer, self.document), f"{layer}:pods")]
        if peer.nodes is not None:
            selector = peer.nodes.to_dict()
            found = next((n for n in self.document.nodes if n.kind == "hosts" and n.node_selector == selector), None)
            name = _label_text(peer.nodes) or "every node"
            return [
                found or self._add(Node(id="", kind="hosts", name=name, node_selector=selector, layer=layer), "nodes")
            ]
        nodes = []
        for network in peer.networks:
            text = str(network)
            found = next(
                (n for n in self.document.nodes if n.kind == "cidr" and n.cidr == text and not n.except_), None
            )
            nodes.append(found or self._add(Node(id="", kind="cidr", cidr=text, layer=layer), f"cidr:{text}"))
        for name in peer.domain_names:
            pattern = name.startswith("*")
            same = (
                n
                for n in self.document.nodes
                if n.kind == "fqdn" and (n.match_pattern if pattern else n.match_name) == name
            )
            fqdn = Node(
                id="", kind="fqdn", match_name=None if pattern else name, match_pattern=name if pattern else None
            )
            fqdn.layer = layer
            nodes.append(next(same, None) or self._add(fqdn, f"fqdn:{name}"))
        return nodes

    def edge(self, rule_name: str, edge: Edge) -> None:
        if rule_name and ID_PATTERN.fullmatch(rule_name) and rule_name not in self.edge_ids:
            edge.id = rule_name
        else:
            edge.id = self.document.new_edge_id()
            edge.name = rule_name
        self.edge_ids.add(edge.id)
        self.document.edges.append(edge)
        self.result.edges.append(edge)


def _ports(ports: tuple[PlatformPort, ...] | None) -> list[Port]:
    if ports is None:
        return []
    return [
        Port("ANY", p.name)
        if p.name is not None
        else Port(p.protocol or "TCP", p.first, None if p.last == p.first else p.last)
        for p in ports
    ]


def draw_policies(document: Document, policies: list[PlatformPolicy]) -> Drawn:
    """Add `policies` to `document` (changed in place) as platform-layer nodes and edges."""
    drawer = _Drawer(document)
    for policy in policies:
        layer = "admin" if policy.tier == ADMIN else "baseline"
        if not policy.ingress and not policy.egress:
            drawer.result.warnings.append(f"{policy.ref.where}: {policy.ref} has no rules: nothing to draw; skipped")
            continue
        subject = drawer.subject(policy, layer)
        priority = policy.ref.priority  # None (a BANP): the default
        for rule in (*policy.ingress, *policy.egress):
            action = _ACTIONS[rule.verdict]
            for peer in rule.peers:
                for other in drawer.peers(peer, layer):
                    egress = rule.direction == "Egress"
                    source, target = (subject, other) if egress else (other, subject)
                    edge = Edge(
                        "",
                        source.id,
                        target.id,
                        _ports(rule.ports),
                        enforce=["source" if egress else "target"],
                        action=action,
                        layer=layer,
                        priority=priority,
                    )
                    drawer.edge(rule.name, edge)
    return drawer.result
