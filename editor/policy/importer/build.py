"""The entry points, and the imported policies built into a document (edges merged, workloads adopted)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .. import manifests, validate
from ..compile import canonical, dns_slug, selector_of
from ..document import ContainerPort, Document, Edge, Node, safe_id
from ..document import port_name_error as document_port_name_error
from ..kinds import CILIUM_KINDS
from ..model import Policy, read_policy
from ..platform.inputs import PlatformInputs, split_objects
from ..platform.to_drawing import draw_policies
from ..selectors import validate_namespace_name
from ..yamlio import KubeObject, load_objects
from .cilium import _read_cilium_policy
from .common import ImportResult, Report, _Path, _Policy
from .native import _read_network_policy


def import_paths(paths: Sequence[str | Path], into: Document | None = None) -> ImportResult:
    """Import files and directories (recursively .yaml/.yml/.json); `-` reads stdin."""
    return _import_layers(split_objects(*manifests.load_paths(paths)), into)


def import_text(data: bytes | str, source: str = "<input>", into: Document | None = None) -> ImportResult:
    objects, problems = load_objects(data, source)
    return import_objects(objects, into, [f"{problem.one_line()}; skipped" for problem in problems])


def import_objects(
    objects: Sequence[KubeObject], into: Document | None = None, warnings: Sequence[str] = ()
) -> ImportResult:
    """Import already loaded objects into `into` (changed in place) or a new document."""
    return _import_layers(split_objects(objects, list(warnings)), into)


def _import_layers(inputs: PlatformInputs, into: Document | None) -> ImportResult:
    """The application's policies and manifests, then the platform policies (ClusterNetworkPolicy, ANP, BANP:
    validated against their CRDs and CEL rules, an invalid one an InputError) as the admin and baseline layers."""
    result = _import_cluster(inputs.cluster, into)
    if inputs.policies:
        drawn = draw_policies(result.document, inputs.policies)
        result.warnings.extend([*inputs.warnings, *drawn.warnings])
        if into is None and all(p.ref.kind != "ClusterNetworkPolicy" for p in inputs.policies):
            result.document.settings.platform_api = "v1alpha1"  # written back as it came
    return result


def workload_node_id(namespace: str, kind: str, name: str) -> str:
    return safe_id(f"w:{namespace}/{kind}/{name}")


def _import_cluster(cluster: manifests.Cluster, into: Document | None) -> ImportResult:
    warnings = list(cluster.warnings)
    # read for the analysis (the ingress controller peer, the admin layers), but a drawing has no place for them
    warnings += [f"{item.where()}: kind {item.kind} is not drawn; skipped" for item in cluster.exposing]
    warnings += [f"{policy.where()}: kind {policy.kind} is not drawn; skipped" for policy in cluster.admin_policies]
    written = [_written(policy) for policy in cluster.policies]  # read once, for the validator and the reader
    findings = validate.validate_objects([p.source for p in cluster.policies], written)
    warnings.extend(_finding_text(f) for f in findings)
    last = {(p.kind, p.namespace, p.name): p for p in cluster.policies}
    policies: list[_Policy] = []
    for policy, model in zip(cluster.policies, written, strict=True):
        if last[(policy.kind, policy.namespace, policy.name)] is not policy:
            continue
        report = _reporter(policy, model, warnings)
        if policy.kind in CILIUM_KINDS:
            policies.extend(_read_cilium_policy(policy, report))
        else:
            read = _read_network_policy(policy, report)
            policies.extend([read] if read else [])
    document = into if into is not None else Document()
    builder = _Builder(document, warnings)
    for namespace in cluster.namespaces.values():
        builder.namespace(namespace.name, namespace.labels)
    for workload in cluster.workloads:
        builder.workload(workload)
    for read in policies:
        builder.policy(read)
    if cluster.workloads:
        builder.merge_selectors_into_workloads()
    if into is None:
        _adopt_dns_server(document, policies)
    return ImportResult(document, warnings)


def _finding_text(finding: validate.Finding) -> str:
    if not finding.is_error:
        return str(finding)
    where = finding.source if finding.line is None else f"{finding.source}:{finding.line}"
    parts = [where, f"invalid {finding.subject}" if finding.subject else "invalid", finding.path, finding.message]
    return ": ".join(part for part in parts if part)


def _written(policy: manifests.PolicyObject) -> Policy:
    written = read_policy(policy.source)
    if written is None:
        raise ValueError(f"{policy} is not of a kind in kinds.py")
    return written


def _reporter(policy: manifests.PolicyObject, written: Policy, warnings: list[str]) -> Report:
    """Where the warnings about a policy go, with the policy as written."""

    def write(path: _Path, message: str) -> None:
        where = f"{policy.source.source}:{policy.source.line_of(path)}"
        field = validate.format_path(path)
        warnings.append(f"{where}: {policy}: {field}: {message}" if field else f"{where}: {policy}: {message}")

    return Report(written, write)


def _edge_key(edge: Edge) -> str:
    return canonical(
        [
            edge.source,
            edge.target,
            [p.to_json() for p in edge.ports],
            edge.icmps,
            edge.l7,
            sorted(edge.server_names),
            edge.action,
            edge.disabled,
        ]
    )


class _Builder:
    def __init__(self, document: Document, warnings: list[str]) -> None:
        self.document = document
        self.warnings = warnings
        self.nodes = {node.id: node for node in document.nodes}
        self.edges = {_edge_key(edge): edge for edge in document.edges}
        self.edge_ids = {edge.id for edge in document.edges}
        self.next_edge = len(document.edges) + 1

    def namespace(self, name: str, labels: dict[str, str]) -> bool:
        problem = validate_namespace_name(name)
        if problem:
            self.warnings.append(f"{problem}; what is in it is skipped")
            return False
        self.document.ensure_namespace(name, labels)
        return True

    def add_node(self, node: Node) -> Node:
        """`node`, or the node that already has its id."""
        existing = self.nodes.get(node.id)
        if existing is not None:
            return existing
        if node.namespace is not None:
            self.namespace(node.namespace, {})
        self.nodes[node.id] = node
        self.document.nodes.append(node)
        return node

    def workload(self, workload: manifests.Workload) -> None:
        if not self.namespace(workload.namespace, {}):
            return
        ports = []
        for port in workload.ports:
            name = port.name
            if name and document_port_name_error(name):
                self.warnings.append(f"{workload.where}: {workload}: {document_port_name_error(name)}; name dropped")
                name = None
            ports.append(ContainerPort(port.port, name, port.protocol))
        self.add_node(
            Node(
                id=workload_node_id(workload.namespace, workload.kind, workload.name),
                kind="workload",
                name=workload.name,
                namespace=workload.namespace,
                owner=workload.kind,
                labels=dict(workload.labels),
                container_ports=ports,
            )
        )

    def policy(self, policy: _Policy) -> None:
        subject = self.add_node(policy.subject)
        subject.isolate.ingress |= policy.isolate_ingress
        subject.isolate.egress |= policy.isolate_egress
        if subject.policy_name is None:
            # An unprintable name (refused by the API server anyway, and reported by validate) is not kept.
            subject.policy_name = policy.name if policy.name.isprintable() else dns_slug(policy.name)
        for rule in policy.rules:
            peer = self.add_node(rule.peer)
            ingress = rule.direction == "ingress"
            edge = Edge(
                id="",
                source=peer.id if ingress else subject.id,
                target=subject.id if ingress else peer.id,
                ports=rule.ports,
                icmps=rule.icmps,
                l7=rule.l7,
                server_names=rule.server_names,
                enforce=["target" if ingress else "source"],
                action=rule.action,
                disabled=rule.disabled,
            )
            self.add_edge(edge)

    def add_edge(self, edge: Edge) -> None:
        key = _edge_key(edge)
        existing = self.edges.get(key)
        if existing is not None:
            existing.enforce = [side for side in ("source", "target") if side in existing.enforce + edge.enforce]
            return
        while f"e{self.next_edge}" in self.edge_ids:
            self.next_edge += 1
        edge.id = f"e{self.next_edge}"
        self.edge_ids.add(edge.id)
        self.edges[key] = edge
        self.document.edges.append(edge)

    def merge_selectors_into_workloads(self) -> None:
        """Merge each namespaced, non-empty selector that picks exactly one workload into that workload."""
        workloads: dict[str, list[Node]] = {}
        for node in self.document.nodes:
            if node.kind == "workload" and node.namespace:
                workloads.setdefault(node.namespace, []).append(node)
        renamed: dict[str, str] = {}
        for node in sorted(self.document.nodes, key=lambda n: n.id):
            if node.kind != "selector" or node.namespace is None or not node.pod_selector:
                continue
            selector = selector_of(node.pod_selector)
            picked = [w for w in workloads.get(node.namespace, []) if selector and selector.matches(w.labels)]
            if len(picked) != 1 or picked[0].id in renamed.values():
                continue
            workload = picked[0]
            if workload.pod_selector is not None and workload.pod_selector != node.pod_selector:
                continue
            workload.pod_selector = node.pod_selector
            workload.isolate.ingress |= node.isolate.ingress
            workload.isolate.egress |= node.isolate.egress
            workload.policy_name = workload.policy_name or node.policy_name
            renamed[node.id] = workload.id
        if not renamed:
            return
        self.document.nodes = [node for node in self.document.nodes if node.id not in renamed]
        self.nodes = {node.id: node for node in self.document.nodes}
        edges, self.document.edges, self.edges = self.document.edges, [], {}
        for edge in edges:
            edge.source = renamed.get(edge.source, edge.source)
            edge.target = renamed.get(edge.target, edge.target)
            key = _edge_key(edge)
            if key in self.edges:
                existing = self.edges[key]
                existing.enforce = [side for side in ("source", "target") if side in existing.enforce + edge.enforce]
                continue
            self.edges[key] = edge
            self.document.edges.append(edge)


def _adopt_dns_server(document: Document, policies: list[_Policy]) -> None:
    """Point settings.dns at the one DNS server the imported Cilium DNS rules name, if they name one."""
    servers = {(namespace, labels): port for p in policies for namespace, labels, port in p.dns_servers}
    if len(servers) != 1:
        return
    (namespace, labels), port = next(iter(servers.items()))
    document.settings.dns.namespace = namespace
    document.settings.dns.pod_labels = dict(labels)
    document.settings.dns.port = port
