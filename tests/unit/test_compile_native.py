"""The NetworkPolicy compiler, rule by rule, with the exact YAML expected for small documents."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from editor.policy.compile import compile_document
from editor.policy.document import Document
from editor.policy.validate import validate_object


def doc(nodes: list[dict[str, Any]], edges: list[dict[str, Any]] = (), **settings: Any) -> Document:
    namespaces = sorted({n["namespace"] for n in nodes if "namespace" in n} | {"default"})
    return Document.from_json(
        {
            "schema": "fenceline/v1",
            "settings": {"dialect": "native", **settings},
            "namespaces": [{"name": name} for name in namespaces],
            "nodes": nodes,
            "edges": [{"id": f"e{i + 1}", **edge} for i, edge in enumerate(edges)],
        }
    )


def web(**extra: Any) -> dict[str, Any]:
    return {"id": "web", "kind": "workload", "name": "web", "namespace": "shop", "labels": {"app": "web"}, **extra}


def api(**extra: Any) -> dict[str, Any]:
    return {"id": "api", "kind": "workload", "name": "api", "namespace": "shop", "labels": {"app": "api"}, **extra}


def render(document: Document) -> str:
    result = compile_document(document, "native")
    for obj in result.objects:
        assert validate_object(obj) == [], obj
    return result.yaml


def expect(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def test_an_edge_between_two_workloads_becomes_egress_on_the_source_and_ingress_on_the_target() -> None:
    document = doc([web(), api()], [{"source": "web", "target": "api", "ports": [{"protocol": "TCP", "port": 8080}]}])
    assert render(document) == expect(
        """
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata:
          name: api
          namespace: shop
        spec:
          podSelector:
            matchLabels:
              app: api
          policyTypes:
            - Ingress
          ingress:
            - from:
                - podSelector:
                    matchLabels:
                      app: web
              ports:
                - protocol: TCP
                  port: 8080
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata:
          name: web
          namespace: shop
        spec:
          podSelector:
            matchLabels:
              app: web
          policyTypes:
            - Egress
          egress:
            - to:
                - podSelector:
                    matchLabels:
                      app: api
              ports:
                - protocol: TCP
                  port: 8080
        """
    )


def test_a_lock_without_edges_is_an_explicit_deny_all_and_unlocked_nodes_get_no_policy() -> None:
    document = doc([web(isolate={"ingress": True, "egress": True}), api()])
    assert render(document) == expect(
        """
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata:
          name: web
          namespace: shop
        spec:
          podSelector:
            matchLabels:
              app: web
          policyTypes:
            - Ingress
            - Egress
        """
    )


def test_enforce_on_one_side_compiles_only_that_side_and_disabled_edges_compile_to_nothing() -> None:
    document = doc(
        [web(), api()],
        [
            {"source": "web", "target": "api", "enforce": ["target"]},
            {"source": "api", "target": "web", "disabled": True},
        ],
    )
    result = compile_document(document, "native")
    assert [(o["metadata"]["name"], o["spec"]["policyTypes"]) for o in result.objects] == [("api", ["Ingress"])]
    assert result.objects[0]["spec"]["ingress"] == [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]


def test_cross_namespace_peers_are_one_peer_item_with_namespace_and_pod_selector() -> None:
    db = {"id": "db", "kind": "workload", "name": "db", "namespace": "data", "labels": {"app": "db"}}
    everyone = {"id": "all-data", "kind": "selector", "namespace": "data", "podSelector": {}}
    document = doc([web(), db, everyone], [{"source": "web", "target": "db"}, {"source": "web", "target": "all-data"}])
    egress = compile_document(document, "native").objects[-1]["spec"]["egress"]
    assert egress == [
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "data"}},
                    "podSelector": {"matchLabels": {"app": "db"}},
                },
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "data"}}},
            ]
        }
    ]


def test_selector_nodes_with_a_namespace_selector_keep_it_and_add_the_pod_selector_only_when_not_empty() -> None:
    monitoring = {
        "id": "mon",
        "kind": "selector",
        "namespaceSelector": {"matchLabels": {"team": "ops"}},
        "podSelector": {"matchLabels": {"app": "prometheus"}},
    }
    anywhere = {"id": "any", "kind": "selector", "namespaceSelector": {}, "podSelector": {}}
    document = doc(
        [web(), monitoring, anywhere], [{"source": "mon", "target": "web"}, {"source": "any", "target": "web"}]
    )
    ingress = compile_document(document, "native").objects[0]["spec"]["ingress"]
    assert ingress == [
        {
            "from": [
                {
                    "namespaceSelector": {"matchLabels": {"team": "ops"}},
                    "podSelector": {"matchLabels": {"app": "prometheus"}},
                },
                {"namespaceSelector": {}},
            ]
        }
    ]


def test_cidr_peers_become_ip_blocks_with_except() -> None:
    block = {"id": "net", "kind": "cidr", "cidr": "10.0.0.0/8", "except": ["10.96.0.0/12", "10.1.0.0/16"]}
    document = doc([web(), block], [{"source": "web", "target": "net", "ports": [{"protocol": "UDP", "port": 53}]}])
    assert compile_document(document, "native").objects[0]["spec"]["egress"] == [
        {
            "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "10.96.0.0/12"]}}],
            "ports": [{"protocol": "UDP", "port": 53}],
        }
    ]


def test_the_entity_all_is_a_rule_without_peers_that_absorbs_peers_with_the_same_ports() -> None:
    everything = {"id": "all", "kind": "entity", "entity": "all"}
    document = doc(
        [web(), api(), everything],
        [
            {"source": "all", "target": "web", "ports": [{"protocol": "TCP", "port": 443}]},
            {"source": "api", "target": "web", "ports": [{"protocol": "TCP", "port": 443}]},
            {"source": "all", "target": "web", "ports": []},
        ],
    )
    result = compile_document(document, "native")
    web_policy = next(o for o in result.objects if o["metadata"]["name"] == "web")
    assert web_policy["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 443}]}, {}]
    explained = {(x.name, x.direction, x.index): x.edge_ids for x in result.explanations}
    assert explained[("web", "ingress", 0)] == ("e1", "e2")
    assert explained[("web", "ingress", 1)] == ("e3",)


def test_peers_with_identical_port_sets_share_a_rule_and_ports_are_explicit_sorted_and_expanded() -> None:
    db = {"id": "db", "kind": "workload", "name": "db", "namespace": "shop", "labels": {"app": "db"}}
    same = [{"protocol": "TCP", "port": 5432}, {"protocol": "ANY", "port": "metrics"}]
    document = doc(
        [web(), api(), db],
        [
            {"source": "web", "target": "db", "ports": same},
            {"source": "api", "target": "db", "ports": list(reversed(same))},
            {"source": "api", "target": "db", "ports": [{"protocol": "UDP", "port": 1000, "endPort": 2000}]},
        ],
    )
    db_policy = next(o for o in compile_document(document, "native").objects if o["metadata"]["name"] == "db")
    assert db_policy["spec"]["ingress"] == [
        {
            "from": [
                {"podSelector": {"matchLabels": {"app": "api"}}},
                {"podSelector": {"matchLabels": {"app": "web"}}},
            ],
            "ports": [
                {"protocol": "TCP", "port": 5432},
                {"protocol": "TCP", "port": "metrics"},
                {"protocol": "UDP", "port": "metrics"},
                {"protocol": "SCTP", "port": "metrics"},
            ],
        },
        {
            "from": [{"podSelector": {"matchLabels": {"app": "api"}}}],
            "ports": [{"protocol": "UDP", "port": 1000, "endPort": 2000}],
        },
    ]


def test_a_workload_is_selected_by_its_kept_pod_selector_else_by_all_its_labels() -> None:
    kept = web(labels={"app": "web", "pod-template-hash": "abc"}, podSelector={"matchLabels": {"app": "web"}})
    plain = api(labels={"tier": "b", "app": "api"}, isolate={"ingress": True})
    kept["isolate"] = {"ingress": True}
    selectors = [o["spec"]["podSelector"] for o in compile_document(doc([kept, plain]), "native").objects]
    assert selectors == [{"matchLabels": {"app": "api", "tier": "b"}}, {"matchLabels": {"app": "web"}}]


@pytest.mark.parametrize(
    ("node", "edge", "says"),
    [
        ({"id": "x", "kind": "entity", "entity": "world"}, {}, "Cilium entity 'world'"),
        ({"id": "x", "kind": "fqdn", "matchName": "example.com"}, {}, "toFQDNs"),
        ({"id": "x", "kind": "hosts", "nodeSelector": {}}, {}, "fromNodes/toNodes"),
        ({"id": "x", "kind": "cidr", "cidr": "10.0.0.0/8"}, {"action": "deny"}, "deny rule"),
        ({"id": "x", "kind": "cidr", "cidr": "10.0.0.0/8"}, {"l7": {"http": [{"method": "GET"}]}}, "L7 rules"),
        ({"id": "x", "kind": "cidr", "cidr": "10.0.0.0/8"}, {"icmps": [{"type": 8}]}, "ICMP"),
        ({"id": "x", "kind": "cidr", "cidr": "10.0.0.0/8"}, {"serverNames": ["a.example"]}, "TLS server names"),
    ],
)
def test_what_native_cannot_express_is_an_error_naming_the_edge_and_the_rest_still_compiles(
    node: dict[str, Any], edge: dict[str, Any], says: str
) -> None:
    document = doc(
        [web(), api(), node],
        [
            {
                "source": "web",
                "target": "x",
                "ports": [{"protocol": "TCP", "port": 443}],
                "enforce": ["source"],
                **edge,
            },
            {"source": "web", "target": "api", "enforce": ["source"]},
        ],
    )
    result = compile_document(document, "native")
    assert [issue.edge_id for issue in result.errors] == ["e1"]
    assert says in result.errors[0].message and "Cilium dialect" in result.errors[0].message
    assert "edge e1" in result.errors[0].message
    assert result.objects[0]["spec"]["egress"] == [{"to": [{"podSelector": {"matchLabels": {"app": "api"}}}]}]


@pytest.mark.parametrize(
    ("subject", "says"),
    [
        (
            {"id": "s", "kind": "selector", "namespaceSelector": {}, "podSelector": {}, "isolate": {"ingress": True}},
            "namespaceSelector",
        ),
        (
            {"id": "s", "kind": "hosts", "nodeSelector": {}, "isolate": {"ingress": True}},
            "host policies need the Cilium dialect",
        ),
    ],
)
def test_cluster_wide_and_host_subjects_are_errors_naming_the_node(subject: dict[str, Any], says: str) -> None:
    result = compile_document(doc([subject]), "native")
    assert result.objects == []
    assert [(i.node_id, says in i.message) for i in result.errors] == [("s", True)]


def test_invalid_label_syntax_is_an_error_not_invalid_yaml() -> None:
    hostile = web(labels={"app": "<script>alert(1)</script>"}, isolate={"ingress": True})
    result = compile_document(doc([hostile]), "native")
    assert result.objects == []
    assert "invalid label value '<script>alert(1)</script>'" in result.errors[0].message


def test_an_edge_nobody_can_enforce_is_a_warning() -> None:
    block = {"id": "net", "kind": "cidr", "cidr": "10.0.0.0/8"}
    result = compile_document(
        doc([web(), block], [{"source": "net", "target": "web", "enforce": ["source"]}]), "native"
    )
    assert result.objects == [] and not result.errors
    assert "enforced by neither end" in result.issues[0].message


def test_a_named_port_towards_an_ip_block_warns_that_it_matches_nothing() -> None:
    block = {"id": "net", "kind": "cidr", "cidr": "10.0.0.0/8"}
    document = doc([web(), block], [{"source": "web", "target": "net", "ports": [{"protocol": "TCP", "port": "http"}]}])
    result = compile_document(document, "native")
    assert not result.errors
    assert "matches nothing" in result.issues[0].message


def test_names_come_from_policy_name_or_a_slug_and_are_unique_per_namespace() -> None:
    nodes = [
        web(policyName="Allow Web!", isolate={"ingress": True}),
        api(policyName="allow-web", isolate={"ingress": True}),
        {
            "id": "z",
            "kind": "selector",
            "namespace": "shop",
            "name": "app=z",
            "podSelector": {},
            "isolate": {"egress": True},
        },
    ]
    names = [o["metadata"]["name"] for o in compile_document(doc(nodes), "native").objects]
    assert names == ["allow-web", "allow-web-2", "app-z"]


def test_every_rule_is_explained_by_its_edges() -> None:
    document = doc([web(), api()], [{"source": "web", "target": "api", "ports": [{"protocol": "TCP", "port": 8080}]}])
    texts = {
        (x.name, x.direction, x.index, x.edge_ids, x.text) for x in compile_document(document, "native").explanations
    }
    assert texts == {
        ("api", "ingress", 0, ("e1",), "Allows connections from shop/web on TCP 8080 (edge e1)."),
        ("web", "egress", 0, ("e1",), "Allows connections to shop/api on TCP 8080 (edge e1)."),
    }
