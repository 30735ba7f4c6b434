"""Hypothesis strategies for random, valid Fenceline documents (they pass `Document.from_json`).

`documents(dialect=None)` draws namespaces with labels, workloads in several namespaces (labels, named container
ports), selector nodes (namespaced, and chosen by namespaceSelector), CIDRs with `except`, Cilium entities,
FQDNs and hosts nodes, and edges with ports (numbers, names, ranges, every protocol), L7 rules, ICMP, TLS server
names, deny edges, disabled edges and every combination of enforcing sides.

With `dialect="native"` or `"cilium"` the document uses only what that dialect can express, so compiling it
must give no error: native has no hosts, FQDNs, entities other than `all`, L7, ICMP, server names or deny
edges, and never enforces on a namespaceSelector subject; cilium keeps FQDNs egress-only with an "allow DNS"
edge, L7 rules on TCP ports of namespaced pod subjects, and locks only namespaced subjects (a cluster-wide or
host subject with a lock but no rule cannot be written). With `dialect=None` anything valid goes, including
constructs a dialect must report as errors.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from editor.policy.document import Document
from editor.policy.document_schema import ENTITIES

NAMESPACES = ("default", "prod", "team-a", "kube-system")
LABEL_KEYS = ("app", "tier", "team", "app.kubernetes.io/name", "env")
LABEL_VALUES = ("web", "api", "db", "frontend", "a", "b", "v1.2", "")
PORT_NAMES = ("http", "metrics", "grpc-web", "dns")
FQDNS = ({"matchName": "api.example.com"}, {"matchName": "db.internal"}, {"matchPattern": "*.example.com"})
SERVER_NAMES = ("one.one.one.one", "api.example.com", "*.example.org")
DNS_NODE_ID = "dns"

label_keys = st.sampled_from(LABEL_KEYS)
label_values = st.one_of(
    st.sampled_from(LABEL_VALUES), st.from_regex(r"[a-z0-9]([a-z0-9._-]{0,10}[a-z0-9])?", fullmatch=True)
)
labels = st.dictionaries(label_keys, label_values, max_size=3)


@st.composite
def label_selectors(draw: st.DrawFn, *, allow_empty: bool = True) -> dict[str, Any]:
    """A valid LabelSelector in the document's form (`{}` selects everything)."""
    match_labels = draw(labels if allow_empty else st.dictionaries(label_keys, label_values, min_size=1, max_size=3))
    expressions = []
    for key in draw(st.lists(label_keys, max_size=2, unique=True)):
        operator = draw(st.sampled_from(("In", "NotIn", "Exists", "DoesNotExist")))
        expression: dict[str, Any] = {"key": key, "operator": operator}
        if operator in ("In", "NotIn"):
            expression["values"] = sorted(draw(st.sets(label_values, min_size=1, max_size=3)))
        expressions.append(expression)
    selector: dict[str, Any] = {}
    if match_labels:
        selector["matchLabels"] = match_labels
    if expressions:
        selector["matchExpressions"] = expressions
    return selector


@st.composite
def ports(draw: st.DrawFn, *, protocols: tuple[str, ...] = ("TCP", "UDP", "SCTP", "ANY")) -> dict[str, Any]:
    """One port condition: a number, a range, a named port or all ports of a protocol."""
    protocol = draw(st.sampled_from(protocols))
    shape = draw(st.sampled_from(("number", "range", "name", "all")))
    if shape == "all":
        return {"protocol": protocol}
    if shape == "name":
        return {"protocol": protocol, "port": draw(st.sampled_from(PORT_NAMES))}
    number = draw(st.integers(1, 65535))
    if shape == "range":
        return {"protocol": protocol, "port": number, "endPort": draw(st.integers(number, 65535))}
    return {"protocol": protocol, "port": number}


@st.composite
def cidrs(draw: st.DrawFn) -> dict[str, Any]:
    """A canonical IPv4 or IPv6 CIDR with zero to two `except` blocks strictly inside it."""
    version = draw(st.sampled_from((4, 6)))
    bits = 32 if version == 4 else 128
    prefix = draw(st.integers(0, bits - 2))
    address = draw(st.integers(0, 2**bits - 1))
    network_class = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    network = network_class((address, prefix), strict=False)
    excepts = set()
    for _ in range(draw(st.integers(0, 2))):
        inner_prefix = draw(st.integers(prefix + 1, bits))
        inner_address = int(network.network_address) + draw(st.integers(0, network.num_addresses - 1))
        excepts.add(str(network_class((inner_address, inner_prefix), strict=False)))
    return {"cidr": str(network), "except": sorted(excepts)}


@st.composite
def documents(
    draw: st.DrawFn, dialect: str | None = None, *, max_workloads: int = 6, max_selectors: int = 4, max_edges: int = 14
) -> Document:
    """A random valid document; with a dialect, one that dialect compiles without errors."""
    native = dialect == "native"
    namespaces = draw(st.lists(st.sampled_from(NAMESPACES), min_size=1, max_size=len(NAMESPACES), unique=True))
    data: dict[str, Any] = {
        "schema": "fenceline/v1",
        "name": "random",
        "settings": {"dialect": dialect or draw(st.sampled_from(("native", "cilium")))},
        "namespaces": [
            {"name": name, "labels": {"team": draw(st.sampled_from(("a", "b")))} if draw(st.booleans()) else {}}
            for name in namespaces
        ],
        "nodes": [],
        "edges": [],
    }
    nodes: list[dict[str, Any]] = data["nodes"]
    # node id -> may it carry a policy (be a subject) in this dialect, may it be locked
    subject_ok: dict[str, bool] = {}
    lockable: dict[str, bool] = {}

    def add(node: dict[str, Any], *, subject: bool, lock: bool) -> None:
        if lock and draw(st.booleans()):
            node["isolate"] = {"ingress": draw(st.booleans()), "egress": draw(st.booleans())}
        if subject and draw(st.booleans()):
            node["policyName"] = draw(st.sampled_from(("allow-web", "Allow Web!", "db")))
        nodes.append(node)
        subject_ok[node["id"]] = subject
        lockable[node["id"]] = lock

    for i in range(draw(st.integers(0, max_workloads))):
        node = {
            "id": f"w{i}",
            "kind": "workload",
            "name": draw(st.sampled_from(("web", "api", "db", "cache"))) + str(i),
            "namespace": draw(st.sampled_from(namespaces)),
            "owner": draw(st.sampled_from(("Deployment", "StatefulSet", "DaemonSet", "Pod"))),
            "labels": draw(labels),
            "containerPorts": [
                {"port": draw(st.integers(1, 65535)), "name": name, "protocol": draw(st.sampled_from(("TCP", "UDP")))}
                for name in draw(st.lists(st.sampled_from(PORT_NAMES), max_size=2, unique=True))
            ],
        }
        if draw(st.booleans()):
            node["podSelector"] = draw(label_selectors())
        add(node, subject=True, lock=True)
    for i in range(draw(st.integers(0, max_selectors))):
        node = {"id": f"s{i}", "kind": "selector", "podSelector": draw(label_selectors())}
        spans_namespaces = draw(st.booleans())
        if spans_namespaces:
            node["namespaceSelector"] = draw(label_selectors())
        else:
            node["namespace"] = draw(st.sampled_from(namespaces))
        add(node, subject=not (native and spans_namespaces), lock=not spans_namespaces or dialect is None)
    for i, block in enumerate(draw(st.lists(cidrs(), max_size=3))):
        add(
            {"id": f"c{i}", "kind": "cidr", "cidr": block["cidr"], "except": block["except"]}, subject=False, lock=False
        )
    entities = ("all",) if native else ENTITIES
    for entity in draw(st.lists(st.sampled_from(entities), max_size=2, unique=True)):
        add({"id": f"entity-{entity}", "kind": "entity", "entity": entity}, subject=False, lock=False)
    if not native:
        for i, fqdn in enumerate(draw(st.lists(st.sampled_from(FQDNS), max_size=2, unique_by=str))):
            add({"id": f"f{i}", "kind": "fqdn", **fqdn}, subject=False, lock=False)
        for i in range(draw(st.integers(0, 1))):
            node = {"id": f"h{i}", "kind": "hosts", "nodeSelector": draw(label_selectors())}
            add(node, subject=True, lock=dialect is None)
    _draw_edges(draw, data, subject_ok, dialect, max_edges)
    return Document.from_json(data)


def _draw_edges(
    draw: st.DrawFn, data: dict[str, Any], subject_ok: dict[str, bool], dialect: str | None, max_edges: int
) -> None:
    nodes = {node["id"]: node for node in data["nodes"]}
    if not nodes:
        return
    native, cilium = dialect == "native", dialect == "cilium"
    fqdn_sources: set[str] = set()
    for i in range(draw(st.integers(0, max_edges))):
        source = nodes[draw(st.sampled_from(sorted(nodes)))]
        target = nodes[draw(st.sampled_from(sorted(nodes)))]
        if dialect is not None and target["kind"] == "fqdn" and not _namespaced_pods(source):
            continue
        if dialect is not None and source["kind"] == "fqdn":
            continue
        sides = [s for s, n in (("source", source), ("target", target)) if dialect is None or subject_ok[n["id"]]]
        if target["kind"] == "fqdn":
            sides = [s for s in sides if s == "source"]
        if not sides and dialect is not None:
            continue
        enforce = draw(st.lists(st.sampled_from(sides), min_size=1, unique=True)) if sides else ["source"]
        edge: dict[str, Any] = {"id": f"e{i}", "source": source["id"], "target": target["id"], "enforce": enforce}
        on_hosts = any(nodes[edge[side]]["kind"] == "hosts" for side in ("source", "target") if side in enforce)
        tcp_only = cilium and not on_hosts and draw(st.booleans())
        protocols = ("TCP",) if tcp_only else ("TCP", "UDP", "SCTP", "ANY")
        edge_ports = draw(st.lists(ports(protocols=protocols), max_size=3))
        if tcp_only and edge_ports:
            edge_ports = [
                {"protocol": "TCP", "port": p.get("port") if isinstance(p.get("port"), int) else 8080}
                for p in edge_ports
            ]
            edge["l7"] = {"http": [{"method": draw(st.sampled_from(("GET", "POST"))), "path": "/api/.*"}]}
        edge["ports"] = edge_ports
        if not native and draw(st.integers(0, 4)) == 0:
            edge["icmps"] = [
                {
                    "family": draw(st.sampled_from(("IPv4", "IPv6"))),
                    "type": draw(st.sampled_from((8, 0, "EchoRequest"))),
                }
            ]
        may_deny = cilium and "l7" not in edge and target["kind"] != "fqdn" and draw(st.integers(0, 3)) == 0
        if may_deny or (dialect is None and draw(st.integers(0, 3)) == 0):
            edge["action"] = "deny"
        if dialect is None and draw(st.integers(0, 3)) == 0:
            edge["l7"] = {"http": [{"method": "GET"}]}
        if dialect is None and draw(st.integers(0, 3)) == 0:
            edge["serverNames"] = [draw(st.sampled_from(SERVER_NAMES))]
        if draw(st.integers(0, 5)) == 0:
            edge["disabled"] = True
        if target["kind"] == "fqdn" and edge.get("action") != "deny" and not edge.get("disabled"):
            fqdn_sources.add(source["id"])
        data["edges"].append(edge)
    if cilium and fqdn_sources:
        _add_dns(data, fqdn_sources)


def _namespaced_pods(node: dict[str, Any]) -> bool:
    return node["kind"] in ("workload", "selector") and "namespace" in node


def _add_dns(data: dict[str, Any], sources: set[str]) -> None:
    """The cluster DNS and an "allow DNS" edge from every subject that reaches an FQDN (toFQDNs needs it)."""
    if not any(ns["name"] == "kube-system" for ns in data["namespaces"]):
        data["namespaces"].append({"name": "kube-system"})
    data["nodes"].append(
        {
            "id": DNS_NODE_ID,
            "kind": "selector",
            "namespace": "kube-system",
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    )
    for i, source in enumerate(sorted(sources)):
        data["edges"].append(
            {
                "id": f"dns{i}",
                "source": source,
                "target": DNS_NODE_ID,
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                "enforce": ["source"],
            }
        )


def assume_cilium_spells_named_ports(errors: list[str]) -> None:
    """SEMANTICS C10a: an egress named port that the peer's pods give two numbers has no Cilium spelling, and the
    compiler refuses it (test_cilium_semantics.py); generated drawings like that are left out of the properties
    that need every drawing to compile."""
    if any("Cilium resolves egress named ports cluster-wide" in error for error in errors):
        assume(False)
