"""Linting a graph document: findings point at nodes and edges, and document fixes change the drawing."""

from __future__ import annotations

import copy

import pytest

from editor.policy.compile import SubjectDrafts, compile_document
from editor.policy.document import Document
from editor.policy.lint import GATEWAY_ANNOTATION, apply_fix, lint_document, lint_drawing, lint_objects
from editor.policy.rating import rate_document, rate_linted
from editor.policy.sized_cache import SizedCache
from tests.large_drawing import large_drawing

BASE = {
    "schema": "fenceline/v1",
    "namespaces": [{"name": "shop"}],
    "nodes": [
        {"id": "web", "kind": "workload", "namespace": "shop", "name": "web", "labels": {"app": "web"},
         "isolate": {"ingress": True, "egress": True}},
        {"id": "api", "kind": "workload", "namespace": "shop", "name": "api", "labels": {"app": "api"}},
        {"id": "everyone", "kind": "selector", "namespace": "shop", "podSelector": {}},
        {"id": "internet", "kind": "cidr", "cidr": "0.0.0.0/0"},
    ],
    "edges": [
        {"id": "e1", "source": "web", "target": "api", "ports": [{"protocol": "TCP", "port": 8080}]},
        {"id": "e2", "source": "web", "target": "everyone", "ports": [{"protocol": "TCP"}], "enforce": ["source"]},
        {"id": "e3", "source": "internet", "target": "web", "ports": [{"protocol": "TCP", "port": 443}]},
    ],
}  # fmt: skip


def document(dialect: str) -> Document:
    data = copy.deepcopy(BASE)
    data["settings"] = {"dialect": dialect}
    return Document.from_json(data)


def by_rule(findings: list) -> dict[str, object]:
    return {f.rule: f for f in findings}


@pytest.mark.parametrize("dialect", ["native", "cilium"])
def test_findings_point_at_nodes_and_edges(dialect: str) -> None:
    findings = by_rule(lint_document(document(dialect)))
    assert {"FL004", "FL017", "FL018"} <= set(findings)
    assert findings["FL004"].nodes == ["web"] and findings["FL004"].edges == []
    assert findings["FL017"].nodes == ["web"] and findings["FL017"].edges == ["e1"]  # e1 is inside e2 (all TCP)
    assert findings["FL018"].nodes == ["web"] and findings["FL018"].edges == ["e3"]
    assert all(f.source is None and f.line is None for f in findings.values())


@pytest.mark.parametrize("dialect", ["native", "cilium"])
@pytest.mark.parametrize("rule", ["FL004", "FL017", "FL018"])
def test_document_fixes_remove_their_finding(dialect: str, rule: str) -> None:
    doc = document(dialect)
    finding = by_rule(lint_document(doc))[rule]
    (fix,) = [fix for fix in finding.fixes if fix.target == "document"]
    fixed = apply_fix(fix.id, doc)
    assert fixed is not doc and doc.to_json() == document(dialect).to_json()
    after = lint_document(fixed)
    assert rule not in by_rule(after)
    assert compile_document(fixed).ok


def test_dns_fix_draws_one_edge_to_a_dns_node() -> None:
    doc = document("native")
    fixed = apply_fix(by_rule(lint_document(doc))["FL004"].fixes[-1], doc)
    (edge,) = [e for e in fixed.edges if e.id not in {"e1", "e2", "e3"}]
    dns = fixed.node(edge.target)
    assert (edge.source, edge.enforce, dns.namespace) == ("web", ["source"], "kube-system")
    assert dns.pod_selector == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert [(p.protocol, p.port) for p in edge.ports] == [("UDP", 53), ("TCP", 53)]


def test_redundant_edge_keeps_its_other_side() -> None:
    doc = document("native")
    fixed = apply_fix(by_rule(lint_document(doc))["FL017"].fixes[-1], doc)
    assert next(e for e in fixed.edges if e.id == "e1").enforce == ["target"]  # api's ingress still needs it


def test_gateway_marking_is_stored_in_settings() -> None:
    doc = document("native")
    fixed = apply_fix(by_rule(lint_document(doc))["FL018"].fixes[-1], doc)
    assert fixed.settings.extra == {"lint": {"gateways": ["web"]}}


def test_object_fixes_of_a_document_finding_apply_to_the_compiled_object() -> None:
    doc = document("native")
    finding = by_rule(lint_document(doc))["FL018"]
    mark = next(fix for fix in finding.fixes if fix.id.endswith("#mark-gateway"))
    compiled = compile_document(doc).objects
    web = next(obj for obj in compiled if obj["metadata"]["name"] == "web")
    fixed = apply_fix(mark, web)
    assert fixed["metadata"]["annotations"] == {GATEWAY_ANNOTATION: "true"}
    assert "FL018" not in {f.rule for f in lint_objects([fixed])}
    with pytest.raises(TypeError, match="changes a policy object"):
        apply_fix(mark, doc)
    with pytest.raises(TypeError, match="changes a graph document"):
        apply_fix(next(fix for fix in finding.fixes if fix.target == "document"), web)


def test_workload_nodes_feed_the_workload_rules() -> None:
    data = copy.deepcopy(BASE)
    data["nodes"][1]["containerPorts"] = [{"name": "http", "port": 8080}]
    data["edges"][0]["ports"] = [{"protocol": "TCP", "port": "htpp"}]
    found = [f for f in lint_document(Document.from_json(data)) if f.rule == "FL011"]
    # e1 is enforced on both sides: web's egress rule and api's ingress rule both name a port api lacks
    assert sorted((f.name, f.path, f.edges[0]) for f in found) == [
        ("api", "spec.ingress[0].ports[0]", "e1"),
        ("web", "spec.egress[0].ports[0]", "e1"),
    ]
    assert all("shop/api" in f.message and f.fixes[0].title == "Use the port name 'http'" for f in found)


@pytest.mark.parametrize("dialect", ["native", "cilium"])
def test_a_whole_cluster_linted_with_kept_drafts_and_rated_from_its_lint_is_as_linted_and_rated_alone(
    dialect: str,
) -> None:
    """/api/lint compiles with the compile answers' drafts and rates from the same lint: neither changes a finding
    or a score, before or after an edit (here: one edge gone, so two subjects are compiled again)."""
    drawing = large_drawing(120, 480, namespaces=6)
    drawing["settings"] = {"dialect": dialect}
    cache: SizedCache[SubjectDrafts] = SizedCache(1 << 24)
    held = []
    for edit in range(3):
        if edit == 2:
            drawing["edges"].pop(7)
        alone = Document.from_json(copy.deepcopy(drawing))
        shared = Document.from_json(copy.deepcopy(drawing))
        linted = lint_drawing(shared, drafts_cache=cache)
        expected = lint_document(alone)
        assert [f.to_json() for f in linted.findings] == [f.to_json() for f in expected]
        assert expected and all(f.nodes for f in expected)
        assert rate_linted(linted).to_json() == rate_document(alone).to_json()
        held.append(cache.chars)
    assert 0 < held[0] == held[1] < held[2]  # the same drawing again took its drafts from the cache
