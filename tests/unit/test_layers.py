"""Platform layers in the drawing (issue 15): the document fields, their compilation to ClusterNetworkPolicy v1alpha2,
ANP/BANP v1alpha1 and CCNP, the overridden edge state, the Check view's tiers, the four platform templates and the
import round trip.

Semantics (what a compiled drawing must mean) follow network-policy-api `site-src/api-overview.md` and
`apis/v1alpha2/clusternetworkpolicy_types.go`: the Admin tier first (an Accept or Deny is final, a Pass hands the
connection to NetworkPolicy), then NetworkPolicy when one isolates the pod, then the Baseline tier, then allow; and
Cilium's "Deny policies" (a deny rule wins over every allow). The compiled YAML is proven with `fenceline probe`'s
evaluator (platform/probe.py) over real Pod objects.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from editor.policy.check import check_document, replay_document
from editor.policy.compile import compile_document
from editor.policy.document import Document, DocumentError
from editor.policy.importer import import_paths, import_text
from editor.policy.platform import layer_templates
from editor.policy.platform.inputs import read_platform_inputs
from editor.policy.platform.probe import Probe, Prober
from editor.policy.service import compile_answer
from editor.policy.validate import validate_object
from editor.policy.yamlio import InputError, dump_yaml_documents

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _pod(name: str, ip: str, ports: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "ports": ports}]},
        "status": {"podIP": ip},
    }


# the drawing's two workloads as running Pods, for the probes
PODS = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
    _pod("web", "10.0.1.5", []),
    _pod("api", "10.0.1.6", [{"name": "http", "containerPort": 8080}]),
]


WORKLOADS = [
    {
        "id": name,
        "kind": "workload",
        "namespace": "shop",
        "name": name,
        "labels": {"app": name},
        "containerPorts": ports,
    }
    for name, ports in (("web", []), ("api", [{"port": 8080, "name": "http"}]))
]
PLATFORM_NODES = [
    {"id": "every", "kind": "selector", "name": "every namespace", "namespaceSelector": {}, "layer": "admin"},
    {"id": "meta", "kind": "cidr", "cidr": "169.254.169.254/32", "layer": "admin"},
]


def drawing(edges: list[dict[str, Any]], nodes: tuple[dict[str, Any], ...] = (), **settings: Any) -> Document:
    return Document.from_json(
        {
            "schema": "fenceline/v1",
            "settings": settings,
            "namespaces": [{"name": "shop"}],
            "nodes": [*WORKLOADS, *PLATFORM_NODES, *nodes],
            "edges": edges,
        }
    )


APP_EDGE = {"id": "app", "source": "web", "target": "api", "ports": [{"protocol": "TCP", "port": 8080}]}
ADMIN_DENY = {
    "id": "no-api",
    "source": "every",
    "target": "api",
    "layer": "admin",
    "action": "deny",
    "priority": 10,
    "enforce": ["target"],
    "ports": [{"protocol": "TCP", "port": 8080}],
}
BASELINE_DENY = {"id": "base", "source": "every", "target": "every", "layer": "baseline", "action": "deny"}


def probe_line(tmp_path: Path, document: Document, dialect: str, probe: Probe) -> str:
    """The compiled drawing (plus real Pods) through `fenceline probe`'s evaluator."""
    objects = compile_document(document, dialect).objects
    (tmp_path / "pods.yaml").write_text(yaml.safe_dump_all(PODS))
    (tmp_path / "policies.yaml").write_text(dump_yaml_documents(objects))
    return Prober(read_platform_inputs([tmp_path / "pods.yaml", tmp_path / "policies.yaml"])).run(probe).line()


# --- the document ------------------------------------------------------------------------------------------------


def test_layer_fields_round_trip_and_default_to_the_application_layer() -> None:
    document = drawing([APP_EDGE, ADMIN_DENY], platformApi="v1alpha1")
    data = document.to_json()
    assert "layer" not in data["edges"][0] and "priority" not in data["edges"][0]
    assert {k: data["edges"][1][k] for k in ("layer", "action", "priority")} == {
        "layer": "admin",
        "action": "deny",
        "priority": 10,
    }
    assert data["nodes"][2]["layer"] == "admin" and "layer" not in data["nodes"][0]
    assert data["settings"]["platformApi"] == "v1alpha1"
    assert Document.from_json(data).to_json() == data


@pytest.mark.parametrize(
    ("edge", "path", "words"),
    [
        ({**ADMIN_DENY, "priority": 1001}, "edges[0].priority", "priority 1001 is outside 0-1000"),
        ({**ADMIN_DENY, "priority": -1}, "edges[0].priority", "outside 0-1000"),
        ({**BASELINE_DENY, "action": "pass"}, "edges[0].action", "pass is an Admin tier action"),
        ({**APP_EDGE, "action": "pass"}, "edges[0].action", "put the edge in the admin layer"),
        ({**APP_EDGE, "priority": 5}, "edges[0].priority", "for admin and baseline edges"),
        ({**APP_EDGE, "name": "x"}, "edges[0].name", "for admin and baseline edges"),
        (
            {**ADMIN_DENY, "layer": "platform"},
            "edges[0].layer",
            "'platform' is not one of application, admin, baseline",
        ),
        ({**ADMIN_DENY, "priority": "high"}, "edges[0].priority", "is not of type 'integer'"),
        ({**ADMIN_DENY, "icmps": [{"type": 8}]}, "edges[0].icmps", "a platform rule (admin layer) has no icmps"),
        ({**ADMIN_DENY, "name": "a\nb"}, "edges[0].name", "control characters"),
    ],
)
def test_bad_layer_fields_are_clear_errors_naming_the_path(edge: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(DocumentError) as caught:
        drawing([edge])
    assert any(p == path and words in message for p, message in caught.value.errors), caught.value.errors


def test_a_platform_node_carries_no_isolation_lock() -> None:
    locked = {"id": "x", "kind": "selector", "namespace": "shop", "layer": "baseline", "isolate": {"ingress": True}}
    with pytest.raises(DocumentError) as caught:
        drawing([], (locked,))
    assert caught.value.errors == [
        ("nodes[4].isolate", "isolation locks are the application layer's; a platform node has none")
    ]


def test_an_unknown_node_layer_and_platform_api_are_refused() -> None:
    with pytest.raises(DocumentError) as caught:
        drawing([], ({"id": "x", "kind": "cidr", "cidr": "10.0.0.0/8", "layer": "ops"},), platformApi="v2")
    assert {p for p, _ in caught.value.errors} == {"nodes[4].layer", "settings.platformApi"}


# --- compile -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "api", "kinds"),
    [
        ("native", "v1alpha2", {"ClusterNetworkPolicy"}),
        ("native", "v1alpha1", {"AdminNetworkPolicy", "BaselineAdminNetworkPolicy"}),
        ("cilium", "v1alpha2", {"CiliumClusterwideNetworkPolicy"}),
    ],
)
def test_platform_layers_compile_to_each_target_and_validate(dialect: str, api: str, kinds: set[str]) -> None:
    document = drawing([APP_EDGE, ADMIN_DENY, BASELINE_DENY], platformApi=api)
    result = compile_document(document, dialect)
    platform = result.objects[len(result.objects) - result.platform_objects :]
    assert {obj["kind"] for obj in platform} == kinds and result.platform_objects == 2
    for obj in result.objects:
        assert [f for f in validate_object(obj, "compiled") if f.severity == "error"] == []
    answer = compile_answer(document, dialect)
    assert answer["ok"] and answer["objects"] == result.objects and "kind: " + sorted(kinds)[0] in answer["yaml"]


def test_v1alpha2_output_groups_edges_by_subject_and_priority_in_document_order() -> None:
    second = {**ADMIN_DENY, "id": "allow-8443", "action": "allow", "ports": [{"protocol": "TCP", "port": 8443}]}
    other_priority = {**ADMIN_DENY, "id": "later", "priority": 20}
    objects = compile_document(drawing([second, ADMIN_DENY, other_priority]), "native").objects
    assert [(o["metadata"]["name"], o["spec"]["priority"]) for o in objects] == [("api-10", 10), ("api-20", 20)]
    assert [r["name"] for r in objects[0]["spec"]["ingress"]] == ["allow-8443", "no-api"]
    assert objects[0]["spec"]["ingress"][0] == {
        "name": "allow-8443",
        "action": "Accept",
        "from": [{"namespaces": {}}],
        "protocols": [{"tcp": {"destinationPort": {"number": 8443}}}],
    }


def test_an_admin_deny_beats_an_application_allow_in_every_target(tmp_path: Path) -> None:
    probe = Probe("shop/web", "shop/api", "TCP", 8080)
    for dialect, api in (("native", "v1alpha2"), ("native", "v1alpha1"), ("cilium", "v1alpha2")):
        document = drawing([APP_EDGE, ADMIN_DENY], platformApi=api)
        line = probe_line(tmp_path, document, dialect, probe)
        if dialect == "cilium":  # the CCNP is no platform kind: Cilium's deny rule wins in the NetworkPolicy tier
            assert line.startswith("denied") and "IngressDeny" in line, line
        else:
            assert line.startswith("denied") and "(Admin tier, priority 10) Ingress rule no-api (Deny)" in line, line
        assert probe_line(tmp_path, drawing([APP_EDGE], platformApi=api), dialect, probe).startswith("allowed")


def test_an_application_allow_overrides_a_baseline_deny(tmp_path: Path) -> None:
    document = drawing([APP_EDGE, BASELINE_DENY])
    line = probe_line(tmp_path, document, "native", Probe("shop/web", "shop/api", "TCP", 8080))
    assert line.startswith("allowed") and "NetworkPolicy 'shop/" in line, line
    # what no application policy allows, the Baseline tier denies
    other = probe_line(tmp_path, document, "native", Probe("shop/api", "shop/web", "TCP", 80))
    assert other.startswith("denied") and "Baseline tier" in other, other


def test_a_pass_hands_the_connection_to_networkpolicy(tmp_path: Path) -> None:
    passing = {**ADMIN_DENY, "id": "hand-over", "action": "pass", "priority": 5}
    document = drawing([APP_EDGE, passing, ADMIN_DENY])  # the Pass (priority 5) comes before the Deny (10)
    line = probe_line(tmp_path, document, "native", Probe("shop/web", "shop/api", "TCP", 8080))
    assert line.startswith("allowed") and "passed by ClusterNetworkPolicy 'api-5'" in line, line
    assert compile_answer(document, "native")["edgeStates"] == {"app": "allowed", "hand-over": "pass", "no-api": "deny"}


def test_what_cilium_cannot_express_is_an_error_on_the_edge_not_dropped() -> None:
    passing = {**ADMIN_DENY, "action": "pass"}
    answer = compile_answer(drawing([APP_EDGE, passing]), "cilium")
    assert not answer["ok"]
    assert answer["edgeStates"]["no-api"] == "error"
    assert any(i.get("edgeId") == "no-api" and "Cilium has no Pass" in i["message"] for i in answer["issues"]), answer[
        "issues"
    ]


def test_a_platform_edge_to_an_entity_is_a_compile_error() -> None:
    world = {"id": "world", "kind": "entity", "entity": "world"}
    edge = {"id": "out", "source": "every", "target": "world", "layer": "admin", "action": "deny"}
    answer = compile_answer(drawing([edge], (world,)), "native")
    assert (
        answer["edgeStates"]["out"] == "error" and "has no platform rule equivalent" in answer["issues"][0]["message"]
    )


@pytest.mark.parametrize(
    ("edge", "words"),
    [
        (
            {"id": "x", "source": "every", "target": "meta", "layer": "admin", "ports": [{"port": "http"}]},
            "a named port is a pod's port",
        ),
        (
            {"id": "x", "source": "meta", "target": "api", "layer": "admin", "action": "deny"},
            "an ingress platform rule admits pods only",
        ),
    ],
)
def test_platform_rules_the_crds_refuse_are_errors_on_the_edge(edge: dict[str, Any], words: str) -> None:
    for dialect in ("native", "cilium"):
        answer = compile_answer(drawing([APP_EDGE, edge]), dialect)
        assert answer["edgeStates"]["x"] == "error"
        assert any(i.get("edgeId") == "x" and words in i["message"] for i in answer["issues"]), answer["issues"]
        assert check_document(drawing([APP_EDGE, edge]), dialect).flagged == []


# --- the edge states ---------------------------------------------------------------------------------------------


def test_an_application_edge_an_admin_deny_matches_is_overridden_with_the_reason() -> None:
    answer = compile_answer(drawing([APP_EDGE, ADMIN_DENY]), "native")
    assert answer["edgeStates"] == {"app": "overridden", "no-api": "deny"}
    assert answer["edgeReasons"] == {
        "app": "Not in effect: ClusterNetworkPolicy 'api' (Admin tier, priority 10) denies it by Ingress rule no-api"
    }
    v1alpha1 = compile_answer(drawing([APP_EDGE, ADMIN_DENY], platformApi="v1alpha1"), "native")
    assert v1alpha1["edgeReasons"]["app"].startswith("Not in effect: AdminNetworkPolicy 'api' (Admin tier")


def test_a_baseline_deny_overrides_only_an_edge_whose_side_no_networkpolicy_isolates() -> None:
    both_sides = compile_answer(drawing([APP_EDGE, BASELINE_DENY]), "native")
    assert both_sides["edgeStates"]["app"] == "allowed" and both_sides["edgeReasons"] == {}
    egress_only = compile_answer(drawing([{**APP_EDGE, "enforce": ["source"]}, BASELINE_DENY]), "native")
    assert egress_only["edgeStates"]["app"] == "overridden"
    assert egress_only["edgeReasons"]["app"] == (
        "Not in effect: ClusterNetworkPolicy 'every-namespace' (Baseline tier, priority 100) denies it by Ingress "
        "rule base"
    )


def test_a_deny_on_other_ports_or_a_pass_does_not_override() -> None:
    elsewhere = {**ADMIN_DENY, "ports": [{"protocol": "TCP", "port": 9090}]}
    assert compile_answer(drawing([APP_EDGE, elsewhere]), "native")["edgeReasons"] == {}
    passing = {**ADMIN_DENY, "action": "pass"}
    assert compile_answer(drawing([APP_EDGE, passing]), "native")["edgeStates"]["app"] == "allowed"


def test_a_drawing_without_platform_layers_answers_as_before() -> None:
    answer = compile_answer(drawing([APP_EDGE]), "native")
    assert answer["edgeReasons"] == {} and answer["edgeStates"] == {"app": "allowed"}
    assert compile_document(drawing([APP_EDGE]), "native").platform_objects == 0


# --- Check -------------------------------------------------------------------------------------------------------


def _cell(result: Any, src: str, dst: str) -> dict[str, Any]:
    cell = result.cell_json(src, dst)
    data = result.to_json()
    names = [p["name"] for p in data["peers"]]
    row = data["sources"].index(names.index(src))
    column = data["destinations"].index(names.index(dst))
    entry = data["connections"][data["matrix"][row][column]]
    assert (entry["tier"], entry["tierReason"]) == (cell["tier"], cell["tierReason"])
    return cell


@pytest.mark.parametrize("api", ["v1alpha2", "v1alpha1"])
def test_check_routes_through_the_tiers_and_names_the_deciding_tier_per_cell(api: str) -> None:
    result = check_document(drawing([APP_EDGE, ADMIN_DENY, BASELINE_DENY], platformApi=api), "native")
    web, api_pod = "shop/web[Workload]", "shop/api[Workload]"
    cell = _cell(result, web, api_pod)
    assert "    NetworkPolicy 'shop/web' allows connections by Egress rule #1: TCP 8080" in cell["explanation"]
    # a ClusterNetworkPolicy says its tier (one kind holds both); v1alpha1's kind is its tier
    kind = "ClusterNetworkPolicy" if api == "v1alpha2" else "AdminNetworkPolicy"
    tier = " (Admin tier)" if api == "v1alpha2" else ""
    assert (cell["status"], cell["tier"]) == ("denied", "admin")
    assert cell["tierReason"] == f"{kind} 'api'{tier} denies connections by Ingress rule no-api: TCP 8080"
    assert f"    {kind} 'api'{tier} denies connections by Ingress rule no-api: TCP 8080" in cell["explanation"]
    back = _cell(result, api_pod, web)  # api's egress: no NetworkPolicy isolates it, the Baseline deny decides
    assert (back["status"], back["tier"]) == ("denied", "baseline")
    assert result.mismatches == []
    (flagged,) = result.flagged
    assert flagged.edge_id == "app" and "decided by the admin tier" in flagged.summary


def test_check_without_platform_layers_says_application_or_default() -> None:
    result = check_document(drawing([APP_EDGE]), "native")
    assert _cell(result, "shop/web[Workload]", "shop/api[Workload]")["tier"] == "application"
    assert _cell(result, "shop/api[Workload]", "shop/web[Workload]")["tier"] == "default"


def test_check_in_cilium_attributes_the_ccnp_to_its_layer() -> None:
    result = check_document(drawing([APP_EDGE, ADMIN_DENY]), "cilium")
    cell = _cell(result, "shop/web[Workload]", "shop/api[Workload]")
    assert (cell["status"], cell["tier"]) == ("denied", "admin")
    assert (
        cell["tierReason"] == "CiliumClusterwideNetworkPolicy 'api' denies connections by IngressDeny rule #1: TCP 8080"
    )
    assert result.mismatches == []
    # the Baseline default deny in Cilium: a CCNP that isolates the pod (enableDefaultDeny), below the application
    baseline = check_document(drawing([APP_EDGE, BASELINE_DENY]), "cilium")
    back = _cell(baseline, "shop/api[Workload]", "shop/web[Workload]")
    assert (back["status"], back["tier"]) == ("denied", "baseline")
    assert back["tierReason"].startswith("CiliumClusterwideNetworkPolicy 'every-namespace' isolates shop/api[Workload]")
    assert _cell(baseline, "shop/web[Workload]", "shop/api[Workload]")["tier"] == "application"


# --- templates ---------------------------------------------------------------------------------------------------


def test_the_four_platform_templates_are_proven_by_check() -> None:
    document = drawing([APP_EDGE])
    for apply in layer_templates.APPLY.values():
        document = apply(document).document
    again = layer_templates.APPLY["default-deny"](document)
    assert again.message.startswith("Nothing to add") and again.document.to_json() == document.to_json()
    assert compile_answer(document, "native")["ok"]
    result = check_document(document, "native")
    assert result.mismatches == [] and result.flagged == []
    dns = "kube-system/k8s-app=kube-dns (kube-system)[Selector]"
    prometheus = "monitoring/app.kubernetes.io/name=prometheus (monitoring)[Selector]"
    web, api = "shop/web[Workload]", "shop/api[Workload]"
    cell = _cell(result, api, dns)  # api has no NetworkPolicy at all: DNS by the Admin accept, the rest Baseline
    assert cell["connections"] == "TCP 53,UDP 53" and cell["tier"] == "baseline"
    assert "ClusterNetworkPolicy 'default' (Baseline tier) denies" in cell["tierReason"]
    metadata = _cell(result, web, "169.254.169.254-169.254.169.254[External]")
    assert (metadata["status"], metadata["tier"]) == ("denied", "admin")
    assert "'no-metadata-service' (Admin tier) denies connections by Egress rule metadata" in metadata["tierReason"]
    scrape = _cell(result, prometheus, api)
    assert (scrape["status"], scrape["tier"]) == ("allowed", "admin") and "monitoring-scrape" in scrape["tierReason"]
    closed = _cell(result, api, web)
    assert (closed["status"], closed["tier"]) == ("denied", "baseline")


DNS = "kube-system/k8s-app=kube-dns (kube-system)[Selector]"
PROMETHEUS = "monitoring/app.kubernetes.io/name=prometheus (monitoring)[Selector]"
TO_METADATA = {"id": "meta-call", "source": "web", "target": "meta", "ports": [{"protocol": "TCP", "port": 80}]}


@pytest.mark.parametrize(
    ("template", "src", "dst", "connections", "tier", "words"),
    [
        # web's NetworkPolicy isolates its egress (edge app); the Admin accept still lets it query the DNS
        ("cluster-dns", "shop/web[Workload]", DNS, "TCP 53,UDP 53", "application", "'cluster-dns' (Admin tier) allows"),
        # an application edge to the metadata service is overridden by the Admin deny
        (
            "no-metadata-service",
            "shop/web[Workload]",
            "169.254.169.254-169.254.169.254[External]",
            "No Connections",
            "admin",
            "'no-metadata-service' (Admin tier) denies connections by Egress rule metadata",
        ),
        # api's egress has no NetworkPolicy: the Baseline deny decides
        (
            "default-deny",
            "shop/api[Workload]",
            "shop/web[Workload]",
            "No Connections",
            "baseline",
            "'default' (Baseline tier) denies",
        ),
        # api's ingress is isolated by its NetworkPolicy; the Admin accept lets the monitoring pods in
        (
            "monitoring",
            PROMETHEUS,
            "shop/api[Workload]",
            "All Connections",
            "admin",
            "'monitoring-scrape' (Admin tier) allows",
        ),
    ],
)
def test_each_platform_template_alone_is_proven_by_check(
    template: str, src: str, dst: str, connections: str, tier: str, words: str
) -> None:
    document = layer_templates.APPLY[template](drawing([APP_EDGE, TO_METADATA])).document
    result = check_document(document, "native")
    cell = _cell(result, src, dst)
    assert (cell["connections"], cell["tier"]) == (connections, tier)
    assert any(words in line for line in [cell["tierReason"], *cell["explanation"]]), cell
    assert result.mismatches == []
    assert {f.edge_id for f in result.flagged} == ({"meta-call"} if template == "no-metadata-service" else set())


def test_platform_templates_are_listed_with_the_editors_templates() -> None:
    from editor import panels

    assert {"platform-dns", "platform-no-metadata", "platform-default-deny", "platform-monitoring"} <= set(
        panels.TEMPLATES
    )


# --- import ------------------------------------------------------------------------------------------------------


def _platform_yaml(document: Document) -> str:
    result = compile_document(document, "native")
    return dump_yaml_documents(result.objects[len(result.objects) - result.platform_objects :])


@pytest.mark.parametrize(
    "case",
    [
        "netpol-analyzer-anp/tests/anp_banp_core_test",
        "netpol-analyzer-anp/tests/anp_test_6_swapping_rules",
        "netpol-analyzer-anp/tests/anp_and_banp_using_networks_and_nodes_test",
        "clusternetworkpolicy-conformance/cases/CNPBaselineTierGress/"
        "01-should-support-an-allow-gress-policy-across-different-protocols",
        "clusternetworkpolicy-conformance/cases/CNPAdminTierEgressTCP/"
        "01-should-support-an-allow-egress-policy-for-tcp-protocol-ensure-rule-ordering-is-respected",
    ],
)
def test_import_render_import_gives_the_same_yaml(case: str) -> None:
    source = read_platform_inputs([FIXTURES / case])
    imported = import_paths([FIXTURES / case]).document
    assert any(node.layer != "application" for node in imported.nodes)
    first = _platform_yaml(imported)
    assert len(list(yaml.safe_load_all(first))) == len(source.policies)
    second = _platform_yaml(import_text(first, "rendered.yaml").document)
    assert first == second
    names = {p.ref.name for p in source.policies}
    assert {obj["metadata"]["name"] for obj in yaml.safe_load_all(first)} == names


def test_an_invalid_platform_object_is_refused_on_import_with_its_line() -> None:
    text = """
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: bad}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {}}
  egress:
    - action: Deny
      to: [{networks: [10.0.0.0]}]
"""
    with pytest.raises(InputError) as caught:
        import_text(text, "bad.yaml")
    assert "bad.yaml" in str(caught.value) and "networks" in str(caught.value) and "CIDR" in str(caught.value)


def test_an_imported_drawing_compiles_the_platform_layers_unchanged_when_edited() -> None:
    case = FIXTURES / "netpol-analyzer-anp/tests/anp_banp_core_test"
    document = import_paths([case]).document
    before = _platform_yaml(document)
    edited = copy.deepcopy(document)
    edited.nodes[0].position = {"x": 1.0, "y": 2.0}
    assert _platform_yaml(edited) == before


def test_flow_replay_names_the_tier_that_decides_an_observed_connection() -> None:
    observed = {**APP_EDGE, "observed": {"count": 3, "verdicts": {"FORWARDED": 3}}}
    (judged,) = replay_document(drawing([observed, ADMIN_DENY]), "native").connections
    assert (judged.verdict, judged.breaks) == ("denied", True)
    assert judged.to_json()["tier"] == "admin"
    assert (
        judged.to_json()["tierReason"]
        == "ClusterNetworkPolicy 'api' (Admin tier) denies connections by Ingress rule no-api: TCP 8080"
    )
    (plain,) = replay_document(drawing([observed]), "native").connections
    assert plain.verdict == "allowed" and "tier" not in plain.to_json()


def test_platform_ccnps_do_not_reuse_the_names_of_the_applications_ccnps() -> None:
    # an application edge from the cluster-wide "every namespace" node makes an application CCNP named after it
    application = {"id": "wide", "source": "every", "target": "api", "ports": [{"protocol": "TCP", "port": 8080}]}
    egress = {"id": "no-meta", "source": "every", "target": "meta", "layer": "admin", "action": "deny"}
    document = drawing([application, egress])
    answer = compile_answer(document, "cilium")
    names = [o["metadata"]["name"] for o in answer["objects"] if o["kind"] == "CiliumClusterwideNetworkPolicy"]
    assert names == ["every-namespace", "every-namespace-2"] and answer["ok"]
    overridden = compile_answer(drawing([{**APP_EDGE, "target": "meta"}, application, egress]), "cilium")
    assert "CiliumClusterwideNetworkPolicy 'every-namespace-2'" in overridden["edgeReasons"]["app"]


def test_every_platform_rule_is_explained_with_its_edges() -> None:
    answer = compile_answer(drawing([APP_EDGE, ADMIN_DENY, BASELINE_DENY]), "native")
    platform = [e for e in answer["explanations"] if e["kind"] == "ClusterNetworkPolicy"]
    assert [(e["name"], e["direction"], e["index"], e["edgeIds"]) for e in platform] == [
        ("api", "ingress", 0, ["no-api"]),
        ("every-namespace", "ingress", 0, ["base"]),
        ("every-namespace", "egress", 0, ["base"]),
    ]
    assert platform[0]["text"] == (
        "Denies connections from every namespace on TCP 8080 (Admin tier, priority 10; edge no-api)."
    )
    assert answer["objectNodes"][-2:] == ["api", "every"]


# Written for this test (shapes from network-policy-api apis/v1alpha2/clusternetworkpolicy_types.go): every peer
# kind, a Pass rule with a named port, an unnamed rule, port ranges; a Baseline policy on one namespace.
EVERY_PEER_KIND = """apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: mixed}
spec:
  tier: Admin
  priority: 7
  subject:
    pods:
      namespaceSelector: {matchExpressions: [{key: env, operator: In, values: [prod]}]}
      podSelector: {matchLabels: {app: web}}
  ingress:
    - name: from-mon
      action: Pass
      from:
        - {namespaces: {matchLabels: {team: mon}}}
        - {pods: {namespaceSelector: {}, podSelector: {matchLabels: {a: b}}}}
      protocols: [{destinationNamedPort: http}]
  egress:
    - action: Deny
      to: [{domainNames: [example.com, "*.evil.org"]}]
    - name: nodes
      action: Accept
      to: [{nodes: {matchLabels: {role: infra}}}, {networks: [10.0.0.0/8, "fd00::/8"]}]
      protocols: [{tcp: {destinationPort: {range: {start: 1000, end: 2000}}}}, {udp: {destinationPort: {number: 53}}}]
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: base}
spec:
  tier: Baseline
  priority: 3
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}
  ingress:
    - {action: Deny, from: [{namespaces: {}}]}
"""


def test_every_peer_kind_pass_and_unnamed_rules_round_trip_byte_for_byte() -> None:
    source = EVERY_PEER_KIND
    result = import_text(source, "every-peer-kind.yaml")
    assert result.warnings == []
    kinds = {(n.kind, n.layer) for n in result.document.nodes}
    assert {("fqdn", "admin"), ("hosts", "admin"), ("cidr", "admin"), ("selector", "baseline")} <= kinds
    assert _platform_yaml(result.document) == dump_yaml_documents(list(yaml.safe_load_all(source)))


def test_a_cilium_admin_deny_does_not_isolate_the_pods_it_selects() -> None:
    """A deny-only CCNP would put the pods it selects into default deny (SEMANTICS C2,
    `pkg/policy/utils/parserules.go`): the Admin deny of TCP 8080 into web must leave web's other ingress open."""
    deny_web = {**ADMIN_DENY, "id": "no-web", "target": "web"}
    result = check_document(drawing([APP_EDGE, deny_web]), "cilium")
    cell = _cell(result, "shop/api[Workload]", "shop/web[Workload]")
    assert cell["status"] != "denied" and "8080" not in cell["connections"], cell
    assert cell["connections"].startswith("SCTP 1-65535,TCP 1-8079,8081-65535"), cell


def test_check_exposure_goes_through_the_tiers() -> None:
    """`connlist --exposure` in the Check view: without platform layers web's ingress is open to the whole cluster;
    the Baseline deny-all closes what no NetworkPolicy isolates (network-policy-api: Baseline decides last)."""

    def exposures(edges: list[dict[str, Any]], workload: str) -> list[tuple[str, str]]:
        (found,) = [w for w in check_document(drawing(edges), "native").exposure_json() if w["workload"] == workload]
        return [(e["direction"], e["peer"]) for e in found["exposures"]]

    assert ("ingress", "entire-cluster") in exposures([APP_EDGE], "shop/web[Workload]")
    assert exposures([APP_EDGE, BASELINE_DENY], "shop/web[Workload]") == []
