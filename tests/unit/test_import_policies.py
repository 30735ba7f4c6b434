"""Importing policy YAML into a document: every fixture, the import rules one by one, and bad input."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from editor.policy.compile import DIALECTS, compile_document
from editor.policy.document import Document, Node
from editor.policy.importer import ImportResult, import_paths, import_text
from editor.policy.yamlio import InputError, dump_yaml_documents, load_objects

POLICIES = Path(__file__).resolve().parents[1] / "fixtures" / "policies"
FIXTURES = sorted(POLICIES.rglob("*.yaml"))
# The corpus README lists these as invalid against the upstream schemas, with the field at fault ...
SCHEMA_INVALID = {
    "cilium-cilium/auth/auth.yaml": "spec.egress[0]",
    "cilium-cilium/l3/egress-default-deny/egress-default-deny.yaml": "spec.egress",
    "cilium-cilium/l3/ingress-allow-all/ingress-allow-all.yaml": "spec.ingress[0].fromEndpoints",
    "cilium-cilium/l3/match-expressions/and-statement.yaml": (
        "spec.ingress[0].fromEndpoints[0].matchExpressions[0].operator"
    ),
    "cilium-cilium/l4/l3_l4_combined.yaml": "spec.ingress[0].fromEndpoints[0]",
    "cilium-cilium/l7/http/http.yaml": "spec.ingress[0].toPorts[0].rules",
    "cilium-networkpolicy-editor-tutorials/cross-namespace.yaml": "specs[0].egress[1].toPorts[0].ports[0].port",
}
# ... and these pass the schemas but not what the API server or the Cilium agent accept.
SEMANTICALLY_INVALID = {
    "cilium-cilium/cidr.yaml": ": spec.egress[0]: Cilium refuses to combine toCIDR and toCIDRSet",
    "cilium-cilium/l3/entities/from_nodes.yaml": ": missing apiVersion",
}


def imported(text: str) -> ImportResult:
    result = import_text(textwrap.dedent(text).lstrip("\n"), "test.yaml")
    Document.from_json(result.document.to_json())  # always a valid document
    return result


def nodes(result: ImportResult) -> dict[str, Node]:
    return {node.id: node for node in result.document.nodes}


def edges(result: ImportResult) -> list[tuple[str, str, list[dict], list[str]]]:
    doc = result.document
    return [(e.source, e.target, [p.to_json() for p in e.ports], e.enforce) for e in doc.edges]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(POLICIES)))
def test_every_fixture_imports_into_a_valid_document(path: Path) -> None:
    result = import_paths([path])
    document = Document.from_json(json.loads(result.document.dumps()))
    assert any(node.is_subject for node in document.nodes)
    invalid = [w for w in result.warnings if ": invalid " in w]
    relative = str(path.relative_to(POLICIES))
    if relative in SCHEMA_INVALID:
        assert any(f": {SCHEMA_INVALID[relative]}: " in w and w.startswith(f"{path}:") for w in invalid), invalid
    elif relative in SEMANTICALLY_INVALID:
        assert any(SEMANTICALLY_INVALID[relative] in w and w.startswith(f"{path}:") for w in invalid), invalid
    else:
        assert invalid == []


def test_the_whole_corpus_imports_at_once() -> None:
    result = import_paths([POLICIES])
    document = Document.from_json(result.document.to_json())
    assert len(document.nodes) > 50 and len(document.edges) > 50


def test_network_policy_isolation_follows_the_defaulted_policy_types() -> None:
    result = imported(
        """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: a, namespace: shop}
        spec:
          podSelector: {matchLabels: {app: a}}
          egress: [{}]
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: b, namespace: shop}
        spec:
          podSelector: {matchLabels: {app: b}}
          egress: []
        """
    )
    subjects = {n.policy_name: (n.isolate.ingress, n.isolate.egress) for n in result.document.nodes if n.is_subject}
    assert subjects == {"a": (True, True), "b": (True, False)}
    assert edges(result) == [
        ("sel:shop:" + nodes(result)[result.document.edges[0].source].id[9:], "entity:all", [], ["source"])
    ]


def test_rules_of_a_direction_missing_from_policy_types_become_disabled_edges_with_a_warning() -> None:
    result = imported(
        """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: a}
        spec:
          podSelector: {}
          policyTypes: [Egress]
          ingress: [{from: [{podSelector: {}}]}]
        """
    )
    assert [e.disabled for e in result.document.edges] == [True]
    assert any("spec.ingress: policyTypes does not list Ingress" in w and "cilium#48703" in w for w in result.warnings)


def test_peers_selectors_namespaces_and_ip_blocks() -> None:
    result = imported(
        """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: web, namespace: shop}
        spec:
          podSelector: {matchLabels: {app: web}}
          ingress:
          - from:
            - podSelector: {matchLabels: {app: api}}
            - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ops}}
              podSelector: {matchLabels: {app: prom}}
            - namespaceSelector: {matchLabels: {team: a}}
            - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
            ports:
            - port: 8080
            - {port: http, protocol: UDP}
        """
    )
    found = nodes(result)
    peers = sorted(
        (
            (n.kind, n.namespace, n.namespace_selector, n.pod_selector, n.cidr, n.except_, n.name)
            for n in found.values()
            if n.policy_name is None
        ),
        key=repr,
    )
    assert peers == sorted(
        [
            ("cidr", None, None, None, "10.0.0.0/8", ["10.1.0.0/16"], "10.0.0.0/8 except 10.1.0.0/16"),
            ("selector", None, {"matchLabels": {"team": "a"}}, {}, None, [], "all pods in namespaces team=a"),
            ("selector", "ops", None, {"matchLabels": {"app": "prom"}}, None, [], "app=prom"),
            ("selector", "shop", None, {"matchLabels": {"app": "api"}}, None, [], "app=api"),
        ],
        key=repr,
    )
    assert {json.dumps([p.to_json() for p in e.ports]) for e in result.document.edges} == {
        '[{"protocol": "TCP", "port": 8080}, {"protocol": "UDP", "port": "http"}]'
    }
    assert {n.name for n in result.document.namespaces} == {"ops", "shop"}


def test_the_same_edge_from_both_sides_is_one_edge_enforced_on_both() -> None:
    result = imported(
        """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: web}
        spec:
          podSelector: {matchLabels: {app: web}}
          policyTypes: [Egress]
          egress: [{to: [{podSelector: {matchLabels: {app: api}}}], ports: [{port: 80}]}]
        ---
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: api}
        spec:
          endpointSelector: {matchLabels: {app: api}}
          ingress:
          - fromEndpoints: [{matchLabels: {"k8s:app": web, "k8s:io.kubernetes.pod.namespace": default}}]
            toPorts: [{ports: [{port: "80", protocol: TCP}]}]
        """
    )
    assert len(result.document.edges) == 1
    assert result.document.edges[0].enforce == ["source", "target"]


def test_policies_with_the_same_subject_share_a_node_and_keep_the_first_name() -> None:
    result = imported(
        """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: first}
        spec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Ingress]}
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: second}
        spec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Egress]}
        """
    )
    [subject] = [n for n in result.document.nodes if n.is_subject]
    assert (subject.policy_name, subject.isolate.ingress, subject.isolate.egress) == ("first", True, True)


def test_cilium_endpoint_selectors_namespaces_entities_and_cluster_wide_subjects() -> None:
    result = imported(
        """
        apiVersion: cilium.io/v2
        kind: CiliumClusterwideNetworkPolicy
        metadata: {name: cw}
        spec:
          endpointSelector: {matchLabels: {"any:app": mon}}
          egress:
          - toEndpoints:
            - matchLabels: {app: a}
            - matchLabels: {"k8s:io.kubernetes.pod.namespace": kube-system, "k8s:k8s-app": kube-dns}
            - matchLabels: {io.cilium.k8s.namespace.labels.team: ops}
            - matchExpressions: [{key: k8s:io.kubernetes.pod.namespace, operator: In, values: [x, y]}]
            - matchLabels: {"reserved:host": ""}
        """
    )
    found = nodes(result)
    subject = next(n for n in found.values() if n.policy_name == "cw")
    assert (subject.namespace, subject.namespace_selector, subject.pod_selector) == (
        None,
        {},
        {"matchLabels": {"app": "mon"}},
    )
    peers = sorted(
        (
            (n.kind, n.namespace, json.dumps(n.namespace_selector), json.dumps(n.pod_selector), n.entity)
            for n in found.values()
            if n is not subject
        ),
        key=repr,
    )
    assert peers == sorted(
        [
            ("entity", None, "null", "null", "host"),
            ("selector", None, "{}", '{"matchLabels": {"app": "a"}}', None),
            (
                "selector",
                None,
                json.dumps(
                    {
                        "matchExpressions": [
                            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["x", "y"]}
                        ]
                    }
                ),
                "{}",
                None,
            ),
            ("selector", None, '{"matchLabels": {"team": "ops"}}', "{}", None),
            ("selector", "kube-system", "null", '{"matchLabels": {"k8s-app": "kube-dns"}}', None),
        ],
        key=repr,
    )


def test_a_cilium_namespaced_peer_without_namespace_is_in_the_policy_namespace() -> None:
    result = imported(
        """
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: p, namespace: shop}
        spec:
          endpointSelector: {}
          ingress: [{fromEndpoints: [{}]}]
        """
    )
    assert sorted(n.id for n in result.document.nodes) == ["sel:shop:44136fa355"]
    assert edges(result) == [("sel:shop:44136fa355", "sel:shop:44136fa355", [], ["target"])]


@pytest.mark.parametrize(
    ("expression", "isolated"),
    [
        ("{key: k8s:io.kubernetes.pod.namespace, operator: In, values: [shop, other]}", True),
        ("{key: io.kubernetes.pod.namespace, operator: NotIn, values: [other]}", True),
        ("{key: k8s:io.kubernetes.pod.namespace, operator: In, values: [other]}", False),
        ("{key: k8s:io.kubernetes.pod.namespace, operator: NotIn, values: [shop]}", False),
    ],
)
def test_a_cilium_subject_namespace_expression_is_anded_with_the_policy_namespace(
    expression: str, isolated: bool
) -> None:
    """C1: Cilium adds the policy's namespace to the subject selector and keeps the user's expressions, so an
    expression that excludes that namespace selects no pod: nothing to import, rather than the whole namespace."""
    result = imported(
        f"""
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {{name: p, namespace: shop}}
        spec:
          endpointSelector: {{matchLabels: {{app: db}}, matchExpressions: [{expression}]}}
          ingress: [{{fromEndpoints: [{{matchLabels: {{app: web}}}}]}}]
        """
    )
    subjects = [n for n in result.document.nodes if n.isolate.ingress]
    if isolated:
        assert [(n.namespace, n.namespace_selector, n.pod_selector) for n in subjects] == [
            ("shop", None, {"matchLabels": {"app": "db"}})
        ]
        assert len(result.document.edges) == 1
    else:
        assert subjects == [] and result.document.edges == []
        assert any("excludes the policy's namespace 'shop'" in warning for warning in result.warnings)


def test_cilium_ports_rules_icmps_and_deny() -> None:
    result = imported(
        """
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: p}
        specs:
        - endpointSelector: {matchLabels: {app: web}}
          egress:
          - toCIDRSet: [{cidr: 10.0.0.0/8, except: [10.96.0.0/12]}]
            toPorts:
            - ports: [{port: "53"}, {port: "8080", endPort: 8090, protocol: tcp}]
            - ports: [{port: "443", protocol: TCP}]
              rules: {http: [{method: GET}]}
              serverNames: [b.example, a.example]
            icmps: [{fields: [{type: 8, family: IPv4}]}]
          - toPorts: [{ports: [{port: "0", protocol: UDP}]}]
          egressDeny:
          - toEntities: [world]
          - toFQDNs: [{matchPattern: "*.example.com"}]
        """
    )
    shown = sorted(
        (
            e.target,
            json.dumps([p.to_json() for p in e.ports]),
            json.dumps(e.icmps),
            json.dumps(e.l7),
            e.server_names,
            e.action,
        )
        for e in result.document.edges
    )
    cidr = shown[0][0]
    assert cidr.startswith("cidr:10.0.0.0/8-")
    assert shown == sorted(
        [
            (cidr, "[]", '[{"family": "IPv4", "type": 8}]', "null", [], "allow"),
            (
                cidr,
                '[{"protocol": "TCP", "port": 8080, "endPort": 8090}, {"protocol": "ANY", "port": 53}]',
                "[]",
                "null",
                [],
                "allow",
            ),
            (
                cidr,
                '[{"protocol": "TCP", "port": 443}]',
                "[]",
                '{"http": [{"method": "GET"}]}',
                ["a.example", "b.example"],
                "allow",
            ),
            ("entity:all", '[{"protocol": "UDP"}]', "[]", "null", [], "allow"),
            ("entity:world", "[]", "[]", "null", [], "deny"),
        ]
    )
    assert any("toFQDNs" in w for w in result.warnings)  # not allowed in deny rules: not a peer field there


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{fromEndpoints: []}", "an explicitly empty list selects nothing"),
        ("{toServices: [{k8sService: {serviceName: s}}]}", "toServices is not represented"),
        ("{fromRequires: [{matchLabels: {a: b}}]}", "fromRequires"),
        ("{fromEndpoints: [{matchLabels: {app: x}, role: y}]}", "unknown selector key 'role'"),
        ("{fromCIDRSet: [{cidrGroupRef: g}]}", "CIDR groups are not represented"),
        ("{toPorts: [{ports: [{port: '70000'}]}]}", "not between 0 and 65535"),
    ],
)
def test_cilium_rules_that_cannot_be_represented_are_dropped_never_widened(rule: str, message: str) -> None:
    result = imported(
        f"""
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {{name: p}}
        spec:
          endpointSelector: {{}}
          ingress: [{rule}]
        """
    )
    assert result.document.edges == []
    assert any(message in w and w.startswith("test.yaml:") for w in result.warnings), result.warnings
    assert result.document.nodes[0].isolate.ingress  # the section still isolates


def test_an_empty_cilium_rule_is_imported_as_the_default_deny_it_is() -> None:
    # SEMANTICS C4; cilium/cilium pkg/policy/api/ingress.go (GetSourceEndpointSelectorsWithRequirements gives no
    # selector for `{}`) and examples/policies/l3/egress-default-deny/egress-default-deny.yaml (`egress: [{}]`)
    result = imported(
        """
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: p}
        spec: {endpointSelector: {}, ingress: [{}]}
        """
    )
    assert result.document.edges == []
    assert result.document.nodes[0].isolate.ingress
    assert any("Cilium's default deny" in w and "imported as a lock with no edge" in w for w in result.warnings)


def test_a_dns_server_named_by_cilium_dns_rules_becomes_the_documents_dns_setting() -> None:
    result = imported(
        """
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: p, namespace: infra}
        spec:
          endpointSelector: {}
          egress:
          - toEndpoints: [{matchLabels: {app: coredns}}]
            toPorts: [{ports: [{port: "5353", protocol: UDP}], rules: {dns: [{matchPattern: "*"}]}}]
        """
    )
    dns = result.document.settings.dns
    assert (dns.namespace, dns.pod_labels, dns.port) == ("infra", {"app": "coredns"}, 5353)


def test_unknown_kinds_are_skipped_with_a_warning_while_the_rest_imports() -> None:
    result = imported(
        """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: c}
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: p}
        spec: {podSelector: {}}
        ---
        just a string
        """
    )
    assert [n.policy_name for n in result.document.nodes] == ["p"]
    assert any("test.yaml:1:" in w and "ConfigMap" in w and "skipped" in w for w in result.warnings)
    assert any(w.startswith("test.yaml:10:") and "skipped" in w for w in result.warnings)


def test_of_two_policies_with_the_same_name_only_the_last_is_imported_and_the_duplicate_is_reported() -> None:
    result = imported(
        """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: p}
        spec: {podSelector: {matchLabels: {app: old}}}
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: p}
        spec: {podSelector: {matchLabels: {app: new}}}
        """
    )
    assert [n.pod_selector for n in result.document.nodes] == [{"matchLabels": {"app": "new"}}]
    assert any(w.startswith("test.yaml:8:") and "duplicate NetworkPolicy 'p'" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("selector", "path"),
    [
        ("{matchExpressions: [{key: app, operator: in, values: [a]}]}", "spec.podSelector.matchExpressions[0]"),
        ("{matchExpressions: [{key: app, operator: Exists, values: [a]}]}", "spec.podSelector.matchExpressions[0]"),
        ("{matchLabels: {app: 1}}", "spec.podSelector.matchLabels"),
        ("[app]", "spec.podSelector"),
    ],
)
def test_an_invalid_subject_selector_is_reported_with_its_path_and_the_policy_skipped(selector: str, path: str) -> None:
    result = imported(
        f"""
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {{name: p}}
        spec:
          podSelector: {selector}
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {{name: q}}
        spec: {{podSelector: {{}}}}
        """
    )
    assert [n.policy_name for n in result.document.nodes] == ["q"]
    assert any(f": {path}: " in w and w.startswith("test.yaml:") for w in result.warnings), result.warnings


def test_hostile_label_values_stay_text_and_are_refused_by_label_syntax() -> None:
    script = "<script>alert(1)</script>"
    result = imported(
        f"""
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {{name: p}}
        spec:
          podSelector: {{matchLabels: {{app: "{script}"}}}}
        """
    )
    assert any("invalid label value" in w and "spec.podSelector.matchLabels.app" in w for w in result.warnings)
    assert result.document.nodes[0].pod_selector == {"matchLabels": {"app": script}}
    assert json.loads(result.document.dumps())["nodes"][0]["name"] == f"app={script}"


def test_bad_yaml_raises_input_error_with_file_and_line() -> None:
    with pytest.raises(InputError) as caught:
        import_text(b"kind: NetworkPolicy\nspec: [\n", "bad.yaml")
    assert str(caught.value).startswith("bad.yaml:")
    with pytest.raises(InputError, match=r"^bad\.yaml:1: not UTF-8"):
        import_text(b"\xff\xfe", "bad.yaml")


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-5, 70000)
    | st.sampled_from(["", "TCP", "53", "10.0.0.0/8", "k8s:app", "reserved:host", "In", "*"])
)
_KEYS = st.sampled_from(
    [
        "matchLabels",
        "matchExpressions",
        "key",
        "operator",
        "values",
        "port",
        "protocol",
        "ports",
        "toPorts",
        "fromEndpoints",
        "cidr",
        "except",
        "podSelector",
        "namespaceSelector",
        "ipBlock",
        "from",
        "rules",
        "fields",
        "endPort",
    ]
)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3), max_leaves=6
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        found += _paths(child, (*path, key))
    return found


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(FIXTURES), st.data())
def test_mangled_policies_import_as_far_as_possible_without_crashing(path: Path, data: st.DataObject) -> None:
    """Replace parts of a real policy with values of the wrong shape: the import either refuses the input with an
    InputError naming file and line, or gives a valid document that both compilers accept without crashing."""
    objects = [item.obj for item in load_objects(path.read_bytes(), str(path))[0]]
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(_paths(objects)))
        parent = objects
        for step in where[:-1]:
            parent = parent[step]
        parent[where[-1]] = data.draw(_VALUES)
    try:
        result = import_text(dump_yaml_documents([o for o in objects if isinstance(o, dict)]), "mangled.yaml")
    except InputError as error:
        assert str(error).startswith("mangled.yaml")
        return
    document = Document.from_json(result.document.to_json())
    for dialect in DIALECTS:
        compile_document(document, dialect)
