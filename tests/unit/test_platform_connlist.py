"""`fenceline connlist` on inputs with AdminNetworkPolicy / BaselineAdminNetworkPolicy reproduces
np-guard/netpol-analyzer (the `anp` list of its test data, tests/fixtures/netpol-analyzer-anp/README.md).

Compared as upstream compares (`pkg/internal/testutils.cleanStr`: every \\n and \\r deleted). The cases with
explain, exposure and focus options run in test_netpol_analyzer_more.py (analysis.admin); here the platform tiers'
own attribution (`TieredAnalysis.tier_parts`, used for ClusterNetworkPolicy v1alpha2) is held to the same reasons.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from editor.policy.cli import main
from editor.policy.platform.connlist import analyse_tiers
from editor.policy.platform.inputs import read_platform_inputs

FOLDER = Path(__file__).resolve().parent.parent / "fixtures" / "netpol-analyzer-anp"
CASES = json.loads((FOLDER / "cases.json").read_text())["cases"]


def _clean(text: str) -> str:
    return text.replace("\n", "").replace("\r", "")


PLAIN = [case for case in CASES if set(case["options"]) == {"output_format"}]


@pytest.mark.parametrize("case", PLAIN, ids=lambda c: c["id"].removeprefix("connlist/"))
def test_anp_case(case: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connlist", str(FOLDER / case["input_dirs"][0])]) == 0
    expected = (FOLDER / case["expected"]).read_text()
    assert _clean(capsys.readouterr().out) == _clean(expected)


def test_the_list_is_complete() -> None:
    assert len(CASES) == 27 and all(c["anp"] for c in CASES)
    assert len(PLAIN) == 17


def test_nodes_and_ipv6_networks_are_warned_about(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connlist", str(FOLDER / "tests" / "anp_and_banp_using_networks_and_nodes_test")]) == 0
    assert "nodes are not modelled (no Node objects): the peer matches nothing" in capsys.readouterr().err
    assert main(["connlist", str(FOLDER / "tests" / "anp_banp_test_multiple_warnings")]) == 0
    assert "IPv6 network ff06::/3 is not analysed; ignored" in capsys.readouterr().err


def _platform_lines(expected: str) -> list[tuple[str, str, str, bool, str]]:
    """(src, dst, direction, allowed, line) of every AdminNetworkPolicy/BaselineAdminNetworkPolicy reason line of
    an expected explain output, and of the "system default" line that follows a Pass."""
    found = []
    pair = direction = None
    allowed = False
    for raw in expected.splitlines():
        line = raw.strip()
        if line.startswith("Connections between "):
            src, _, dst = line.removeprefix("Connections between ").removesuffix(":").partition(" => ")
            pair = (src, dst)
        elif line.startswith(("Egress (", "Ingress (")):
            direction, _, verdict = line.partition(" (")
            allowed = verdict.startswith("Allowed")
        elif (
            pair
            and direction
            and (
                line.startswith(("AdminNetworkPolicy", "BaselineAdminNetworkPolicy"))
                or line == "the system default (Allow all)"
            )
        ):
            found.append((*pair, direction, allowed, line))
    return found


@pytest.mark.parametrize("case", [c for c in CASES if c["options"].get("explain")], ids=lambda c: c["id"])
def test_tier_attribution_gives_netpol_analyzers_reasons(case: dict) -> None:
    analysis = analyse_tiers(read_platform_inputs([FOLDER / case["input_dirs"][0]]))
    lines = _platform_lines((FOLDER / case["expected"]).read_text())
    assert lines or "anp_and_banp_using_networks_and_nodes" in case["id"]
    for src, dst, direction, allowed, line in lines:
        parts = analysis.tier_parts(direction, analysis.peer(src), analysis.peer(dst))
        assert any(line in part.reasons and part.allowed == allowed for part in parts), (src, dst, direction, line)


def test_flow_replay_goes_through_the_tiers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An Admin Deny breaks observed traffic that no NetworkPolicy touches; an Admin Accept keeps traffic that a
    NetworkPolicy alone would break (network-policy-api `site-src/api-overview.md`: Admin tier first)."""
    flows = Path(__file__).resolve().parent.parent / "fixtures" / "hubble" / "basic-sample-400-tcp-flows.json"
    platform = tmp_path / "platform.yaml"
    platform.write_text(
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {name: guard}\n"
        "spec:\n  tier: Admin\n  priority: 1\n  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: "
        "{app: details}}}}\n  ingress: [{name: no-productpage, action: Deny, from: [{pods: {namespaceSelector: {}, "
        "podSelector: {matchLabels: {app: productpage}}}}]}]\n"
    )
    assert main(["connlist", str(platform), "--flows", str(flows)]) == 1
    out = capsys.readouterr().out
    assert (
        "bookinfo/productpage-v1[Deployment] => bookinfo/details-v1[Deployment] : TCP 9080 : DENIED, would break" in out
    )
    deny = tmp_path / "deny.yaml"
    deny.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: bookinfo}\n"
        "spec: {podSelector: {matchLabels: {app: details}}, policyTypes: [Ingress]}\n"
    )
    platform.write_text(platform.read_text().replace("Deny", "Accept"))
    assert main(["connlist", str(platform), str(deny), "--flows", str(flows)]) == 0
    assert "no observed connection would break" in capsys.readouterr().out
