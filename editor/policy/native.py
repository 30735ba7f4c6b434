"""Graph document -> networking.k8s.io/v1 NetworkPolicy (SEMANTICS.md section 3).

One NetworkPolicy per subject (see compile.py for which subjects and edges): `metadata.namespace` is the node's
namespace, `spec.podSelector` its selector, and `spec.policyTypes` always lists the isolated directions
explicitly (the API server's defaulting, D1, is never relied on). Rules exist only for directions listed in
policyTypes (Cilium enforces rules of unlisted directions, cilium#48703).

Peers:
* a pod set in the subject's namespace -> `podSelector`;
* a pod set in another namespace -> `namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ns}}` and,
  when the pod selector is not `{}`, `podSelector` in the SAME peer item (AND, not OR);
* a selector node with a namespaceSelector -> that `namespaceSelector` (+ `podSelector` when not `{}`);
* a CIDR -> `ipBlock {cidr, except}`;
* the entity `all` -> a rule without `from`/`to` (every pod and every IP), which absorbs the other peers that
  share its ports.
Ports: an explicit `protocol` on every entry; protocol ANY becomes one entry each for TCP, UDP and SCTP; an edge
without ports allows all ports (the rule has no `ports`). Peers whose port sets are identical share one rule.

Not expressible here, each reported as an error naming the edge or node (the rest still compiles): every other
entity, FQDNs, hosts (node) peers and subjects, L7 rules, ICMP, TLS server names, deny edges, and subjects chosen
by a namespaceSelector (cluster-wide) -- all of these need the Cilium dialect.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from .compile import Context, Draft, RuleDraft, Subject, canonical, describe_ports, describe_rule, policy_base_name
from .document import NAMESPACE_NAME_LABEL, Edge, Node, Port

API_VERSION = "networking.k8s.io/v1"
KIND = "NetworkPolicy"
PROTOCOL_ORDER = ("TCP", "UDP", "SCTP")
_DIRECTIONS = (("ingress", "Ingress", "from"), ("egress", "Egress", "to"))


def compile_subjects(context: Context, subjects: list[Subject]) -> list[Draft]:
    # A NetworkPolicy reads nothing of the drawing beyond the subject, its edges and their peers.
    return [
        draft for subject in subjects for draft in context.subject_drafts(subject, partial(_policy, context, subject))
    ]


def _policy(context: Context, subject: Subject) -> list[Draft]:
    node = subject.node
    who = context.describe(node)
    if node.kind == "hosts":
        context.error(
            f"{who} is a set of nodes: host policies need the Cilium dialect (CiliumClusterwideNetworkPolicy "
            "with nodeSelector)",
            node_id=node.id,
        )
        return []
    if node.namespace_selector is not None:
        context.error(
            f"{who} spans namespaces chosen by a namespaceSelector: a NetworkPolicy selects pods of one namespace "
            "only; use the Cilium dialect (CiliumClusterwideNetworkPolicy) or one subject per namespace",
            node_id=node.id,
        )
        return []
    problem = context.selector_problem(node, cilium=False)
    if problem:
        context.error(f"no NetworkPolicy for {who}: {problem}", node_id=node.id)
        return []
    spec: dict[str, Any] = {"podSelector": node.selector(), "policyTypes": []}
    rule_drafts: list[RuleDraft] = []
    for direction, policy_type, peers_key in _DIRECTIONS:
        isolated = subject.isolate_ingress if direction == "ingress" else subject.isolate_egress
        if not isolated:
            continue
        spec["policyTypes"].append(policy_type)
        edges = subject.ingress if direction == "ingress" else subject.egress
        rules = _rules(context, node, direction, peers_key, edges)
        if rules:
            spec[direction] = [rule for rule, _, _ in rules]
            rule_drafts.extend(
                RuleDraft(direction, index, edge_ids, text) for index, (_, edge_ids, text) in enumerate(rules)
            )
    return [Draft(API_VERSION, KIND, node.namespace, policy_base_name(node), node.id, {"spec": spec}, rule_drafts)]


class _Group:
    """Peers that share one port set, and the edges they came from."""

    def __init__(self) -> None:
        self.peers: dict[str, dict[str, Any]] = {}
        self.names: dict[str, str] = {}
        self.allows_all = False
        self.edge_ids: set[str] = set()


def _rules(
    context: Context, subject: Node, direction: str, peers_key: str, edges: list[Edge]
) -> list[tuple[dict[str, Any], tuple[str, ...], str]]:
    groups: dict[str, _Group] = {}
    group_ports: dict[str, list[dict[str, Any]]] = {}
    port_texts: dict[str, str] = {}
    for edge in edges:
        peer_node = context.nodes[edge.source if direction == "ingress" else edge.target]
        if not _expressible(context, edge, subject, peer_node):
            continue
        peer = _peer(subject, peer_node)
        ports = native_ports(edge.ports)
        key = canonical(ports)
        group = groups.setdefault(key, _Group())
        group_ports[key] = ports
        port_texts[key] = describe_ports(edge.ports)
        group.edge_ids.add(edge.id)
        if peer is None:
            group.allows_all = True
        else:
            group.peers[canonical(peer)] = peer
            group.names[canonical(peer)] = context.describe(peer_node)
        if direction == "egress" and peer_node.kind == "cidr" and any(isinstance(p.port, str) for p in edge.ports):
            context.warning(
                f"edge {edge.id}: a named port towards {peer_node.display_name()} matches nothing, because named "
                "ports are looked up on the destination pod and an ipBlock is not a pod",
                edge_id=edge.id,
            )
    rules = []
    for key, group in groups.items():
        rule: dict[str, Any] = {}
        if group.allows_all:
            names = ["everything (all pods and all IPs)"]
        else:
            rule[peers_key] = [group.peers[k] for k in sorted(group.peers)]
            names = [group.names[k] for k in sorted(group.peers)]
        if group_ports[key]:
            rule["ports"] = group_ports[key]
        edge_ids = tuple(sorted(group.edge_ids))
        rules.append((rule, edge_ids, describe_rule(direction, names, port_texts[key], edge_ids)))
    return sorted(rules, key=lambda item: canonical(item[0]))


def _expressible(context: Context, edge: Edge, subject: Node, peer: Node) -> bool:
    """False (after reporting why) when the edge needs something only the Cilium dialect has."""
    reason = None
    if edge.action == "deny":
        reason = "is a deny rule; NetworkPolicy can only allow (use the Cilium dialect: ingressDeny/egressDeny)"
    elif edge.l7:
        reason = "has L7 rules; NetworkPolicy filters only ports (use the Cilium dialect: toPorts.rules)"
    elif edge.icmps:
        reason = "allows ICMP; NetworkPolicy has no ICMP rules (use the Cilium dialect: icmps)"
    elif edge.server_names:
        reason = "filters on TLS server names; use the Cilium dialect (toPorts.serverNames)"
    elif peer.kind == "fqdn":
        reason = f"reaches the DNS name {peer.display_name()}; use the Cilium dialect (toFQDNs)"
    elif peer.kind == "hosts":
        reason = "has a set of nodes as its peer; use the Cilium dialect (fromNodes/toNodes)"
    elif peer.kind == "entity" and peer.entity != "all":
        reason = f"uses the Cilium entity {peer.entity!r}; use the Cilium dialect (fromEntities/toEntities)"
    elif peer.is_pod_set and (problem := context.selector_problem(peer, cilium=False)):
        reason = f"cannot be written: {problem}"
    if reason is None:
        return True
    context.error(
        f"{context.describe_edge(edge)} {reason}; it is left out of the YAML",
        edge_id=edge.id,
    )
    return False


def _peer(subject: Node, peer: Node) -> dict[str, Any] | None:
    """The NetworkPolicyPeer for `peer` seen from `subject`; None means "everything" (no from/to)."""
    if peer.kind == "entity":
        return None
    if peer.kind == "cidr":
        block: dict[str, Any] = {"cidr": peer.cidr}
        if peer.except_:
            block["except"] = sorted(peer.except_)
        return {"ipBlock": block}
    selector = peer.selector()
    if peer.namespace_selector is not None:
        item: dict[str, Any] = {"namespaceSelector": peer.namespace_selector}
        if selector:
            item["podSelector"] = selector
        return item
    if peer.namespace == subject.namespace:
        return {"podSelector": selector}
    item = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: peer.namespace}}}
    if selector:
        item["podSelector"] = selector
    return item


def native_ports(ports: list[Port]) -> list[dict[str, Any]]:
    """NetworkPolicyPort entries: explicit protocol, ANY expanded, sorted and without duplicates."""
    entries: dict[str, dict[str, Any]] = {}
    for port in ports:
        for protocol in PROTOCOL_ORDER if port.protocol == "ANY" else (port.protocol,):
            entry: dict[str, Any] = {"protocol": protocol}
            if port.port is not None:
                entry["port"] = port.port
            if port.end_port is not None and isinstance(port.port, int):
                entry["endPort"] = port.end_port
            entries[canonical(entry)] = entry
    return sorted(entries.values(), key=_port_order)


def _port_order(entry: dict[str, Any]) -> tuple[int, int, int | str, int]:
    port = entry.get("port")
    kind = 0 if port is None else (1 if isinstance(port, int) else 2)
    return (PROTOCOL_ORDER.index(entry["protocol"]), kind, port if port is not None else 0, entry.get("endPort", 0))
