"""cyclonus' matcher assertions (pkg/matcher/policy_tests.go, as data), run with ipBlock matching pod IPs.

Each case is one traffic tuple: source and destination are either a pod (namespace, labels, namespace labels,
IP) or an external IP, plus protocol and the destination port (number and/or container port name). The tuple
becomes a tiny cluster; the verdict is whether the analysis allows that protocol and port between the two.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from editor.policy.analysis import Analysis, ExternalPeer, Options, Peer, analyse
from editor.policy.manifests import read_cluster
from editor.policy.yamlio import dump_yaml_documents, load_objects

CASES = json.loads((Path(__file__).parent.parent / "fixtures/cyclonus/matcher_cases.json").read_text())["cases"]
STAND_IN_PORT = 8080  # the number a named-only destination port is given (cyclonus leaves it 0)


def _end(name: str, end: dict[str, Any], port: dict[str, Any] | None) -> list[dict[str, Any]]:
    internal = end["Internal"]
    if internal is None:
        return []
    namespace = internal["Namespace"]
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": internal["NamespaceLabels"] or {}},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": internal["PodLabels"] or {}},
            "spec": {"containers": [{"name": "c", "ports": [port] if port else []}]},
            "status": {"podIP": end["IP"]},
        },
    ]


def _peer(analysis: Analysis, name: str, end: dict[str, Any], as_source: bool) -> Peer:
    if end["Internal"] is None:
        return analysis.external_peer(end["IP"], as_source)
    return analysis.peer(f"{end['Internal']['Namespace']}/{name}")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_cyclonus_matcher_case(case: dict[str, Any]) -> None:
    traffic = case["traffic"]
    number = traffic["ResolvedPort"] or STAND_IN_PORT
    port = {"containerPort": number, "protocol": traffic["Protocol"]}
    if traffic["ResolvedPortName"]:
        port["name"] = traffic["ResolvedPortName"]
    objects = _end("src", traffic["Source"], None) + _end("dst", traffic["Destination"], port)
    text = dump_yaml_documents(objects) + "".join(f"---\n{policy}\n" for policy in case["policies"])
    loaded, problems = load_objects(text, "case.yaml")
    assert not problems
    analysis = analyse(read_cluster(loaded), Options(ipblock_matches_pods=True))
    src = _peer(analysis, "src", traffic["Source"], as_source=True)
    dst = _peer(analysis, "dst", traffic["Destination"], as_source=False)
    assert analysis.connection(src, dst).allows(traffic["Protocol"], number) is case["expectAllowed"]


def test_ipblock_on_a_pod_needs_the_option() -> None:
    """The "Egress ipBlock matches a POD" case flips under the default (netpol-analyzer/Cilium) behaviour."""
    case = next(c for c in CASES if "ipBlock matches a POD" in c["name"])
    traffic = case["traffic"]
    objects = _end("src", traffic["Source"], None) + _end("dst", traffic["Destination"], {"containerPort": 80})
    loaded, _ = load_objects(dump_yaml_documents(objects) + f"---\n{case['policies'][0]}\n", "case.yaml")
    analysis = analyse(read_cluster(loaded))
    src, dst = analysis.peer("x/src"), analysis.peer("y/dst")
    assert not isinstance(dst, ExternalPeer)
    assert not analysis.connection(src, dst).allows("TCP", 80)
