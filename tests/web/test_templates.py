"""One-click templates, through POST /api/templates/<name>: each adds what a person would have drawn."""

from __future__ import annotations

import pytest

from editor.policy.compile import compile_document
from editor.policy.document import Document


def apply(api, name, document, **params):
    return api.post_json(
        f"/api/templates/{name}", {"document": document, "params": params, "dialect": params.pop("dialect", None)}
    )


def edges_between(document: Document) -> set[tuple[str, str, tuple]]:
    return {(e.source, e.target, tuple((p.protocol, p.port) for p in e.ports)) for e in document.edges}


def test_it_allows_dns_to_where_the_settings_say(api, talk_doc):
    talk_doc["edges"] = talk_doc["edges"][:2]
    talk_doc["nodes"] = [node for node in talk_doc["nodes"] if node["id"] != "dns"]
    talk_doc["settings"]["dns"] = {"namespace": "dns-system", "podLabels": {"app": "coredns"}, "port": 5353}
    response = apply(api, "dns", talk_doc)
    assert response.status_code == 200
    assert response.json()["message"] == "Added 2 edges to the cluster DNS in dns-system."
    document = Document.from_json(response.json()["document"])
    dns = document.node("cluster-dns")
    assert (dns.kind, dns.namespace, dns.pod_selector) == (
        "selector",
        "dns-system",
        {"matchLabels": {"app": "coredns"}},
    )
    # The application's workloads, not the selectors of shared pods such as the ingress controller.
    to_dns = [edge for edge in document.edges if edge.target == "cluster-dns"]
    assert {edge.source for edge in to_dns} == {"web", "api"}
    # Enforced by the workloads' egress only: a rule on the DNS pods would isolate them for the whole cluster.
    assert all(edge.enforce == ["source"] for edge in to_dns)
    assert all(ports == (("UDP", 5353), ("TCP", 5353)) for _, t, ports in edges_between(document) if t == "cluster-dns")


def test_it_allows_dns_for_one_namespace_only_and_not_twice(api, talk_doc):
    talk_doc["edges"] = [edge for edge in talk_doc["edges"] if edge["id"] != "e4"]  # api -> DNS
    first = apply(api, "dns", talk_doc, scope="backend").json()
    assert first["message"] == "Added 1 edge to the cluster DNS in kube-system."
    added = [e for e in first["document"]["edges"] if e["id"] not in ("e1", "e2", "e3")]
    assert [(e["source"], e["target"]) for e in added] == [("api", "dns")]  # the existing DNS node is reused
    again = apply(api, "dns", first["document"], scope="backend").json()
    assert again["message"].startswith("Nothing to add")


def test_it_default_denies_a_namespace(api, talk_doc):
    document = Document.from_json(apply(api, "default-deny", talk_doc, scope="frontend").json()["document"])
    [policy] = [o for o in compile_document(document, "native").objects if o["metadata"]["name"] == "default-deny"]
    assert policy["metadata"]["namespace"] == "frontend"
    assert policy["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_it_allows_the_ingress_controller_namespace_on_the_targets_ports(api, talk_doc):
    document = Document.from_json(
        apply(api, "ingress-controller", talk_doc, scope="backend", controller_namespace="ingress-nginx").json()[
            "document"
        ]
    )
    assert ("all-pods.ingress-nginx", "api", (("TCP", 9090),)) in edges_between(document)
    [edge] = [e for e in document.edges if e.source == "all-pods.ingress-nginx"]
    assert edge.enforce == ["target"]
    assert not document.node("all-pods.ingress-nginx").isolate.egress


def test_it_allows_prometheus_on_metrics_ports(api, talk_doc):
    talk_doc["nodes"][1]["containerPorts"].append({"name": "metrics", "port": 9100})
    document = Document.from_json(
        apply(
            api,
            "prometheus",
            talk_doc,
            scope="backend",
            monitoring_namespace="monitoring",
            labels="app.kubernetes.io/name=prometheus",
        ).json()["document"]
    )
    assert ("prometheus", "api", (("TCP", "metrics"),)) in edges_between(document)
    assert document.node("prometheus").namespace == "monitoring"


def test_it_allows_the_api_server_per_dialect(api, talk_doc):
    cilium = Document.from_json(
        apply(api, "kube-apiserver", talk_doc, scope="backend", dialect="cilium").json()["document"]
    )
    assert cilium.node("kube-apiserver").entity == "kube-apiserver"
    assert ("api", "kube-apiserver", (("TCP", 443), ("TCP", 6443))) in edges_between(cilium)
    missing = apply(api, "kube-apiserver", talk_doc, scope="backend", dialect="native")
    assert missing.status_code == 400
    assert missing.json()["details"] == [
        "give the API server's endpoint addresses as a CIDR (kubectl get endpoints kubernetes)"
    ]
    native = apply(api, "kube-apiserver", talk_doc, scope="backend", dialect="native", cidr="192.0.2.10").json()
    document = Document.from_json(native["document"])
    assert document.node("kube-apiserver").cidr == "192.0.2.10/32"
    assert document.settings.extra["apiServerCIDR"] == "192.0.2.10/32"


def test_it_allows_the_mesh_control_plane(api, talk_doc):
    document = Document.from_json(
        apply(api, "mesh", talk_doc, scope="frontend", mesh_namespace="istio-system", labels="app=istiod").json()[
            "document"
        ]
    )
    assert ("web", "istiod", (("TCP", 15012),)) in edges_between(document)
    assert document.node("istiod").namespace == "istio-system"


@pytest.mark.parametrize(("params", "detail"), [({"scope": "nowhere"}, "scope: Select a valid choice.")])
def test_it_refuses_bad_parameters(api, talk_doc, params, detail):
    response = apply(api, "dns", talk_doc, **params)
    assert response.status_code == 400
    assert any(d.startswith(detail) for d in response.json()["details"])


def test_it_answers_404_for_an_unknown_template(api, talk_doc):
    response = apply(api, "coffee", talk_doc)
    assert response.status_code == 404
    assert response.json()["error"] == "there is no template 'coffee'"


@pytest.mark.parametrize(
    ("name", "params", "edges"),
    [
        ("platform-dns", {}, {("admin", "allow", 20), ("admin", "allow", 21)}),
        ("platform-no-metadata", {}, {("admin", "deny", 10)}),
        ("platform-default-deny", {}, {("baseline", "deny", 1000)}),
        (
            "platform-monitoring",
            {"monitoring_namespace": "obs", "labels": "app=vm"},
            {("admin", "allow", 30), ("admin", "allow", 31)},
        ),
    ],
)
def test_platform_templates_add_platform_layer_rules(api, talk_doc, name, params, edges):
    response = apply(api, name, talk_doc, **params)
    assert response.status_code == 200, response.json()
    assert response.json()["message"].startswith("Added ")
    document = Document.from_json(response.json()["document"])
    added = [e for e in document.edges if e.layer != "application"]
    assert {(e.layer, e.action, e.priority) for e in added} == edges
    compiled = compile_document(document, "native")
    assert {o["kind"] for o in compiled.objects[len(compiled.objects) - compiled.platform_objects :]} == {
        "ClusterNetworkPolicy"
    }
    if name == "platform-monitoring":
        assert any(n.namespace == "obs" and n.pod_selector == {"matchLabels": {"app": "vm"}} for n in document.nodes)
