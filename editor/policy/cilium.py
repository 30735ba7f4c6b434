"""Graph document -> cilium.io/v2 CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy (SEMANTICS.md section 4).

One policy per subject (see compile.py for which subjects and edges):
* a namespaced pod set -> CiliumNetworkPolicy in its namespace, `endpointSelector` = the node's selector;
* a selector with a namespaceSelector -> CiliumClusterwideNetworkPolicy whose endpointSelector carries the
  namespace part as Cilium label keys (`io.cilium.k8s.namespace.labels.<key>`, or `k8s:io.kubernetes.pod.namespace`
  for `kubernetes.io/metadata.name`; `{}` -> `k8s:io.kubernetes.pod.namespace Exists`);
* a hosts node -> CiliumClusterwideNetworkPolicy with `nodeSelector`;
* a namespaced subject with a peer chosen by namespace labels -> CiliumClusterwideNetworkPolicy whose
  endpointSelector includes `k8s:io.kubernetes.pod.namespace: <ns>`, because namespace-label keys are documented
  as CCNP-only and behave differently in a CNP (SEMANTICS C7).

Peers: pod sets always carry `k8s:io.kubernetes.pod.namespace` (their namespace) or the namespace terms above, so
a selector means the same in a CNP and a CCNP (C5, C6); CIDRs -> `toCIDR` (no except) / `toCIDRSet`; entities ->
`to/fromEntities`; FQDNs -> `toFQDNs` (egress only); hosts -> `to/fromNodes`. Cilium refuses rules that mix peer
fields, so each rule has one peer field; peers with the same field and the same `toPorts` entry share a rule.
Ports: `toPorts: [{ports: [{port: "8080", protocol}], rules, serverNames}]` with the protocol always explicit
(Cilium's default is ANY, Kubernetes' TCP); an edge without ports has no `toPorts` (all ports); ICMP goes to a
separate rule `icmps: [{fields: [...]}]` (Cilium refuses icmps beside toPorts). Deny edges -> `ingressDeny` /
`egressDeny` (no L7, no FQDNs). Egress named ports are written as the number they have on the peer's pods, because
Cilium resolves them cluster-wide (C10a); a namespace `NotIn` gets `Exists` beside it (C10b); node peers come with
a warning that they need the agent flag `--enable-node-selector-labels` (C4a).

`toFQDNs` learns addresses only from DNS answers seen by Cilium's DNS proxy (C10), so a subject with an FQDN edge
must have (itself, or through a subject that covers its pods) an enabled egress edge to the cluster DNS
(`settings.dns`): without one the FQDN edge is an error asking for the "allow DNS" edge; with one that has no DNS
L7 rules, its port-53 entries get `rules: {dns: [{matchPattern: "*"}]}` (or an extra port-53 ANY entry is added
when the edge has no port 53 entry).

A namespaced subject isolated in a direction without any rule there gets a companion NetworkPolicy (`podSelector`
+ `policyTypes`); a cluster-wide or hosts subject gets Cilium's own default deny, the empty rule `- {}` (C4).
"""

from __future__ import annotations

import dataclasses
import hashlib
from functools import partial
from typing import Any

import msgspec

from . import native
from .admission import L7_KINDS
from .compile import (
    Context,
    Draft,
    RuleDraft,
    Subject,
    canonical,
    describe_ports,
    describe_rule,
    policy_base_name,
    selector_of,
)
from .document import NAMESPACE_NAME_LABEL, Edge, Node, Port, icmp_protocol
from .icmp_wildcard import is_icmp_wildcard

API_VERSION = "cilium.io/v2"
KIND = "CiliumNetworkPolicy"
CLUSTERWIDE_KIND = "CiliumClusterwideNetworkPolicy"
NAMESPACE_KEY = "k8s:io.kubernetes.pod.namespace"
NAMESPACE_LABEL_PREFIX = "io.cilium.k8s.namespace.labels."
MAX_PORTS = 40  # per toPorts entry (CRD maxItems)
PROTOCOL_ORDER = ("TCP", "UDP", "SCTP", "ANY")
SECTIONS = ("ingress", "ingressDeny", "egress", "egressDeny")
DNS_ANY_RULE = {"dns": [{"matchPattern": "*"}]}
_PEER_FIELDS = {"pods": "Endpoints", "cidr": "CIDR", "cidrset": "CIDRSet", "entity": "Entities", "fqdn": "FQDNs"}


@dataclasses.dataclass
class _Part:
    """One peer of one edge with one toPorts entry (or ICMP fields, or neither = all ports)."""

    field: str  # Endpoints, CIDR, CIDRSet, Entities, FQDNs, Nodes
    peer: Any
    peer_name: str
    edge_id: str
    to_ports: dict[str, Any] | None = None
    icmps: list[dict[str, Any]] | None = None
    ports_text: str = "all ports"

    @property
    def key(self) -> str:
        return canonical([self.field, self.to_ports, self.icmps])


def compile_subjects(context: Context, subjects: list[Subject]) -> list[Draft]:
    dns_edges = _dns_plan(context, subjects)
    drafts: list[Draft] = []
    for subject in subjects:
        # Besides the subject, its edges and their peers, its policies read which of its edges get DNS rules
        # (a decision over all subjects) and the workloads whose port names its egress named ports are looked up
        # on (_peer_named_ports).
        dns = sorted(edge.id for edge in subject.ingress + subject.egress if edge.id in dns_edges)
        named = [
            _named_port_scope(context, context.nodes[edge.target])
            for edge in subject.egress
            if any(isinstance(port.port, str) for port in edge.ports)
        ]
        drafts.extend(context.subject_drafts(subject, partial(_policies, context, subject, dns_edges), dns, named))
    return drafts


# --- the subject ---------------------------------------------------------------------------------------------


def _policies(context: Context, subject: Subject, dns_edges: set[str]) -> list[Draft]:
    node = subject.node
    who = context.describe(node)
    problem = context.selector_problem(node, cilium=True)
    if problem:
        context.error(f"no policy for {who}: {problem}", node_id=node.id)
        return []
    sections: dict[str, list[_Part]] = {section: [] for section in SECTIONS}
    for section in SECTIONS:
        ingress = section.startswith("ingress")
        deny = section.endswith("Deny")
        for edge in subject.ingress if ingress else subject.egress:
            if (edge.action == "deny") == deny:
                peer = context.nodes[edge.source if ingress else edge.target]
                # DNS visibility is an egress rule: Cilium refuses `rules.dns` on ingress ("DNS rules are not
                # allowed on ingress", pkg/policy/api/rule_validation.go, PortRule.sanitize), so an edge that is
                # both (a namespace's edge to itself that holds the DNS servers) gets it on its egress side only.
                dns = section == "egress" and edge.id in dns_edges
                sections[section].extend(_parts(context, subject.node, edge, peer, section, dns))
    clusterwide = node.kind == "hosts" or node.namespace_selector is not None
    if not clusterwide and any(_uses_namespace_labels(part) for parts in sections.values() for part in parts):
        clusterwide = True
    drafts = []
    spec: dict[str, Any] = {}
    if node.kind == "hosts":
        spec["nodeSelector"] = _sorted_selector(node.node_selector or {})
    elif node.namespace_selector is not None:
        spec["endpointSelector"] = endpoint_selector(node)
    else:
        selector = _sorted_selector(node.selector())
        if clusterwide:
            selector = _sorted_selector(_with_label(selector, NAMESPACE_KEY, node.namespace or ""))
        spec["endpointSelector"] = selector
    rule_drafts: list[RuleDraft] = []
    for section in SECTIONS:
        rules = _rules(section, sections[section])
        if rules:
            spec[section] = [rule for rule, _, _ in rules]
            rule_drafts.extend(RuleDraft(section, i, ids, text) for i, (_, ids, text) in enumerate(rules))
    if node.kind == "hosts" or node.namespace_selector is not None:
        # No companion NetworkPolicy can select these subjects: Cilium's own default deny `- {}` isolates the
        # direction and allows nothing (C4, examples/policies/l3/egress-default-deny).
        for direction, isolated in (("ingress", subject.isolate_ingress), ("egress", subject.isolate_egress)):
            if isolated and not spec.get(direction) and not spec.get(f"{direction}Deny"):
                spec[direction] = [{}]
                rule_drafts.append(RuleDraft(direction, 0, (), f"default deny: no {direction} allowed"))
    if len(spec) > 1:
        kind = CLUSTERWIDE_KIND if clusterwide else KIND
        namespace = None if clusterwide else node.namespace
        drafts.append(Draft(API_VERSION, kind, namespace, policy_base_name(node), node.id, {"spec": spec}, rule_drafts))
    unruled = [
        direction
        for direction, isolated in (("Ingress", subject.isolate_ingress), ("Egress", subject.isolate_egress))
        if isolated and not spec.get(direction.lower()) and not spec.get(f"{direction.lower()}Deny")
    ]
    if unruled:
        companion = _companion(context, node, unruled)
        if companion is not None:
            drafts.append(companion)
    return drafts


def _companion(context: Context, node: Node, directions: list[str]) -> Draft | None:
    """The NetworkPolicy that isolates `node` in `directions` where it has no Cilium rule (C4)."""
    problem = context.selector_problem(node, cilium=False)
    if problem:
        context.error(f"no default-deny NetworkPolicy for {context.describe(node)}: {problem}", node_id=node.id)
        return None
    spec = {"podSelector": node.selector(), "policyTypes": directions}
    return Draft(native.API_VERSION, native.KIND, node.namespace, policy_base_name(node), node.id, {"spec": spec})


def _rules(section: str, parts: list[_Part]) -> list[tuple[dict[str, Any], tuple[str, ...], str]]:
    grouped: dict[str, list[_Part]] = {}
    for part in parts:
        grouped.setdefault(part.key, []).append(part)
    prefix = "from" if section.startswith("ingress") else "to"
    rules = []
    for group in grouped.values():
        first = group[0]
        peers = {canonical(part.peer): part for part in group}
        rule: dict[str, Any] = {f"{prefix}{first.field}": [peers[k].peer for k in sorted(peers)]}
        if first.to_ports is not None:
            rule["toPorts"] = [first.to_ports]
        if first.icmps is not None:
            rule["icmps"] = [{"fields": first.icmps}]
        edge_ids = tuple(sorted({part.edge_id for part in group}))
        names = [peers[k].peer_name for k in sorted(peers)]
        rules.append((rule, edge_ids, describe_rule(section, names, first.ports_text, edge_ids)))
    return sorted(rules, key=lambda item: canonical(item[0]))


# --- one edge ------------------------------------------------------------------------------------------------


def _parts(context: Context, subject: Node, edge: Edge, peer: Node, section: str, add_dns: bool) -> list[_Part]:
    if section == "ingress" and edge.l7 and edge.l7.get("dns"):
        # DNS rules are enforced by the client's DNS proxy (egress only); the server's side is plain L4.
        edge = dataclasses.replace(edge, l7={kind: rules for kind, rules in edge.l7.items() if kind != "dns"} or None)
    problem = _problem(context, subject, edge, peer, section)
    if problem:
        context.error(
            f"{context.describe_edge(edge)} {problem}; not compiled into the policy of {context.describe(subject)}",
            edge_id=edge.id,
        )
        return []
    if section.startswith("egress") and any(isinstance(port.port, str) for port in edge.ports):
        numbered, problem = _numbered_ports(context, edge, peer)
        if problem:
            context.error(
                f"{context.describe_edge(edge)} {problem}; not compiled into the policy of {context.describe(subject)}",
                edge_id=edge.id,
            )
            return []
        if not numbered and not edge.icmps:
            return []  # every named port matches nothing here: the edge allows nothing
        edge = dataclasses.replace(edge, ports=numbered)
    field, value = _peer(peer)
    if field == "Nodes":
        context.warning(
            f"{context.describe_edge(edge)} is written as {'from' if section.startswith('ingress') else 'to'}Nodes: "
            "the Cilium agent refuses the whole policy unless it runs with --enable-node-selector-labels (off by "
            "default; SEMANTICS C4a)",
            edge_id=edge.id,
        )
    name = context.describe(peer)
    parts: list[_Part] = []

    def add(to_ports: dict[str, Any] | None = None, icmps: list[dict[str, Any]] | None = None, text: str = "") -> None:
        parts.append(_Part(field, value, name, edge.id, to_ports, icmps, text or "all ports"))

    dns_port = context.document.settings.dns.port
    if edge.ports:
        entries = cilium_ports(edge.ports)
        extras: dict[str, Any] = {}
        if edge.l7:
            extras["rules"] = edge.l7
        if edge.server_names:
            extras["serverNames"] = sorted(edge.server_names)
        if add_dns:
            dns = [entry for entry in entries if entry["port"] == str(dns_port) and "endPort" not in entry]
            others = [entry for entry in entries if entry not in dns]
            for chunk in _chunks(others):
                add({"ports": chunk, **extras}, text=_ports_text(chunk))
            # DNS visibility needs single port-53 entries; take them from what the edge already allows, so the
            # rule never widens the edge (an all-TCP edge gets TCP 53, never UDP or SCTP 53).
            dns = dns or [
                {"port": str(dns_port), "protocol": protocol} for protocol in _protocols_reaching(edge, dns_port)
            ]
            add({"ports": dns, "rules": DNS_ANY_RULE}, text=_ports_text(dns, " with DNS visibility"))
        else:
            suffix = " with L7 rules" if edge.l7 else (" for TLS server names" if edge.server_names else "")
            for chunk in _chunks(entries):
                add({"ports": chunk, **extras}, text=_ports_text(chunk, suffix))
    elif not edge.icmps:
        add()
        if add_dns:
            dns = [{"port": str(dns_port), "protocol": "ANY"}]
            add({"ports": dns, "rules": DNS_ANY_RULE}, text=_ports_text(dns, " with DNS visibility"))
    if edge.icmps:
        fields = sorted(({**icmp} for icmp in edge.icmps), key=lambda f: (f.get("family", ""), str(f["type"])))
        add(icmps=fields, text="ICMP " + ", ".join(map(_icmp_text, fields)))
    return parts


def _icmp_text(field: dict[str, Any]) -> str:
    """`IPv4 type 8`; type 0 says what Cilium makes of it (icmp_wildcard.py, FL026)."""
    text = f"{field.get('family', 'IPv4')} type {field['type']}"
    return f"{text} (every {icmp_protocol(field)} type to Cilium)" if is_icmp_wildcard(field) else text


def _numbered_ports(context: Context, edge: Edge, peer: Node) -> tuple[list[Port], str | None]:
    """An egress edge's ports with each named port replaced by its number on the peer's pods (C10a).

    Cilium resolves an egress `port: <name>` against every pod of the cluster and skips a name that pods map to
    different numbers (cilium/cilium `pkg/types/portmap.go`), while the drawing means the number on the receiving
    pod: so the compiler writes that number. A name no pod of the peer defines matches nothing and is left out
    (with a warning); a name the peer's pods map to several numbers cannot be written and is an error.
    """
    named = _peer_named_ports(context, peer)
    numbered: list[Port] = []
    for port in edge.ports:
        if not isinstance(port.port, str):
            numbered.append(port)
            continue
        protocols = PROTOCOL_ORDER[:3] if port.protocol == "ANY" else (port.protocol,)
        resolved = False
        for protocol in protocols:
            numbers = sorted(named.get((port.port, protocol), ()))
            if len(numbers) > 1:
                listed = " and ".join(map(str, numbers))
                return [], (
                    f"uses the named port {port.port!r}, which is {listed} on different pods of "
                    f"{context.describe(peer)}: Cilium resolves egress named ports cluster-wide and skips a name "
                    "with two numbers; give the port numbers as separate edges"
                )
            if numbers:
                numbered.append(Port(protocol, numbers[0]))
                resolved = True
        if not resolved:
            context.warning(
                f"{context.describe_edge(edge)}: the named port {port.port!r} is defined on no pod of "
                f"{context.describe(peer)}, so it matches nothing there; left out",
                edge_id=edge.id,
            )
    return numbered, None


def _peer_named_ports(context: Context, peer: Node) -> dict[tuple[str, str], set[int]]:
    """(port name, protocol) -> the numbers the workloads a peer covers give it; computed once per peer node."""
    cache: dict[str, dict[tuple[str, str], set[int]]] = context.cache.setdefault("named_ports", {})
    if peer.id not in cache:
        if peer.kind == "entity" and peer.entity in ("all", "cluster"):
            candidates = [node for node in context.document.nodes if node.kind == "workload"]
        elif peer.is_pod_set:
            by_namespace: dict[str | None, list[Node]] | None = context.cache.get("workloads_by_namespace")
            if by_namespace is None:
                by_namespace = {}
                for node in context.document.nodes:
                    if node.kind == "workload":
                        by_namespace.setdefault(node.namespace, []).append(node)
                context.cache["workloads_by_namespace"] = by_namespace
            if peer.namespace is not None:  # one namespace: its workloads that the pod selector matches
                pods = selector_of(peer.selector())
                same = by_namespace.get(peer.namespace, [])
                candidates = [node for node in same if pods is not None and pods.matches(node.labels)]
            else:
                candidates = [n for found in by_namespace.values() for n in found if _covers(context, peer, n)]
        else:
            candidates = []  # addresses, FQDNs and nodes have no container ports
        found: dict[tuple[str, str], set[int]] = {}
        for node in candidates:
            for container in node.container_ports:
                if container.name:
                    found.setdefault((container.name, container.protocol), set()).add(container.port)
        cache[peer.id] = found
    return cache[peer.id]


def _named_port_scope(context: Context, peer: Node) -> str:
    """What `_peer_named_ports(context, peer)` reads besides the peer itself and the namespaces, as a digest: the
    labels and container ports of the workloads of the peer's namespace (of all, for a peer not in one)."""
    digests: dict[str | None, str] | None = context.cache.get("workload_digests")
    if digests is None:
        groups: dict[str | None, list[Any]] = {None: []}  # None: every workload
        for node in context.document.nodes:
            if node.kind == "workload":
                item = (node.id, node.namespace, node.labels, node.container_ports)
                groups[None].append(item)
                groups.setdefault(node.namespace, []).append(item)
        digests = {key: hashlib.blake2b(_DIGEST_ENCODER.encode(items)).hexdigest() for key, items in groups.items()}
        context.cache["workload_digests"] = digests
    return digests.get(peer.namespace if peer.is_pod_set else None, "")  # "": a namespace without workloads


_DIGEST_ENCODER = msgspec.json.Encoder()


def _problem(context: Context, subject: Node, edge: Edge, peer: Node, section: str) -> str | None:
    """Why the edge cannot be written in this section of the subject's policy, or None."""
    ingress = section.startswith("ingress")
    deny = section.endswith("Deny")
    l7_kinds = [kind for kind in (edge.l7 or {}) if edge.l7 and edge.l7[kind] is not None]
    if peer.kind == "fqdn" and ingress:
        return "comes from a DNS name: toFQDNs works for egress only"
    if peer.kind == "fqdn" and deny:
        return "denies a DNS name: deny rules cannot use toFQDNs"
    if peer.kind == "fqdn" and subject.kind == "hosts":
        return "reaches a DNS name from a host policy: toFQDNs does not work in host policies"
    if deny and (edge.l7 or edge.server_names):
        return "is a deny rule with L7 rules or TLS server names, which deny rules cannot carry"
    if (edge.l7 or edge.server_names) and not edge.ports:
        return "has L7 rules or TLS server names but no port: give it the port they apply to"
    unknown = [kind for kind in l7_kinds if kind not in L7_KINDS]
    if unknown:
        return f"has L7 rules of unknown kind {', '.join(map(repr, unknown))} (Cilium knows {', '.join(L7_KINDS)})"
    if l7_kinds and subject.kind == "hosts":
        return "has L7 rules in a host policy, which Cilium does not support"
    if "dns" in l7_kinds and any(p.port is None or p.end_port is not None for p in edge.ports):
        return "has DNS rules on all ports or a port range; give DNS rules single ports (53)"
    if l7_kinds and "dns" not in l7_kinds and any(p.protocol != "TCP" or p.port is None for p in edge.ports):
        return f"has {'/'.join(l7_kinds)} rules, which apply to TCP ports only: make every port TCP with a number"
    if edge.server_names and l7_kinds:
        return "has both TLS server names and L7 rules, which needs TLS termination (terminatingTLS)"
    if peer.is_pod_set or peer.kind == "hosts":
        problem = context.selector_problem(peer, cilium=True)
        if problem:
            return f"cannot be written: {problem}"
    return None


def _peer(peer: Node) -> tuple[str, Any]:
    if peer.kind == "entity":
        return "Entities", peer.entity
    if peer.kind == "cidr":
        if peer.except_:
            return "CIDRSet", {"cidr": peer.cidr, "except": sorted(peer.except_)}
        return "CIDR", peer.cidr
    if peer.kind == "fqdn":
        return "FQDNs", {"matchName": peer.match_name} if peer.match_name else {"matchPattern": peer.match_pattern}
    if peer.kind == "hosts":
        return "Nodes", _sorted_selector(peer.node_selector or {})
    return "Endpoints", endpoint_selector(peer)


def _uses_namespace_labels(part: _Part) -> bool:
    if part.field != "Endpoints":
        return False
    labels = part.peer.get("matchLabels", {})
    keys = list(labels) + [expression["key"] for expression in part.peer.get("matchExpressions", [])]
    return any(key.startswith(NAMESPACE_LABEL_PREFIX) for key in keys)


# --- selectors and ports -------------------------------------------------------------------------------------


def namespace_terms(namespace_selector: dict[str, Any]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """A namespaceSelector as Cilium endpoint-label terms (labels, expressions)."""

    def key_of(key: str) -> str:
        return NAMESPACE_KEY if key == NAMESPACE_NAME_LABEL else NAMESPACE_LABEL_PREFIX + key

    labels = {key_of(k): v for k, v in namespace_selector.get("matchLabels", {}).items()}
    expressions = [{**e, "key": key_of(e["key"])} for e in namespace_selector.get("matchExpressions", [])]
    return labels, expressions


def endpoint_selector(node: Node) -> dict[str, Any]:
    """The Cilium endpoint selector of a pod-set node: its pod selector plus its namespace, always explicit."""
    selector = node.selector()
    labels = dict(selector.get("matchLabels", {}))
    expressions = list(selector.get("matchExpressions", []))
    if node.namespace_selector is None:
        labels[NAMESPACE_KEY] = node.namespace or ""
    else:
        namespace_labels, namespace_expressions = namespace_terms(node.namespace_selector)
        labels.update(namespace_labels)
        expressions.extend(namespace_expressions)
        reserved = any(key.startswith(("reserved:", "reserved.")) for key in labels)
        positive = namespace_labels or any(e["operator"] in ("In", "Exists") for e in namespace_expressions)
        if not positive and not reserved:
            # `{}` = every namespace: say so, or a CNP would read it as "this namespace" (C5). Beside only
            # NotIn/DoesNotExist terms it keeps the peer to pods: world, host and CIDR identities have no
            # namespace label and pass a lone `NotIn` (C10b, pkg/policy/selectorcache.go).
            expressions.append({"key": NAMESPACE_KEY, "operator": "Exists"})
    return _sorted_selector({"matchLabels": labels, "matchExpressions": expressions})


def _with_label(selector: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    return {**selector, "matchLabels": {**selector.get("matchLabels", {}), key: value}}


def _sorted_selector(selector: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if selector.get("matchLabels"):
        result["matchLabels"] = dict(sorted(selector["matchLabels"].items()))
    if selector.get("matchExpressions"):
        expressions = [
            {"key": e["key"], "operator": e["operator"], **({"values": sorted(e["values"])} if e.get("values") else {})}
            for e in selector["matchExpressions"]
        ]
        result["matchExpressions"] = sorted(expressions, key=canonical)
    return result


def cilium_ports(ports: list[Port]) -> list[dict[str, Any]]:
    """PortProtocol entries: port as a string ("0" = all ports), protocol explicit, sorted, no duplicates."""
    entries: dict[str, dict[str, Any]] = {}
    for port in ports:
        entry: dict[str, Any] = {"port": "0" if port.port is None else str(port.port)}
        if port.end_port is not None and isinstance(port.port, int):
            entry["endPort"] = port.end_port
        entry["protocol"] = port.protocol
        entries[canonical(entry)] = entry
    return sorted(entries.values(), key=_port_order)


def _port_order(entry: dict[str, Any]) -> tuple[int, int, int | str, int]:
    text = entry["port"]
    number = text.isdigit()
    return (
        PROTOCOL_ORDER.index(entry["protocol"]),
        0 if number else 1,
        int(text) if number else text,
        entry.get("endPort", 0),
    )


def _chunks(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [entries[i : i + MAX_PORTS] for i in range(0, len(entries), MAX_PORTS)]


def _ports_text(entries: list[dict[str, Any]], suffix: str = "") -> str:
    ports = [
        Port(
            e["protocol"],
            None if e["port"] == "0" else (int(e["port"]) if e["port"].isdigit() else e["port"]),
            e.get("endPort"),
        )
        for e in entries
    ]
    return describe_ports(ports) + suffix


# --- DNS for toFQDNs -----------------------------------------------------------------------------------------


def _dns_plan(context: Context, subjects: list[Subject]) -> set[str]:
    """Ids of the DNS edges that need `rules: {dns: ...}` added; reports FQDN edges that lack a DNS edge."""
    settings = context.document.settings.dns
    augment: set[str] = set()
    for subject in subjects:
        fqdn_edges = [e for e in subject.egress if e.action == "allow" and context.nodes[e.target].kind == "fqdn"]
        if not fqdn_edges or subject.node.kind == "hosts":
            continue
        candidates = [
            edge
            for other in subjects
            if _covers(context, other.node, subject.node)
            for edge in other.egress
            if edge.action == "allow" and _is_dns_edge(context, edge)
        ]
        if not candidates:
            labels = ", ".join(f"{k}={v}" for k, v in sorted(settings.pod_labels.items()))
            for edge in fqdn_edges:
                context.error(
                    f"{context.describe_edge(edge)} uses toFQDNs, which learns addresses only from "
                    "DNS answers Cilium's DNS proxy sees: add the 'allow DNS' edge from "
                    f"{context.describe(subject.node)} to the cluster DNS ({labels} in {settings.namespace}, port "
                    f"{settings.port})",
                    edge_id=edge.id,
                )
            continue
        if not any(edge.l7 and edge.l7.get("dns") for edge in candidates):
            augment.update(edge.id for edge in candidates)
    return augment


def _protocols_reaching(edge: Edge, port: int) -> list[str]:
    """The protocols (TCP, UDP, ANY) for which `edge` allows `port`; ANY alone when it allows every protocol."""
    protocols = {
        p.protocol
        for p in edge.ports
        if p.protocol in ("TCP", "UDP", "ANY")
        and (p.port is None or p.port == port or (isinstance(p.port, int) and p.port <= port <= (p.end_port or p.port)))
    }
    return ["ANY"] if "ANY" in protocols else sorted(protocols)


def _is_dns_edge(context: Context, edge: Edge) -> bool:
    settings = context.document.settings.dns
    target = context.nodes[edge.target]
    if not target.is_pod_set or (edge.l7 and not edge.l7.get("dns")) or edge.server_names:
        return False
    if target.namespace is not None:
        in_namespace = target.namespace == settings.namespace
    else:
        namespace_selector = selector_of(target.namespace_selector or {})
        in_namespace = namespace_selector is not None and namespace_selector.matches(
            context.namespace_labels(settings.namespace)
        )
    if target.kind == "workload":
        picks_dns = all(target.labels.get(k) == v for k, v in settings.pod_labels.items())
    else:
        pod_selector = selector_of(target.selector())
        picks_dns = pod_selector is not None and pod_selector.matches(settings.pod_labels)
    reaches_port = not edge.ports or bool(_protocols_reaching(edge, settings.port))
    return in_namespace and picks_dns and reaches_port


def _covers(context: Context, outer: Node, inner: Node) -> bool:
    """True when every pod of `inner` is also a pod of `outer` (decided conservatively from the selectors)."""
    if outer.id == inner.id:
        return True
    if not outer.is_pod_set or not inner.is_pod_set:
        return False
    if outer.namespace is not None:
        if inner.namespace != outer.namespace:
            return False
    else:
        namespace_selector = selector_of(outer.namespace_selector or {})
        if namespace_selector is None:
            return False
        if inner.namespace is not None:
            if not namespace_selector.matches(context.namespace_labels(inner.namespace)):
                return False
        elif not namespace_selector.is_empty:
            return False
    pods = selector_of(outer.selector())
    if pods is None:
        return False
    if inner.kind == "workload":
        return pods.matches(inner.labels)
    inner_pods = selector_of(inner.selector())
    if inner_pods is None:
        return False
    return set(pods.match_labels) <= set(inner_pods.match_labels) and set(pods.match_expressions) <= set(
        inner_pods.match_expressions
    )
