"""From flows to the graph: the workloads, edges, L7 rules, entities, denials and locks found in the real Hubble
captures of tests/fixtures/hubble, the filters, and merging into an existing document."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from editor.policy.compile import compile_document
from editor.policy.document import Document, Edge, Node, Port
from editor.policy.flows import FlowOptions, read_flows
from editor.policy.flows.workloads import workload_of

HUBBLE = Path(__file__).resolve().parent.parent / "fixtures" / "hubble"


def read(*names: str, into: Document | None = None, **options: Any):
    files = [(name, io.BytesIO((HUBBLE / name).read_bytes())) for name in names]
    return read_flows(files, FlowOptions(**options), into=into)


def read_bytes(data: bytes, **options: Any):
    return read_flows([("log", io.BytesIO(data))], FlowOptions(**options))


def edges(document: Document) -> list[tuple[Any, ...]]:
    """(source, target, protocol/port or ICMP, enforce, disabled, count, l7) for every edge."""
    out = []
    for edge in document.edges:
        where = ",".join(f"{p.protocol}/{p.port}" for p in edge.ports) or json.dumps(edge.icmps)
        out.append((edge.source, edge.target, where, tuple(edge.enforce), edge.disabled, edge.observed.count, edge.l7))
    return out


def node(document: Document, node_id: str) -> Node:
    return document.node(node_id)


def locks(document: Document) -> dict[str, tuple[bool, bool]]:
    return {n.id: (n.isolate.ingress, n.isolate.egress) for n in document.nodes if n.is_subject}


@pytest.mark.parametrize("path", sorted(HUBBLE.glob("*.json*")), ids=lambda p: p.name)
def test_every_capture_gives_a_valid_document_without_rules_to_ephemeral_ports(path: Path) -> None:
    document = read(path.name).document
    assert Document.from_json(document.to_json()).to_json() == document.to_json()
    for edge in document.edges:
        assert all(port.port < 32768 for port in edge.ports), edge


def test_http_requests_become_cilium_http_rules_on_their_edge() -> None:
    result = read("basic-sample-5-http-flows.json")
    metrics = {"http": [{"method": "GET", "path": "^/metrics$"}]}
    assert edges(result.document) == [
        ("istio-system/prometheus", "cidr:10.128.0.4/32", "TCP/9990", ("source",), False, 1, metrics),
        ("istio-system/prometheus", "kube-system/kube-dns", "TCP/10054", ("source",), False, 1, metrics),
        ("istio-system/prometheus", "kube-system/node-local-dns", "TCP/9253", ("source",), False, 1, metrics),
    ]
    assert result.summary.replies == 2
    assert result.document.settings.dialect == "cilium"
    prometheus = node(result.document, "istio-system/prometheus")
    assert (prometheus.kind, prometheus.owner, prometheus.labels) == (
        "workload",
        "Deployment",
        {"app": "prometheus", "release": "istio"},
    )
    # kube-dns is a pod in the log but Hubble printed it as reserved:world without its labels: kept as a
    # workload (not world), never locked, with a note asking for its labels.
    kube_dns = node(result.document, "kube-system/kube-dns")
    assert kube_dns.labels == {} and "did not record this workload's labels" in (kube_dns.note or "")
    assert locks(result.document)["kube-system/kube-dns"] == (False, False)


def test_dns_queries_become_dns_rules_and_the_server_side_gets_an_l4_twin() -> None:
    result = read("basic-sample-5-dns-flows.json")
    names = [
        "istiod-istio-1611.istio-system.svc.cluster.local",
        "istiod-istio-1611.istio-system.svc.istio-system.svc.cluster.local",
        "istiod-istio-1611.istio-system.svc.svc.cluster.local",
    ]
    client, server = "kube-system/node-local-dns", "kube-system/kube-dns"
    assert edges(result.document) == [
        (client, server, "TCP/53", ("source",), False, 3, {"dns": [{"matchName": name} for name in names]}),
        (client, server, "TCP/53", ("target",), False, 3, None),
    ]
    assert result.document.edges[1].note == (
        "The DNS server's side of edge e1 (Cilium applies DNS rules on egress only)."
    )
    assert locks(result.document) == {server: (True, False), client: (False, True)}
    compiled = compile_document(result.document, "cilium")
    assert compiled.issues == []
    kinds = {(obj["metadata"]["name"], tuple(obj["spec"])) for obj in compiled.objects}
    assert kinds == {("kube-dns", ("endpointSelector", "ingress")), ("node-local-dns", ("endpointSelector", "egress"))}


def test_udp_dns_and_the_remote_node_entity() -> None:
    result = read("basic-sample-400-udp-flows.json")
    assert edges(result.document) == [
        (
            "bookinfo/productpage-v1",
            "kube-system/coredns",
            "UDP/53",
            ("source",),
            False,
            115,
            {
                "dns": [
                    {"matchName": "details.bookinfo.svc.cluster.local"},
                    {"matchName": "reviews.bookinfo.svc.cluster.local"},
                ]
            },
        ),
        ("bookinfo/productpage-v1", "kube-system/coredns", "UDP/53", ("target",), False, 115, None),
        (
            "bookinfo/ratings-v1",
            "kube-system/coredns",
            "UDP/53",
            ("source",),
            False,
            63,
            {"dns": [{"matchName": "productpage.bookinfo.svc.cluster.local"}]},
        ),
        ("bookinfo/ratings-v1", "kube-system/coredns", "UDP/53", ("target",), False, 63, None),
        ("entity:remote-node", "kube-system/coredns", "UDP/53", ("target",), False, 74, None),
    ]
    assert result.document.edges[0].observed.verdicts == {"FORWARDED": 96, "REDIRECTED": 19}
    assert node(result.document, "kube-system/coredns").labels == {"k8s-app": "kube-dns"}
    assert compile_document(result.document, "cilium").issues == []


def test_policy_denied_flow_is_a_disabled_edge_and_other_drops_are_only_counted() -> None:
    result = read("cilium-docs-hubble-export-example.jsonl")
    (edge,) = result.document.edges
    assert (edge.source, edge.target, edge.ports, edge.disabled) == (
        "default/xwing",
        "default/deathstar",
        [Port("TCP", 80)],
        True,
    )
    assert edge.observed.verdicts == {"DROPPED:POLICY_DENIED": 1}
    assert edge.observed.first_seen == "2023-08-21T12:12:18.510175415Z"
    assert result.summary.denied_edges == 1
    assert result.summary.ignored == {"dropped, not by policy (INVALID_SOURCE_IP)": 1}
    assert (node(result.document, "default/deathstar").owner, node(result.document, "default/xwing").owner) == (
        "Deployment",
        "Pod",
    )


def test_policy_drops_and_allowed_flows_on_one_key_make_one_enabled_edge() -> None:
    line = (HUBBLE / "cilium-docs-hubble-export-example.jsonl").read_bytes().splitlines()[1]
    allowed = line.replace(b'"verdict":"DROPPED"', b'"verdict":"FORWARDED"').replace(
        b',"drop_reason_desc":"POLICY_DENIED"', b""
    )
    audit = line.replace(b'"verdict":"DROPPED"', b'"verdict":"AUDIT"')
    (edge,) = read_bytes(line + b"\n" + allowed + b"\n" + audit).document.edges
    assert not edge.disabled
    assert edge.observed.verdicts == {"AUDIT": 1, "DROPPED:POLICY_DENIED": 1, "FORWARDED": 1}
    (audit_only,) = read_bytes(audit).document.edges
    assert audit_only.disabled


def test_newest_exporter_fields_workloads_and_cidr_identity_of_the_api_server() -> None:
    result = read("imroc-tke-guide-hubble-export-example.jsonl")
    # Line 1 is a reply (is_reply); lines 2 and 3 are node-to-world traffic no pod policy can govern.
    assert result.document.edges == []
    assert result.summary.replies == 1
    assert result.summary.ignored == {"between two ends outside the pod network": 2}
    request = json.loads((HUBBLE / "imroc-tke-guide-hubble-export-example.jsonl").read_bytes().splitlines()[0])
    flow = request["flow"]
    flow.update(is_reply=False, trace_reason="NEW")
    del flow["reply"]
    result = read_bytes(json.dumps(request).encode())
    assert edges(result.document) == [
        ("entity:kube-apiserver", "kube-system/csi-cbs-controller", "TCP/57706", ("target",), False, 1, None)
    ]
    csi = node(result.document, "kube-system/csi-cbs-controller")
    assert (csi.owner, csi.labels) == ("Deployment", {"app": "cbs-csi-controller", "metrics": "cbs-csi-controller"})
    assert result.document.namespace("kube-system").labels == {"kubernetes.io/metadata.name": "kube-system"}


def test_replies_are_dropped_by_is_reply_reply_syn_ack_and_ephemeral_ports() -> None:
    result = read("basic-sample-10-flows.json")
    assert result.summary.replies == 5
    assert edges(result.document) == [
        ("entity:host", "bookinfo/reviews-v1", "TCP/15020", ("target",), False, 1, None),
        ("entity:host", "kube-system/kube-dns", "TCP/10054", ("target",), False, 1, None),
        ("istio-system/istio-telemetry", "istio-system/istio-galley", "TCP/9901", ("source", "target"), False, 1, None),
        ("istio-system/prometheus", "bookinfo/reviews-v1", "TCP/15090", ("source", "target"), False, 1, None),
        ("kube-system/event-exporter-gke", "cidr:35.246.31.234/32", "TCP/443", ("source",), False, 1, None),
    ]
    assert locks(result.document)["bookinfo/reviews-v1"] == (True, False)
    assert locks(result.document)["istio-system/prometheus"] == (False, True)


def test_pods_known_only_by_identity_join_the_workload_with_their_labels() -> None:
    document = read("basic-sample-400-tcp-flows.json").document
    workloads = sorted(n.id for n in document.nodes if n.kind == "workload")
    assert workloads == [
        "bookinfo/details-v1",
        "bookinfo/productpage-v1",
        "bookinfo/ratings-v1",
        "bookinfo/reviews-v1",
        "bookinfo/reviews-v2",
        "bookinfo/reviews-v3",
        "jaeger/jaeger-default",
        "kube-system/otelcol-hubble-collector",
    ]
    http = {(e.source, e.target): e.l7 for e in document.edges if e.l7}
    assert http[("bookinfo/productpage-v1", "bookinfo/details-v1")] == {
        "http": [{"method": "GET", "path": "^/details/0$"}]
    }
    assert not any(e.source == e.target for e in document.edges)


def test_world_peers_become_fqdn_nodes_from_destination_names_or_dns_answers() -> None:
    line = json.loads((HUBBLE / "basic-sample-10-flows.json").read_bytes().splitlines()[7])
    named = json.loads(json.dumps(line))
    named["flow"]["destination_names"] = ["storage.googleapis.com"]
    result = read_bytes(json.dumps(named).encode())
    (edge,) = result.document.edges
    assert edge.target == "fqdn:storage.googleapis.com"
    assert node(result.document, edge.target).match_name == "storage.googleapis.com"
    answer = {
        "flow": {
            "time": "2021-06-16T10:00:00Z",
            "verdict": "FORWARDED",
            "is_reply": True,
            "l4": {"UDP": {"source_port": 53, "destination_port": 40000}},
            "source": {"identity": 1, "labels": ["reserved:host"]},
            "destination": {"identity": 2, "labels": ["reserved:world"]},
            "l7": {"type": "RESPONSE", "dns": {"query": "events.example.com.", "ips": ["35.246.31.234"]}},
        }
    }
    learned = read_bytes(json.dumps(answer).encode() + b"\n" + json.dumps(line).encode())
    assert [e.target for e in learned.document.edges] == ["fqdn:events.example.com"]
    unnamed = read_bytes(json.dumps(answer).encode() + b"\n" + json.dumps(line).encode(), fqdn=False)
    assert [e.target for e in unnamed.document.edges] == ["cidr:35.246.31.234/32"]


def test_unnamed_world_addresses_collapse_into_wider_cidrs() -> None:
    line = json.loads((HUBBLE / "basic-sample-10-flows.json").read_bytes().splitlines()[7])
    records = []
    for last in (10, 20, 30):
        record = json.loads(json.dumps(line))
        record["flow"]["IP"]["destination"] = f"35.246.31.{last}"
        records.append(json.dumps(record).encode())
    data = b"\n".join(records)
    assert [e.target for e in read_bytes(data).document.edges] == [
        "cidr:35.246.31.10/32",
        "cidr:35.246.31.20/32",
        "cidr:35.246.31.30/32",
    ]
    (edge,) = read_bytes(data, collapse_cidr=24).document.edges
    assert (edge.target, edge.observed.count) == ("cidr:35.246.31.0/24", 3)


def test_namespace_filter_keeps_flows_touching_the_namespace_and_locks_only_its_workloads() -> None:
    result = read("basic-sample-10-flows.json", namespaces=frozenset({"bookinfo"}))
    assert [(e.source, e.target) for e in result.document.edges] == [
        ("entity:host", "bookinfo/reviews-v1"),
        ("istio-system/prometheus", "bookinfo/reviews-v1"),
    ]
    assert locks(result.document) == {"bookinfo/reviews-v1": (True, False), "istio-system/prometheus": (False, False)}
    (edge,) = [e for e in result.document.edges if e.source == "istio-system/prometheus"]
    assert edge.enforce == ["target"]
    assert result.summary.ignored["namespace not selected"] == 3


def test_time_window_and_verdict_filters() -> None:
    names = ("basic-sample-5-http-flows.json", "cilium-docs-hubble-export-example.jsonl")
    everything = read(*names)
    assert len(everything.document.edges) == 4
    since = read(*names, since="2023-01-01T00:00:00Z")
    assert [(e.source, e.target) for e in since.document.edges] == [("default/xwing", "default/deathstar")]
    until = read(*names, until="2021-10-04T14:28:39+00:00")
    assert [(e.source, e.target) for e in until.document.edges] == [("istio-system/prometheus", "cidr:10.128.0.4/32")]
    assert until.summary.ignored["outside the time window"] == 3
    dropped = read(*names, verdicts=frozenset({"DROPPED"}))
    assert [e.disabled for e in dropped.document.edges] == [True]


@pytest.mark.parametrize("bad", [{"since": "yesterday"}, {"verdicts": frozenset({"ALLOWED"})}, {"collapse_cidr": 33}])
def test_bad_options_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FlowOptions(**bad)


def test_importing_twice_into_the_same_document_adds_counts_without_duplicates() -> None:
    first = read("basic-sample-400-udp-flows.json").document
    counts = [e.observed.count for e in first.edges]
    result = read("basic-sample-400-udp-flows.json", into=first)
    assert result.document is first
    assert [e.observed.count for e in first.edges] == [2 * count for count in counts]
    assert len(first.nodes) == 4 and len(first.edges) == 5
    assert Document.from_json(first.to_json())


def test_merging_matches_existing_nodes_by_meaning_and_keeps_their_locks_and_edges() -> None:
    drawn = Document(name="drawn")
    drawn.ensure_namespace("kube-system")
    drawn.ensure_namespace("bookinfo")
    drawn.nodes.append(
        Node(id="dns", kind="workload", name="coredns", namespace="kube-system", labels={"k8s-app": "kube-dns"})
    )
    drawn.nodes.append(Node(id="e1", kind="entity", entity="remote-node"))
    drawn.edges.append(Edge(id="e1", source="e1", target="dns", ports=[Port("UDP", 53)], enforce=["target"]))
    result = read("basic-sample-400-udp-flows.json", into=drawn)
    ids = [n.id for n in drawn.nodes]
    assert ids == ["dns", "e1", "bookinfo/productpage-v1", "bookinfo/ratings-v1"]
    assert drawn.node("dns").isolate.ingress is False  # the user's node keeps its locks
    existing = drawn.edges[0]
    assert (existing.id, existing.observed.count, existing.enforce) == ("e1", 74, ["target"])
    assert [e.id for e in drawn.edges] == ["e1", "e2", "e3"]
    assert {(e.source, e.target) for e in drawn.edges[1:]} == {
        ("bookinfo/productpage-v1", "dns"),
        ("bookinfo/ratings-v1", "dns"),
    }
    assert all(e.enforce == ["source"] for e in drawn.edges[1:])
    assert result.summary.nodes == 4 and result.summary.workloads == 3
    assert Document.from_json(drawn.to_json())


def test_icmp_echo_requests_are_edges_and_echo_replies_are_not() -> None:
    base = {
        "time": "2024-01-01T00:00:00Z",
        "verdict": "FORWARDED",
        "source": {"identity": 300, "namespace": "a", "pod_name": "ping", "labels": ["k8s:app=ping"]},
        "destination": {"identity": 301, "namespace": "a", "pod_name": "pong", "labels": ["k8s:app=pong"]},
    }
    request = {**base, "l4": {"ICMPv4": {"type": 8}}}
    reply = {**base, "source": base["destination"], "destination": base["source"], "l4": {"ICMPv4": {"type": 0}}}
    result = read_bytes(json.dumps({"flow": request}).encode() + b"\n" + json.dumps({"flow": reply}).encode())
    assert edges(result.document) == [
        ("a/ping", "a/pong", '[{"family": "IPv4", "type": 8}]', ("source", "target"), False, 1, None)
    ]
    assert result.summary.replies == 1


def test_too_many_distinct_http_paths_leave_the_port_without_l7_rules() -> None:
    line = json.loads((HUBBLE / "basic-sample-5-http-flows.json").read_bytes().splitlines()[0])
    records = []
    for number in range(150):
        record = json.loads(json.dumps(line))
        record["flow"]["l7"]["http"]["url"] = f"http://10.128.0.4:9990/items/{number}?x=1"
        records.append(json.dumps(record).encode())
    result = read_bytes(b"\n".join(records[:3]))
    assert result.document.edges[0].l7 == {
        "http": [{"method": "GET", "path": f"^/items/{number}$"} for number in (0, 1, 2)]
    }
    crowded = read_bytes(b"\n".join(records))
    assert crowded.document.edges[0].l7 is None
    assert crowded.document.edges[0].observed.count == 150
    assert any("more than 100 distinct HTTP requests" in warning for warning in crowded.summary.warnings)


def _flow(**fields: Any) -> bytes:
    flow = {
        "time": "2024-01-01T00:00:00Z",
        "verdict": "FORWARDED",
        "is_reply": False,
        "source": {
            "identity": 300,
            "namespace": "shop",
            "pod_name": "orders-5f6d7c8b9-x7kq2",
            "labels": ["k8s:app=orders"],
        },
        "destination": {"identity": 301, "namespace": "shop", "pod_name": "kafka-0", "labels": ["k8s:app=kafka"]},
        "l4": {"TCP": {"source_port": 40000, "destination_port": 9092}},
        **fields,
    }
    return json.dumps({"flow": flow}).encode()


def test_kafka_requests_become_kafka_rules() -> None:
    produce = _flow(l7={"type": "REQUEST", "kafka": {"api_key": "produce", "topic": "orders"}})
    fetch = _flow(l7={"type": "REQUEST", "kafka": {"api_key": "fetch", "topic": "orders"}})
    response = _flow(l7={"type": "RESPONSE", "kafka": {"api_key": "fetch", "topic": "orders"}})
    (edge,) = read_bytes(b"\n".join([produce, fetch, response])).document.edges
    assert (edge.source, edge.target, edge.observed.count) == ("shop/orders", "shop/kafka", 3)
    assert edge.l7 == {"kafka": [{"apiKey": "fetch", "topic": "orders"}, {"apiKey": "produce", "topic": "orders"}]}


def test_the_workloads_field_names_the_owner_over_the_pod_name() -> None:
    source = {
        "identity": 300,
        "namespace": "shop",
        "pod_name": "orders-5f6d7c8b9-x7kq2",
        "labels": ["k8s:app=orders", "k8s:pod-template-hash=5f6d7c8b9"],
        "workloads": [{"name": "orders-api", "kind": "Rollout"}],
    }
    document = read_bytes(_flow(source=source)).document
    orders = node(document, "shop/orders-api")
    assert (orders.name, orders.owner, orders.labels) == ("orders-api", "Rollout", {"app": "orders"})
    assert node(document, "shop/kafka").owner == "StatefulSet"


def test_ipv6_world_addresses_and_their_own_collapse_prefix() -> None:
    records = [
        _flow(
            destination={"identity": 2, "labels": ["reserved:world"]},
            IP={"source": "fd00::5", "destination": f"2001:db8:0:1::{last}", "ipVersion": "IPv6"},
            l4={"TCP": {"source_port": 40000, "destination_port": 443}},
        )
        for last in (1, 2)
    ]
    data = b"\n".join(records)
    assert [e.target for e in read_bytes(data).document.edges] == [
        "cidr:2001:db8:0:1::1/128",
        "cidr:2001:db8:0:1::2/128",
    ]
    assert [e.target for e in read_bytes(data, collapse_cidr=24, collapse_cidr6=64).document.edges] == [
        "cidr:2001:db8:0:1::/64"
    ]


@pytest.mark.parametrize(
    ("pod", "labels", "expected"),
    [
        ("deathstar-7848d6c4d5-th9v2", {}, ("deathstar", "Deployment")),
        ("checkout-66d68cbdd-AAAAA", {"pod-template-hash": "66d68cbdd"}, ("checkout", "Deployment")),
        (
            "redis-0",
            {"controller-revision-hash": "redis-5d4", "statefulset.kubernetes.io/pod-name": "redis-0"},
            ("redis", "StatefulSet"),
        ),
        ("cilium-x7kq2", {"controller-revision-hash": "6b9f", "pod-template-generation": "1"}, ("cilium", "DaemonSet")),
        ("backup-28474560-x7kq2", {"job-name": "backup-28474560"}, ("backup-28474560", "Job")),
        ("node-local-dns-88zrp", {}, ("node-local-dns", None)),
        ("nginx-proxy", {}, ("nginx-proxy", "Pod")),
        ("xwing", {}, ("xwing", "Pod")),
    ],
)
def test_workload_of_a_pod_from_its_name_and_labels(
    pod: str, labels: dict[str, str], expected: tuple[str, str | None]
) -> None:
    assert workload_of(pod, labels) == expected


def test_a_pod_without_a_namespace_takes_it_from_its_labels_or_is_left_out() -> None:
    labelled = {
        "identity": 301,
        "pod_name": "kafka-0",
        "labels": ["k8s:app=kafka", "k8s:io.kubernetes.pod.namespace=shop"],
    }
    (edge,) = read_bytes(_flow(destination=labelled)).document.edges
    assert (edge.source, edge.target) == ("shop/orders", "shop/kafka")
    for namespace in ("", "Shop_1"):
        unusable = {"identity": 301, "namespace": namespace, "pod_name": "kafka-0", "labels": ["k8s:app=kafka"]}
        result = read_bytes(_flow(destination=unusable))
        assert Document.from_json(result.document.to_json()).edges == []
        assert result.summary.ignored == {"an end Hubble did not identify": 1}
        assert result.summary.warnings == [
            f"pod 'kafka-0' is in no valid namespace (namespace {namespace!r}); its flows were left out"
        ]
