"""Kubernetes NetworkPolicy semantics (SEMANTICS.md section 3), each rule on a small hand-written cluster."""

from __future__ import annotations

from typing import Any

import pytest

from editor.policy.analysis import (
    ALL_CONNECTIONS,
    NO_CONNECTIONS,
    Analysis,
    ConnectionSet,
    Options,
    analyse,
    format_connlist,
)
from editor.policy.manifests import Cluster, ContainerPort, Namespace, Workload, read_cluster
from editor.policy.yamlio import InputError, dump_yaml_documents, load_objects


def pod(ns: str, name: str, labels: dict[str, str], ports: list[dict[str, Any]] | None = None, ip: str = "") -> dict:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"containers": [{"name": "c", "ports": ports or []}]},
    }
    if ip:
        obj["status"] = {"podIP": ip}
    return obj


def namespace(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def netpol(ns: str, name: str, spec: dict[str, Any]) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def run(*objects: dict, **options: bool) -> Analysis:
    loaded, _ = load_objects(dump_yaml_documents(list(objects)), "t.yaml")
    return analyse(read_cluster(loaded), Options(**options))


def conns(analysis: Analysis, src: str, dst: str) -> str:
    return str(analysis.connection(analysis.peer(src), analysis.peer(dst)))


WORLD = "0.0.0.0-255.255.255.255[External]"
BASE = [
    namespace("x", team="a"),
    namespace("y", team="b"),
    pod(
        "x",
        "a",
        {"app": "a"},
        [{"name": "http", "containerPort": 8080}, {"name": "dns", "containerPort": 53, "protocol": "UDP"}],
    ),
    pod("x", "b", {"app": "b"}, [{"name": "http", "containerPort": 9090}]),
    pod("y", "c", {"app": "c"}),
]


def test_without_policies_everything_is_allowed() -> None:
    analysis = run(*BASE)
    assert conns(analysis, "x/a", "y/c") == "All Connections"
    assert conns(analysis, WORLD, "x/a") == "All Connections"
    assert conns(analysis, "x/a", WORLD) == "All Connections"
    assert analysis.connection(analysis.peer("x/a"), analysis.peer("x/a")) == NO_CONNECTIONS  # self: not listed


def test_policy_types_default_to_ingress_plus_egress_when_egress_rules_exist() -> None:
    # D1: no policyTypes + egress rules => Ingress and Egress; `egress: []` => Ingress only
    with_egress = run(
        *BASE,
        netpol("x", "p", {"podSelector": {"matchLabels": {"app": "a"}}, "egress": [{"to": [{"podSelector": {}}]}]}),
    )
    assert conns(with_egress, "x/a", "x/b") == "All Connections"
    assert conns(with_egress, "x/a", "y/c") == "No Connections"
    assert conns(with_egress, "x/b", "x/a") == "No Connections"  # ingress isolated, no ingress rules
    empty_egress = run(*BASE, netpol("x", "p", {"podSelector": {"matchLabels": {"app": "a"}}, "egress": []}))
    assert conns(empty_egress, "x/a", "y/c") == "All Connections"
    assert conns(empty_egress, "y/c", "x/a") == "No Connections"


def test_rules_of_a_direction_missing_from_policy_types_are_ignored_with_a_warning() -> None:
    analysis = run(
        *BASE,
        netpol("x", "p", {"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{"from": [{"podSelector": {}}]}]}),
    )
    assert conns(analysis, "y/c", "x/a") == "All Connections"  # ingress not isolated
    assert conns(analysis, "x/a", "x/b") == "No Connections"  # egress isolated, no egress rules
    assert any("spec.ingress: ignored: policyTypes ['Egress'] does not include Ingress" in w for w in analysis.warnings)


def test_ignored_rules_still_cut_the_external_ranges_like_netpol_analyzer() -> None:
    egress = [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]
    analysis = run(
        *BASE, netpol("x", "p", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}], "egress": egress})
    )
    assert [line for line in format_connlist(analysis).splitlines() if line.startswith("x/a[Pod] => 1")] == [
        "x/a[Pod] => 10.0.0.0-10.255.255.255[External] : All Connections",
        "x/a[Pod] => 11.0.0.0-255.255.255.255[External] : All Connections",
    ]


def test_namespace_selector_absent_means_own_namespace_and_empty_means_all() -> None:
    own = run(
        *BASE,
        netpol("x", "p", {"podSelector": {"matchLabels": {"app": "a"}}, "ingress": [{"from": [{"podSelector": {}}]}]}),
    )
    assert conns(own, "x/b", "x/a") == "All Connections"
    assert conns(own, "y/c", "x/a") == "No Connections"
    assert conns(own, WORLD, "x/a") == "No Connections"
    every = run(
        *BASE,
        netpol(
            "x", "p", {"podSelector": {"matchLabels": {"app": "a"}}, "ingress": [{"from": [{"namespaceSelector": {}}]}]}
        ),
    )
    assert conns(every, "y/c", "x/a") == "All Connections"
    assert conns(every, WORLD, "x/a") == "No Connections"  # all pods, but no IPs
    by_label = run(
        *BASE,
        netpol(
            "x",
            "p",
            {
                "podSelector": {"matchLabels": {"app": "a"}},
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "b"}}}]}],
            },
        ),
    )
    assert conns(by_label, "y/c", "x/a") == "All Connections"
    assert conns(by_label, "x/b", "x/a") == "No Connections"


def test_pod_and_namespace_selector_in_one_peer_are_anded_in_two_peers_ored() -> None:
    both = {"namespaceSelector": {"matchLabels": {"team": "b"}}, "podSelector": {"matchLabels": {"app": "b"}}}
    anded = run(*BASE, netpol("x", "p", {"podSelector": {"matchLabels": {"app": "a"}}, "ingress": [{"from": [both]}]}))
    assert conns(anded, "y/c", "x/a") == "No Connections"
    assert conns(anded, "x/b", "x/a") == "No Connections"
    split = [{"namespaceSelector": both["namespaceSelector"]}, {"podSelector": both["podSelector"]}]
    ored = run(*BASE, netpol("x", "p", {"podSelector": {"matchLabels": {"app": "a"}}, "ingress": [{"from": split}]}))
    assert conns(ored, "y/c", "x/a") == "All Connections"
    assert conns(ored, "x/b", "x/a") == "All Connections"


def test_empty_rule_allows_everything_and_policies_are_additive() -> None:
    analysis = run(
        *BASE,
        netpol("x", "deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        netpol("x", "open-a", {"podSelector": {"matchLabels": {"app": "a"}}, "ingress": [{}]}),
    )
    assert conns(analysis, "y/c", "x/a") == "All Connections"
    assert conns(analysis, WORLD, "x/a") == "All Connections"
    assert conns(analysis, "y/c", "x/b") == "No Connections"
    assert conns(analysis, "x/b", "x/a") == "No Connections"  # b's egress is denied
    assert conns(analysis, "x/a", WORLD) == "No Connections"


def test_ip_blocks_cut_the_address_space_and_do_not_match_pods_by_default() -> None:
    spec = {
        "podSelector": {"matchLabels": {"app": "a"}},
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}],
    }
    pods = [namespace("x"), pod("x", "a", {"app": "a"}), pod("x", "b", {"app": "b"}, ip="10.2.3.4")]
    analysis = run(*pods, netpol("x", "p", spec))
    assert format_connlist(analysis).splitlines() == [
        "0.0.0.0-9.255.255.255[External] => x/b[Pod] : All Connections",
        "10.0.0.0-10.0.255.255[External] => x/a[Pod] : All Connections",
        "10.0.0.0-10.0.255.255[External] => x/b[Pod] : All Connections",
        "10.1.0.0-10.1.255.255[External] => x/b[Pod] : All Connections",
        "10.2.0.0-10.255.255.255[External] => x/a[Pod] : All Connections",
        "10.2.0.0-10.255.255.255[External] => x/b[Pod] : All Connections",
        "11.0.0.0-255.255.255.255[External] => x/b[Pod] : All Connections",
        "x/a[Pod] => 0.0.0.0-255.255.255.255[External] : All Connections",
        "x/a[Pod] => x/b[Pod] : All Connections",
        "x/b[Pod] => 0.0.0.0-255.255.255.255[External] : All Connections",
    ]
    assert analysis.external_peer("10.1.2.3", as_source=True).first == int.from_bytes(bytes([10, 1, 0, 0]))
    assert analysis.external_peer("10.1.2.3", as_source=False) == analysis.peer(WORLD)
    # the option of cyclonus, Calico and the upstream e2e tests: pod IPs inside the block match too
    matching = run(*pods, netpol("x", "p", spec), ipblock_matches_pods=True)
    assert conns(matching, "x/b", "x/a") == "All Connections"


def test_ports_protocols_and_ranges() -> None:
    rule = {
        "ports": [
            {"port": 80},
            {"protocol": "UDP", "port": 5000, "endPort": 5010},
            {"protocol": "SCTP"},
            {"protocol": "TCP", "port": 81},
        ]
    }
    analysis = run(*BASE, netpol("x", "p", {"podSelector": {"matchLabels": {"app": "a"}}, "ingress": [rule]}))
    assert conns(analysis, "y/c", "x/a") == "SCTP 1-65535,TCP 80-81,UDP 5000-5010"
    full = {"ports": [{"protocol": p, "port": 1, "endPort": 65535} for p in ("TCP", "UDP", "SCTP")]}
    everything = run(*BASE, netpol("x", "p", {"podSelector": {}, "ingress": [full]}))
    assert conns(everything, "y/c", "x/a") == "All Connections"
    no_ports = run(*BASE, netpol("x", "p", {"podSelector": {}, "ingress": [{"ports": []}]}))
    assert conns(no_ports, "y/c", "x/a") == "All Connections"


def test_named_ports_resolve_on_the_receiving_pod() -> None:
    ingress = run(
        *BASE,
        netpol(
            "x",
            "p",
            {"podSelector": {}, "ingress": [{"ports": [{"port": "http"}, {"port": "dns", "protocol": "TCP"}]}]},
        ),
    )
    # the same name maps to 8080 on a and 9090 on b; `dns` exists on a only for UDP, so TCP does not match
    assert conns(ingress, "y/c", "x/a") == "TCP 8080"
    assert conns(ingress, "y/c", "x/b") == "TCP 9090"
    explanation = ingress.explain(ingress.peer("y/c"), ingress.peer("x/a"))
    assert "(named port dns not defined on the receiving pod)" in str(explanation)
    assert any("named port dns (TCP) is not a container port of any pod it applies to" in w for w in ingress.warnings)
    egress = run(
        *BASE,
        netpol("y", "p", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": "http"}]}]}),
    )
    assert conns(egress, "y/c", "x/a") == "TCP 8080"
    assert conns(egress, "y/c", "x/b") == "TCP 9090"
    assert conns(egress, "y/c", WORLD) == "No Connections"
    assert any("named port http cannot apply to IP" in w for w in egress.warnings)


def test_a_cluster_built_in_code_needs_no_pods_or_namespace_objects() -> None:
    """The editor builds clusters from a drawing: workloads with labels and ports, no Pod or Namespace objects."""
    web = Workload("shop", "web", "Deployment", {"app": "web"}, (ContainerPort("http", 8080),), 3, "drawing")
    db = Workload("data", "db", "StatefulSet", {"app": "db"}, (), 1, "drawing")
    loaded, _ = load_objects(
        dump_yaml_documents(
            [
                netpol(
                    "shop",
                    "p",
                    {
                        "podSelector": {},
                        "ingress": [
                            {
                                "from": [
                                    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "data"}}}
                                ],
                                "ports": [{"port": "http"}],
                            }
                        ],
                    },
                )
            ]
        ),
        "p.yaml",
    )
    cluster = read_cluster(loaded)
    analysis = analyse(Cluster({}, [web, db], [], cluster.policies, []))
    assert conns(analysis, "data/db", "shop/web") == "TCP 8080"
    assert analysis.workload_peer(web) == analysis.peer("shop/web[Deployment]")


def test_a_namespace_built_in_code_without_its_name_label_still_matches_by_name() -> None:
    """R5: the analyser adds `kubernetes.io/metadata.name` itself, for NetworkPolicy and Cilium selectors alike."""
    by_name = {"matchLabels": {"kubernetes.io/metadata.name": "data"}}
    cilium_by_name = {"matchLabels": {"io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name": "data"}}
    policies = [
        netpol(
            "shop",
            "np",
            {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [{"namespaceSelector": by_name}]}]},
        ),
        {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy",
            "metadata": {"name": "cnp", "namespace": "shop"},
            "spec": {
                "endpointSelector": {"matchLabels": {"app": "api"}},
                "ingress": [{"fromEndpoints": [cilium_by_name]}],
            },
        },
    ]
    loaded, _ = load_objects(dump_yaml_documents(policies), "p.yaml")
    namespaces = {"shop": Namespace("shop", {}), "data": Namespace("data", {"team": "b"})}
    workloads = [
        Workload("shop", "web", "Deployment", {"app": "web"}, (), 1, "code"),
        Workload("shop", "api", "Deployment", {"app": "api"}, (), 1, "code"),
        Workload("data", "db", "StatefulSet", {"app": "db"}, (), 1, "code"),
    ]
    analysis = analyse(Cluster(namespaces, workloads, [], read_cluster(loaded).policies, []))
    assert conns(analysis, "data/db", "shop/web") == "All Connections"
    assert conns(analysis, "data/db", "shop/api") == "All Connections"
    assert conns(analysis, "shop/api", "shop/web") == "No Connections"


def test_workloads_sharing_a_pod_class_are_still_listed_against_each_other() -> None:
    analysis = run(namespace("x"), pod("x", "one", {"app": "same"}), pod("x", "two", {"app": "same"}))
    assert len(analysis.universe.classes) == 1
    assert conns(analysis, "x/one", "x/two") == "All Connections"


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"policyTypes": ["Ingres"]}, "spec.policyTypes[0]", "'Ingres' is not Ingress or Egress"),
        ({"policyTypes": ["Ingress", "Egress", "Ingress"]}, "spec.policyTypes", "at most 2 types"),
        (
            {"ingress": [{"ports": [{"protocol": "ICMP"}]}]},
            "spec.ingress[0].ports[0].protocol",
            "unsupported protocol 'ICMP'",
        ),
        ({"ingress": [{"ports": [{"port": 0}]}]}, "spec.ingress[0].ports[0].port", "port 0 is not in 1-65535"),
        (
            {"ingress": [{"ports": [{"port": "8080"}]}]},
            "spec.ingress[0].ports[0].port",
            "'8080' is not a valid port name",
        ),
        (
            {"ingress": [{"ports": [{"port": "http", "endPort": 90}]}]},
            "spec.ingress[0].ports[0].endPort",
            "only be set together with a numeric port",
        ),
        (
            {"ingress": [{"ports": [{"endPort": 90}]}]},
            "spec.ingress[0].ports[0].endPort",
            "only be set together with a numeric port",
        ),
        (
            {"ingress": [{"ports": [{"port": 80, "endPort": 70000}]}]},
            "spec.ingress[0].ports[0].endPort",
            "port range 80-70000 is illegal",
        ),
        (
            {"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}}]}]},
            "spec.egress[0].to[0].ipBlock.except[0]",
            "must be a strict subset of cidr 10.0.0.0/8",
        ),
        (
            {"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}}]}]},
            "spec.egress[0].to[0].ipBlock.except[0]",
            "strict subset",
        ),
        (
            {"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]},
            "spec.egress[0].to[0]",
            "cannot have both ipBlock and podSelector/namespaceSelector",
        ),
        ({"ingress": [{"from": [{}]}]}, "spec.ingress[0].from[0]", "cannot have empty rule peer"),
        (
            {"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
            "spec.podSelector.matchExpressions[0]",
            "selector error: values must be non-empty when operator is In",
        ),
        ({"ingress": {"from": []}}, "spec.ingress", "must be a list"),
        (
            {"podSelector": {"app": "web"}},
            "spec.podSelector.app",
            "unknown field 'app': a label selector has only matchLabels and matchExpressions (mis-indented?)",
        ),
        (
            {
                "ingress": [
                    {"from": [{"podSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "value": []}]}}]}
                ]
            },
            "spec.ingress[0].from[0].podSelector.matchExpressions[0].value",
            "unknown field 'value': a matchExpressions entry has only key and operator and values",
        ),
    ],
)
def test_invalid_policies_name_the_field_and_line(spec: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        run(namespace("x"), netpol("x", "bad", {"podSelector": {}, **spec}))
    assert caught.value.message.startswith(f"NetworkPolicy x/bad: {field}: ")
    assert message in caught.value.message
    assert caught.value.source == "t.yaml" and caught.value.line is not None and caught.value.line > 5


def test_connection_sets() -> None:
    tcp80 = ConnectionSet.of(["TCP"], 80, 80)
    udp = ConnectionSet.of(["UDP"])
    assert str(tcp80 | udp) == "TCP 80,UDP 1-65535"
    assert str(ALL_CONNECTIONS) == "All Connections" and str(NO_CONNECTIONS) == "No Connections"
    assert str(ALL_CONNECTIONS - tcp80) == "SCTP 1-65535,TCP 1-79,81-65535,UDP 1-65535"
    assert (ALL_CONNECTIONS - tcp80) | tcp80 == ALL_CONNECTIONS
    assert (tcp80 & udp) == NO_CONNECTIONS and not (tcp80 & udp)
    assert (tcp80 | udp).allows("UDP", 5) and not tcp80.allows("TCP", 81) and not tcp80.allows("ICMP", 80)
    assert (tcp80 | udp).to_dict() == {"TCP": [[80, 80]], "UDP": [[1, 65535]]}
    assert ConnectionSet.of(["TCP", "UDP", "SCTP"]).is_all
