"""Inspektor Gadget advisor logs: the connections found in the upstream test inputs, what Fenceline does better
than the advisor (protocol in the key, no abort on an unknown kind), and — the contract — that the policies
compiled from the imported graph allow the same connections as the upstream golden YAML beside each input,
compared by the analyser on a small cluster built from the labels in the log, not by text."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from editor.policy.analysis import analyse, format_connlist
from editor.policy.compile import compile_document
from editor.policy.document import Document
from editor.policy.flows import FlowOptions, read_flows
from editor.policy.manifests import read_cluster
from editor.policy.yamlio import dump_yaml_documents, load_objects

GADGET = Path(__file__).resolve().parent.parent / "fixtures" / "gadget"
GEN1 = GADGET / "gen1-2020-connect-accept"
GEN2 = GADGET / "gen2b-2023-2025-trace-network"
GEN2_2022 = GADGET / "gen2a-2022-network-graph-flat"
PAIRS = [
    path
    for path in sorted(GADGET.glob("*/*.input"))
    if path.with_suffix(".golden").exists() and not path.name.startswith("empty")
]


def read(data: bytes, **options: Any):
    return read_flows([("log", io.BytesIO(data))], FlowOptions(**options))


def edges(document: Document) -> list[tuple[str, str, str, tuple[str, ...], int]]:
    return [
        (e.source, e.target, ",".join(f"{p.protocol}/{p.port}" for p in e.ports), tuple(e.enforce), e.observed.count)
        for e in document.edges
    ]


def gen2_line(**changes: Any) -> dict[str, Any]:
    """Line 1 of the upstream connect-to-svc input, changed."""
    record = json.loads((GEN2 / "connect-to-svc.input").read_bytes().splitlines()[0])
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(record.get(key), dict):
            record[key] = {**record[key], **value}
        else:
            record[key] = value
    return record


def lines(*records: dict[str, Any]) -> bytes:
    return b"\n".join(json.dumps(record).encode() for record in records)


def test_gen2_2022_flat_log_reads_as_the_same_connections_as_its_2023_form() -> None:
    """Upstream's connect-to-svc test case in the 2022 flat format (`pkt_type`, `remote_kind`, `remote_svc_*`)
    and in the 2023 nested one: the same two connections. Before this format was known, its `remote_kind`
    made every line look like a gen 1 event of an unknown type, and all were left out."""
    flat = read((GEN2_2022 / "connect-to-svc.input").read_bytes())
    nested = read((GEN2 / "connect-to-svc.input").read_bytes())
    assert flat.summary.files[0].format == "gadget gen2 2022 (networktrace.log, flat keys)"
    assert flat.summary.flows_used == 2 and not flat.summary.ignored and not flat.summary.lines_skipped
    assert edges(flat.document) == edges(nested.document)
    assert flat.document.to_json()["nodes"] == nested.document.to_json()["nodes"]


def flat_line(**changes: Any) -> dict[str, Any]:
    """Line 1 of the upstream 2022 connect-to-svc input, changed."""
    record = json.loads((GEN2_2022 / "connect-to-svc.input").read_bytes().splitlines()[0])
    return {key: value for key, value in {**record, **changes}.items() if value is not None}


def test_gen2_2022_pod_and_other_peers_and_ingress() -> None:
    to_pod = flat_line(
        remote_kind="pod",
        remote_svc_namespace=None,
        remote_svc_name=None,
        remote_svc_label_selector=None,
        remote_pod_namespace="shop",
        remote_pod_name="cart-7d4f9-abcde",
        remote_pod_labels={"app": "cart"},
        proto="tcp",
        port=7070,
        pod_labels={"app": "web"},
    )
    to_other = flat_line(remote_kind="other", remote_svc_namespace=None, remote_svc_name=None, ip="1.1.1.1", port=443)
    ingress = {**to_pod, "pkt_type": "HOST", "port": 8080}
    from_node = {**ingress, "ip": "192.168.49.2", "pod_host_ip": "192.168.49.2"}
    result = read(lines(to_pod, to_other, ingress, from_node))
    assert result.summary.lines_skipped == 0
    assert result.summary.ignored == {"ingress from the pod's own node": 1}
    found = {(source, target, ports) for source, target, ports, _, _ in edges(result.document)}
    namespace = "test-networkpolicy-8485776873410829123"
    assert any(target.startswith("shop/") and ports == "TCP/7070" for _, target, ports in found)
    assert any(s.startswith("shop/") and t.startswith(namespace) and ports == "TCP/8080" for s, t, ports in found)
    assert any("1.1.1.1" in target and ports == "UDP/443" for _, target, ports in found)


def test_gen2_2022_line_among_other_formats_is_recognised_on_its_own() -> None:
    """Detection is per line: a 2022 line after a 2023 line and a gen 1 line is read as what it is."""
    gen1 = json.loads((GEN1 / "connect-to-svc.input").read_text())[0]
    result = read(lines(gen2_line(), gen1, flat_line()))
    assert result.summary.files[0].formats == {
        "gadget gen2 (networktrace.log)": 1,
        "gadget gen1 (connect/accept)": 1,
        "gadget gen2 2022 (networktrace.log, flat keys)": 1,
    }
    assert result.summary.flows_used == 3


def test_gen1_connect_to_service_in_another_namespace() -> None:
    result = read((GEN1 / "connect-to-svc-namespace.input").read_bytes())
    assert edges(result.document) == [
        ("demo1/checkoutservice", "demo2/svc:paymentservice", "TCP/50051", ("source",), 1)
    ]
    service = result.document.node("demo2/svc:paymentservice")
    assert (service.kind, service.namespace, service.pod_selector) == (
        "selector",
        "demo2",
        {"matchLabels": {"app": "paymentservice"}},
    )
    checkout = result.document.node("demo1/checkoutservice")
    assert (checkout.labels, checkout.owner) == ({"app": "checkoutservice"}, "Deployment")
    assert (checkout.isolate.ingress, checkout.isolate.egress) == (True, True)
    assert (service.isolate.ingress, service.isolate.egress) == (False, False)


def test_gen1_replicas_with_different_hashes_are_one_workload_and_services_with_one_selector_one_node() -> None:
    result = read((GEN1 / "connect-to-svc-duplicate.input").read_bytes())
    assert edges(result.document) == [
        ("demo/checkoutservice", "demo/svc:paymentservice-AAAAA", "TCP/50051", ("source",), 2)
    ]
    assert result.document.node("demo/checkoutservice").labels == {"app": "checkoutservice"}


def test_gen1_connect_and_accept_of_one_connection_make_one_edge_enforced_on_both_monitored_pods() -> None:
    result = read((GEN1 / "multiple.input").read_bytes())
    assert edges(result.document) == [
        ("demo/checkoutservice", "demo/shippingservice", "TCP/50051", ("source", "target"), 2)
    ]


def test_gen2_service_selector_and_the_api_server_entity() -> None:
    result = read((GEN2 / "connect-to-svc-duplicate.input").read_bytes())
    namespace = "test-networkpolicy-8485776873410829123"
    assert edges(result.document) == [
        (f"{namespace}/test-pod", "entity:kube-apiserver", "TCP/443", ("source",), 2),
        (f"{namespace}/test-pod", "kube-system/svc:kube-dns", "UDP/53", ("source",), 3),
    ]
    pod = result.document.node(f"{namespace}/test-pod")
    assert (pod.labels, pod.owner, pod.isolate.ingress, pod.isolate.egress) == ({}, "Pod", True, True)
    assert "no labels" in (pod.note or "")
    assert result.document.settings.dialect == "native"


def test_protocol_is_part_of_the_connection_key() -> None:
    udp = gen2_line()
    tcp = gen2_line(proto="tcp")
    result = read(lines(udp, tcp, udp))
    assert [(e.target, e.ports[0].protocol, e.observed.count) for e in result.document.edges] == [
        ("kube-system/svc:kube-dns", "TCP", 1),
        ("kube-system/svc:kube-dns", "UDP", 2),
    ]


def test_an_unknown_peer_kind_is_a_warning_for_that_line_only() -> None:
    good = gen2_line()
    odd = gen2_line(dst={"kind": "host", "addr": "10.0.0.1"})
    result = read(lines(good, odd, good))
    assert [(s.line, s.reason) for s in result.summary.skipped] == [
        (2, "Gadget event: unknown dst.kind 'host' (expected pod, svc or raw)")
    ]
    assert edges(result.document)[0][4] == 2


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"k8s": {"namespace": 1.0}}, "k8s.namespace is 1.0, not a string"),
        ({"k8s": {"namespace": "Demo"}}, "k8s.namespace 'Demo' is not a namespace name (an RFC 1123 label)"),
        ({"k8s": {"owner": {"name": ["cart"]}}}, "k8s.owner.name is ['cart'], not a string"),
        ({"podLabels": {"app": 1}}, "podLabels: label 'app' has the value 1, not a string"),
        ({"podLabels": ["app=cart"]}, "podLabels is a JSON list, not a map of labels"),
        ({"dst": {"namespace": "a.b"}}, "svc peer namespace 'a.b' is not a namespace name"),
    ],
)
def test_a_field_of_the_wrong_type_or_an_unusable_namespace_skips_the_line(changes: dict, reason: str) -> None:
    good = gen2_line()
    result = read(lines(good, gen2_line(**changes)))
    assert [(s.line, s.reason) for s in result.summary.skipped] == [(2, f"Gadget event: {reason}")]
    assert edges(Document.from_json(result.document.to_json()))[0][4] == 1


def test_gen2_ingress_pods_raw_addresses_and_what_the_advisor_leaves_out() -> None:
    namespace = "test-networkpolicy-8485776873410829123"
    ingress = gen2_line(
        pktType="HOST",
        proto="tcp",
        port=8080,
        podHostIP="192.168.49.2",
        podLabels={"run": "test-pod"},
        dst={"kind": "pod", "namespace": "web", "podname": "client-7d4f8b9c6-x2x4z", "podlabels": {"app": "client"}},
    )
    raw = gen2_line(proto="tcp", port=443, dst={"kind": "raw", "addr": "1.1.1.1", "namespace": "", "name": ""})
    from_node = gen2_line(
        pktType="HOST", port=10250, podHostIP="192.168.49.2", dst={"kind": "raw", "addr": "192.168.49.2"}
    )
    loopback = gen2_line(dst={"kind": "raw", "addr": "127.0.0.1"})
    host_network = gen2_line(k8s={"hostNetwork": True})
    debug = gen2_line(type="debug")
    no_selector = gen2_line(
        proto="tcp", port=5432, dst={"kind": "svc", "namespace": "db", "name": "external-db", "podLabels": {}}
    )
    result = read(lines(ingress, raw, from_node, loopback, host_network, debug, no_selector))
    assert result.summary.lines_skipped == 0
    assert edges(result.document) == [
        (f"{namespace}/test-pod", "cidr:1.1.1.1/32", "TCP/443", ("source",), 1),
        ("web/client", f"{namespace}/test-pod", "TCP/8080", ("target",), 1),
    ]
    client = result.document.node("web/client")
    assert (client.labels, client.owner, client.isolate.ingress, client.isolate.egress) == (
        {"app": "client"},
        "Deployment",
        False,
        False,
    )
    assert result.summary.ignored == {
        "ingress from the pod's own node": 1,
        "loopback peer": 1,
        "hostNetwork pod": 1,
        "event type 'debug'": 1,
    }
    assert any("service db/external-db has no selector" in warning for warning in result.summary.warnings)


def test_keys_of_gadget_events_are_matched_without_regard_to_case() -> None:
    lower = gen2_line()
    upper = gen2_line(k8s={"podName": "test-pod", "podname": None})
    upper["k8s"] = {key: value for key, value in upper["k8s"].items() if value is not None}
    assert read(lines(upper)).document.to_json() == read(lines(lower)).document.to_json()


# ---- same connections as the upstream golden YAML ---------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", text.lower()).strip("-")[:60] or "pod"


def _cluster_manifests(document: Document) -> list[dict[str, Any]]:
    """Namespaces and one pod per workload or selector of the document, with the labels the log gave, plus a
    bystander pod in each namespace: a policy that allows more than it should shows up on the bystanders."""
    objects: list[dict[str, Any]] = []
    namespaces = sorted({node.namespace for node in document.nodes if node.namespace})
    for namespace in namespaces:
        # gen1 goldens select namespaces by a hand-added `name` label; give it so both sides can match.
        objects.append(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {"name": namespace}}}
        )
        objects.append(_pod(namespace, "bystander", {"role": "bystander"}))
    for node in document.nodes:
        if node.kind == "workload":
            objects.append(_pod(node.namespace or "", node.name, node.labels))
        elif node.kind == "selector":
            objects.append(_pod(node.namespace or "", node.name, (node.pod_selector or {}).get("matchLabels", {})))
    return objects


def _pod(namespace: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": _slug(name), "namespace": namespace, "labels": dict(labels)},
        "spec": {"containers": [{"name": "app", "image": "registry.invalid/app"}]},
    }


def _connlist(manifests: list[dict[str, Any]], policies_yaml: str) -> str:
    objects, problems = load_objects(dump_yaml_documents(manifests) + "---\n" + policies_yaml, "cluster")
    assert problems == []
    return format_connlist(analyse(read_cluster(objects)))


@pytest.mark.parametrize("path", PAIRS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_compiled_policies_allow_the_same_connections_as_the_upstream_golden(path: Path) -> None:
    golden = path.with_suffix(".golden").read_text()
    document = read(path.read_bytes()).document
    compiled = compile_document(document, "native")
    manifests = _cluster_manifests(document)
    ours = _connlist(manifests, compiled.yaml)
    theirs = _connlist(manifests, golden)
    assert ours == theirs
    assert ours  # the cluster is not empty, so the comparison says something
    # The only thing the native dialect cannot say is the API server entity (upstream's `podSelector: {}` in
    # `default` for the selector-less `kubernetes` service matches no API server endpoint either).
    assert all("kube-apiserver" in issue.message for issue in compiled.errors)


def test_the_comparison_notices_a_policy_that_allows_more() -> None:
    path = GEN1 / "connect-to-svc-namespace.input"
    document = read(path.read_bytes()).document
    document.node("demo1/checkoutservice").isolate.ingress = False
    manifests = _cluster_manifests(document)
    assert _connlist(manifests, compile_document(document, "native").yaml) != _connlist(
        manifests, path.with_suffix(".golden").read_text()
    )


def test_upstream_allows_every_pod_in_default_for_the_api_server_and_fenceline_does_not() -> None:
    path = GEN2 / "connect-to-svc.input"
    document = read(path.read_bytes()).document
    manifests = [*_cluster_manifests(document), _pod("default", "web", {"app": "web"})]
    ours = set(_connlist(manifests, compile_document(document, "native").yaml).splitlines())
    theirs = set(_connlist(manifests, path.with_suffix(".golden").read_text()).splitlines())
    namespace = "test-networkpolicy-8485776873410829123"
    assert theirs - ours == {
        f"{namespace}/bystander[Pod] => default/web[Pod] : TCP 443",
        f"{namespace}/test-pod[Pod] => default/web[Pod] : TCP 443",
    }
    assert ours <= theirs
