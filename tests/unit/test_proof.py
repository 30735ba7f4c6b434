"""Proof of the compilers: for random drawings, the analysed YAML allows exactly what the drawing means.

Each drawing is compiled to a dialect, the YAML analysed over the drawing's own cluster (check.document_cluster)
and compared, pair by pair and port by port, with the drawing's meaning evaluated straight from its nodes and
edges (check.Intent). Pods get no IPs: an ipBlock never matches a pod (the analyser's default, SEMANTICS 3.6).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from editor.policy.analysis import FqdnPeer, analyse, format_connlist
from editor.policy.analysis.peers import INGRESS_CONTROLLER
from editor.policy.check import Intent, analyse_document, document_cluster, mismatches, peer_end, policy_objects
from editor.policy.compile import DIALECTS
from editor.policy.document import Document
from tests.strategies import assume_cilium_spells_named_ports, documents

PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def prove(document: Document, dialect: str) -> list[str]:
    bridge = analyse_document(document, dialect)
    errors = [str(issue) for issue in bridge.compiled.errors]
    assume_cilium_spells_named_ports(errors)
    assert bridge.compiled.ok, errors
    return [str(m) for m in mismatches(bridge, Intent(document, bridge.pods))]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_random_drawings_compile_to_exactly_what_they_mean(dialect: str) -> None:
    @PROPERTY
    @given(documents(dialect))
    def check(document: Document) -> None:
        assert prove(document, dialect) == []

    check()


@st.composite
def crowded(draw: st.DrawFn, dialect: str) -> Document:
    """Drawings where selectors overlap many workloads: few label values, more of everything."""
    document = draw(documents(dialect, max_workloads=9, max_selectors=5, max_edges=20))
    values = st.sampled_from(("a", "b"))
    for node in document.nodes:
        if node.kind == "workload":
            node.labels = {key: draw(values) for key in node.labels} or {"app": draw(values)}
    return Document.from_json(document.to_json())


@pytest.mark.parametrize("dialect", DIALECTS)
def test_crowded_drawings_with_overlapping_selectors(dialect: str) -> None:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(crowded(dialect))
    def check(document: Document) -> None:
        assert prove(document, dialect) == []

    check()


# --- the proof can fail ------------------------------------------------------------------------------------


TALK_APP = Path(__file__).resolve().parents[1] / "fixtures" / "documents" / "talk-app.json"


def talk_app() -> Document:
    """The talk's application (tests/fixtures/documents) with its ingress and API ports named, the ingress
    controller's egress locked too (e1 on both sides) and the internet outside 10/8 reaching the controller."""
    data = json.loads(TALK_APP.read_text())
    for edge in data["edges"]:
        if edge["id"] in ("e1", "e2"):
            edge["ports"] = [{"protocol": "TCP", "port": "http"}]
            edge.pop("enforce", None)
    data["nodes"].append({"id": "internet", "kind": "cidr", "cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]})
    data["edges"].append(
        {
            "id": "e5",
            "source": "internet",
            "target": "ingress",
            "ports": [{"protocol": "TCP", "port": 443}],
            "enforce": ["target"],
        }
    )
    return Document.from_json(data)


# Written out by hand from the drawing: the ingress controller is locked both ways by e1 (egress) and e5
# (ingress), so only the internet (outside 10/8) reaches it; the DNS selector stays open; a workload to itself
# is not listed.
TALK_CONNLIST = """\
0.0.0.0-9.255.255.255[External] => ingress-nginx/ingress controller[Selector] : TCP 443
0.0.0.0-9.255.255.255[External] => kube-system/cluster DNS[Selector] : All Connections
10.0.0.0-10.255.255.255[External] => kube-system/cluster DNS[Selector] : All Connections
11.0.0.0-255.255.255.255[External] => ingress-nginx/ingress controller[Selector] : TCP 443
11.0.0.0-255.255.255.255[External] => kube-system/cluster DNS[Selector] : All Connections
backend/api[Deployment] => kube-system/cluster DNS[Selector] : TCP 53,UDP 53
frontend/web[Deployment] => backend/api[Deployment] : TCP 9090
frontend/web[Deployment] => kube-system/cluster DNS[Selector] : TCP 53,UDP 53
ingress-nginx/ingress controller[Selector] => frontend/web[Deployment] : TCP 8080
kube-system/cluster DNS[Selector] => 0.0.0.0-255.255.255.255[External] : All Connections"""


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_talks_app_gives_exactly_the_drawn_connlist(dialect: str) -> None:
    document = talk_app()
    bridge = analyse_document(document, dialect)
    assert bridge.compiled.ok
    assert format_connlist(bridge.analysis) == TALK_CONNLIST
    assert prove(document, dialect) == []


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_compiler_that_drops_a_port_is_caught(dialect: str) -> None:
    """Sabotage the YAML of the talk's app (web's egress loses its rule to the API's http port): the proof must
    notice."""
    document = talk_app()
    bridge = analyse_document(document, dialect)
    objects = copy.deepcopy(bridge.compiled.objects)
    web = next(o for o in objects if o["metadata"]["name"] == "web" and "egress" in o["spec"])
    # the api's http port: a name in NetworkPolicy, its number 9090 in Cilium egress (C10a)
    rules = web["spec"]["egress"]
    web["spec"]["egress"] = [rule for rule in rules if "http" not in str(rule) and "'9090'" not in str(rule)]
    sabotaged = _with_objects(bridge.compiled, objects)
    cluster = document_cluster(document, policy_objects(sabotaged)).cluster
    bridge.analysis = analyse(cluster)
    found = [str(m) for m in mismatches(bridge, Intent(document, bridge.pods))]
    assert found == [
        "frontend/web[Deployment] => backend/api[Deployment] : YAML allows No Connections, drawing means TCP 9090"
    ]


def _with_objects(result: Any, objects: list[dict[str, Any]]) -> Any:
    clone = copy.copy(result)
    clone.objects = objects
    return clone


def test_a_drawing_changed_after_compiling_is_caught() -> None:
    """The other way round: the drawing's meaning changes after compiling (api's egress lock and DNS edge go)."""
    document = talk_app()
    bridge = analyse_document(document, "native")
    document.node("api").isolate.egress = False
    document.edges = [edge for edge in document.edges if edge.id != "e4"]
    found = [str(m) for m in mismatches(bridge, Intent(document, bridge.pods))]
    api_to_dns = "backend/api[Deployment] => kube-system/cluster DNS[Selector]"
    assert f"{api_to_dns} : YAML allows TCP 53,UDP 53, drawing means All Connections" in found


# --- found by the proof ------------------------------------------------------------------------------------


def test_the_dns_visibility_rule_does_not_widen_the_dns_edge() -> None:
    document = Document.from_json(
        {
            "schema": "fenceline/v1",
            "namespaces": [{"name": "shop"}, {"name": "kube-system"}],
            "nodes": [
                {"id": "web", "kind": "workload", "name": "web", "namespace": "shop", "labels": {"app": "web"}},
                {
                    "id": "dns",
                    "kind": "selector",
                    "namespace": "kube-system",
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                },
                {"id": "api", "kind": "fqdn", "matchName": "api.example.com"},
            ],
            "edges": [
                {"id": "e1", "source": "web", "target": "dns", "ports": [{"protocol": "TCP"}], "enforce": ["source"]},
                {
                    "id": "e2",
                    "source": "web",
                    "target": "api",
                    "ports": [{"protocol": "TCP", "port": 443}],
                    "enforce": ["source"],
                },
            ],
        }
    )
    assert prove(document, "cilium") == []


def test_the_ingress_controller_is_an_end_of_its_own() -> None:
    # An Ingress or Route object adds netpol-analyzer's ingress controller as a peer; before it had an end of
    # its own, peer_end read a `.name` it does not have (found by mypy --strict).
    controller = peer_end({}, INGRESS_CONTROLLER)
    assert controller == ("ingress-controller",)
    assert controller != peer_end({}, FqdnPeer("ingress-controller"))
