"""The Check view: the cluster of a drawing, the matrix, flagged edges, undrawn connections, JSON."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from editor.policy.check import CheckResult, check_document, document_cluster, label_selector, satisfying_labels
from editor.policy.compile import DIALECTS
from editor.policy.document import Document


def workload(node_id: str, labels: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "kind": "workload",
        "name": node_id,
        "namespace": "shop",
        "owner": "Deployment",
        "labels": labels,
        **extra,
    }


def drawing(nodes: list[dict[str, Any]], edges: list[dict[str, Any]], namespaces: Any = None) -> Document:
    return Document.from_json(
        {"schema": "fenceline/v1", "namespaces": namespaces or [{"name": "shop"}], "nodes": nodes, "edges": edges}
    )


def tcp(port: int | str, end: int | None = None) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port, **({"endPort": end} if end else {})}]


# --- the cluster of a drawing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels"),
    [
        ({}, {}),
        ({"matchLabels": {"app": "web"}}, {"app": "web"}),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db", "cache"]}]}, {"tier": "cache"}),
        (
            {
                "matchLabels": {"app": "a"},
                "matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}],
            },
            {"app": "a"},
        ),
        (
            {
                "matchExpressions": [
                    {"key": "env", "operator": "Exists"},
                    {"key": "env", "operator": "NotIn", "values": ["v0"]},
                ]
            },
            {"env": "v1"},
        ),
        ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, {}),
        ({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}, {}),
        ({"matchLabels": {"k8s:app": "web"}}, {"app": "web"}),
    ],
)
def test_satisfying_labels_are_the_fewest_that_match(selector: dict[str, Any], labels: dict[str, str]) -> None:
    parsed = label_selector(selector)
    assert parsed is not None
    assert satisfying_labels(parsed) == labels
    assert parsed.matches(labels)


@pytest.mark.parametrize(
    "selector",
    [
        {"matchLabels": {"app": "a"}, "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}]},
        {"matchExpressions": [{"key": "x", "operator": "Exists"}, {"key": "x", "operator": "DoesNotExist"}]},
        {
            "matchExpressions": [
                {"key": "x", "operator": "In", "values": ["a"]},
                {"key": "x", "operator": "In", "values": ["b"]},
            ]
        },
    ],
)
def test_no_labels_satisfy_a_contradiction(selector: dict[str, Any]) -> None:
    parsed = label_selector(selector)
    assert parsed is not None
    assert satisfying_labels(parsed) is None


def test_the_cluster_has_the_workloads_and_a_stand_in_for_each_used_selector_that_matches_none() -> None:
    document = drawing(
        [
            workload("web", {"app": "web"}, containerPorts=[{"name": "http", "port": 8080}]),
            {"id": "same", "kind": "selector", "namespace": "shop", "podSelector": {"matchLabels": {"app": "web"}}},
            {
                "id": "db",
                "kind": "selector",
                "name": "databases",
                "namespace": "shop",
                "podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]},
            },
            {
                "id": "team-a",
                "kind": "selector",
                "namespaceSelector": {"matchLabels": {"team": "a"}},
                "podSelector": {},
            },
            {
                "id": "impossible",
                "kind": "selector",
                "namespace": "shop",
                "podSelector": {
                    "matchLabels": {"app": "x"},
                    "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["x"]}],
                },
            },
            {"id": "unused", "kind": "selector", "namespace": "shop", "podSelector": {"matchLabels": {"app": "u"}}},
        ],
        [
            {"id": "e1", "source": "same", "target": "db", "ports": tcp(5432)},
            {"id": "e2", "source": "team-a", "target": "impossible", "ports": []},
        ],
        [{"name": "shop"}, {"name": "zeta", "labels": {"team": "a"}}, {"name": "alpha", "labels": {"team": "a"}}],
    )
    built = document_cluster(document)
    assert [(str(p.workload), p.node_id, p.representative, p.labels) for p in built.pods] == [
        ("shop/web[Deployment]", "web", False, {"app": "web"}),
        ("shop/databases[Selector]", "db", True, {"tier": "db"}),
        ("alpha/team-a[Selector]", "team-a", True, {}),
    ]
    assert built.pods[0].ports[0].name == "http"
    assert built.cluster.namespaces["zeta"].labels == {"team": "a", "kubernetes.io/metadata.name": "zeta"}
    assert [p.node_id for p in document_cluster(document, representatives=False).pods] == ["web"]


# --- flagged edges, undrawn connections --------------------------------------------------------------------


def shop() -> Document:
    """a -> b enforced on a only while b is locked; c -> b drawn 80-90 on c, b allows 80 from c; a -> c names a
    port c lacks; everyone (a selector) may reach b on 443; c denies itself UDP 53 to a."""
    return drawing(
        [
            workload("a", {"app": "a"}),
            workload("b", {"app": "b"}, isolate={"ingress": True, "egress": False}),
            workload("c", {"app": "c"}, containerPorts=[{"name": "http", "port": 8080}]),
            {"id": "everyone", "kind": "selector", "namespace": "shop", "podSelector": {}},
        ],
        [
            {"id": "e1", "source": "a", "target": "b", "ports": tcp(80), "enforce": ["source"]},
            {"id": "e2", "source": "c", "target": "b", "ports": tcp(80, 90), "enforce": ["source"]},
            {"id": "e3", "source": "c", "target": "b", "ports": tcp(80), "enforce": ["target"]},
            {"id": "e4", "source": "a", "target": "c", "ports": tcp("metrics") + tcp("http"), "enforce": ["source"]},
            {"id": "e5", "source": "everyone", "target": "b", "ports": tcp(443), "enforce": ["target"]},
            {
                "id": "e6",
                "source": "c",
                "target": "a",
                "ports": [{"protocol": "UDP", "port": 53}],
                "enforce": ["source"],
                "action": "deny",
            },
        ],
    )


def findings(result: CheckResult) -> dict[str, list[tuple[str, str, str, str, tuple[str, ...]]]]:
    return {
        finding.edge_id: [(p.src, p.dst, str(p.drawn), str(p.allowed), p.reasons) for p in finding.pairs]
        for finding in result.flagged
    }


@pytest.mark.parametrize("dialect", DIALECTS)
def test_edges_that_are_not_in_effect_are_flagged_with_the_reason(dialect: str) -> None:
    result = check_document(shop(), dialect)
    a, b, c = "shop/a[Deployment]", "shop/b[Deployment]", "shop/c[Deployment]"
    b_isolated = f"{b} is isolated for ingress (locked on node b and by edges e3, e5)"
    found = findings(result)
    assert found["e1"] == [
        (
            a,
            b,
            "TCP 80",
            "No Connections",
            (f"{b_isolated} and edge e1 is not enforced on the target: enforce it on the target too",),
        )
    ]
    assert found["e2"] == [
        (
            c,
            b,
            "TCP 80-90",
            "TCP 80",
            (
                f"{b_isolated} and edge e2 is not enforced on the target; its other ingress edges allow TCP 80 of it: "
                "enforce it on the target too",
            ),
        )
    ]
    assert found["e4"] == [
        (
            a,
            c,
            "TCP 8080",
            "TCP 8080",
            (f"named port 'metrics' is not a container port of {c}, so it allows nothing there",),
        )
    ]
    not_on_source = "and edge e5 is not enforced on the source: enforce it on the source too"
    assert [(src, reasons) for src, _, _, _, reasons in found["e5"]] == [
        (a, (f"{a} is isolated for egress (by edges e1, e4) {not_on_source}",)),
        (c, (f"{c} is isolated for egress (by edges e2, e6) {not_on_source}",)),
    ]
    assert result.flagged[0].summary.startswith("edge e1 is not in effect: ")
    assert result.flagged[0].pairs[0].explanation[0] == f"Connections between {a} => {b}:"
    assert result.mismatches == []
    if dialect == "native":  # NetworkPolicy cannot deny: the deny edge is flagged as not compiled
        assert set(found) == {"e1", "e2", "e4", "e5", "e6"}
        assert found["e6"] == []
        assert result.flagged[-1].summary.startswith(
            "edge e6 is not compiled in this dialect: edge e6 (shop/c -> shop/a) is a deny rule"
        )
        assert not result.ok
    else:
        assert set(found) == {"e1", "e2", "e4", "e5"}


def test_a_deny_edge_that_is_in_effect_is_not_flagged_and_one_that_is_not_is() -> None:
    document = drawing(
        [workload("a", {"app": "a"}), workload("b", {"app": "b"})],
        [
            {"id": "e1", "source": "a", "target": "b", "ports": [], "enforce": ["source"]},
            {"id": "e2", "source": "a", "target": "b", "ports": tcp(22), "enforce": ["source"], "action": "deny"},
        ],
    )
    a, b = "shop/a[Deployment]", "shop/b[Deployment]"
    result = check_document(document, "cilium")
    assert str(result.cell(a, b)) == "SCTP 1-65535,TCP 1-21,23-65535,UDP 1-65535"
    # the deny edge is in effect; the allow edge it cuts into is flagged for that
    assert [(f.edge_id, f.summary) for f in result.flagged] == [
        ("e1", "edge e1 is only partly in effect: TCP 22 denied by deny edge e2")
    ]
    native = check_document(document, "native")
    assert [f.edge_id for f in native.flagged] == ["e2"]
    (pair,) = native.flagged[0].pairs
    assert (pair.src, pair.dst, str(pair.allowed)) == (a, b, "All Connections")
    assert pair.reasons[0].startswith("not compiled: edge e2 (shop/a -> shop/b) is a deny rule")
    assert pair.reasons[1] == "TCP 22 is still allowed"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_connections_nobody_drew_name_the_broad_edge_or_the_open_side(dialect: str) -> None:
    document = drawing(
        [
            workload("a", {"app": "a"}),
            workload("b", {"app": "b"}, isolate={"ingress": True, "egress": True}),
            {"id": "everyone", "kind": "selector", "namespace": "shop", "podSelector": {}},
            {"id": "net", "kind": "cidr", "cidr": "10.0.0.0/8"},
        ],
        [
            {"id": "e1", "source": "a", "target": "b", "ports": tcp(80), "enforce": ["target"]},
            {"id": "e2", "source": "everyone", "target": "b", "ports": tcp(443), "enforce": ["target"]},
            {"id": "e3", "source": "b", "target": "net", "ports": tcp(443)},
        ],
    )
    result = check_document(document, dialect)
    assert result.flagged == [] and result.mismatches == []
    undrawn = {(u.src, u.dsts, str(u.connections), u.via, u.open_sides) for u in result.undrawn}
    a, b = "shop/a[Deployment]", "shop/b[Deployment]"
    assert (a, (b,), "TCP 443", ("e2",), ("egress",)) in undrawn
    everywhere = ("0.0.0.0-9.255.255.255[External]", "10.0.0.0-10.255.255.255[External]")
    assert (a, (*everywhere, "11.0.0.0-255.255.255.255[External]"), "All Connections", (), ("egress",)) in undrawn
    assert not any(u.src == b for u in result.undrawn)  # b -> 10/8 on 443 is drawn, nothing else is allowed
    entry = next(u for u in result.undrawn if u.dsts == (b,))
    assert entry.reason == f"{a} is not isolated for egress; edge e2 allows it"


# --- the matrix and its JSON ---------------------------------------------------------------------------------


def test_the_matrix_has_every_pair_with_a_pod_and_its_status() -> None:
    result = check_document(shop(), "cilium")
    names = [result.peers[i].name for i in result.sources]
    assert names == [
        "shop/a[Deployment]",
        "shop/b[Deployment]",
        "shop/c[Deployment]",
        "0.0.0.0-255.255.255.255[External]",
    ]
    assert [result.peers[i].name for i in result.destinations] == names
    assert result.cell("shop/a[Deployment]", "shop/a[Deployment]") is None
    assert result.cell("0.0.0.0-255.255.255.255[External]", "0.0.0.0-255.255.255.255[External]") is None
    assert str(result.cell("shop/c[Deployment]", "shop/b[Deployment]")) == "TCP 80"
    assert str(result.cell("shop/a[Deployment]", "shop/c[Deployment]")) == "TCP 8080"
    assert str(result.cell("shop/b[Deployment]", "shop/a[Deployment]")) == "All Connections"
    data = result.to_json()
    statuses = {c["text"]: c["status"] for c in data["connections"]}
    assert statuses == {
        "No Connections": "denied",
        "TCP 8080": "partial",
        "All Connections": "allowed",
        "TCP 80": "partial",
    }
    assert data["peers"][0] == {"name": "shop/a[Deployment]", "kind": "workload", "nodeIds": ["a"]}


def test_the_json_is_serialisable_and_does_not_depend_on_the_order_of_the_drawing() -> None:
    document = shop()
    expected = json.dumps(check_document(document, "cilium").to_json(), sort_keys=False)
    shuffled = Document.from_json(document.to_json())
    rng = random.Random(7)
    rng.shuffle(shuffled.nodes)
    rng.shuffle(shuffled.edges)
    assert json.dumps(check_document(shuffled, "cilium").to_json(), sort_keys=False) == expected
    assert set(check_document(document, "native").to_json(timings=True)["timings"]) == {
        "compile_and_analyse",
        "matrix",
        "flagged",
        "undrawn",
    }


def test_explain_gives_the_analysers_reasons_for_a_cell() -> None:
    # netpol-analyzer's --explain wording (pkg/explanation), port range by port range
    lines = check_document(shop(), "native").explain("shop/c[Deployment]", "shop/b[Deployment]")
    assert lines[:8] == [
        "Connections between shop/c[Deployment] => shop/b[Deployment]:",
        "",
        "Allowed connections:",
        "\tAllowed TCP:[80] due to the following policies and rules:",
        "\t\tEgress (Allowed)",
        "\t\t\tNetworkPolicy 'shop/c' allows connections by Egress rule #1",
        "\t\tIngress (Allowed)",
        "\t\t\tNetworkPolicy 'shop/b' allows connections by Ingress rule #1",
    ]
    denied = "\n".join(lines[lines.index("Denied connections:") :])
    assert "\tDenied TCP:[443] due to the following policies and rules:" in denied
    assert "NetworkPolicy 'shop/b' allows connections by Ingress rule #2" in denied


def test_the_check_view_gives_each_workloads_exposure_in_words() -> None:
    exposure = {item["workload"]: item["exposures"] for item in check_document(shop(), "native").to_json()["exposure"]}
    assert [e["text"] for e in exposure["shop/a[Deployment]"] if e["direction"] == "ingress"] == [
        "open to the internet",
        "open to the whole cluster",
    ]
    assert {"direction": "ingress", "peer": "shop/[all pods]", "connections": "TCP 443"}.items() <= next(
        e for e in exposure["shop/b[Deployment]"] if e["direction"] == "ingress"
    ).items()


def test_a_drawing_of_selectors_only_shows_their_traffic_through_stand_ins() -> None:
    document = drawing(
        [
            {"id": "front", "kind": "selector", "namespace": "shop", "podSelector": {"matchLabels": {"tier": "front"}}},
            {"id": "back", "kind": "selector", "namespace": "shop", "podSelector": {"matchLabels": {"tier": "back"}}},
        ],
        [{"id": "e1", "source": "front", "target": "back", "ports": tcp(8080)}],
    )
    result = check_document(document, "native")
    assert str(result.cell("shop/front[Selector]", "shop/back[Selector]")) == "TCP 8080"
    assert str(result.cell("shop/back[Selector]", "shop/front[Selector]")) == "All Connections"
    assert str(result.cell("shop/front[Selector]", "0.0.0.0-255.255.255.255[External]")) == "No Connections"
    assert result.ok
    assert result.to_json()["peers"][0] == {"name": "shop/back[Selector]", "kind": "selector", "nodeIds": ["back"]}


def test_a_cell_for_the_hover_names_the_edges_and_locks_of_both_sides() -> None:
    result = check_document(shop(), "cilium")
    cell = result.cell_json("shop/c[Deployment]", "shop/b[Deployment]")
    assert cell == {
        "src": "shop/c[Deployment]",
        "dst": "shop/b[Deployment]",
        "connections": "TCP 80",
        "status": "partial",
        "explanation": result.explain("shop/c[Deployment]", "shop/b[Deployment]"),
        "tier": "application",
        "tierReason": "partly allowed by the application layer's policies: TCP 80",
        "egress": {"isolated": True, "lockedOn": [], "allowedBy": ["e2"], "deniedBy": []},
        "ingress": {"isolated": True, "lockedOn": ["b"], "allowedBy": ["e3", "e5"], "deniedBy": []},
    }
    outside = result.cell_json("0.0.0.0-255.255.255.255[External]", "shop/b[Deployment]")
    assert (outside["status"], "egress" in outside, outside["ingress"]["allowedBy"]) == ("denied", False, [])
    with pytest.raises(KeyError):
        result.cell_json("shop/b[Deployment]", "shop/b[Deployment]")
