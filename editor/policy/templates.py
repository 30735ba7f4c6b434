"""One-click templates: the traffic every real cluster needs, added to a drawing as ordinary nodes and edges.

Each template is document manipulation only: it adds nodes, edges or locks that a person could have drawn by
hand, so the result is undoable in the editor, visible on the canvas and compiled like everything else. What
the added edges mean in YAML is decided by the compiler, never here.

The scope of a template is a namespace of the drawing (its workloads and selectors), or every workload of the
drawing when no namespace is given. The edges it adds are enforced only on the application's side: a rule on
the cluster DNS, the ingress controller or Prometheus would isolate those shared pods and cut everyone else off.
"""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
from collections.abc import Callable

from .dialects import dialect as dialect_named
from .document import Document, Edge, Node, Port
from .pod_sets import find_pod_set

ALL_PODS_NAME = "all pods"
API_SERVER_PORTS = (443, 6443)  # the Service port and the port the endpoints listen on after DNAT
ISTIOD_XDS_PORT = 15012  # sidecars fetch configuration and certificates from istiod here


class TemplateError(ValueError):
    """A template that cannot be applied as asked; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    document: Document
    message: str


def _unique_id(document: Document, wanted: str) -> str:
    taken = {node.id for node in document.nodes}
    if wanted not in taken:
        return wanted
    number = 2
    while f"{wanted}-{number}" in taken:
        number += 1
    return f"{wanted}-{number}"


def _find_or_add(document: Document, wanted_id: str, node: Node, same: Callable[[Node], bool]) -> Node:
    """An existing node that `same` accepts, else `node` added under a free id close to `wanted_id`."""
    for existing in document.nodes:
        if same(existing):
            return existing
    node.id = _unique_id(document, wanted_id)
    document.nodes.append(node)
    return node


def _pod_set_in(document: Document, namespace: str, pod_labels: dict[str, str], name: str, node_id: str) -> Node:
    """The node for pods with `pod_labels` in `namespace` (all its pods when the labels are empty): an existing
    one that stands for them (pod_sets.find_pod_set), else a new selector node."""
    existing = find_pod_set(document, namespace, pod_labels)
    if existing is not None:
        return existing
    document.ensure_namespace(namespace)
    selector = {"matchLabels": dict(pod_labels)} if pod_labels else {}
    node = Node(
        id=_unique_id(document, node_id), kind="selector", name=name, namespace=namespace, pod_selector=selector
    )
    document.nodes.append(node)
    return node


def _sources(document: Document, namespace: str | None, exclude: Node) -> list[Node]:
    """The pod sets a template connects: those of `namespace` (its "all pods" set if it has none), or all."""
    if namespace is not None:
        if document.namespace(namespace) is None:
            raise TemplateError(f"the drawing has no namespace {namespace!r}")
        found = [n for n in document.nodes if n.is_pod_set and n.namespace == namespace and n.id != exclude.id]
        return found or [_all_pods(document, namespace)]
    found = [node for node in document.nodes if node.kind == "workload" and node.id != exclude.id]
    if not found:
        raise TemplateError("the drawing has no workloads yet: add one, or choose a namespace")
    return found


def _all_pods(document: Document, namespace: str) -> Node:
    return _pod_set_in(document, namespace, {}, ALL_PODS_NAME, f"all-pods.{namespace}")


def _connect(
    document: Document,
    sources: list[Node],
    targets: list[Node],
    ports: Callable[[Node, Node], list[Port]],
    enforce: str,
) -> int:
    """Add an edge for each source/target pair that has none yet; returns how many were added."""
    existing = {(edge.source, edge.target) for edge in document.edges}
    added = 0
    for source in sources:
        for target in targets:
            if source.id == target.id or (source.id, target.id) in existing:
                continue
            edge = Edge(document.new_edge_id(), source.id, target.id, ports(source, target), enforce=[enforce])
            document.edges.append(edge)
            existing.add((source.id, target.id))
            added += 1
    return added


def _edges_message(added: int, what: str) -> str:
    if added == 0:
        return f"Nothing to add: every pod set in scope already has an edge {what}."
    return f"Added {added} edge{'s' if added != 1 else ''} {what}."


def allow_dns(document: Document, namespace: str | None = None) -> Outcome:
    """Every pod set in scope may query the cluster DNS (where settings.dns says it runs) on UDP and TCP."""
    document = copy.deepcopy(document)
    dns = document.settings.dns
    target = _pod_set_in(document, dns.namespace, dns.pod_labels, "cluster DNS", "cluster-dns")
    sources = _sources(document, namespace, target)
    ports = [Port("UDP", dns.port), Port("TCP", dns.port)]
    added = _connect(document, sources, [target], lambda _s, _t: [dataclasses.replace(p) for p in ports], "source")
    return Outcome(document, _edges_message(added, f"to the cluster DNS in {dns.namespace}"))


def default_deny(document: Document, namespace: str) -> Outcome:
    """Lock ingress and egress of every pod in `namespace`: only drawn edges remain allowed."""
    document = copy.deepcopy(document)
    if document.namespace(namespace) is None:
        raise TemplateError(f"the drawing has no namespace {namespace!r}")
    node = _all_pods(document, namespace)
    node.isolate.ingress = node.isolate.egress = True
    node.policy_name = node.policy_name or "default-deny"
    return Outcome(document, f"All pods in {namespace} now deny ingress and egress unless an edge allows it.")


def _workload_ports(target: Node) -> list[Port]:
    return [Port(p.protocol, p.port) for p in target.container_ports]


def _targets(document: Document, namespace: str | None, exclude: Node) -> list[Node]:
    targets = _sources(document, namespace, exclude)
    return [node for node in targets if node.namespace != exclude.namespace] or targets


def allow_from_ingress_controller(document: Document, namespace: str | None, controller_namespace: str) -> Outcome:
    """The ingress controller's namespace may reach the pod sets in scope on their container ports."""
    document = copy.deepcopy(document)
    node_id = f"all-pods.{controller_namespace}"
    controller = _pod_set_in(document, controller_namespace, {}, "ingress controller", node_id)
    targets = _targets(document, namespace, controller)
    added = _connect(document, [controller], targets, lambda _s, t: _workload_ports(t), "target")
    return Outcome(document, _edges_message(added, f"from the ingress controller in {controller_namespace}"))


def _metrics_ports(target: Node) -> list[Port]:
    named = [p for p in target.container_ports if p.name and "metrics" in p.name]
    return [Port(p.protocol, p.name) for p in named] or _workload_ports(target)


def _with_pod_set(document: Document, namespace: str, labels: dict[str, str], name: str) -> tuple[Document, Node]:
    """A copy of `document` with the pod set `name` of `namespace` (found by its labels, else added)."""
    document = copy.deepcopy(document)
    return document, _pod_set_in(document, namespace, labels, name, name)


def allow_prometheus(
    document: Document, namespace: str | None, monitoring_namespace: str, labels: dict[str, str]
) -> Outcome:
    """Prometheus may scrape the pod sets in scope: their *metrics* named ports, else their container ports."""
    document, prometheus = _with_pod_set(document, monitoring_namespace, labels, "prometheus")
    targets = _targets(document, namespace, prometheus)
    added = _connect(document, [prometheus], targets, lambda _s, t: _metrics_ports(t), "target")
    return Outcome(document, _edges_message(added, "for Prometheus scraping"))


def allow_kube_apiserver(document: Document, namespace: str | None, dialect: str, cidr: str = "") -> Outcome:
    """The pod sets in scope may call the Kubernetes API server.

    Cilium knows where the API server is (the kube-apiserver entity). A NetworkPolicy can only name it by
    address, and must name the endpoints' addresses because the Service address is translated before the
    policy sees the packet; the CIDR is remembered in the document settings for next time.
    """
    document = copy.deepcopy(document)
    if dialect_named(dialect).has("entities"):
        target = _find_or_add(
            document,
            "kube-apiserver",
            Node(id="", kind="entity", entity="kube-apiserver"),
            lambda n: n.kind == "entity" and n.entity == "kube-apiserver",
        )
    else:
        cidr = cidr.strip()
        if not cidr:
            raise TemplateError("give the API server's endpoint addresses as a CIDR (kubectl get endpoints kubernetes)")
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise TemplateError(f"{cidr!r} is not a CIDR such as 192.0.2.10/32") from None
        cidr = str(network)
        document.settings.extra["apiServerCIDR"] = cidr
        target = _find_or_add(
            document,
            "kube-apiserver",
            Node(id="", kind="cidr", name="kube-apiserver", cidr=cidr),
            lambda n: n.kind == "cidr" and n.cidr == cidr,
        )
    sources = _sources(document, namespace, target)
    added = _connect(document, sources, [target], lambda _s, _t: [Port("TCP", p) for p in API_SERVER_PORTS], "source")
    return Outcome(document, _edges_message(added, "to the Kubernetes API server"))


def allow_mesh_control_plane(
    document: Document, namespace: str | None, mesh_namespace: str, labels: dict[str, str]
) -> Outcome:
    """Sidecars in scope may reach the service mesh control plane (istiod: configuration and certificates)."""
    document, control_plane = _with_pod_set(document, mesh_namespace, labels, "istiod")
    sources = _sources(document, namespace, control_plane)
    added = _connect(document, sources, [control_plane], lambda _s, _t: [Port("TCP", ISTIOD_XDS_PORT)], "source")
    return Outcome(document, _edges_message(added, f"to the mesh control plane in {mesh_namespace}"))
