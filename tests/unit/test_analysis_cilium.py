"""CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy semantics (SEMANTICS.md section 4) on small clusters."""

from __future__ import annotations

from typing import Any

import pytest

from editor.policy.analysis import Analysis, Options, analyse, fqdn_matches
from editor.policy.manifests import read_cluster
from editor.policy.yamlio import InputError, dump_yaml_documents, load_objects

CLUSTER: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "a"}}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other", "labels": {"team": "b"}}},
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
        "kind": "Pod",
        "metadata": {"name": "db", "namespace": "shop", "labels": {"app": "db"}},
        "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 5432}]}]},
        "status": {"podIP": "10.0.0.7"},
    },
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "client", "namespace": "other", "labels": {"app": "client"}},
        "spec": {"containers": [{"name": "c"}]},
    },
]
WORLD = "0.0.0.0-255.255.255.255[External]"


def cnp(name: str, spec: dict[str, Any], namespace: str | None = "shop", *, key: str = "spec") -> dict[str, Any]:
    kind = "CiliumNetworkPolicy" if namespace else "CiliumClusterwideNetworkPolicy"
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "cilium.io/v2", "kind": kind, "metadata": metadata, key: spec}


def run(*policies: dict[str, Any], **options: bool) -> Analysis:
    loaded, _ = load_objects(dump_yaml_documents([*CLUSTER, *policies]), "c.yaml")
    return analyse(read_cluster(loaded), Options(**options))


def conns(analysis: Analysis, src: str, dst: str) -> str:
    return str(analysis.connection(analysis.peer(src), analysis.peer(dst)))


def db_ingress(*rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return cnp("db", {"endpointSelector": {"matchLabels": {"app": "db"}}, "ingress": list(rules), **extra})


def test_endpoint_selectors_without_a_namespace_stay_in_the_policy_namespace() -> None:
    same_ns = run(db_ingress({"fromEndpoints": [{"matchLabels": {"app": "client"}}]}))
    assert conns(same_ns, "other/client", "shop/db") == "No Connections"  # C5: client is in another namespace
    named = run(db_ingress({"fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "other"}}]}))
    assert conns(named, "other/client", "shop/db") == "All Connections"
    assert conns(named, "shop/web", "shop/db") == "No Connections"
    by_expression = run(
        db_ingress(
            {
                "fromEndpoints": [
                    {
                        "matchExpressions": [
                            {"key": "io.kubernetes.pod.namespace", "operator": "In", "values": ["other"]}
                        ]
                    }
                ]
            }
        )
    )
    assert conns(by_expression, "other/client", "shop/db") == "All Connections"
    by_namespace_label = run(
        db_ingress({"fromEndpoints": [{"matchLabels": {"io.cilium.k8s.namespace.labels.team": "b"}}]})
    )
    assert conns(by_namespace_label, "other/client", "shop/db") == "All Connections"
    all_in_namespace = run(db_ingress({"fromEndpoints": [{}]}))
    assert conns(all_in_namespace, "shop/web", "shop/db") == "All Connections"
    assert conns(all_in_namespace, "other/client", "shop/db") == "No Connections"
    assert conns(all_in_namespace, WORLD, "shop/db") == "No Connections"


def test_clusterwide_selectors_span_namespaces_but_not_the_world() -> None:
    policy = cnp(
        "ccnp",
        {
            "endpointSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "client"}}]}],
        },
        namespace=None,
    )
    analysis = run(policy)
    assert conns(analysis, "other/client", "shop/db") == "All Connections"
    assert conns(analysis, "shop/web", "shop/db") == "No Connections"
    every_pod = run(cnp("ccnp", {"endpointSelector": {}, "ingress": [{"fromEndpoints": [{}]}]}, namespace=None))
    assert conns(every_pod, "other/client", "shop/db") == "All Connections"
    assert conns(every_pod, WORLD, "shop/db") == "No Connections"


def test_subject_selector_is_pinned_to_the_policy_namespace() -> None:
    selector = {"matchLabels": {"app": "db", "k8s:io.kubernetes.pod.namespace": "other"}}
    analysis = run(
        cnp("db", {"endpointSelector": selector, "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "web"}}]}]})
    )
    assert conns(analysis, "other/client", "shop/db") == "No Connections"  # shop/db is selected and isolated
    assert conns(analysis, "shop/web", "shop/db") == "All Connections"
    assert any("namespace 'other' replaced by the policy's 'shop'" in w for w in analysis.warnings)


def test_deny_wins_over_every_allow() -> None:
    analysis = run(
        db_ingress(
            {"fromEntities": ["all"]},
            ingressDeny=[
                {
                    "fromEndpoints": [{"matchLabels": {"app": "web"}}],
                    "toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}],
                }
            ],
        ),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "np-open", "namespace": "shop"},
            "spec": {"podSelector": {}, "ingress": [{}]},
        },
    )
    assert conns(analysis, "shop/web", "shop/db") == "SCTP 1-65535,TCP 1-5431,5433-65535,UDP 1-65535"
    assert conns(analysis, "other/client", "shop/db") == "All Connections"
    explanation = str(analysis.explain(analysis.peer("shop/web"), analysis.peer("shop/db")))
    assert "CiliumNetworkPolicy 'shop/db' denies connections by IngressDeny rule #1: TCP 5432" in explanation
    assert "NetworkPolicy 'shop/np-open' allows connections by Ingress rule #1: All Connections" in explanation


def test_deny_rules_alone_isolate_unless_default_deny_is_disabled() -> None:
    deny_web = [{"fromEndpoints": [{"matchLabels": {"app": "web"}}]}]
    isolating = run(cnp("db", {"endpointSelector": {"matchLabels": {"app": "db"}}, "ingressDeny": deny_web}))
    assert conns(isolating, "other/client", "shop/db") == "No Connections"
    open_otherwise = run(
        cnp(
            "db",
            {
                "endpointSelector": {"matchLabels": {"app": "db"}},
                "ingressDeny": deny_web,
                "enableDefaultDeny": {"ingress": False},
            },
        )
    )
    assert conns(open_otherwise, "other/client", "shop/db") == "All Connections"
    assert conns(open_otherwise, "shop/web", "shop/db") == "No Connections"


def test_enable_default_deny_false_allows_without_isolating() -> None:
    analysis = run(
        db_ingress(
            {"fromEndpoints": [{"matchLabels": {"app": "web"}}]}, enableDefaultDeny={"ingress": False, "egress": False}
        )
    )
    assert conns(analysis, "other/client", "shop/db") == "All Connections"
    assert conns(analysis, "shop/web", "shop/db") == "All Connections"
    explanation = str(analysis.explain(analysis.peer("other/client"), analysis.peer("shop/db")))
    assert "not isolated for Ingress" in explanation


def test_ports_without_protocol_mean_tcp_udp_and_sctp() -> None:
    omitted = run(db_ingress({"toPorts": [{"ports": [{"port": "53"}]}]}))
    assert conns(omitted, "other/client", "shop/db") == "SCTP 53,TCP 53,UDP 53"
    assert conns(omitted, WORLD, "shop/db") == "SCTP 53,TCP 53,UDP 53"  # no L3 field: every peer
    any_protocol = run(db_ingress({"toPorts": [{"ports": [{"port": "53", "endPort": 54, "protocol": "ANY"}]}]}))
    assert conns(any_protocol, "other/client", "shop/db") == "SCTP 53-54,TCP 53-54,UDP 53-54"
    udp = run(db_ingress({"toPorts": [{"ports": [{"port": "53", "protocol": "UDP"}]}]}))
    assert conns(udp, "other/client", "shop/db") == "UDP 53"
    named = run(
        cnp(
            "web",
            {
                "endpointSelector": {"matchLabels": {"app": "web"}},
                "ingress": [{"toPorts": [{"ports": [{"port": "http"}]}]}],
            },
        )
    )
    assert conns(named, "other/client", "shop/web") == "TCP 8080"


def test_an_empty_peer_list_selects_nothing_but_an_absent_one_everything() -> None:
    empty = run(db_ingress({"fromEndpoints": [], "toPorts": [{"ports": [{"port": "5432"}]}]}))
    assert conns(empty, "shop/web", "shop/db") == "No Connections"
    absent = run(db_ingress({"toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}]}))
    assert conns(absent, "shop/web", "shop/db") == "TCP 5432"
    assert conns(absent, "other/client", "shop/db") == "TCP 5432"
    empty_rule = run(db_ingress({}))  # C4: Cilium's default deny, see test_cilium_semantics.py
    assert conns(empty_rule, "other/client", "shop/db") == "No Connections"
    icmp_only = run(db_ingress({"fromEntities": ["all"], "icmps": [{"fields": [{"type": 8}]}]}))
    assert conns(icmp_only, "other/client", "shop/db") == "No Connections"


def test_entities() -> None:
    analysis = run(
        db_ingress({"fromEntities": ["cluster"]}),
        cnp(
            "web", {"endpointSelector": {"matchLabels": {"app": "web"}}, "egress": [{"toEntities": ["world", "host"]}]}
        ),
    )
    assert conns(analysis, "other/client", "shop/db") == "All Connections"
    assert conns(analysis, WORLD, "shop/db") == "No Connections"  # cluster is not world
    assert conns(analysis, "host[Entity]", "shop/db") == "All Connections"
    assert conns(analysis, "shop/web", WORLD) == "All Connections"
    assert conns(analysis, "shop/web", "host[Entity]") == "All Connections"
    assert conns(analysis, "shop/web", "shop/db") == "No Connections"
    assert conns(analysis, "other/client", "host[Entity]") == "All Connections"
    api = run(db_ingress({"fromEntities": ["kube-apiserver"]}))
    assert conns(api, "kube-apiserver[Entity]", "shop/db") == "All Connections"
    assert conns(api, "shop/web", "shop/db") == "No Connections"
    # the pod's own node may always reach it, even when no rule allows the host
    host_only_named = run(db_ingress({"fromEntities": ["host"], "toPorts": [{"ports": [{"port": "1"}]}]}))
    assert conns(host_only_named, "host[Entity]", "shop/db") == "All Connections"


def test_the_peers_outside_the_pods_are_listed_per_side() -> None:
    analysis = run(
        db_ingress({"fromEntities": ["host"]}, {"fromCIDR": ["10.0.0.0/8"]}),
        cnp("web", {"endpointSelector": {}, "egress": [{"toFQDNs": [{"matchPattern": "*.example.com"}]}]}),
    )
    sources = [str(peer) for peer in analysis.external_sources()]
    assert sources == [
        "0.0.0.0-9.255.255.255[External]",
        "10.0.0.0-10.255.255.255[External]",
        "11.0.0.0-255.255.255.255[External]",
        "host[Entity]",
    ]
    destinations = [str(peer) for peer in analysis.external_destinations()]
    assert destinations == ["0.0.0.0-255.255.255.255[External]", "host[Entity]", "*.example.com[FQDN]"]
    assert [str(peer) for peer in analysis.external_ranges(False)[4]] == destinations[:1]
    assert [str(peer) for peer in analysis.external_ranges(True)[4]] == sources[:3]
    assert analysis.entities() == {"host": analysis.peer("host[Entity]")}
    assert analysis.fqdns() == [analysis.peer("*.example.com[FQDN]")]


def test_cidr_rules_never_match_pods() -> None:
    analysis = run(db_ingress({"fromCIDR": ["10.0.0.0/8"]}), ipblock_matches_pods=True)
    assert conns(analysis, "10.0.0.0-10.255.255.255[External]", "shop/db") == "All Connections"
    assert conns(analysis, "shop/web", "shop/db") == "No Connections"
    sets = run(db_ingress({"fromCIDRSet": [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}]}))
    assert conns(sets, "10.1.0.0-10.1.255.255[External]", "shop/db") == "No Connections"
    assert conns(sets, "10.2.0.0-10.255.255.255[External]", "shop/db") == "All Connections"


def test_fqdns_are_opaque_external_destinations() -> None:
    analysis = run(
        cnp(
            "web",
            {
                "endpointSelector": {"matchLabels": {"app": "web"}},
                "egress": [
                    {
                        "toFQDNs": [{"matchName": "api.example.com"}],
                        "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}],
                    },
                    {
                        "toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system"}}],
                        "toPorts": [
                            {"ports": [{"port": "53", "protocol": "ANY"}], "rules": {"dns": [{"matchPattern": "*"}]}}
                        ],
                    },
                ],
            },
        ),
        cnp(
            "db",
            {
                "endpointSelector": {"matchLabels": {"app": "db"}},
                "egress": [{"toFQDNs": [{"matchPattern": "*.example.com"}]}],
            },
        ),
    )
    assert conns(analysis, "shop/web", "api.example.com[FQDN]") == "TCP 443"
    assert conns(analysis, "shop/web", WORLD) == "No Connections"
    assert conns(analysis, "shop/db", "api.example.com[FQDN]") == "All Connections"  # the pattern covers the name
    assert conns(analysis, "shop/db", "*.example.com[FQDN]") == "All Connections"
    assert conns(analysis, "shop/web", "*.example.com[FQDN]") == "No Connections"
    assert conns(analysis, "other/client", "api.example.com[FQDN]") == "All Connections"  # not isolated
    explanation = str(analysis.explain(analysis.peer("shop/web"), analysis.peer("api.example.com[FQDN]")))
    assert "allows connections by Egress rule #1: TCP 443" in explanation


@pytest.mark.parametrize(
    ("pattern", "name", "covered"),
    [
        ("*.example.com", "api.example.com", True),
        ("*.example.com", "a.b.example.com", False),  # `*` stays within one label
        ("**.example.com", "a.b.example.com", True),
        ("api-*.example.com", "api-eu.example.com", True),
        ("*", "*.example.com", True),  # `*` alone: every name
        # a name that is itself a pattern is covered when every name it stands for is
        ("**.example.com", "*.example.com", True),
        ("**.example.com", "**.a.example.com", True),
        ("*.example.com", "api-*.example.com", True),
        ("*.example.com", "**.example.com", False),
        ("api-*.example.com", "*.example.com", False),
        ("*.example.com", "*", False),
    ],
)
def test_fqdn_patterns_cover_names_and_narrower_patterns(pattern: str, name: str, covered: bool) -> None:
    assert fqdn_matches(pattern, name) is covered
    rules = [
        cnp(
            "db",
            {"endpointSelector": {"matchLabels": {"app": "db"}}, "egress": [{"toFQDNs": [{"matchPattern": pattern}]}]},
        ),
        cnp(
            "web",
            {"endpointSelector": {"matchLabels": {"app": "web"}}, "egress": [{"toFQDNs": [{"matchPattern": name}]}]},
        ),
    ]
    expected = "All Connections" if covered else "No Connections"
    assert conns(run(*rules), "shop/db", f"{name}[FQDN]") == expected


def test_l7_rules_are_reported_as_filtered() -> None:
    analysis = run(
        db_ingress(
            {"toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}], "rules": {"l7proto": "pg", "l7": [{}]}}]}
        )
    )
    explanation = str(analysis.explain(analysis.peer("shop/web"), analysis.peer("shop/db")))
    assert "(L7 rules filter requests on these ports)" in explanation


def test_an_unknown_l7_rule_kind_makes_the_policy_absent() -> None:
    # C4a: the CRD's `rules` is a oneOf of the known kinds, so the API server refuses `HTTP` (upper case)
    rules = {"HTTP": [{"method": "GET"}]}
    analysis = run(db_ingress({"toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}], "rules": rules}]}))
    assert conns(analysis, "shop/web", "shop/db") == "All Connections"
    (warning,) = analysis.warnings
    assert warning.startswith("c.yaml:")
    assert "spec.ingress[0].toPorts[0].rules.HTTP: the API server refuses the unknown L7 rule kind 'HTTP'" in warning
    assert "analysed as absent" in warning


def test_specs_lists_are_separate_rules() -> None:
    specs = [
        {
            "endpointSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "web"}}]}],
        },
        {"nodeSelector": {}, "ingress": [{"fromEntities": ["world"]}]},
        {"endpointSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"fromEntities": ["world"]}]},
    ]
    analysis = run(cnp("multi", specs, key="specs"))  # type: ignore[arg-type]
    assert conns(analysis, "shop/web", "shop/db") == "All Connections"
    assert conns(analysis, WORLD, "shop/web") == "All Connections"
    assert conns(analysis, WORLD, "shop/db") == "No Connections"
    assert "CiliumNetworkPolicy 'shop/multi' specs[2]" in str(
        analysis.explain(analysis.peer(WORLD), analysis.peer("shop/web"))
    )
    assert any("host policies (nodeSelector) are not analysed" in w for w in analysis.warnings)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"endpointSelector": {}, "ingress": [{"fromEntities": ["everything"]}]},
            "spec.ingress[0].fromEntities[0]: unknown entity",
        ),
        (
            {"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": "80", "protocol": "tcp"}]}]}]},
            "unknown protocol 'tcp'",
        ),
        (
            {"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": "99999"}]}]}]},
            "port 99999 is not in 0-65535",
        ),
        ({"ingress": [{}]}, "spec: needs endpointSelector"),
        (
            {"endpointSelector": {}, "egress": [{"toCIDRSet": [{"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}]}]},
            "strict subset",
        ),
        ({"endpointSelector": {}, "egress": [{"toFQDNs": [{}]}]}, "needs matchName or matchPattern"),
        (
            {"endpointSelector": {"matchLabels": {"k8s:Bad Key": "x"}}},
            "spec.endpointSelector.matchLabels.k8s:Bad Key: selector error",
        ),
        (
            {"endpointSelector": {}, "ingress": [{"fromEndpoints": [{"matchLabels": None, "app": "web"}]}]},
            "spec.ingress[0].fromEndpoints[0].app: unknown field 'app': a label selector has only matchLabels",
        ),
    ],
)
def test_invalid_cilium_policies(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as caught:
        run(cnp("bad", spec))
    assert message in caught.value.message
    assert caught.value.message.startswith("CiliumNetworkPolicy shop/bad: ")
    assert caught.value.source == "c.yaml"


def test_a_policy_without_spec_is_rejected() -> None:
    with pytest.raises(InputError, match="needs spec or specs"):
        run(
            {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumNetworkPolicy",
                "metadata": {"name": "x", "namespace": "shop"},
            }
        )
