"""The CiliumNetworkPolicy compiler, rule by rule, with the exact YAML expected for small documents."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from editor.policy.compile import CompileResult, compile_document
from editor.policy.document import Document
from editor.policy.validate import validate_object

NS = "k8s:io.kubernetes.pod.namespace"


def doc(nodes: list[dict[str, Any]], edges: list[dict[str, Any]] = ()) -> Document:
    namespaces = sorted({n["namespace"] for n in nodes if "namespace" in n} | {"kube-system"})
    return Document.from_json(
        {
            "schema": "fenceline/v1",
            "settings": {"dialect": "cilium"},
            "namespaces": [{"name": name, "labels": {"team": "ops"} if name == "ops" else {}} for name in namespaces],
            "nodes": nodes,
            "edges": [{"id": f"e{i + 1}", **edge} for i, edge in enumerate(edges)],
        }
    )


def workload(name: str, namespace: str = "shop", **extra: Any) -> dict[str, Any]:
    return {"id": name, "kind": "workload", "name": name, "namespace": namespace, "labels": {"app": name}, **extra}


DNS = {
    "id": "dns",
    "kind": "selector",
    "namespace": "kube-system",
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def compiled(document: Document) -> CompileResult:
    result = compile_document(document, "cilium")
    for obj in result.objects:
        assert [f for f in validate_object(obj) if f.is_error] == [], obj
    return result


def policy(result: CompileResult, name: str, kind: str = "CiliumNetworkPolicy") -> dict[str, Any]:
    return next(o for o in result.objects if o["metadata"]["name"] == name and o["kind"] == kind)


def test_pod_peers_always_carry_their_namespace_and_ports_are_strings_with_explicit_protocol() -> None:
    document = doc(
        [workload("web"), workload("api", "backend")],
        [
            {
                "source": "web",
                "target": "api",
                "ports": [{"protocol": "TCP", "port": 8080}, {"protocol": "ANY", "port": 9000, "endPort": 9100}],
            }
        ],
    )
    assert compiled(document).yaml == textwrap.dedent(
        """\
        ---
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata:
          name: api
          namespace: backend
        spec:
          endpointSelector:
            matchLabels:
              app: api
          ingress:
            - fromEndpoints:
                - matchLabels:
                    app: web
                    k8s:io.kubernetes.pod.namespace: shop
              toPorts:
                - ports:
                    - port: '8080'
                      protocol: TCP
                    - port: '9000'
                      endPort: 9100
                      protocol: ANY
        ---
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata:
          name: web
          namespace: shop
        spec:
          endpointSelector:
            matchLabels:
              app: web
          egress:
            - toEndpoints:
                - matchLabels:
                    app: api
                    k8s:io.kubernetes.pod.namespace: backend
              toPorts:
                - ports:
                    - port: '8080'
                      protocol: TCP
                    - port: '9000'
                      endPort: 9100
                      protocol: ANY
        """
    )


def test_each_rule_has_one_peer_field_and_peers_sharing_a_field_and_ports_share_a_rule() -> None:
    nodes = [
        workload("web"),
        {"id": "one", "kind": "cidr", "cidr": "20.1.1.1/32"},
        {"id": "ten", "kind": "cidr", "cidr": "10.0.0.0/8", "except": ["10.96.0.0/12"]},
        {"id": "world", "kind": "entity", "entity": "world"},
        {"id": "host", "kind": "entity", "entity": "host"},
        {"id": "all", "kind": "entity", "entity": "all"},
    ]
    edges = [{"source": "web", "target": target} for target in ("one", "ten", "world", "host")]
    edges.append({"source": "web", "target": "all", "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP"}]})
    egress = policy(compiled(doc(nodes, edges)), "web")["spec"]["egress"]
    assert egress == [
        {"toCIDR": ["20.1.1.1/32"]},
        {"toCIDRSet": [{"cidr": "10.0.0.0/8", "except": ["10.96.0.0/12"]}]},
        {
            "toEntities": ["all"],
            "toPorts": [{"ports": [{"port": "0", "protocol": "TCP"}, {"port": "53", "protocol": "UDP"}]}],
        },
        {"toEntities": ["host", "world"]},
    ]


def test_icmp_goes_to_its_own_rule_and_an_icmp_only_edge_allows_no_ports() -> None:
    nodes = [workload("web"), workload("api")]
    edges = [
        {
            "source": "web",
            "target": "api",
            "enforce": ["source"],
            "ports": [{"protocol": "TCP", "port": 80}],
            "icmps": [{"family": "IPv4", "type": 8}],
        },
        {"source": "api", "target": "web", "enforce": ["target"], "icmps": [{"type": "EchoRequest", "family": "IPv6"}]},
    ]
    result = compiled(doc(nodes, edges))
    api_peer = [{"matchLabels": {"app": "api", NS: "shop"}}]
    assert policy(result, "web")["spec"] == {
        "endpointSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"fromEndpoints": api_peer, "icmps": [{"fields": [{"type": "EchoRequest", "family": "IPv6"}]}]}],
        "egress": [
            {"toEndpoints": api_peer, "icmps": [{"fields": [{"family": "IPv4", "type": 8}]}]},
            {"toEndpoints": api_peer, "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]},
        ],
    }


def test_deny_edges_become_deny_sections_and_cannot_carry_l7() -> None:
    nodes = [workload("web"), {"id": "bad", "kind": "cidr", "cidr": "192.0.2.0/24"}]
    edges = [
        {"source": "web", "target": "bad", "action": "deny", "ports": [{"protocol": "TCP", "port": 25}]},
        {
            "source": "web",
            "target": "bad",
            "action": "deny",
            "ports": [{"protocol": "TCP", "port": 80}],
            "l7": {"http": [{}]},
        },
    ]
    result = compiled(doc(nodes, edges))
    assert policy(result, "web")["spec"]["egressDeny"] == [
        {"toCIDR": ["192.0.2.0/24"], "toPorts": [{"ports": [{"port": "25", "protocol": "TCP"}]}]}
    ]
    assert [(e.edge_id, "deny rule" in e.message) for e in result.errors] == [("e2", True)]
    assert [x.direction for x in result.explanations] == ["egressDeny"]


def test_l7_rules_ride_on_their_toports_entry_and_need_tcp_ports() -> None:
    nodes = [workload("web"), workload("api")]
    http = {"http": [{"method": "GET", "path": "/public"}]}
    edges = [
        {
            "source": "web",
            "target": "api",
            "enforce": ["target"],
            "ports": [{"protocol": "TCP", "port": 80}],
            "l7": http,
        },
        {
            "source": "web",
            "target": "api",
            "enforce": ["target"],
            "ports": [{"protocol": "ANY", "port": 81}],
            "l7": http,
        },
        {
            "source": "web",
            "target": "api",
            "enforce": ["source"],
            "ports": [{"protocol": "TCP", "port": 443}],
            "serverNames": ["b.example", "a.example"],
        },
    ]
    result = compiled(doc(nodes, edges))
    assert policy(result, "api")["spec"]["ingress"] == [
        {
            "fromEndpoints": [{"matchLabels": {"app": "web", NS: "shop"}}],
            "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}], "rules": http}],
        }
    ]
    assert policy(result, "web")["spec"]["egress"][0]["toPorts"] == [
        {"ports": [{"port": "443", "protocol": "TCP"}], "serverNames": ["a.example", "b.example"]}
    ]
    assert [e.edge_id for e in result.errors] == ["e2"] and "TCP ports only" in result.errors[0].message


def test_fqdn_edges_need_an_allow_dns_edge() -> None:
    nodes = [workload("web"), {"id": "gh", "kind": "fqdn", "matchName": "github.com"}]
    result = compile_document(
        doc(nodes, [{"source": "web", "target": "gh", "ports": [{"protocol": "TCP", "port": 443}]}]), "cilium"
    )
    assert [e.edge_id for e in result.errors] == ["e1"]
    assert (
        "add the 'allow DNS' edge" in result.errors[0].message
        and "k8s-app=kube-dns in kube-system" in result.errors[0].message
    )
    assert policy(result, "web")["spec"]["egress"] == [
        {"toFQDNs": [{"matchName": "github.com"}], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}
    ]


def test_the_dns_edge_of_an_fqdn_subject_gets_dns_visibility_rules_on_port_53_only() -> None:
    nodes = [workload("web"), DNS, {"id": "gh", "kind": "fqdn", "matchPattern": "*.github.com"}]
    edges = [
        {"source": "web", "target": "gh", "enforce": ["source"]},
        {
            "source": "web",
            "target": "dns",
            "enforce": ["source"],
            "ports": [*DNS_PORTS, {"protocol": "TCP", "port": 9153}],
        },
    ]
    dns_peer = [{"matchLabels": {"k8s-app": "kube-dns", NS: "kube-system"}}]
    assert compiled(doc(nodes, edges)).yaml.count("matchPattern: '*'") == 1
    assert policy(compiled(doc(nodes, edges)), "web")["spec"]["egress"] == [
        {
            "toEndpoints": dns_peer,
            "toPorts": [
                {
                    "ports": [{"port": "53", "protocol": "TCP"}, {"port": "53", "protocol": "UDP"}],
                    "rules": {"dns": [{"matchPattern": "*"}]},
                }
            ],
        },
        {"toEndpoints": dns_peer, "toPorts": [{"ports": [{"port": "9153", "protocol": "TCP"}]}]},
        {"toFQDNs": [{"matchPattern": "*.github.com"}]},
    ]


def test_a_dns_edge_from_a_subject_covering_the_fqdn_subject_counts_and_one_without_port_53_gets_it_added() -> None:
    everyone = {"id": "everyone", "kind": "selector", "namespace": "shop", "podSelector": {}, "name": "all pods"}
    nodes = [workload("web"), everyone, DNS, {"id": "gh", "kind": "fqdn", "matchName": "github.com"}]
    edges = [
        {"source": "web", "target": "gh", "enforce": ["source"]},
        {"source": "everyone", "target": "dns", "enforce": ["source"]},
    ]
    result = compiled(doc(nodes, edges))
    assert not result.errors
    dns_peer = [{"matchLabels": {"k8s-app": "kube-dns", NS: "kube-system"}}]
    assert policy(result, "all-pods")["spec"]["egress"] == [
        {
            "toEndpoints": dns_peer,
            "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}], "rules": {"dns": [{"matchPattern": "*"}]}}],
        },
        {"toEndpoints": dns_peer},
    ]


def test_a_dns_edge_that_already_has_dns_rules_is_kept_as_drawn() -> None:
    rules = {"dns": [{"matchName": "github.com"}]}
    nodes = [workload("web"), DNS, {"id": "gh", "kind": "fqdn", "matchName": "github.com"}]
    edges = [
        {"source": "web", "target": "gh", "enforce": ["source"]},
        {
            "source": "web",
            "target": "dns",
            "enforce": ["source"],
            "ports": [{"protocol": "UDP", "port": 53}],
            "l7": rules,
        },
    ]
    egress = policy(compiled(doc(nodes, edges)), "web")["spec"]["egress"]
    assert egress[0]["toPorts"] == [{"ports": [{"port": "53", "protocol": "UDP"}], "rules": rules}]


def test_fqdn_as_a_source_is_an_error() -> None:
    nodes = [workload("web"), {"id": "gh", "kind": "fqdn", "matchName": "github.com"}]
    result = compile_document(doc(nodes, [{"source": "gh", "target": "web"}]), "cilium")
    assert "egress only" in result.errors[0].message


def test_a_cluster_wide_subject_becomes_a_ccnp_with_namespace_terms_in_cilium_keys() -> None:
    anywhere = {
        "id": "a",
        "kind": "selector",
        "name": "monitoring",
        "namespaceSelector": {},
        "podSelector": {"matchLabels": {"app": "mon"}},
    }
    ops = {
        "id": "o",
        "kind": "selector",
        "name": "ops",
        "namespaceSelector": {
            "matchLabels": {"team": "ops"},
            "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}
            ],
        },
        "podSelector": {},
    }
    world = {"id": "w", "kind": "entity", "entity": "world"}
    result = compiled(doc([anywhere, ops, world], [{"source": "a", "target": "w"}, {"source": "o", "target": "w"}]))
    assert [(o["kind"], o["metadata"]) for o in result.objects] == [
        ("CiliumClusterwideNetworkPolicy", {"name": "monitoring"}),
        ("CiliumClusterwideNetworkPolicy", {"name": "ops"}),
    ]
    assert result.objects[0]["spec"]["endpointSelector"] == {
        "matchLabels": {"app": "mon"},
        "matchExpressions": [{"key": NS, "operator": "Exists"}],
    }
    assert result.objects[1]["spec"]["endpointSelector"] == {
        "matchLabels": {"io.cilium.k8s.namespace.labels.team": "ops"},
        "matchExpressions": [{"key": NS, "operator": "NotIn", "values": ["kube-system"]}],
    }


def test_a_peer_chosen_by_namespace_labels_makes_the_subject_a_ccnp_pinned_to_its_namespace() -> None:
    ops = {"id": "o", "kind": "selector", "namespaceSelector": {"matchLabels": {"team": "ops"}}, "podSelector": {}}
    result = compiled(doc([workload("web"), ops], [{"source": "o", "target": "web", "enforce": ["target"]}]))
    assert result.objects == [
        {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumClusterwideNetworkPolicy",
            "metadata": {"name": "web"},
            "spec": {
                "endpointSelector": {"matchLabels": {"app": "web", NS: "shop"}},
                "ingress": [{"fromEndpoints": [{"matchLabels": {"io.cilium.k8s.namespace.labels.team": "ops"}}]}],
            },
        }
    ]


def test_hosts_are_node_selector_subjects_and_node_peers() -> None:
    workers = {"id": "h", "kind": "hosts", "name": "workers", "nodeSelector": {"matchLabels": {"role": "worker"}}}
    result = compiled(
        doc([workers, workload("web")], [{"source": "h", "target": "web", "ports": [{"protocol": "TCP", "port": 22}]}])
    )
    assert policy(result, "workers", "CiliumClusterwideNetworkPolicy")["spec"] == {
        "nodeSelector": {"matchLabels": {"role": "worker"}},
        "egress": [
            {
                "toEndpoints": [{"matchLabels": {"app": "web", NS: "shop"}}],
                "toPorts": [{"ports": [{"port": "22", "protocol": "TCP"}]}],
            }
        ],
    }
    assert policy(result, "web")["spec"]["ingress"][0]["fromNodes"] == [{"matchLabels": {"role": "worker"}}]


def test_isolation_without_rules_is_a_companion_network_policy_never_an_empty_rule() -> None:
    web = workload("web", isolate={"ingress": True, "egress": True})
    result = compiled(doc([web, workload("api")], [{"source": "web", "target": "api", "enforce": ["source"]}]))
    assert result.yaml.count("- {}") == 0
    assert [(o["kind"], o["metadata"]["name"]) for o in result.objects] == [
        ("CiliumNetworkPolicy", "web"),
        ("NetworkPolicy", "web"),
    ]
    assert result.objects[1]["spec"] == {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"]}


def test_a_cluster_wide_subject_isolated_without_rules_gets_cilium_s_default_deny() -> None:
    # SEMANTICS C4: `- {}` isolates and allows nothing (cilium/cilium examples/policies/l3/egress-default-deny)
    anywhere = {"id": "a", "kind": "selector", "namespaceSelector": {}, "podSelector": {}, "isolate": {"egress": True}}
    result = compiled(doc([anywhere]))
    assert result.errors == []
    (policy_object,) = result.objects
    assert policy_object["kind"] == "CiliumClusterwideNetworkPolicy"
    assert policy_object["spec"]["egress"] == [{}]
    assert "ingress" not in policy_object["spec"]


@pytest.mark.parametrize(
    ("edge", "says"),
    [
        ({"l7": {"HTTP": []}, "ports": [{"protocol": "TCP", "port": 80}]}, "unknown kind 'HTTP'"),
        ({"l7": {"http": []}}, "no port"),
        (
            {"l7": {"http": []}, "serverNames": ["a.example"], "ports": [{"protocol": "TCP", "port": 443}]},
            "terminatingTLS",
        ),
    ],
)
def test_l7_rules_cilium_refuses_are_errors(edge: dict[str, Any], says: str) -> None:
    result = compile_document(
        doc([workload("web"), workload("api")], [{"source": "web", "target": "api", **edge}]), "cilium"
    )
    assert result.errors and all(says in e.message for e in result.errors)
    for obj in result.objects:
        assert [f for f in validate_object(obj) if f.is_error] == []


def test_dns_rules_are_the_clients_egress_and_the_servers_side_is_plain_l4() -> None:
    dns_rules = {"dns": [{"matchName": "cilium.io"}]}
    result = compiled(
        doc([workload("web"), DNS], [{"source": "web", "target": "dns", "ports": DNS_PORTS, "l7": dns_rules}])
    )
    assert result.errors == []
    client = policy(result, "web")
    assert client["spec"]["egress"][0]["toPorts"][0]["rules"] == dns_rules
    server = next(o for o in result.objects if o["kind"] == "CiliumNetworkPolicy" and o is not client)
    assert server["spec"]["ingress"][0]["toPorts"] == [
        {"ports": [{"port": "53", "protocol": "TCP"}, {"port": "53", "protocol": "UDP"}]}
    ]


def test_dns_visibility_added_to_a_namespace_that_talks_to_itself_stays_on_its_egress_side() -> None:
    # Found by Hypothesis (test_compile_properties): kube-system as one selector, allowed to itself on every port and
    # out to an FQDN. Its egress to itself reaches the DNS servers, so it gets a port-53 rule with DNS visibility;
    # the same edge's ingress side got that rule too, which Cilium refuses ("DNS rules are not allowed on ingress",
    # cilium/cilium pkg/policy/api/rule_validation.go, PortRule.sanitize) and validate reports as an error.
    system = {"id": "system", "kind": "selector", "namespace": "kube-system", "podSelector": {}, "policyName": "system"}
    fqdn = {"id": "api", "kind": "fqdn", "matchName": "api.example.com"}
    result = compiled(
        doc(
            [system, fqdn, DNS],
            [
                {"source": "system", "target": "system", "enforce": ["source", "target"]},
                {"source": "system", "target": "api"},
                {"source": "system", "target": "dns", "ports": DNS_PORTS},
            ],
        )
    )
    assert result.errors == []
    spec = policy(result, "system")["spec"]
    assert spec["ingress"] == [{"fromEndpoints": [{"matchLabels": {NS: "kube-system"}}]}]
    to_itself = [rule for rule in spec["egress"] if rule.get("toEndpoints") == [{"matchLabels": {NS: "kube-system"}}]]
    assert to_itself == [
        {
            "toEndpoints": [{"matchLabels": {NS: "kube-system"}}],
            "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}], "rules": {"dns": [{"matchPattern": "*"}]}}],
        },
        {"toEndpoints": [{"matchLabels": {NS: "kube-system"}}]},
    ]
