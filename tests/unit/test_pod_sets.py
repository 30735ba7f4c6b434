"""Templates and fixes reuse the node that already stands for a set of pods (issue 10, finding 9). Selector
matching follows apimachinery (`labels.Selector.Matches`); `namespaceSelector: {}` selects every namespace
(`kubernetes/api` networking/v1 types.go, NetworkPolicyPeer)."""

from __future__ import annotations

from pathlib import Path

from editor.policy.document import Document, Node
from editor.policy.importer import import_paths
from editor.policy.lint import alike_fixes, apply_fixes, lint_document
from editor.policy.pod_sets import find_pod_set
from editor.policy.templates import allow_dns

BOUTIQUE = Path(__file__).resolve().parents[1] / "fixtures" / "manifests" / "onlineboutique_workloads"
DNS = {"k8s-app": "kube-dns"}


def boutique() -> Document:
    return import_paths(
        [BOUTIQUE / "ns.yaml", BOUTIQUE / "kubernetes-manifests.yaml", BOUTIQUE / "netpols.yaml"]
    ).document


def test_an_imported_selector_over_all_namespaces_stands_for_the_dns_pods():
    document = boutique()
    found = find_pod_set(document, "kube-system", DNS)
    assert found is not None and found.namespace_selector == {} and found.pod_selector == {"matchLabels": DNS}


def test_a_selector_of_everything_or_of_other_labels_does_not():
    document = Document()
    document.ensure_namespace("kube-system")
    document.nodes += [
        Node("all", "selector", namespace_selector={}, pod_selector={}),
        Node("other", "selector", namespace="kube-system", pod_selector={"matchLabels": {"k8s-app": "metrics"}}),
        Node("elsewhere", "selector", namespace="default", pod_selector={"matchLabels": DNS}),
    ]
    assert find_pod_set(document, "kube-system", DNS) is None
    document.nodes.append(Node("dns", "workload", name="coredns", namespace="kube-system", labels={**DNS, "x": "y"}))
    assert find_pod_set(document, "kube-system", DNS).id == "dns"


def test_fix_all_draws_every_dns_edge_to_the_one_imported_node():
    document = boutique()
    findings = [f for f in lint_document(document) if f.rule == "FL004"]
    fix_id = next(fix.id for fix in findings[0].fixes if fix.id.endswith("#draw-dns-edge"))
    fixes = alike_fixes(lint_document(document), fix_id)
    assert len(fixes) == len(findings) == 7
    fixed = apply_fixes(fixes, document)
    assert len(fixed.nodes) == len(document.nodes)
    assert not [f for f in lint_document(fixed) if f.rule == "FL004"]


def test_the_dns_template_reuses_it_too():
    document = boutique()
    outcome = allow_dns(document)
    assert len(outcome.document.nodes) == len(boutique().nodes)
