"""Which traffic a change takes away by isolating workloads (issue 10, finding 3). A pod isolated for a direction
keeps only what its policies allow that way (`kubernetes/api` networking/v1 types.go, NetworkPolicySpec
policyTypes; the analyser follows netpol-analyzer)."""

from __future__ import annotations

import copy

from editor.policy.document import Document, Edge
from editor.policy.isolation import isolation, newly_isolated, traffic_lost
from editor.policy.peer_names import display_peer
from editor.policy.templates import allow_dns


def two_workloads(*edges: Edge) -> Document:
    return Document.from_json(
        {
            "schema": "fenceline/v1",
            "namespaces": [{"name": "frontend"}, {"name": "backend"}],
            "nodes": [
                {"id": "web", "kind": "workload", "name": "web", "namespace": "frontend", "labels": {"app": "web"}},
                {"id": "api", "kind": "workload", "name": "api", "namespace": "backend", "labels": {"app": "api"}},
            ],
            "edges": [edge.to_json() for edge in edges],
        }
    )


def test_an_edge_isolates_both_ends_and_each_loses_the_rest():
    before = two_workloads()
    after = two_workloads(Edge("e1", "web", "api"))
    assert isolation(after) == {"web": (False, True), "api": (True, False)}
    assert newly_isolated(before, after) == {("web", "egress"), ("api", "ingress")}
    assert [str(loss) for loss in traffic_lost(before, after)] == [
        "backend/api can no longer be reached from Any IP address (all ports)",
        "frontend/web can no longer reach Any IP address (all ports)",
    ]


def test_the_dns_template_takes_the_outside_from_a_pod_isolated_for_ingress_only():
    before = two_workloads(Edge("e1", "web", "api", enforce=["target"]))
    after = allow_dns(copy.deepcopy(before)).document
    lost = {loss.workload: str(loss) for loss in traffic_lost(before, after)}
    assert lost["backend/api"] == "backend/api can no longer reach Any IP address, frontend/web (all ports)"


def test_a_change_that_isolates_nothing_costs_no_analysis():
    before = two_workloads(Edge("e1", "web", "api"))
    after = copy.deepcopy(before)
    after.edges[0].ports = []
    assert traffic_lost(before, after) == []


def test_peer_names_read_as_people_say_them():
    assert display_peer("0.0.0.0-255.255.255.255[External]") == "Any IP address"
    assert display_peer("10.0.0.0-10.255.255.255[External]") == "10.0.0.0/8"
    assert display_peer("0.0.0.0-9.255.255.255[External]") == "0.0.0.0/5, 8.0.0.0/7"
    assert display_peer("shop/web[Deployment]") == "shop/web"
    assert display_peer("world[Entity]") == "world (Cilium entity)"
