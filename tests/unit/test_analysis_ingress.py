"""Ingress and OpenShift Route objects: the `{ingress-controller}` peer, as np-guard/netpol-analyzer models it
(pkg/netpol/connlist/ingress_analyzer.go): a backend service's selected pods, on the target ports of the service
ports the object names, as far as their ingress policies admit a label-less pod of a label-less namespace."""

from __future__ import annotations

from typing import Any

import pytest

from editor.policy.analysis import analyse, format_connlist
from editor.policy.analysis.explain_text import explain_pair
from editor.policy.analysis.peers import INGRESS_CONTROLLER
from editor.policy.manifests import read_cluster
from editor.policy.yamlio import dump_yaml_documents, load_objects

APP = [
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
            }
        },
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "www", "port": 80, "targetPort": "http"}]},
    },
]


def ingress(port: dict[str, Any]) -> dict[str, Any]:
    backend = {"service": {"name": "web", "port": port}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "front", "namespace": "shop"},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}]},
    }


def run(*objects: dict[str, Any]) -> Any:
    loaded, _ = load_objects(dump_yaml_documents(list(objects)), "t.yaml")
    return analyse(read_cluster(loaded))


def controller_line(analysis: Any) -> list[str]:
    return [line for line in format_connlist(analysis).splitlines() if line.startswith("{ingress-controller}")]


@pytest.mark.parametrize("port", [{"number": 80}, {"name": "www"}])
def test_an_ingress_reaches_the_target_port_of_the_service_port_it_names(port: dict[str, Any]) -> None:
    # the service port by number or by name; its named target port resolves on the pod
    assert controller_line(run(*APP, ingress(port))) == ["{ingress-controller} => shop/web[Deployment] : TCP 8080"]


def test_a_route_without_port_reaches_every_service_port() -> None:
    route = {
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": {"name": "front", "namespace": "shop"},
        "spec": {"to": {"kind": "Service", "name": "web"}},
    }
    analysis = run(*APP, route)
    assert controller_line(analysis) == ["{ingress-controller} => shop/web[Deployment] : TCP 8080"]
    lines = explain_pair(analysis, INGRESS_CONTROLLER, analysis.peer("shop/web"))
    assert "\t\t\tRoute 'shop/front' allows ingress connections through service web" in lines


def test_policies_admit_the_controller_only_through_rules_that_match_any_namespace() -> None:
    def policy(peer: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"podSelector": {}, "ingress": [{"from": [peer]}]},
        }

    assert controller_line(run(*APP, ingress({"number": 80}), policy({"namespaceSelector": {}})))
    assert not controller_line(run(*APP, ingress({"number": 80}), policy({"podSelector": {}})))
    labelled = {"namespaceSelector": {"matchLabels": {"team": "edge"}}}
    assert not controller_line(run(*APP, ingress({"number": 80}), policy(labelled)))


@pytest.mark.parametrize(
    "spec",
    [
        {"rules": 5},
        {"rules": ["x", {"http": "y"}, {"http": {"paths": 3}}, {"http": {"paths": [{"backend": []}]}}]},
        {"defaultBackend": {"service": {"name": 7, "port": "x"}}},
        {"defaultBackend": {"service": {"name": "missing", "port": {"number": 80}}}},
    ],
)
def test_malformed_or_dangling_ingresses_route_nowhere(spec: Any) -> None:
    item = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "bad"}, "spec": spec}
    analysis = run(*APP, item)
    assert controller_line(analysis) == []
    if "missing" in str(spec):
        assert any("service missing not found" in w for w in analysis.warnings)


def test_malformed_routes_route_nowhere() -> None:
    route = {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "r", "namespace": "shop"}}
    for spec in ({"to": "web"}, {"alternateBackends": 4}, {"to": {"name": "web"}, "port": [1]}, None):
        analysis = run(*APP, {**route, "spec": spec})
        assert len(controller_line(analysis)) == (1 if spec and spec.get("port") == [1] else 0)
