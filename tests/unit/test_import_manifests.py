"""Importing workload manifests (with and without policies) into a document."""

from __future__ import annotations

import textwrap
from pathlib import Path

from editor.policy.compile import compile_document
from editor.policy.document import Document
from editor.policy.importer import import_paths, import_text, workload_node_id

MANIFESTS = Path(__file__).resolve().parents[1] / "fixtures" / "manifests"


def test_workloads_become_nodes_with_labels_owner_and_named_container_ports() -> None:
    result = import_text(
        textwrap.dedent(
            """\
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop, labels: {team: a}}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: shop}
            spec:
              template:
                metadata: {labels: {app: web}}
                spec:
                  containers:
                  - ports: [{containerPort: 8080, name: http}, {containerPort: 9090, protocol: UDP}]
            ---
            apiVersion: batch/v1
            kind: CronJob
            metadata: {name: nightly}
            spec: {jobTemplate: {spec: {template: {metadata: {labels: {job: nightly}}}}}}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: shop}
            spec: {selector: {app: web}, ports: [{port: 80, targetPort: http}]}
            """
        ),
        "apps.yaml",
    )
    document = Document.from_json(result.document.to_json())
    assert {ns.name: ns.labels for ns in document.namespaces} == {
        "shop": {"team": "a", "kubernetes.io/metadata.name": "shop"},
        "default": {"kubernetes.io/metadata.name": "default"},
    }
    web = document.node(workload_node_id("shop", "Deployment", "web"))
    assert (web.kind, web.name, web.owner, web.labels) == ("workload", "web", "Deployment", {"app": "web"})
    assert [p.to_json() for p in web.container_ports] == [
        {"port": 8080, "protocol": "TCP", "name": "http"},
        {"port": 9090, "protocol": "UDP"},
    ]
    assert document.node("w:default/CronJob/nightly").labels == {"job": "nightly"}
    assert result.warnings == []


def test_workloads_with_the_longest_valid_names_get_valid_ids() -> None:
    namespace, name = "n" * 63, ".".join(["w" * 63] * 3 + ["w" * 61])  # 63 and 253 characters, the limits
    text = f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec: {{template: {{metadata: {{labels: {{app: web}}}}}}}}
"""
    result = import_text(text, "long.yaml")
    [node] = [node for node in result.document.nodes if node.kind == "workload"]
    assert (node.namespace, node.name) == (namespace, name)
    assert node.id == workload_node_id(namespace, "Deployment", name)
    assert len(node.id) <= 253
    assert Document.from_json(result.document.to_json()).node(node.id).name == name


def test_kubectl_list_output_and_pods_owned_by_controllers() -> None:
    document = import_paths([MANIFESTS / "test_with_named_ports"]).document
    workloads = {node.id: node for node in document.nodes if node.kind == "workload"}
    agents = workloads["w:default/DaemonSet/cog-agents"]
    assert agents.labels["app"] == "skydive"
    assert len(document.namespaces) == 8
    named = {p.name for node in workloads.values() for p in node.container_ports if p.name}
    assert {"dns-local", "dns-tcp-local"} <= named


def test_a_selector_matching_exactly_one_workload_is_merged_into_it_and_renders_the_same() -> None:
    folder = MANIFESTS / "netpol-analysis-example-minimal"
    with_workloads = import_paths([folder]).document
    policies_only = import_paths([folder / "netpols.yaml"]).document
    backend = with_workloads.node("w:default/Deployment/backend")
    assert backend.pod_selector == {"matchLabels": {"app": "backendservice"}}
    assert backend.policy_name == "backend-netpol" and backend.isolate.ingress and backend.isolate.egress
    assert not any(n.kind == "selector" and n.pod_selector == backend.pod_selector for n in with_workloads.nodes)
    edge = next(e for e in with_workloads.edges if e.target == backend.id and e.source.startswith("w:"))
    assert (edge.source, edge.enforce) == ("w:default/Deployment/frontend", ["source", "target"])
    for dialect in ("native", "cilium"):
        assert compile_document(with_workloads, dialect).yaml == compile_document(policies_only, dialect).yaml


def test_every_policy_subject_of_the_boutique_is_merged_into_its_workload_and_cluster_wide_peers_stay() -> None:
    document = import_paths([MANIFESTS / "onlineboutique_workloads"]).document
    merged = {n.name: n.policy_name for n in document.nodes if n.kind == "workload" and n.pod_selector is not None}
    assert len(merged) == 11 and merged["frontend"] == "frontend-netpol"
    assert document.node("w:default/Deployment/redis-cart").pod_selector is None
    [dns] = [n for n in document.nodes if n.kind == "selector"]
    assert (dns.namespace_selector, dns.pod_selector) == ({}, {"matchLabels": {"k8s-app": "kube-dns"}})


def test_a_peer_naming_a_namespace_by_its_name_label_lands_in_that_namespace() -> None:
    document = import_paths([MANIFESTS / "minimal_test_in_ns"]).document
    [peer] = [n for n in document.nodes if n.kind == "selector"]
    assert (peer.namespace, peer.namespace_selector, peer.pod_selector) == ("hello-world", None, {})
    assert {n.name for n in document.nodes if n.kind == "workload"} == {"workload-a", "workload-b"}


def test_ingress_is_read_but_not_drawn_and_a_platform_policy_without_rules_draws_nothing() -> None:
    text = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: front, namespace: shop}
spec: {defaultBackend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec: {subject: {namespaces: {}}}
"""
    result = import_text(text, "mixed.yaml")
    assert "mixed.yaml:1: kind Ingress is not drawn; skipped" in result.warnings
    # platform policies are drawn as the admin and baseline layers (tests/unit/test_layers.py); this one has no rule
    assert (
        "mixed.yaml:6: BaselineAdminNetworkPolicy 'default' has no rules: nothing to draw; skipped" in result.warnings
    )
