"""What a policy change does, for a reviewer: like `terraform plan`, from an OLD to a NEW policy set.

A side is a graph document (a drawing or a saved revision) or a set of Kubernetes objects (policies, usually
with the workload manifests they apply to). The plan holds:
- the connections added, removed or changed (the analyser's diff, as `fenceline connlist --diff` prints it);
- observed flows that NEW would break (allowed under OLD, denied under NEW, and they flowed when observed) and
  those OLD broke that NEW fixes, replayed from flow logs, or else from the drawings' own observed edges;
- lint findings new in NEW and fixed by it; the rating before and after;
- policies added, removed and changed, with the YAML diff of each;
- the drawing of NEW with the changed edges marked (removed ones kept, dotted, so the reviewer sees them).

`breaking` is what a CI gate fails on: a broken observed flow or a new error-level finding.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from collections.abc import Sequence
from typing import Any

from .analysis import Analysis, DiffEntry, Options, analyse, diff
from .check import Observation, Replayed, add_observed, analyse_document, observations_from_document, replay
from .compile import canonical
from .document import Document, Edge
from .importer import import_objects
from .kinds import POLICY_KINDS
from .lint import LintFinding, LintSettings, lint_objects
from .lint.engine import compile_for_lint, inventory_from_document, lint_compiled
from .manifests import Cluster, read_cluster
from .platform.connlist import analyse_tiers
from .platform.inputs import split_objects
from .platform.parse import is_platform_object
from .rating import rate_objects, rate_policies
from .shapes import mapping
from .yamlio import KubeObject, dump_yaml_documents


@dataclasses.dataclass
class Side:
    """One side of a plan: a document, or Kubernetes objects. `picture_url` is the server's picture of a saved
    revision (used instead of drawing one when the side came from a permalink)."""

    label: str
    document: Document | None = None
    objects: list[KubeObject] = dataclasses.field(default_factory=list)
    picture_url: str | None = None


@dataclasses.dataclass
class _Evaluated:
    analysis: Analysis
    policies: dict[tuple[str, str, str], dict[str, Any]]
    findings: list[LintFinding]
    score: float
    warnings: list[str]
    document: Document  # the side as a drawing (imported when it came as objects), for the picture


@dataclasses.dataclass(frozen=True)
class FlowChange:
    src: str
    dst: str
    protocol: str
    port: int | None
    count: int
    old: str  # allowed / denied / undecided
    new: str
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def text(self) -> str:
        port = "" if self.port is None else f" {self.port}"
        flows = f"{self.count} flow{'s' if self.count != 1 else ''}"
        return f"{self.src} => {self.dst} : {self.protocol}{port} ({flows})" + (
            f" - {self.reason}" if self.reason else ""
        )


@dataclasses.dataclass(frozen=True)
class PolicyChange:
    kind: str  # added / removed / changed
    object: str  # "NetworkPolicy shop/api"
    yaml_diff: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Plan:
    old: Side
    new: Side
    connections: list[DiffEntry]
    breaks: list[FlowChange]
    fixes: list[FlowChange]
    still_denied: list[FlowChange]
    observed: int
    new_findings: list[LintFinding]
    fixed_findings: list[LintFinding]
    rating: tuple[float, float]
    policies: list[PolicyChange]
    yaml_diff: str
    picture: Document  # NEW with OLD's removed edges kept (disabled), for drawing
    edge_changes: dict[str, str]  # edge id in `picture` -> added / removed / changed
    warnings: list[str]

    @property
    def breaking(self) -> bool:
        return bool(self.breaks) or any(f.severity == "error" for f in self.new_findings)

    def counts(self) -> dict[str, int]:
        kinds = [entry.kind for entry in self.connections]
        return {
            "added": kinds.count("added"),
            "removed": kinds.count("removed"),
            "changed": kinds.count("changed"),
            "breaks": len(self.breaks),
            "fixes": len(self.fixes),
            "newFindings": len(self.new_findings),
            "fixedFindings": len(self.fixed_findings),
            "policiesAdded": sum(p.kind == "added" for p in self.policies),
            "policiesRemoved": sum(p.kind == "removed" for p in self.policies),
            "policiesChanged": sum(p.kind == "changed" for p in self.policies),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "old": self.old.label,
            "new": self.new.label,
            "breaking": self.breaking,
            "counts": self.counts(),
            "connections": [
                {"kind": e.kind, "src": e.src, "dst": e.dst, "old": str(e.ref1), "new": str(e.ref2), "info": e.info}
                for e in self.connections
            ],
            "flows": {
                "observed": self.observed,
                "breaks": [f.to_json() for f in self.breaks],
                "fixes": [f.to_json() for f in self.fixes],
                "stillDenied": [f.to_json() for f in self.still_denied],
            },
            "lint": {
                "new": [f.to_json() for f in self.new_findings],
                "fixed": [f.to_json() for f in self.fixed_findings],
            },
            "rating": {"old": self.rating[0], "new": self.rating[1]},
            "policies": [p.to_json() for p in self.policies],
            "edgeChanges": dict(sorted(self.edge_changes.items())),
            "warnings": list(self.warnings),
        }


# --- evaluating one side --------------------------------------------------------------------------------------


def _policy_key(obj: dict[str, Any]) -> tuple[str, str, str]:
    metadata = mapping(obj.get("metadata"))
    return (str(obj.get("kind", "")), str(metadata.get("namespace", "") or ""), str(metadata.get("name", "")))


def _evaluate(side: Side, flows: Document | None) -> _Evaluated:
    if side.document is not None:
        document = side.document
        bridge = analyse_document(document, observed=flows)
        policies = {_policy_key(obj): obj for obj in bridge.compiled.objects}
        # Lint and rating read the same compiled policies; the plan needs findings, not their fixes.
        compiled = compile_for_lint(document)
        settings, inventory = LintSettings.from_settings(document.settings), inventory_from_document(document)
        findings = lint_compiled(compiled, settings, inventory)
        score = rate_policies(compiled.policies, settings, inventory, findings, compiled.platform).score
        return _Evaluated(bridge.analysis, policies, findings, score, list(bridge.analysis.warnings), document)
    analysis, cluster = _analyse_objects(side.objects, flows)
    policies = {
        _policy_key(item.obj): item.obj
        for item in side.objects
        if item.kind in POLICY_KINDS or is_platform_object(item)
    }
    findings = lint_objects(side.objects, LintSettings())
    score = rate_objects(side.objects).score
    imported = import_objects(side.objects).document
    warnings = [f"{side.label}: {w}" for w in (*cluster.warnings, *analysis.warnings)]
    return _Evaluated(analysis, policies, findings, score, warnings, imported)


def _analyse_objects(objects: list[KubeObject], flows: Document | None) -> tuple[Analysis, Cluster]:
    """The analysis of one side's objects: through the platform tiers (Admin, NetworkPolicy, Baseline) when the
    side holds ClusterNetworkPolicies, ANP or BANP, as `fenceline connlist` and Check analyse them."""
    if not any(is_platform_object(item) for item in objects):
        cluster = read_cluster(objects)
        cluster = add_observed(cluster, flows) if flows is not None else cluster
        return analyse(cluster, Options()), cluster
    inputs = split_objects(objects, [])
    if flows is not None:
        inputs = dataclasses.replace(inputs, cluster=add_observed(inputs.cluster, flows))
    return analyse_tiers(inputs), inputs.cluster


# --- the parts of a plan --------------------------------------------------------------------------------------


def _flow_changes(
    observations: Sequence[Observation], old: Analysis, new: Analysis
) -> tuple[list[FlowChange], list[FlowChange], list[FlowChange]]:
    before = {id(r.observation): r for r in replay(observations, old).connections}
    breaks: list[FlowChange] = []
    fixes: list[FlowChange] = []
    still: list[FlowChange] = []
    for judged in replay(observations, new).connections:
        earlier = before[id(judged.observation)]
        change = _flow_change(earlier, judged)
        if judged.verdict == "denied" and judged.observation.flowed:
            (still if earlier.verdict == "denied" else breaks).append(change)
        elif earlier.verdict == "denied" and judged.verdict == "allowed":
            fixes.append(change)
    return breaks, fixes, still


def _flow_change(old: Replayed, new: Replayed) -> FlowChange:
    observation = new.observation
    reason = new.reason if new.verdict == "denied" else old.reason
    return FlowChange(
        new.src, new.dst, observation.protocol, observation.port, observation.count, old.verdict, new.verdict, reason
    )


def _yaml(obj: dict[str, Any] | None) -> list[str]:
    return [] if obj is None else dump_yaml_documents([obj]).splitlines(keepends=True)


def _policy_changes(
    old: dict[tuple[str, str, str], dict[str, Any]], new: dict[tuple[str, str, str], dict[str, Any]]
) -> list[PolicyChange]:
    changes = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before is not None and after is not None and canonical(before) == canonical(after):
            continue
        kind = "added" if before is None else "removed" if after is None else "changed"
        name = f"{key[0]} {key[1] + '/' if key[1] else ''}{key[2]}"
        lines = difflib.unified_diff(_yaml(before), _yaml(after), f"old/{name}", f"new/{name}")
        changes.append(PolicyChange(kind, name, "".join(lines)))
    return changes


def _edge_signature(edge: Edge) -> str:
    data = edge.to_json()
    for key in ("id", "observed", "note"):
        data.pop(key, None)
    return canonical(data)


def picture_of_change(old: Document, new: Document) -> tuple[Document, dict[str, str]]:
    """NEW with OLD's removed edges (and the nodes only they need) kept as disabled edges, and which edges of
    that picture were added, removed or changed. Edges are matched by their ends: between the same two nodes,
    a different set of edges (ports, enforcement, action) is a change."""
    picture = copy.deepcopy(new)
    old_pairs: dict[tuple[str, str], list[Edge]] = {}
    new_pairs: dict[tuple[str, str], list[Edge]] = {}
    for edge in old.edges:
        old_pairs.setdefault((edge.source, edge.target), []).append(edge)
    for edge in new.edges:
        new_pairs.setdefault((edge.source, edge.target), []).append(edge)
    changes: dict[str, str] = {}
    for pair, edges in new_pairs.items():
        before = old_pairs.get(pair)
        if before is None:
            changes.update((edge.id, "added") for edge in edges)
        elif sorted(map(_edge_signature, before)) != sorted(map(_edge_signature, edges)):
            changes.update((edge.id, "changed") for edge in edges)
    old_nodes = old.node_map()
    present = {node.id for node in picture.nodes}
    taken = {edge.id for edge in picture.edges}
    for pair, edges in old_pairs.items():
        if pair in new_pairs:
            continue
        for node_id in pair:
            if node_id not in present:
                node = copy.deepcopy(old_nodes[node_id])
                if node.namespace and picture.namespace(node.namespace) is None:
                    namespace = old.namespace(node.namespace)
                    picture.namespaces.append(
                        copy.deepcopy(namespace) if namespace else picture.ensure_namespace(node.namespace)
                    )
                picture.nodes.append(node)
                present.add(node_id)
        for edge in edges:
            removed = copy.deepcopy(edge)
            removed.id = f"removed:{edge.id}"[:253]
            while removed.id in taken:
                removed.id = removed.id[:252] + "_"
            taken.add(removed.id)
            removed.disabled, removed.observed = True, None
            picture.edges.append(removed)
            changes[removed.id] = "removed"
    return picture, changes


# --- the plan ---------------------------------------------------------------------------------------------------


def make_plan(old: Side, new: Side, flows: Document | None = None) -> Plan:
    """The plan from `old` to `new`. `flows` (a document of observed traffic, as `read_flows` makes it) is
    replayed against both; without it the observed edges of the drawings are."""
    before, after = _evaluate(old, flows), _evaluate(new, flows)
    if flows is not None:
        observations = observations_from_document(flows)
    else:
        seen = {(o.source, o.target, o.protocol, o.port): o for o in observations_from_document(before.document)}
        seen.update({(o.source, o.target, o.protocol, o.port): o for o in observations_from_document(after.document)})
        observations = list(seen.values())
    breaks, fixes, still = _flow_changes(observations, before.analysis, after.analysis)
    old_ids = {f.id for f in before.findings}
    new_ids = {f.id for f in after.findings}
    picture, edge_changes = picture_of_change(before.document, after.document)
    # One diff per changed policy (diffing the whole YAML of two large sets is quadratic in difflib).
    policies = _policy_changes(before.policies, after.policies)
    return Plan(
        old=old,
        new=new,
        connections=diff(before.analysis, after.analysis),
        breaks=breaks,
        fixes=fixes,
        still_denied=still,
        observed=len(observations),
        new_findings=[f for f in after.findings if f.id not in old_ids],
        fixed_findings=[f for f in before.findings if f.id not in new_ids],
        rating=(before.score, after.score),
        policies=policies,
        yaml_diff="".join(change.yaml_diff for change in policies),
        picture=picture,
        edge_changes=edge_changes,
        warnings=[*before.warnings, *after.warnings],
    )
