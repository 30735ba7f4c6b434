"""What a drawing uses that a dialect cannot write (issue 10, finding 2). The conditions follow native.py's
refusals, which follow the NetworkPolicy API (`kubernetes/api` networking/v1 types.go: peers are pods,
namespaces and ipBlocks; ports are protocol/port/endPort; no L7, no deny)."""

from __future__ import annotations

from pathlib import Path

from editor.policy.compile import compile_document
from editor.policy.dialect_fit import adopt_dialect, missing_features
from editor.policy.importer import import_paths
from editor.policy.platform import layer_templates

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CILIUM_L7 = FIXTURES / "policies" / "cilium-cilium" / "l7" / "http" / "simple" / "l7.yaml"
NATIVE_ONLY = FIXTURES / "manifests" / "onlineboutique_workloads" / "netpols.yaml"


def test_a_cilium_http_policy_needs_cilium_and_is_switched_to_it():
    document = import_paths([CILIUM_L7]).document
    assert document.settings.dialect == "native"
    assert missing_features(document) == ["HTTP or DNS rules on 1 edge"]
    assert missing_features(document, "cilium") == []
    native_errors = [issue for issue in compile_document(document, "native").errors if issue.edge_id]
    assert native_errors  # what the list says is what the native compiler refuses
    note = adopt_dialect(document)
    assert note == (
        "The drawing now uses Cilium: it has HTTP or DNS rules on 1 edge, "
        "which Kubernetes NetworkPolicy cannot express."
    )
    assert document.settings.dialect == "cilium"
    assert not compile_document(document).errors


def test_plain_network_policies_stay_native():
    document = import_paths([NATIVE_ONLY]).document
    assert missing_features(document) == []
    assert adopt_dialect(document) is None
    assert document.settings.dialect == "native"


def test_a_platform_tiers_deny_does_not_need_cilium():
    """An Admin or Baseline Deny compiles to a ClusterNetworkPolicy in the native dialect (issue 15); the editor asked
    to switch to Cilium for it."""
    document = import_paths([NATIVE_ONLY]).document
    document = layer_templates.default_deny(layer_templates.no_metadata_service(document).document).document
    assert {edge.action for edge in document.edges if edge.layer != "application"} == {"deny"}
    assert missing_features(document) == []
    assert not [issue for issue in compile_document(document, "native").errors if issue.edge_id]
    document.edges[0].action = "deny"  # an application deny still does
    assert missing_features(document) == ["deny rules on 1 edge"]
