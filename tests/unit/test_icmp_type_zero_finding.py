"""ICMP type 0 in a Cilium drawing, as the cluster enforces it: every type of its family (FL026, drift).

Cilium makes an `icmps` field's type the port of an ICMP filter (pkg/policy/api/icmp.go ICMPField.PortProtocol),
and port 0 is its wildcard (pkg/policy/l4.go createL4Filter): type 0, IPv4's EchoReply or the number 0 in either
family, allows (in a deny rule, denies) every ICMP type of its family (cilium/cilium#41304, open, kind/bug). An
edge drawn with it compiles to such a rule; the drawing's lint says so on that edge, in the words the analyser
uses for an imported policy, and drift counts the edge as carrying every type of its family.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from editor.policy.analysis import analyse
from editor.policy.compile import compile_document
from editor.policy.document import Document, Edge
from editor.policy.flows.staging import ObservedRow, drift
from editor.policy.lint import lint_document, lint_objects
from editor.policy.manifests import read_cluster
from editor.policy.yamlio import dump_yaml_documents, load_objects
from tests.unit.test_analysis_cilium import CLUSTER
from tests.unit.test_replay_icmp_cilium import WEB, db_in, icmps

HOSTILE = "<img src=x onerror=alert(1)>"


def drawing(icmp: list[dict[str, Any]], *, dialect: str = "cilium", action: str = "allow") -> Document:
    """shop/web -> shop/api with these `icmps`, enforced on both sides; a hostile-named pod set beside them."""
    return Document.from_json(
        {
            "schema": "fenceline/v1",
            "settings": {"dialect": dialect},
            "namespaces": [{"name": "shop"}],
            "nodes": [
                {"id": "web", "kind": "workload", "namespace": "shop", "name": "web", "labels": {"app": "web"}},
                {"id": "api", "kind": "workload", "namespace": "shop", "name": "api", "labels": {"app": "api"}},
                {"id": "odd", "kind": "selector", "namespace": "shop", "name": HOSTILE,
                 "podSelector": {"matchLabels": {"app": "odd"}}},
            ],
            "edges": [
                {"id": "ping", "source": "web", "target": "api", "icmps": copy.deepcopy(icmp),
                 **({"action": action} if action != "allow" else {})},
            ],
        }
    )  # fmt: skip


def zero_findings(document: Document) -> list[Any]:
    return [finding for finding in lint_document(document) if finding.rule == "FL026"]


@pytest.mark.parametrize(
    ("field", "protocol"),
    [
        ({"family": "IPv4", "type": 0}, "ICMPv4"),
        ({"type": "EchoReply"}, "ICMPv4"),  # IPv4's name for type 0, family IPv4 by default
        ({"family": "IPv4", "type": "0"}, "ICMPv4"),  # IntOrString: the number as text
        ({"family": "IPv6", "type": 0}, "ICMPv6"),
    ],
)
@pytest.mark.parametrize("action", ["allow", "deny"])
def test_a_drawn_icmp_type_zero_is_found_on_its_edge_as_every_type_of_its_family(
    field: dict[str, Any], protocol: str, action: str
) -> None:
    document = drawing([field], action=action)
    compiled = compile_document(document)
    assert compiled.ok
    # the compiled rules' explanations (the API's `explanations`) say it too
    assert [f"every {protocol} type to Cilium" in e.text for e in compiled.explanations] == [True, True]
    findings = zero_findings(document)
    # the edge is an egress rule of web and an ingress rule of api: both policies let every type through
    assert sorted(f.path.split("[")[0] for f in findings) == sorted(
        [f"spec.egress{'Deny' if action == 'deny' else ''}", f"spec.ingress{'Deny' if action == 'deny' else ''}"]
    )
    verb = "denies" if action == "deny" else "allows"
    for finding in findings:
        assert finding.severity == "warning" and finding.edges == ["ping"]
        assert finding.message.startswith("edge ping (shop/web -> shop/api): "), finding.message
        assert f"every {protocol} type to Cilium" in finding.message and f"{verb} them all" in finding.message
        assert "cilium/cilium#41304" in finding.message
        assert finding.help == "docs/rules/FL026.md"
    if protocol == "ICMPv4":
        assert "echo replies alone" in findings[0].message and "connection tracking" in findings[0].message
    else:
        assert "EchoReply is 129 in ICMPv6" in findings[0].message


@pytest.mark.parametrize(
    "field",
    [{"family": "IPv4", "type": 8}, {"type": "EchoRequest"}, {"family": "IPv6", "type": "EchoReply"}],
)
def test_other_icmp_types_are_not_found(field: dict[str, Any]) -> None:
    assert zero_findings(drawing([field])) == []


def test_a_networkpolicy_drawing_has_no_icmp_rule_to_find() -> None:
    """NetworkPolicy has no ICMP rules: the edge is left out of the YAML (with the compiler's error), nothing
    compiles to a wildcard."""
    document = drawing([{"family": "IPv4", "type": 0}], dialect="native")
    assert any("ICMP" in issue.message for issue in compile_document(document).issues)
    assert zero_findings(document) == []


def test_a_hostile_name_in_the_edge_stays_the_text_it_is() -> None:
    document = drawing([{"type": "EchoReply"}])
    document.edges[0].target = "odd"
    document.nodes[2].pod_selector = {"matchLabels": {"app": "odd"}}
    findings = zero_findings(document)
    assert findings and all(f.edges == ["ping"] for f in findings)
    assert all(f.message.startswith(f"edge ping (shop/web -> {HOSTILE} (shop)): ") for f in findings)
    assert findings[0].to_json()["message"] == findings[0].message  # data, never markup (findings.js: textContent)


def test_an_imported_policy_is_found_in_the_words_the_analyser_warns_in() -> None:
    """One wording: `fenceline lint` on the YAML says what `connlist` warns of the same field."""
    text = dump_yaml_documents([*CLUSTER, db_in({"fromEndpoints": [WEB], "icmps": icmps({"type": "EchoReply"})})])
    loaded, _ = load_objects(text, "c.yaml")
    (finding,) = [f for f in lint_objects(loaded) if f.rule == "FL026"]
    assert finding.path == "spec.ingress[0].icmps[0].fields[0]" and finding.source == "c.yaml"
    warnings = analyse(read_cluster(loaded)).warnings
    assert [w for w in warnings if "41304" in w] == [
        f"c.yaml:{finding.line}: CiliumNetworkPolicy shop/db: {finding.path}: {finding.message}"
    ]


def test_a_refused_policy_is_left_to_fl023() -> None:
    """icmps beside toPorts: Cilium refuses the policy, which then allows nothing at all (FL023 says so)."""
    rule = {"fromEndpoints": [WEB], "icmps": icmps({"type": 0}), "toPorts": [{"ports": [{"port": "80"}]}]}
    loaded, _ = load_objects(dump_yaml_documents([*CLUSTER, db_in(rule)]), "c.yaml")
    rules = {f.rule for f in lint_objects(loaded)}
    assert "FL023" in rules and "FL026" not in rules


# ---- drift: a drawn type 0 carries every type of its family, as the compiled policy allows -----------------


def observed(protocol: str, kind: int) -> ObservedRow:
    """Pings web -> api observed (flowed) as `protocol` type `kind`."""
    ends = {
        "source": {"kind": "workload", "namespace": "shop", "name": "web"},
        "target": {"kind": "workload", "namespace": "shop", "name": "api"},
    }
    edge = {**ends, "protocol": protocol, "port": kind}
    return ObservedRow(f"{protocol}-{kind}", edge, 3, 0, "2026-12-07T20:00:00Z", "2026-12-07T20:05:00Z")


@pytest.mark.parametrize(
    ("field", "carried"),
    [
        ({"family": "IPv4", "type": 0}, {("ICMPv4", 8), ("ICMPv4", 13), ("ICMPv4", 0)}),
        ({"type": "EchoReply"}, {("ICMPv4", 8), ("ICMPv4", 13), ("ICMPv4", 0)}),
        ({"family": "IPv6", "type": 0}, {("ICMPv6", 128), ("ICMPv6", 135)}),
        ({"family": "IPv6", "type": "EchoReply"}, set()),  # 129 in ICMPv6: no wildcard
        ({"family": "IPv4", "type": 8}, {("ICMPv4", 8)}),
    ],
)
def test_drift_in_a_cilium_drawing_lets_type_zero_carry_every_type_of_its_family(
    field: dict[str, Any], carried: set[tuple[str, int]]
) -> None:
    rows = [
        observed(*pair) for pair in (("ICMPv4", 0), ("ICMPv4", 8), ("ICMPv4", 13), ("ICMPv6", 128), ("ICMPv6", 135))
    ]
    result = drift(drawing([field]), rows)
    assert {(r.edge["protocol"], r.edge["port"]) for r in rows if r not in result.new} == carried
    assert [e.id for e in result.unused] == ([] if carried else ["ping"])


def test_drift_in_a_networkpolicy_drawing_keeps_type_zero_one_type() -> None:
    rows = [observed("ICMPv4", 0), observed("ICMPv4", 8)]
    result = drift(drawing([{"family": "IPv4", "type": 0}], dialect="native"), rows)
    assert [r.key for r in result.new] == ["ICMPv4-8"]


def test_a_deny_edge_of_type_zero_carries_nothing_in_drift() -> None:
    rows = [observed("ICMPv4", 8)]
    document = drawing([{"family": "IPv4", "type": 0}], action="deny")
    document.edges.append(Edge("other", "api", "web"))
    assert [r.key for r in drift(document, rows).new] == ["ICMPv4-8"]
