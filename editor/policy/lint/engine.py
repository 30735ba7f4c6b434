"""Running the rules: over policy objects (YAML input) or over a graph document (compiled first).

A document is linted as what it compiles to, in its own dialect, so the editor, the API and the CLI see the
same findings; each finding is then mapped back to the subject node of its policy and the edges behind its
rule (from the compiler's rule explanations), and gets document fixes where the drawing can be changed.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence
from typing import Any

from ..compile import CompileResult, SubjectDrafts, compile_document, describe_edge
from ..dialects import dialect
from ..document import Document, Edge, Node, Port
from ..kinds import POLICY_KINDS
from ..manifests import Cluster, read_cluster
from ..platform.from_drawing import read_back
from ..platform.model import PlatformPolicy
from ..platform.parse import is_platform_object, read_platform_policy
from ..pod_sets import find_pod_set
from ..sized_cache import SizedCache
from ..yamlio import InputError, KubeObject, LoadedDocument
from . import cidrs, cilium, dns, exposure, peers, policytypes, ports, shadowing  # noqa: F401  (rule registration)
from .context import CHECKS, LintContext
from .model import Fix, Inventory, KnownWorkload, LintFinding, LintSettings
from .policyview import PolicyView, read_policies

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def sort_findings(findings: Iterable[LintFinding]) -> list[LintFinding]:
    return sorted(
        findings,
        key=lambda f: (f.source or "", f.line or 0, f.subject, _SEVERITY_ORDER[f.severity], f.rule, f.path),
    )


def run_checks(
    policies: list[PolicyView],
    settings: LintSettings,
    inventory: Inventory,
    platform: Sequence[PlatformPolicy] = (),
) -> list[LintFinding]:
    """Every rule over `policies`; `platform` (ClusterNetworkPolicy / ANP / BANP read as the tiers' model) is
    what the platform team's tiers give or take around them (an Admin accept of DNS answers FL004)."""
    context = LintContext(policies, settings, inventory, list(platform))
    return sort_findings(finding for check in CHECKS for finding in check(context))


def as_kube_object(obj: dict[str, Any], source: str = "<object>") -> KubeObject:
    """A bare mapping wrapped as a KubeObject (no line information)."""
    return KubeObject(obj, LoadedDocument(obj, source, 0, 1))


def inventory_from_cluster(cluster: Cluster) -> Inventory:
    workloads = [
        KnownWorkload(
            workload.namespace,
            workload.name,
            dict(workload.labels),
            tuple((port.name, port.port, port.protocol) for port in workload.ports),
            tuple(ip for pod in workload.pods for ip in pod.ips),
            workload.pods[0].service_account if workload.pods else "default",
        )
        for workload in cluster.workloads
    ]
    namespaces = {name: dict(namespace.labels) for name, namespace in cluster.namespaces.items()}
    return Inventory(namespaces, workloads)


def inventory_from_objects(objects: Sequence[KubeObject | dict[str, Any]]) -> Inventory:
    """Namespaces and workloads among the input objects (policies are read separately). Raises InputError."""
    others = [
        item if isinstance(item, KubeObject) else as_kube_object(item)
        for item in objects
        if (item.obj if isinstance(item, KubeObject) else item).get("kind") not in POLICY_KINDS
    ]
    return inventory_from_cluster(read_cluster(others)) if others else Inventory()


def inventory_from_document(document: Document) -> Inventory:
    workloads = [
        KnownWorkload(
            node.namespace or "default",
            node.name,
            dict(node.labels),
            tuple((port.name, port.port, port.protocol) for port in node.container_ports),
            node_id=node.id,
        )
        for node in document.nodes
        if node.kind == "workload"
    ]
    return Inventory({ns.name: dict(ns.labels) for ns in document.namespaces}, workloads)


def lint_objects(
    objects: Iterable[KubeObject | dict[str, Any]],
    settings: LintSettings | None = None,
    inventory: Inventory | None = None,
) -> list[LintFinding]:
    """Findings for every policy among `objects` (KubeObjects carry file:line; bare mappings do not).

    Workload manifests among the objects (Deployment, Pod, Namespace...) become the inventory unless one is
    given; the rules that need workloads run only when there are some. Raises InputError for a workload
    manifest the cluster model cannot read (e.g. a Deployment without a name).
    """
    items = [item for item in objects if isinstance(item, KubeObject | dict)]
    if inventory is None:
        inventory = inventory_from_objects(items)
    policies = [view for item in items for view in read_policies(item)]
    return run_checks(policies, settings or LintSettings(), inventory, platform_policies(items))


def platform_policies(items: Sequence[KubeObject | dict[str, Any]]) -> list[PlatformPolicy]:
    """The ClusterNetworkPolicy / ANP / BANP among `items` (one their CRD refuses is left to `validate`)."""
    found: list[PlatformPolicy] = []
    for item in items:
        wrapped = item if isinstance(item, KubeObject) else as_kube_object(item)
        if is_platform_object(wrapped):
            try:
                found.append(read_platform_policy(wrapped, []))
            except InputError:
                continue
    return found


# --- documents ---------------------------------------------------------------------------------------------


PolicyLabel = tuple[str, str | None, str]  # kind, namespace, name
RuleKey = tuple[str, str | None, str, str, int]  # kind, namespace, name, section, index
PolicyRules = dict[PolicyLabel, list[tuple[str, int, tuple[str, ...]]]]  # -> (section, index, edge ids) in order


@dataclasses.dataclass
class CompiledPolicies:
    """A document's compiled policies, read for lint and rating, with the node and edge ids behind each."""

    result: CompileResult
    policies: list[PolicyView]
    rule_edges: dict[RuleKey, tuple[str, ...]]
    platform: list[PlatformPolicy] = dataclasses.field(default_factory=list)  # the native dialect's tiers

    def edges_of(self, policy: PolicyView, path: str) -> list[str]:
        """Edge ids behind the rule that `path` (e.g. spec.egress[1].to[0]) points into."""
        for section, index, edge_ids in self.rules_by_policy.get((policy.kind, policy.namespace, policy.name), ()):
            prefix = f"spec.{section}[{index}]"
            if path == prefix or path.startswith((prefix + ".", prefix + "[")):
                return list(edge_ids)
        return []

    @functools.cached_property
    def rules_by_policy(self) -> PolicyRules:
        """The rules' edge ids grouped by their policy, in the compiler's order: a whole cluster's policies each
        look up their own rules, which a scan over every rule made quadratic."""
        grouped: PolicyRules = {}
        for (kind, namespace, name, section, index), edge_ids in self.rule_edges.items():
            grouped.setdefault((kind, namespace, name), []).append((section, index, edge_ids))
        return grouped


def compile_for_lint(document: Document, drafts_cache: SizedCache[SubjectDrafts] | None = None) -> CompiledPolicies:
    """The document compiled in its dialect and read for lint; with `drafts_cache` (compile.compile_document), the
    policies of subjects an earlier compile made from the same inputs are not made again."""
    result = compile_document(document, document.settings.dialect, drafts_cache)
    rule_edges = {(e.kind, e.namespace, e.name, e.direction, e.index): tuple(e.edge_ids) for e in result.explanations}
    # the Cilium dialect's platform CCNPs are Cilium policies among `policies`; the native tiers are read back
    platform = read_back(result) if result.dialect != "cilium" and result.platform_objects else []
    compiled = CompiledPolicies(result, [], rule_edges, platform)
    subjects = _SubjectNodes(document, compiled.rules_by_policy)
    for obj in result.objects:
        for view in read_policies(obj):
            view.node_ids = subjects.of(view)
            compiled.policies.append(view)
    return compiled


# Rules about how an application author writes peers: a platform layer's policy (Cilium dialect: CCNPs beside the
# application's) means them — the Baseline deny-all is the empty rule `{}` (FL015), "no metadata service" names one
# address (FL010), platform rules reach every namespace (FL006).
APPLICATION_ONLY = frozenset({"FL006", "FL010", "FL015"})


def lint_compiled(compiled: CompiledPolicies, settings: LintSettings, inventory: Inventory) -> list[LintFinding]:
    """The findings of a compiled drawing: its platform tiers taken into account (native: as the tiers' model;
    Cilium: the platform CCNPs are policies like the others, spared the application-only rules)."""
    result = compiled.result
    platform = {
        (obj.get("kind"), obj.get("metadata", {}).get("name"))
        for obj in result.objects[len(result.objects) - result.platform_objects :]
    }
    findings = run_checks(compiled.policies, settings, inventory, compiled.platform)
    return [f for f in findings if not (f.rule in APPLICATION_ONLY and (f.kind, f.name) in platform)]


class _SubjectNodes:
    """The node a compiled policy was made for: the target of its ingress edges, the source of its egress ones;
    for a policy without rules (a bare isolation lock), the subject node with the same namespace and selector.
    The edges, the rules and the subject nodes are indexed once for all the policies of a drawing."""

    def __init__(self, document: Document, rules: PolicyRules) -> None:
        self.document = document
        self.edges = {edge.id: edge for edge in document.edges}
        self.rules = rules
        self._by_namespace: dict[str | None, list[Node]] | None = None

    def of(self, view: PolicyView) -> list[str]:
        found: set[str] = set()
        for section, _, edge_ids in self.rules.get((view.kind, view.namespace, view.name), ()):
            for edge_id in edge_ids:
                edge = self.edges.get(edge_id)
                if edge is not None:
                    found.add(edge.target if section.startswith("ingress") else edge.source)
        if found:
            return sorted(found)
        subject = view.written.subject  # podSelector or endpointSelector as written
        selector = subject.raw if subject is not None else None
        return [node.id for node in self._subjects_in(view.namespace) if node.selector() == selector]

    def _subjects_in(self, namespace: str | None) -> list[Node]:
        if self._by_namespace is None:
            self._by_namespace = {}
            for node in self.document.nodes:
                if node.is_subject:
                    self._by_namespace.setdefault(node.namespace, []).append(node)
        return self._by_namespace.get(namespace, [])


@dataclasses.dataclass
class LintedDocument:
    """A drawing's lint: its compiled policies and the findings about them, with what rating reads beside them."""

    compiled: CompiledPolicies
    settings: LintSettings
    inventory: Inventory
    findings: list[LintFinding]


# Rules about what a drawn edge says rather than how its policy is written (ICMP type 0 allows every type): in a
# drawing, their findings name the edges behind the rule.
EDGE_FINDINGS = frozenset({"FL026"})


def lint_document(document: Document, settings: LintSettings | None = None) -> list[LintFinding]:
    """Findings for what `document` compiles to (in its dialect), mapped to node and edge ids, with fixes.

    Object fixes apply to the compiled YAML; document fixes (target "document") change the drawing and are
    added where one exists: an "allow DNS" edge (FL004), dropping the redundant side of an edge (FL017),
    marking a gateway node (FL018). `settings` default to the document's own.
    """
    return lint_drawing(document, settings).findings


def lint_drawing(
    document: Document, settings: LintSettings | None = None, drafts_cache: SizedCache[SubjectDrafts] | None = None
) -> LintedDocument:
    """`lint_document`'s findings with the compiled policies they were found in: the rating of the same drawing
    (rating.rate_linted) reads them instead of compiling and linting it again. `drafts_cache`: compile_for_lint's."""
    compiled = compile_for_lint(document, drafts_cache)
    settings = settings or LintSettings.from_settings(document.settings)
    inventory = inventory_from_document(document)
    findings = lint_compiled(compiled, settings, inventory)
    by_label = {(p.kind, p.namespace, p.name): p for p in compiled.policies}
    nodes = document.node_map()
    node_ids = nodes.keys()
    edges: dict[str, Edge] | None = None
    for finding in findings:
        policy = by_label[(finding.kind, finding.namespace, finding.name)]
        finding.edges = compiled.edges_of(policy, finding.path)
        if finding.rule in EDGE_FINDINGS and finding.edges:
            edges = edges if edges is not None else {edge.id: edge for edge in document.edges}
            named = ", ".join(describe_edge(edges[edge_id], nodes) for edge_id in finding.edges)
            finding.message = f"{named}: {finding.message}"
        subjects = [node_id for node_id in finding.nodes if node_id in node_ids]
        for fix in _document_fixes(subjects, finding, settings):
            finding.fixes.append(dataclasses.replace(fix, id=f"{finding.id}#{fix.id}"))
    return LintedDocument(compiled, settings, inventory, findings)


def _document_fixes(subjects: list[str], finding: LintFinding, settings: LintSettings) -> list[Fix]:
    """The drawing's fixes for a finding about the policies of `subjects` (the finding's nodes in the drawing)."""
    if not subjects:
        return []
    if finding.rule == "FL004":
        return [
            Fix(
                "draw-dns-edge",
                "Draw the 'allow DNS' edge to the cluster DNS",
                "document",
                _dns_edges(subjects, settings),
            )
        ]
    if finding.rule == "FL018":

        def mark(doc: Document) -> None:
            lint_settings = doc.settings.extra.setdefault("lint", {})
            gateways = lint_settings.setdefault("gateways", [])
            gateways.extend(node_id for node_id in subjects if node_id not in gateways)

        return [Fix("mark-gateway-node", "This node is an ingress gateway", "document", mark)]
    if finding.rule == "FL017" and finding.edges:
        side = "target" if ".ingress[" in finding.path else "source"
        edge_ids = list(finding.edges)

        def drop_side(doc: Document) -> None:
            for edge in [e for e in doc.edges if e.id in edge_ids]:
                edge.enforce = [s for s in edge.enforce if s != side]
                if not edge.enforce:
                    doc.edges.remove(edge)

        return [
            Fix(
                "drop-redundant-edge-side",
                f"Stop enforcing the edge(s) {', '.join(edge_ids)} on the {side}",
                "document",
                drop_side,
            )
        ]
    return []


def _dns_edges(subjects: list[str], settings: LintSettings) -> Any:
    def transform(doc: Document) -> None:
        dns_node = _dns_node(doc, settings)
        protocols = ["ANY"] if dialect(doc.settings.dialect).has("dns_protocol_any") else ["UDP", "TCP"]
        for subject in subjects:
            doc.edges.append(
                Edge(
                    doc.new_edge_id(),
                    subject,
                    dns_node.id,
                    ports=[Port(protocol, settings.dns_port) for protocol in protocols],
                    enforce=["source"],
                )
            )

    return transform


def _dns_node(doc: Document, settings: LintSettings) -> Node:
    """The node standing for the cluster DNS pods: an existing one, or a new selector node."""
    existing = find_pod_set(doc, settings.dns_namespace, dict(settings.dns_labels))
    if existing is not None:
        return existing
    doc.ensure_namespace(settings.dns_namespace)
    taken = {node.id for node in doc.nodes}
    node_id = next(
        f"cluster-dns{suffix}"
        for suffix in ["", *map(str, range(2, len(taken) + 3))]
        if f"cluster-dns{suffix}" not in taken
    )
    return doc.add_node(
        Node(
            node_id,
            "selector",
            name="cluster DNS",
            namespace=settings.dns_namespace,
            pod_selector={"matchLabels": dict(sorted(settings.dns_labels.items()))},
        )
    )


# --- applying fixes ----------------------------------------------------------------------------------------


def find_fix(findings: Iterable[LintFinding], fix_or_finding_id: str) -> Fix:
    """The fix with this id, or the first fix of the finding with this id. Raises KeyError naming the id."""
    findings = list(findings)
    for finding in findings:
        for fix in finding.fixes:
            if fix.id == fix_or_finding_id:
                return fix
    for finding in findings:
        if finding.id == fix_or_finding_id:
            if not finding.fixes:
                raise KeyError(f"finding {fix_or_finding_id} has no fix")
            return finding.fixes[0]
    raise KeyError(f"no finding or fix {fix_or_finding_id!r} (the input changed since it was linted?)")


def _fix_kind(finding: LintFinding, fix: Fix) -> tuple[str, str]:
    """Fixes of one kind: the same rule and the same change (the part of the id after `#`)."""
    return finding.rule, fix.id.rpartition("#")[2]


def alike_fixes(findings: Iterable[LintFinding], fix_id: str) -> list[Fix]:
    """The fix `fix_id` (as `find_fix` finds it), then the same fix of every other finding of its rule: what
    "Fix all" applies as one change. Raises KeyError like `find_fix`."""
    findings = list(findings)
    wanted = find_fix(findings, fix_id)
    kind = next(_fix_kind(f, fix) for f in findings for fix in f.fixes if fix is wanted)
    others = [fix for f in findings for fix in f.fixes if fix is not wanted and _fix_kind(f, fix) == kind]
    return [wanted, *others]


def alike_counts(findings: Iterable[LintFinding]) -> dict[str, int]:
    """For every document fix, how many findings offer the same fix (2 or more: the editor offers "Fix all")."""
    findings = list(findings)
    kinds = [(_fix_kind(f, fix), fix.id) for f in findings for fix in f.fixes if fix.target == "document"]
    totals: dict[tuple[str, str], int] = {}
    for kind, _ in kinds:
        totals[kind] = totals.get(kind, 0) + 1
    return {fix_id: totals[kind] for kind, fix_id in kinds}


def apply_fixes(fixes: Sequence[Fix], document: Document) -> Document:
    """Apply document fixes one after the other (each sees the nodes the previous ones added, so they share
    them) and return the fixed copy; `document` is unchanged."""
    for fix in fixes:
        document = fix.apply(document)
    return document


def apply_fix(
    fix: Fix | LintFinding | str,
    target: dict[str, Any] | Document,
    *,
    settings: LintSettings | None = None,
    context: Sequence[KubeObject | dict[str, Any]] = (),
) -> Any:
    """Apply a fix and return the fixed copy of `target` (a policy object or a document); `target` is unchanged.

    `fix` may be a Fix, a finding (its first fix) or an id from `LintFinding.to_json()` (a fix id, or a finding
    id for its first fix). With an id, `target` is linted again to find it: a document as by `lint_document`,
    an object together with `context` (the other objects it was linted with) and `settings`.
    """
    if isinstance(fix, LintFinding):
        if not fix.fixes:
            raise KeyError(f"finding {fix.id} has no fix")
        fix = fix.fixes[0]
    if isinstance(fix, str):
        if isinstance(target, Document):
            findings = lint_document(target)
        else:
            findings = [f for f in lint_objects([target, *context], settings) if _is_about(f, target)]
        fix = find_fix(findings, fix)
    return fix.apply(target)


def _is_about(finding: LintFinding, obj: dict[str, Any]) -> bool:
    views = read_policies(obj)
    return bool(views) and (finding.kind, finding.namespace, finding.name) == (
        views[0].kind,
        views[0].namespace,
        views[0].name,
    )
