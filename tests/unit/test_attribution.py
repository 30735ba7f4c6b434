"""Flow attribution: each observed connection of a real Hubble capture, with the policy and rule that allowed it
or the reasons each side denies it, in the words of netpol-analyzer's `--explain` (np-guard/netpol-analyzer
pkg/explanation; Cilium deny rules per SEMANTICS.md section 4 and cilium pkg/policy/distillery.go: deny wins).

The capture is tests/fixtures/hubble/basic-sample-400-tcp-flows.json (bookinfo on kind, see its README); the
policies below were written for it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from editor.policy.analysis import analyse
from editor.policy.analysis.explain_text import attribution
from editor.policy.check import add_observed, observations_from_document, replay
from editor.policy.cli import main
from editor.policy.flows import read_flow_paths
from editor.policy.manifests import read_paths

TCP_400 = Path(__file__).resolve().parent.parent / "fixtures" / "hubble" / "basic-sample-400-tcp-flows.json"
NETPOLS = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: details-from-productpage, namespace: bookinfo}
spec:
  podSelector: {matchLabels: {app: details}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {app: productpage}}
    ports:
    - {port: 9080, protocol: TCP}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: reviews-closed, namespace: bookinfo}
spec:
  podSelector: {matchLabels: {app: reviews}}
  policyTypes: [Ingress]
"""
CILIUM_DENY = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: details, namespace: bookinfo}
spec:
  endpointSelector: {matchLabels: {app: details}}
  ingress:
  - fromEndpoints:
    - {}
  ingressDeny:
  - fromEndpoints:
    - matchLabels: {app: productpage}
    toPorts:
    - ports:
      - {port: "9080", protocol: TCP}
"""


def attributed(tmp_path: Path, policies: str) -> dict[str, tuple[str, ...]]:
    path = tmp_path / "policies.yaml"
    path.write_text(policies)
    flows = read_flow_paths([str(TCP_400)]).document
    analysis = analyse(add_observed(read_paths([path]), flows))
    result = replay(observations_from_document(flows), analysis, explain=True)
    return {
        f"{c.src} => {c.dst} : {c.observation.protocol} {c.observation.port}": c.explanation for c in result.connections
    }


def test_an_allowed_flow_names_the_rule_that_allowed_it(tmp_path: Path) -> None:
    lines = attributed(tmp_path, NETPOLS)
    assert lines["bookinfo/productpage-v1[Deployment] => bookinfo/details-v1[Deployment] : TCP 9080"] == (
        "Allowed TCP:[9080] due to the following policies and rules:",
        "\tEgress (Allowed) due to the system default (Allow all)",
        "\tIngress (Allowed)",
        "\t\tNetworkPolicy 'bookinfo/details-from-productpage' allows connections by Ingress rule #1",
    )
    assert lines["bookinfo/ratings-v1[Deployment] => bookinfo/productpage-v1[Deployment] : TCP 9080"] == (
        "Allowed TCP:[9080] due to the system default (Allow all)",
    )


def test_a_denied_flow_names_the_isolating_policy_and_that_no_rule_admits_it(tmp_path: Path) -> None:
    lines = attributed(tmp_path, NETPOLS)
    for version in ("v1", "v2", "v3"):
        assert lines[f"bookinfo/productpage-v1[Deployment] => bookinfo/reviews-{version}[Deployment] : TCP 9080"] == (
            "Denied TCP:[9080] due to the following policies and rules:",
            "\tEgress (Allowed) due to the system default (Allow all)",
            "\tIngress (Denied)",
            f"\t\tNetworkPolicy 'bookinfo/reviews-closed' selects bookinfo/reviews-{version}[Deployment], but "
            "bookinfo/productpage-v1[Deployment] is not allowed by any Ingress rule (no rules defined)",
        )


def test_a_cilium_deny_rule_that_wins_is_named(tmp_path: Path) -> None:
    lines = attributed(tmp_path, CILIUM_DENY)
    assert lines["bookinfo/productpage-v1[Deployment] => bookinfo/details-v1[Deployment] : TCP 9080"] == (
        "Denied TCP:[9080] due to the following policies and rules:",
        "\tEgress (Allowed) due to the system default (Allow all)",
        "\tIngress (Denied)",
        "\t\tCiliumNetworkPolicy 'bookinfo/details' denies connections by IngressDeny rule #1",
        "\t\tCiliumNetworkPolicy 'bookinfo/details' allows connections by Ingress rule #1, but the deny rule wins",
    )


def test_connlist_flows_explain_prints_the_attribution_of_every_connection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(NETPOLS)
    assert main(["connlist", str(path), "--flows", str(TCP_400), "--explain"]) == 1
    lines = capsys.readouterr().out.splitlines()
    index = lines.index(
        "bookinfo/productpage-v1[Deployment] => bookinfo/details-v1[Deployment] : TCP 9080 : allowed (82 flows)"
    )
    assert lines[index + 1 : index + 5] == [
        "    Allowed TCP:[9080] due to the following policies and rules:",
        "    \tEgress (Allowed) due to the system default (Allow all)",
        "    \tIngress (Allowed)",
        "    \t\tNetworkPolicy 'bookinfo/details-from-productpage' allows connections by Ingress rule #1",
    ]


def test_an_admin_network_policy_rule_is_named_per_port() -> None:
    # np-guard/netpol-analyzer tests/anp_demo: gryffindor's egress admin rules decide before any NetworkPolicy
    demo = Path(__file__).resolve().parent.parent / "fixtures" / "netpol-analyzer-more" / "tests" / "anp_demo"
    analysis = analyse(read_paths([demo]))
    harry, cedric = analysis.peer("gryffindor/harry-potter"), analysis.peer("hufflepuff/cedric-diggory")
    assert attribution(analysis, harry, cedric, "UDP", 5353)[:3] == [
        "Allowed UDP:[5353] due to the following policies and rules:",
        "\tEgress (Allowed)",
        "\t\tAdminNetworkPolicy 'gress-rules-gryffindor' allows connections by Egress rule "
        "allow-to-hufflepuff-at-ports-8080-5353",
    ]
    assert attribution(analysis, harry, cedric, "UDP", 53)[2] == (
        "\t\tAdminNetworkPolicy 'gress-rules-gryffindor' denies connections by Egress rule "
        "deny-to-hufflepuff-everything-else"
    )
