"""Flow replay: observed connections judged against policies (API and `fenceline connlist --flows`)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from editor.policy.analysis import analyse
from editor.policy.check import (
    Observation,
    add_observed,
    observations_from_document,
    replay,
    replay_document,
)
from editor.policy.cli import main
from editor.policy.document import Document, Node
from editor.policy.flows import read_flows
from editor.policy.manifests import read_paths

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HUBBLE = FIXTURES / "hubble"
FLOW_FILES = sorted(p for p in HUBBLE.iterdir() if p.suffix in (".json", ".jsonl")) + sorted(
    (FIXTURES / "gadget").rglob("*.input")
)
TCP_400 = HUBBLE / "basic-sample-400-tcp-flows.json"
DENIED = HUBBLE / "cilium-docs-hubble-export-example.jsonl"
MINIKUBE = FIXTURES / "policies" / "cilium-cilium" / "minikube"


def flow_document(*paths: Path) -> Document:
    with io.BytesIO(b"".join(path.read_bytes() for path in paths)) as stream:
        return read_flows([("flows", stream)]).document


def test_the_two_policies_of_one_dns_flow_are_one_observation() -> None:
    document = flow_document(HUBBLE / "basic-sample-5-dns-flows.json")
    assert len([e for e in document.edges if e.observed is not None]) == 2  # the client's L7 rule, the server's
    (observation,) = observations_from_document(document)
    assert str(observation) == "kube-system/node-local-dns => kube-system/kube-dns[Deployment] : TCP 53"
    assert (observation.count, observation.verdicts, observation.flowed) == (3, (("FORWARDED", 3),), True)


@pytest.mark.parametrize("path", FLOW_FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_a_flow_document_rendered_for_cilium_allows_all_it_observed(path: Path) -> None:
    document = flow_document(path)
    result = replay_document(document, "cilium")
    assert [c.line() for c in result.connections if c.verdict != "allowed"] == []
    assert result.summary().startswith("no observed connection would break")


def test_the_native_rendering_breaks_what_networkpolicy_cannot_express() -> None:
    result = replay_document(flow_document(TCP_400), "native")
    assert result.summary() == (
        "this change would break 6 observed connections (250 flows); 10 observed: 3 allowed, 6 would break, "
        "0 denied as when observed, 1 undecided"
    )
    assert (
        "bookinfo/productpage-v1[Deployment] => bookinfo/details-v1[Deployment] : TCP 9080 : DENIED, would break "
        "(82 flows) - denied by the egress of bookinfo/productpage-v1[Deployment] and the ingress of "
        "bookinfo/details-v1[Deployment]"
    ) in result.lines()
    undecided = next(c for c in result.connections if c.verdict == "undecided")
    assert undecided.reason == "host[Entity]: no policy names the entity 'host', so the analysis has no place for it"


def test_disabling_an_edge_shows_the_traffic_it_would_break_before_saving() -> None:
    observed = flow_document(TCP_400)
    edited = Document.from_json(observed.to_json())
    edge = next(e for e in edited.edges if (e.source, e.target) == ("bookinfo/productpage-v1", "bookinfo/details-v1"))
    edge.disabled = True
    result = replay_document(edited, "cilium", observed)
    assert [c.line() for c in result.breaking] == [
        "bookinfo/productpage-v1[Deployment] => bookinfo/details-v1[Deployment] : TCP 9080 : DENIED, would break "
        "(82 flows) - denied by the egress of bookinfo/productpage-v1[Deployment] and the ingress of "
        "bookinfo/details-v1[Deployment]"
    ]
    assert result.summary().startswith("this change would break 1 observed connection (82 flows); 10 observed")
    assert result.to_json()["breaking"] == 1


def test_policy_files_without_workloads_get_them_from_the_flows() -> None:
    flows = flow_document(DENIED)
    cluster = add_observed(read_paths([MINIKUBE]), flows)
    assert {str(w) for w in cluster.workloads} == {"default/xwing[Pod]", "default/deathstar[Deployment]"}
    result = replay(observations_from_document(flows), analyse(cluster), explain=True)
    (connection,) = result.connections
    assert connection.line() == (
        "default/xwing[Pod] => default/deathstar[Deployment] : TCP 80 : denied, as when observed (1 flow) - "
        "denied by the egress of default/xwing[Pod]"
    )
    assert not connection.breaks
    assert connection.explanation[0] == "Denied TCP:[80] due to the following policies and rules:"
    assert connection.explanation[1] == "\tEgress (Denied)"
    assert result.summary() == (
        "no observed connection would break; 1 observed: 0 allowed, 0 would break, 1 denied as when observed, "
        "0 undecided"
    )


def observed_drawing(edges: list[dict[str, Any]], locks: dict[str, bool]) -> Document:
    return Document.from_json(
        {
            "schema": "fenceline/v1",
            "namespaces": [{"name": "shop"}],
            "nodes": [
                {
                    "id": "web",
                    "kind": "workload",
                    "name": "web",
                    "namespace": "shop",
                    "owner": "Deployment",
                    "labels": {"app": "web"},
                    "isolate": locks,
                },
                {"id": "host", "kind": "entity", "entity": "host"},
                {"id": "apiserver", "kind": "entity", "entity": "kube-apiserver"},
                {
                    "id": "dns",
                    "kind": "selector",
                    "name": "kube-dns",
                    "namespace": "shop",
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                },
                {"id": "google", "kind": "fqdn", "matchName": "www.google.com"},
                {"id": "lan", "kind": "cidr", "cidr": "192.168.0.0/16"},
            ],
            "edges": [
                {
                    **{key: value for key, value in edge.items() if key != "verdicts"},
                    "observed": {"count": 2, "verdicts": edge.get("verdicts", {"FORWARDED": 2})},
                }
                for edge in edges
            ],
        }
    )


def verdicts(document: Document, dialect: str = "cilium") -> list[tuple[str, str]]:
    return [(c.line().partition(" (")[0], c.reason) for c in replay_document(document, dialect).connections]


def test_ends_outside_the_pod_network() -> None:
    document = observed_drawing(
        [
            {
                "id": "e1",
                "source": "host",
                "target": "web",
                "ports": [{"protocol": "TCP", "port": 8080}],
                "enforce": [],
            },
            {
                "id": "e2",
                "source": "web",
                "target": "apiserver",
                "ports": [{"protocol": "TCP", "port": 443}],
                "enforce": [],
            },
            {"id": "e3", "source": "web", "target": "web", "ports": [{"protocol": "TCP", "port": 7000}], "enforce": []},
            {
                "id": "e4",
                "source": "web",
                "target": "google",
                "ports": [{"protocol": "TCP", "port": 443}],
                "enforce": [],
            },
            {"id": "e5", "source": "web", "target": "lan", "icmps": [{"type": 8}], "enforce": []},
            {"id": "e6", "source": "web", "target": "dns", "ports": [{"protocol": "UDP", "port": 53}], "enforce": []},
        ],
        {"ingress": True, "egress": False},
    )
    assert verdicts(document) == [
        ("host[Entity] => shop/web[Deployment] : TCP 8080 : allowed", "a pod's own node may always reach it"),
        # Cilium allows all ICMP where no policy isolates the pod's egress (SEMANTICS.md C2, C12)
        ("shop/web[Deployment] => 192.168.0.0/16[External] : ICMPv4 8 : allowed", ""),
        (
            "shop/web[Deployment] => kube-apiserver[Entity] : TCP 443 : allowed",
            "kube-apiserver[Entity] is named by no policy, and shop/web[Deployment] is not isolated for egress",
        ),
        ("shop/web[Deployment] => shop/kube-dns[Selector] : UDP 53 : allowed", ""),
        (
            "shop/web[Deployment] => shop/web[Deployment] : TCP 7000 : DENIED, would break",
            "denied by the ingress of shop/web[Deployment]",
        ),
        ("shop/web[Deployment] => www.google.com[FQDN] : TCP 443 : allowed", ""),
    ]


def test_an_end_no_policy_names_is_undecided_when_its_pod_is_isolated() -> None:
    document = observed_drawing(
        [
            {
                "id": "e1",
                "source": "web",
                "target": "apiserver",
                "ports": [{"protocol": "TCP", "port": 443}],
                "enforce": [],
            }
        ],
        {"ingress": False, "egress": True},
    )
    assert verdicts(document) == [
        (
            "shop/web[Deployment] => kube-apiserver[Entity] : TCP 443 : undecided: kube-apiserver[Entity]: no policy "
            "names the entity 'kube-apiserver', so the analysis has no place for it",
            "kube-apiserver[Entity]: no policy names the entity 'kube-apiserver', so the analysis has no place for it",
        )
    ]


def test_traffic_seen_only_as_dropped_does_not_count_as_broken() -> None:
    document = observed_drawing(
        [
            {
                "id": "e1",
                "source": "web",
                "target": "lan",
                "ports": [{"protocol": "TCP", "port": 22}],
                "enforce": [],
                "verdicts": {"DROPPED:POLICY_DENIED": 2},
            },
            {
                "id": "e2",
                "source": "web",
                "target": "lan",
                "ports": [{"protocol": "TCP", "port": 23}],
                "enforce": [],
                "verdicts": {"AUDIT": 2},
            },
        ],
        {"ingress": False, "egress": True},
    )
    result = replay_document(document, "native")
    assert [(c.verdict, c.breaks) for c in result.connections] == [("denied", False), ("denied", True)]
    observation = result.connections[0].observation
    assert isinstance(observation, Observation) and not observation.flowed


# --- the command -----------------------------------------------------------------------------------------------


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["connlist", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_connlist_flows_prints_each_observed_connection_and_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(MINIKUBE), "--flows", str(DENIED), str(HUBBLE / "basic-sample-5-http-flows.json"))
    assert code == 0
    assert out.splitlines() == [
        "default/xwing[Pod] => default/deathstar[Deployment] : TCP 80 : denied, as when observed (1 flow) - denied "
        "by the egress of default/xwing[Pod]",
        "istio-system/prometheus[Deployment] => 10.128.0.4/32[External] : TCP 9990 : allowed (1 flow)",
        "istio-system/prometheus[Deployment] => kube-system/kube-dns[Deployment] : TCP 10054 : allowed (1 flow)",
        "istio-system/prometheus[Deployment] => kube-system/node-local-dns[Workload] : TCP 9253 : allowed (1 flow)",
        "no observed connection would break; 4 observed: 3 allowed, 0 would break, 1 denied as when observed, "
        "0 undecided",
    ]
    assert f"fenceline connlist: flows: {DENIED}: hubble jsonpb, 2 records, 0 skipped" in err.splitlines()
    assert "fenceline connlist: flows: flows read 7, used 4" in err


def test_connlist_flows_exits_1_when_observed_traffic_would_break(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deny = tmp_path / "deny.yaml"
    deny.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: bookinfo}\n"
        "spec: {podSelector: {matchLabels: {app: details}}, policyTypes: [Ingress]}\n"
    )
    code, out, _ = run(capsys, str(deny), "--flows", str(TCP_400), "--explain")
    assert code == 1
    lines = out.splitlines()
    index = lines.index(
        "bookinfo/productpage-v1[Deployment] => bookinfo/details-v1[Deployment] : TCP 9080 : DENIED, would break "
        "(82 flows) - denied by the ingress of bookinfo/details-v1[Deployment]"
    )
    assert lines[index + 1] == "    Denied TCP:[9080] due to the following policies and rules:"
    assert lines[index + 4].startswith("    \t\tNetworkPolicy 'bookinfo/deny' selects bookinfo/details-v1[Deployment]")
    assert lines[-1].startswith("this change would break 1 observed connection (82 flows); 10 observed: 9 allowed")


def test_connlist_flows_reads_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", _Stdin(DENIED.read_bytes()))
    code, out, _ = run(capsys, str(MINIKUBE), "--flows", "-")
    assert code == 0
    assert out.splitlines()[-1].endswith("1 denied as when observed, 0 undecided")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--flows", "missing.json"], "missing.json: cannot read: No such file or directory"),
        (["--flows", str(DENIED), "--diff", str(MINIKUBE)], "--flows replays against one policy set"),
    ],
)
def test_connlist_flows_bad_input_exits_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, str(MINIKUBE), *argv)
    assert code == 2
    assert out == ""
    assert message in err


def test_a_service_end_is_the_workloads_its_selector_picks_or_a_stand_in() -> None:
    service = Node(
        id="svc", kind="selector", name="api", namespace="shop", pod_selector={"matchLabels": {"app": "api"}}
    )
    document = Document.from_json(
        {
            "schema": "fenceline/v1",
            "namespaces": [{"name": "shop", "labels": {"team": "a"}}],
            "nodes": [
                {"id": "web", "kind": "workload", "name": "web", "namespace": "shop", "labels": {"app": "web"}},
                service.to_json(),
            ],
            "edges": [
                {
                    "id": "e1",
                    "source": "web",
                    "target": "svc",
                    "ports": [{"protocol": "TCP", "port": 8080}],
                    "observed": {"count": 1},
                }
            ],
        }
    )
    cluster = add_observed(read_paths([MINIKUBE]), document)
    assert [(str(w), w.labels) for w in cluster.workloads] == [
        ("shop/web[Workload]", {"app": "web"}),
        ("shop/api[Selector]", {"app": "api"}),
    ]
    assert cluster.namespaces["shop"].labels == {"team": "a", "kubernetes.io/metadata.name": "shop"}
    result = replay(observations_from_document(document), analyse(cluster))
    assert result.lines() == ["shop/web[Workload] => shop/api[Selector] : TCP 8080 : allowed (1 flow)"]
