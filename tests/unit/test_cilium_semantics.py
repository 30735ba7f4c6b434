"""Cilium semantics as Cilium's code has them (SEMANTICS.md §4, corrected C2-C4a, C8, C10a-C10c), on hand-written
YAML, across the analyser, the importer, the compiler and the linter. Each test names the Cilium source it follows."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from editor.policy.analysis import Analysis, Options, analyse
from editor.policy.compile import compile_document
from editor.policy.document import Document
from editor.policy.importer import import_paths, import_text
from editor.policy.lint import lint_objects
from editor.policy.manifests import read_cluster
from editor.policy.yamlio import load_objects

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

CLUSTER = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: backend}
---
apiVersion: v1
kind: Pod
metadata: {name: restricted, namespace: shop, labels: {role: restricted}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: backend, labels: {app: api}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 9090}, {name: metrics, containerPort: 9100}]}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: db-0
  namespace: shop
  labels: {app: db, statefulset.kubernetes.io/pod-name: db-0}
spec: {containers: [{name: c, ports: [{containerPort: 5432}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: shop, labels: {app: agent}}
spec: {hostNetwork: true, containers: [{name: c}]}
"""
WORLD = "0.0.0.0-255.255.255.255[External]"


def run(policies: str, **options: bool) -> Analysis:
    text = CLUSTER + "---\n" + textwrap.dedent(policies).strip() + "\n"
    objects, _ = load_objects(text, "c.yaml")
    return analyse(read_cluster(objects), Options(**options))


def conns(analysis: Analysis, src: str, dst: str) -> str:
    return str(analysis.connection(analysis.peer(src), analysis.peer(dst)))


def cnp(spec: str, name: str = "p", namespace: str = "shop") -> str:
    head = f"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: {name}, namespace: {namespace}}}\n"
    return head + "spec:\n" + textwrap.indent(textwrap.dedent(spec).strip(), "  ") + "\n"


# -- C4: `- {}` is Cilium's default deny ---------------------------------------------------------------------


def test_cilium_s_egress_default_deny_example_isolates_and_allows_nothing() -> None:
    # cilium/cilium examples/policies/l3/egress-default-deny/egress-default-deny.yaml; pkg/policy/api/egress.go
    # (GetDestinationEndpointSelectorsWithRequirements: no selector for `{}`) and pkg/policy/rule.go (L3-only
    # rules need a selector)
    analysis = run(
        (FIXTURES / "cilium" / "egress-default-deny.yaml").read_text().replace("name: ", "namespace: shop\n  name: ", 1)
    )
    assert conns(analysis, "shop/restricted[Pod]", "shop/web[Pod]") == "No Connections"
    assert conns(analysis, "shop/restricted[Pod]", WORLD) == "No Connections"
    assert conns(analysis, "shop/web[Pod]", "shop/restricted[Pod]") == "All Connections"  # ingress untouched
    assert not analysis.warnings


def test_a_rule_with_only_ports_is_an_l3_wildcard_on_those_ports() -> None:
    # cilium/cilium Documentation/security/policy/language.rst (layer 4: "to any layer 3 destination")
    analysis = run(cnp("endpointSelector: {matchLabels: {app: web}}\negress: [{toPorts: [{ports: [{port: '53'}]}]}]"))
    assert conns(analysis, "shop/web[Pod]", WORLD) == "SCTP 53,TCP 53,UDP 53"


def test_the_importer_reads_the_default_deny_as_a_lock_without_an_edge() -> None:
    # same sources as above: never `toEntities: [all]`
    result = import_paths([FIXTURES / "cilium" / "egress-default-deny.yaml"])
    assert result.document.edges == []
    (subject,) = [node for node in result.document.nodes if node.is_subject]
    assert subject.isolate.egress and not subject.isolate.ingress
    assert any("Cilium's default deny" in w for w in result.warnings)


def test_lint_fl015_says_what_the_default_deny_does_and_offers_no_fix() -> None:
    objects, _ = load_objects((FIXTURES / "cilium" / "egress-default-deny.yaml").read_text(), "d.yaml")
    (finding,) = [f for f in lint_objects([o.obj for o in objects]) if f.rule == "FL015"]
    assert finding.severity == "info" and finding.fixes == []
    assert "Cilium's default deny" in finding.message and "allows nothing" in finding.message


# -- C4: a toPorts entry with rules but no ports allows nothing --------------------------------------------


def test_a_toports_entry_without_ports_allows_nothing() -> None:
    # cilium/cilium pkg/policy/rule.go: one L4 filter per listed port, none for an entry without ports
    spec = """
    endpointSelector: {matchLabels: {app: web}}
    egress:
      - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: backend, app: api}}]
        toPorts: [{rules: {dns: [{matchPattern: "*"}]}}]
    """
    analysis = run(cnp(spec))
    assert conns(analysis, "shop/web[Pod]", "backend/api[Pod]") == "No Connections"
    result = import_text(cnp(spec), "p.yaml")
    assert result.document.edges == []
    assert any("a toPorts entry without ports allows nothing" in w for w in result.warnings)


# -- C10a: egress named ports resolve cluster-wide -------------------------------------------------------


def test_egress_named_ports_resolve_cluster_wide_and_conflicting_names_allow_nothing() -> None:
    # cilium/cilium pkg/types/portmap.go (namedPortMultiMap.GetNamedPort: ErrDuplicateNamedPorts), cilium#30003
    metrics = run(cnp("endpointSelector: {matchLabels: {app: web}}\negress: [{toPorts: [{ports: [{port: metrics}]}]}]"))
    # `metrics` is 9100 wherever it is defined, so it resolves towards any destination, the world included
    assert conns(metrics, "shop/web[Pod]", "backend/api[Pod]") == "TCP 9100"
    assert conns(metrics, "shop/web[Pod]", WORLD) == "TCP 9100"
    http = run(
        cnp(
            "endpointSelector: {matchLabels: {app: web}}\negress:\n"
            "  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: backend}}]\n"
            "    toPorts: [{ports: [{port: http, protocol: TCP}]}]"
        )
    )
    # `http` is 8080 on web and 9090 on api: Cilium skips it, even towards api
    assert conns(http, "shop/web[Pod]", "backend/api[Pod]") == "No Connections"
    assert any("named port http is 8080 and 9090 on different pods" in w for w in http.warnings)
    # ingress still resolves on the receiving pod
    ingress = run(cnp("endpointSelector: {matchLabels: {app: web}}\ningress: [{toPorts: [{ports: [{port: http}]}]}]"))
    assert conns(ingress, "backend/api[Pod]", "shop/web[Pod]") == "TCP 8080"


def _document(nodes: list[dict[str, object]], edges: list[dict[str, object]]) -> Document:
    namespaces = [{"name": "shop"}, {"name": "backend"}]
    data = {"schema": "fenceline/v1", "settings": {"dialect": "cilium"}, "namespaces": namespaces, "nodes": nodes}
    data["edges"] = edges
    return Document.from_json(json.loads(json.dumps(data)))


def _workload(name: str, namespace: str, port: int) -> dict[str, object]:
    return {
        "id": name,
        "kind": "workload",
        "name": name,
        "namespace": namespace,
        "labels": {"app": name},
        "containerPorts": [{"name": "http", "port": port, "protocol": "TCP"}],
    }


def test_the_cilium_compiler_writes_numbers_for_egress_named_ports() -> None:
    # cilium/cilium pkg/types/portmap.go: the number on the receiving pod is what the drawing means
    nodes = [_workload("web", "shop", 8080), _workload("api", "backend", 9090)]
    edge = {"id": "e", "source": "web", "target": "api", "ports": [{"protocol": "TCP", "port": "http"}]}
    result = compile_document(_document(nodes, [edge]), "cilium")
    assert result.ok, result.issues
    web = next(o for o in result.objects if o["metadata"]["name"] == "web")
    assert web["spec"]["egress"][0]["toPorts"] == [{"ports": [{"port": "9090", "protocol": "TCP"}]}]
    api = next(o for o in result.objects if o["metadata"]["name"] == "api")
    assert api["spec"]["ingress"][0]["toPorts"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]


# -- C10b: NotIn on the namespace key alone also matches world, host and CIDR identities ----------------------


def test_notin_on_the_namespace_key_matches_non_pod_identities_unless_exists_stands_beside_it() -> None:
    # cilium/cilium pkg/policy/selectorcache.go: only `=`/In on io.kubernetes.pod.namespace narrow to pods;
    # reserved and CIDR identities carry no namespace label, and NotIn matches an absent label
    not_in = "{key: k8s:io.kubernetes.pod.namespace, operator: NotIn, values: [kube-system]}"
    exists = "{key: k8s:io.kubernetes.pod.namespace, operator: Exists}"
    head = "endpointSelector: {matchLabels: {app: web}}\negress: [{toEndpoints: [{matchExpressions: "
    alone, both = (run(cnp(head + expressions + "}]}]")) for expressions in (f"[{not_in}]", f"[{not_in}, {exists}]"))
    assert conns(alone, "shop/web[Pod]", "backend/api[Pod]") == "All Connections"
    assert conns(alone, "shop/web[Pod]", WORLD) == "All Connections"
    assert conns(alone, "shop/web[Pod]", "host[Entity]") == "All Connections"
    assert conns(both, "shop/web[Pod]", "backend/api[Pod]") == "All Connections"
    assert conns(both, "shop/web[Pod]", WORLD) == "No Connections"


def test_the_cilium_compiler_puts_exists_beside_a_namespace_notin() -> None:
    nodes = [
        _workload("web", "shop", 8080),
        {
            "id": "others",
            "kind": "selector",
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}
                ]
            },
            "podSelector": {},
        },
    ]
    result = compile_document(_document(nodes, [{"id": "e", "source": "web", "target": "others"}]), "cilium")
    web = next(o for o in result.objects if o["metadata"]["name"] == "web")
    (peer,) = web["spec"]["egress"][0]["toEndpoints"]
    assert {"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"} in peer["matchExpressions"]
    analysis = analyse(read_cluster(load_objects(CLUSTER + "---\n" + result.yaml, "c.yaml")[0]))
    assert conns(analysis, "shop/web[Pod]", "backend/api[Pod]") == "All Connections"
    assert conns(analysis, "shop/web[Pod]", WORLD) == "No Connections"


# -- C4a: policies Cilium refuses do not exist ----------------------------------------------------------------


def test_policies_the_api_server_or_the_agent_refuse_are_analysed_as_absent() -> None:
    # cilium/cilium pkg/policy/api/rule_validation.go (four empty sections since 1.17; node peers need
    # --enable-node-selector-labels) and the CRD (L7 oneOf without unknown fields; no world-ipv4 in the enum)
    refused = {
        "HTTP": "ingress: [{toPorts: [{ports: [{port: '80', protocol: TCP}], rules: {HTTP: [{method: GET}]}}]}]",
        "world-ipv4": "ingress: [{fromEntities: [world-ipv4]}]",
        "four empty sections": "ingress: []\negress: []",
        "fromNodes": "ingress: [{fromNodes: [{matchLabels: {role: worker}}]}]",
    }
    for why, sections in refused.items():
        analysis = run(cnp("endpointSelector: {matchLabels: {app: web}}\n" + sections))
        assert conns(analysis, "backend/api[Pod]", "shop/web[Pod]") == "All Connections", why
        assert any("analysed as absent" in w for w in analysis.warnings), why
        assert [
            f.rule
            for f in lint_objects([o.obj for o in load_objects(cnp("endpointSelector: {}\n" + sections), "p.yaml")[0]])
            if f.rule == "FL023"
        ], why
    with_flag = run(
        cnp("endpointSelector: {matchLabels: {app: web}}\n" + refused["fromNodes"]), node_selector_labels=True
    )
    assert conns(with_flag, "backend/api[Pod]", "shop/web[Pod]") == "No Connections"  # admitted: isolates


def test_the_importer_keeps_a_refused_policy_as_disabled_edges_without_a_lock() -> None:
    result = import_text(
        cnp(
            "endpointSelector: {matchLabels: {app: web}}\ningress:\n"
            "  - {fromEntities: [world], toPorts: [{ports: [{port: '80', protocol: TCP}], rules: {HTTP: [{}]}}]}"
        ),
        "p.yaml",
    )
    assert [e.disabled for e in result.document.edges] == [True]
    assert not any(node.isolate.ingress for node in result.document.nodes)
    assert any("never takes effect" in w for w in result.warnings)


def test_the_cilium_compiler_says_that_node_peers_need_the_agent_flag() -> None:
    nodes = [
        _workload("web", "shop", 8080),
        {"id": "workers", "kind": "hosts", "nodeSelector": {"matchLabels": {"role": "worker"}}},
    ]
    result = compile_document(
        _document(nodes, [{"id": "e", "source": "workers", "target": "web", "enforce": ["target"]}]), "cilium"
    )
    assert any("--enable-node-selector-labels" in issue.message for issue in result.issues)


# -- C10c: identity labels ------------------------------------------------------------------------------------


def test_selectors_on_labels_cilium_filters_out_of_identities_select_nothing() -> None:
    # cilium/cilium pkg/labelsfilter/filter.go defaultLabelPrefixCfg
    spec = (
        "endpointSelector: {matchLabels: {app: web}}\n"
        "egress: [{toEndpoints: [{matchLabels: {statefulset.kubernetes.io/pod-name: db-0}}]}]"
    )
    analysis = run(cnp(spec))
    assert conns(analysis, "shop/web[Pod]", "shop/db-0[Pod]") == "No Connections"
    kept = run(cnp("endpointSelector: {matchLabels: {app: web}}\negress: [{toEndpoints: [{matchLabels: {app: db}}]}]"))
    assert conns(kept, "shop/web[Pod]", "shop/db-0[Pod]") == "All Connections"
    assert [f.rule for f in lint_objects([o.obj for o in load_objects(cnp(spec), "p.yaml")[0]]) if f.rule == "FL024"]


def test_host_network_pods_carry_the_host_identity() -> None:
    # cilium/cilium pkg/policy/api/entity.go (host: the local node, hostNetwork pods included; remote-node likewise)
    by_label = run(
        cnp("endpointSelector: {matchLabels: {app: web}}\negress: [{toEndpoints: [{matchLabels: {app: agent}}]}]")
    )
    assert conns(by_label, "shop/web[Pod]", "shop/agent[Pod]") == "No Connections"
    by_entity = run(cnp("endpointSelector: {matchLabels: {app: web}}\negress: [{toEntities: [host]}]"))
    assert conns(by_entity, "shop/web[Pod]", "shop/agent[Pod]") == "All Connections"
    subject = run(cnp("endpointSelector: {}\ningress: [{fromEntities: [world]}]"))
    assert conns(subject, "shop/web[Pod]", "shop/agent[Pod]") == "All Connections"  # a CNP cannot select it
    assert conns(subject, "shop/agent[Pod]", "shop/web[Pod]") == "No Connections"


# -- C10: FQDN names the DNS proxy never passes -------------------------------------------------------------------


def test_lint_flags_fqdn_names_that_no_dns_rule_lets_through() -> None:
    # cilium/cilium examples/policies/l3/fqdn/fqdn.yaml: toFQDNs learns addresses from DNS answers the proxy allows
    spec = """
    endpointSelector: {matchLabels: {app: web}}
    egress:
      - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s:k8s-app: kube-dns}}]
        toPorts: [{ports: [{port: "53", protocol: ANY}], rules: {dns: [{matchName: api.example.com}]}}]
      - toFQDNs: [{matchName: api.example.com}, {matchPattern: "*.example.org"}]
    """
    findings = [f for f in lint_objects([o.obj for o in load_objects(cnp(spec), "p.yaml")[0]]) if f.rule == "FL025"]
    assert [f.path for f in findings] == ["spec.egress[1].toFQDNs[1]"]


def test_the_importer_says_that_a_lone_namespace_notin_reached_beyond_pods() -> None:
    # cilium/cilium pkg/policy/selectorcache.go (see above): the drawing keeps the pods and says what it leaves out
    spec = (
        "endpointSelector: {matchLabels: {app: web}}\n"
        "egress: [{toEndpoints: [{matchExpressions: "
        "[{key: k8s:io.kubernetes.pod.namespace, operator: NotIn, values: [kube-system]}]}]}]"
    )
    result = import_text(cnp(spec), "p.yaml")
    assert len(result.document.edges) == 1
    assert any("also matches world, host and CIDR identities" in w for w in result.warnings)


def test_the_importer_says_how_cilium_resolves_an_egress_named_port() -> None:
    # cilium/cilium pkg/types/portmap.go: egress names are looked up among every pod of the cluster
    spec = "endpointSelector: {matchLabels: {app: web}}\negress: [{toPorts: [{ports: [{port: http, protocol: TCP}]}]}]"
    result = import_text(cnp(spec), "p.yaml")
    assert [p.port for e in result.document.edges for p in e.ports] == ["http"]
    assert any("egress named port http: Cilium looks the name up among every pod" in w for w in result.warnings)


def test_the_cilium_compiler_refuses_an_egress_name_the_peer_s_pods_number_differently() -> None:
    # cilium/cilium pkg/types/portmap.go (ErrDuplicateNamedPorts): no single number can stand for the name
    nodes = [
        _workload("web", "shop", 8080),
        {**_workload("api", "backend", 9090), "labels": {"tier": "back"}},
        {**_workload("admin", "backend", 9443), "labels": {"tier": "back"}},
        {"id": "back", "kind": "selector", "namespace": "backend", "podSelector": {"matchLabels": {"tier": "back"}}},
    ]
    edge = {"id": "e", "source": "web", "target": "back", "ports": [{"protocol": "TCP", "port": "http"}]}
    result = compile_document(_document(nodes, [edge]), "cilium")
    (error,) = result.errors
    assert error.edge_id == "e" and "which is 9090 and 9443 on different pods" in error.message


def test_a_peer_field_of_the_other_direction_does_not_refuse_the_policy() -> None:
    # cilium/cilium pkg/policy/api/ingress.go: IngressRule has fromEntities and no toEntities, and the CRD's
    # structural schema prunes fields it does not declare: `toEntities: [world-ipv4]` written in an ingress rule is
    # dropped by the API server, not refused for the entity it names (only the entity enum of fromEntities would).
    analysis = run(
        cnp(
            "endpointSelector: {matchLabels: {app: web}}\n"
            "ingress: [{fromEntities: [cluster], toEntities: [world-ipv4]}]"
        )
    )
    assert not any("analysed as absent" in w for w in analysis.warnings)
    assert conns(analysis, "backend/api[Pod]", "shop/web[Pod]") == "All Connections"  # fromEntities: cluster
