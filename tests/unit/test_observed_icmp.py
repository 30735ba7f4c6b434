"""Observed ICMP (issue 17): a ping seen by a stream is kept as ICMP with its family and type (protocol ICMPv4 or
ICMPv6, the type as the port, as check.Observation has it), not as protocol ANY: replayed as ICMP, drawn as an
`icmps` edge, and matched in drift against what drawn edges carry of ICMP.

The flows are real captures: the only ICMP record of the corpus (ICMPv6 type 133 in Cilium's Hubble export
example) and real pod-to-pod records of the bookinfo capture with their layer 4 replaced by an ICMPv4 echo
request, as `hubble observe -o jsonpb` prints one (flow.l4.ICMPv4 {type, code}, FLOWS.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from editor.policy.compile import compile_document
from editor.policy.document import Document, Edge, Port
from editor.policy.flows import read_flows
from editor.policy.flows.observe import ObservedEdge, edge_key, observe
from editor.policy.flows.staging import (
    ObservedRow,
    add_observed_edge,
    drawing_refusal,
    drift,
    observed_document,
    staged_report,
)

HUBBLE = Path(__file__).resolve().parents[1] / "fixtures" / "hubble"
TCP = HUBBLE / "basic-sample-400-tcp-flows.json"
EXPORT = HUBBLE / "cilium-docs-hubble-export-example.jsonl"


def records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in TCP.read_bytes().splitlines() if line.strip()]


def productpage_to_reviews() -> dict[str, Any]:
    """The capture's first record: bookinfo/productpage-v1 -> bookinfo/reviews-v2 on TCP 9080."""
    record = records()[0]
    assert record["flow"]["source"]["pod_name"].startswith("productpage-v1")
    assert record["flow"]["destination"]["pod_name"].startswith("reviews-v2")
    return record


def as_icmp(record: dict[str, Any], kind: int = 8, *, reverse: bool = False) -> dict[str, Any]:
    """The record as an ICMPv4 flow of `kind` (8: echo request), from its destination to its source when
    `reverse`."""
    flow = json.loads(json.dumps(record))["flow"]
    if reverse:
        flow["source"], flow["destination"] = flow["destination"], flow["source"]
        flow["IP"]["source"], flow["IP"]["destination"] = flow["IP"]["destination"], flow["IP"]["source"]
    flow["l4"] = {"ICMPv4": {"type": kind}}
    flow.pop("Summary", None)
    return {"flow": flow, "time": flow["time"], "node_name": flow.get("node_name")}


def piece(*flows: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(flow).encode() + b"\n" for flow in flows)


def row(edge: ObservedEdge, denied: int = 0) -> ObservedRow:
    """The row staged_store reads back for this observed edge (its stored description, as JSON)."""
    return ObservedRow(edge.key, json.loads(edge.description), edge.count, denied, edge.first_seen, edge.last_seen)


def drawing() -> Document:
    """The capture drawn by the flow import: its policies allow exactly what was seen (TCP 9080 and so on)."""
    with TCP.open("rb") as handle:
        return read_flows([("tcp", handle)]).document


def test_a_ping_is_kept_as_icmpv4_with_its_type() -> None:
    ping = as_icmp(productpage_to_reviews())
    timestamp = as_icmp(productpage_to_reviews(), 13)  # the same pods, another ICMP type: another connection
    edges, summary = observe(piece(ping, ping, timestamp))
    assert summary.flows_used == 3
    found = sorted((edge.protocol, edge.port, edge.count) for edge in edges)
    assert found == [("ICMPv4", 8, 2), ("ICMPv4", 13, 1)]
    for edge in edges:
        assert edge.key == edge_key(edge.source, edge.target, edge.protocol, edge.port)
        assert json.loads(edge.description)["protocol"] == "ICMPv4"
    assert len({edge.key for edge in edges}) == 2


def test_the_corpus_icmpv6_layer_is_kept_as_icmpv6_type_133() -> None:
    """The corpus's one ICMP record (an ICMPv6 router solicitation, fe80:: -> ff02::2, in Cilium's export example)
    has ends Hubble did not identify and was dropped for INVALID_SOURCE_IP, both left out by the import; its layer
    4 on a pod-to-pod record is an ICMPv6 connection of type 133, apart from ICMPv4 of the same number."""
    line = next(json.loads(text) for text in EXPORT.read_bytes().splitlines() if b"ICMPv6" in text)
    assert observe(piece(line))[0] == []
    record = productpage_to_reviews()
    record["flow"]["l4"] = line["flow"]["l4"]
    record["flow"]["IP"] = {**line["flow"]["IP"], "source": "fd00::177", "destination": "fd00::110"}
    edges, _ = observe(piece(record, as_icmp(productpage_to_reviews(), 133)))
    assert sorted((edge.protocol, edge.port) for edge in edges) == [("ICMPv4", 133), ("ICMPv6", 133)]
    assert len({edge.key for edge in edges}) == 2


def test_a_ping_is_one_icmp_connection_in_the_staged_report_not_every_protocol() -> None:
    """A ping is one ICMP connection, never TCP, UDP and SCTP on every port. The drawing is Cilium's, which decides
    ICMP (SEMANTICS.md 4.3 C12): reviews-v2 -> productpage, which it never allows, and productpage -> reviews-v2,
    which it allows on TCP 9080 only (toPorts: no ICMP), are each one would-be-denied ICMPv4 type 8. In the
    NetworkPolicy dialect, which leaves ICMP to the implementation (3.6 P6), it is one undecided connection."""
    staged = drawing()
    denied_way = [row(edge) for edge in observe(piece(as_icmp(productpage_to_reviews(), reverse=True)))[0]]
    allowed_way = [row(edge) for edge in observe(piece(as_icmp(productpage_to_reviews())))[0]]
    for rows in (denied_way, allowed_way):
        report = staged_report(staged, rows)
        assert (report.denied, report.allowed, report.undecided) == (1, 0, 0)
        (item,) = [item for items in report.would_deny.values() for item in items]
        assert (item.protocol, item.port, item.connection) == ("ICMPv4", 8, "ICMPv4 type 8")
    native = Document.from_json(staged.to_json())
    native.settings.dialect = "native"
    report = staged_report(native, denied_way)
    assert (report.denied, report.allowed, report.undecided) == (0, 0, 1)
    # ... and the TCP flows next to it are judged as before.
    tcp = [row(edge) for edge in observe(TCP.read_bytes())[0]]
    report = staged_report(staged, tcp + denied_way)
    assert (report.denied, report.undecided) == (1, 0) and report.allowed == len(tcp)


def test_the_replay_sees_an_observed_ping_as_icmp() -> None:
    from editor.policy.check import observations_from_document

    (edge,) = observe(piece(as_icmp(productpage_to_reviews())))[0]
    (observation,) = observations_from_document(observed_document([row(edge)]))
    assert (observation.protocol, observation.port, observation.edge_id) == ("ICMPv4", 8, edge.key)


def test_adding_a_ping_to_the_drawing_draws_an_icmp_edge_cilium_writes_as_icmps() -> None:
    """Not an edge of all ports and protocols: Cilium's `icmps` rule of that family and type (SEMANTICS.md 4.3
    C12), as the flow import draws ICMP and the Cilium compiler writes it."""
    staged = drawing()
    (edge,) = observe(piece(as_icmp(productpage_to_reviews(), reverse=True)))[0]
    added = add_observed_edge(staged, row(edge))
    (new,) = [e for e in added.edges if e.id.startswith("observed-")]
    assert new.ports == [] and new.icmps == [{"family": "IPv4", "type": 8}]
    assert (new.source, new.target) == ("bookinfo/reviews-v2", "bookinfo/productpage-v1")
    result = compile_document(added, None)
    assert not result.errors
    rules = [
        rule
        for policy in result.objects
        for section in ("egress", "ingress")
        for rule in policy["spec"].get(section, [])
        if "icmps" in rule
    ]
    assert [rule["icmps"] for rule in rules] == [[{"fields": [{"family": "IPv4", "type": 8}]}]] * 2
    assert not any("toPorts" in rule for rule in rules)
    report = staged_report(added, [row(edge)])
    assert (report.denied, report.allowed, report.undecided) == (0, 1, 0)  # the icmps rules allow it


def test_a_ping_is_not_added_to_a_networkpolicy_drawing_which_cannot_write_icmp() -> None:
    """NetworkPolicy has no ICMP rules (SEMANTICS.md 3.5 P6): the native compiler leaves an `icmps` edge out of
    the YAML with an error, so adding the ping there would draw an edge that allows nothing while drift counts
    the ping as carried. It is refused, saying why and which dialect writes it; TCP is still added."""
    staged = drawing()
    staged.settings.dialect = "native"
    (ping,) = [row(edge) for edge in observe(piece(as_icmp(productpage_to_reviews(), reverse=True)))[0]]
    refusal = drawing_refusal(ping, "native")
    assert refusal is not None and "NetworkPolicy" in refusal and "ICMP" in refusal and "Cilium" in refusal
    assert add_observed_edge(staged, ping).to_json() == staged.to_json()
    assert [r.key for r in drift(staged, [ping]).new] == [ping.key]
    assert drawing_refusal(ping, "cilium") is None
    tcp = json.loads(json.dumps(productpage_to_reviews()))
    tcp["flow"]["source"], tcp["flow"]["destination"] = tcp["flow"]["destination"], tcp["flow"]["source"]
    (other_way,) = [row(edge) for edge in observe(piece(tcp))[0]]
    assert drawing_refusal(other_way, "native") is None
    added = add_observed_edge(staged, other_way)
    assert len(added.edges) == len(staged.edges) + 1
    assert "cannot be drawn" in (drawing_refusal(legacy_row(), "cilium") or "")


# What a drawn edge reviews-v2 -> productpage carries of an ICMPv4 echo request (type 8) the other way round.
CARRIERS = {
    "no ports": (Edge("d", "", ""), True),  # everything (SEMANTICS.md P1; Cilium's L3-only rule)
    "TCP 9080": (Edge("d", "", "", ports=[Port("TCP", 9080)]), False),  # ICMP only through icmps (C12)
    "ANY": (Edge("d", "", "", ports=[Port("ANY", None)]), False),  # Cilium's ANY is TCP, UDP and SCTP (C12)
    "icmp 8": (Edge("d", "", "", icmps=[{"family": "IPv4", "type": 8}]), True),
    "icmp 8 no family": (Edge("d", "", "", icmps=[{"type": 8}]), True),  # IPv4 by default (Cilium's ICMPField)
    "EchoRequest": (Edge("d", "", "", icmps=[{"type": "EchoRequest"}]), True),  # Cilium's name for type 8
    # its name for type 0, which Cilium reads as every ICMPv4 type (cilium/cilium#41304; the drawing is Cilium's)
    "EchoReply": (Edge("d", "", "", icmps=[{"type": "EchoReply"}]), True),
    "icmp '8'": (Edge("d", "", "", icmps=[{"type": "8"}]), True),  # IntOrString: the number as a string
    "icmp 0": (Edge("d", "", "", icmps=[{"family": "IPv4", "type": 0}]), True),  # the same wildcard
    "icmp 13": (Edge("d", "", "", icmps=[{"family": "IPv4", "type": 13}]), False),  # timestamp: another type
    "icmpv6 128": (Edge("d", "", "", icmps=[{"family": "IPv6", "type": 128}]), False),  # ICMPv6 echo request
    "TCP 9080 and icmp 8": (Edge("d", "", "", ports=[Port("TCP", 9080)], icmps=[{"family": "IPv4", "type": 8}]), True),
}


def test_drift_matches_a_ping_against_what_the_drawn_edge_carries_of_icmp() -> None:
    """A ping is new traffic unless an edge between its ends carries ICMPv4 type 8: one without ports and icmps
    (SEMANTICS.md 3.5 P1, and Cilium's rule without toPorts allows all), or one whose icmps name it; ports alone,
    even protocol ANY, carry no ICMP (4.3 C12: with toPorts, ICMP is blocked unless allowed by icmps)."""
    (ping,) = [row(edge) for edge in observe(piece(as_icmp(productpage_to_reviews(), reverse=True)))[0]]
    found = {}
    for name, (drawn, _) in CARRIERS.items():
        document = drawing()
        assert not any(
            (e.source, e.target) == ("bookinfo/reviews-v2", "bookinfo/productpage-v1") for e in document.edges
        )
        drawn.source, drawn.target = "bookinfo/reviews-v2", "bookinfo/productpage-v1"
        document.edges.append(drawn)
        result = drift(document, [ping])
        assert (result.new == []) is ("d" not in {e.id for e in result.unused})
        found[name] = result.new == []
    assert found == {name: carried for name, (_, carried) in CARRIERS.items()}


def test_drift_reads_a_named_icmp_type_as_the_number_cilium_gives_it() -> None:
    """Cilium's ICMPField.type takes a CamelCase name, which it turns into the number of that name in the field's
    family (cilium/cilium pkg/policy/api/icmp.go, icmpIpv4TypeNameToCode / icmpIpv6TypeNameToCode; the names are
    in the CRD schema, corpus/schemas): an edge allowing `EchoRequest` does not carry destination-unreachable
    errors, IPv4's `EchoReply` is type 0 and carries every ICMPv4 type as Cilium enforces it, and a name its family
    does not have (Cilium refuses the policy) carries nothing. Names are fixed numbers, unlike a named port, so
    they are told apart."""
    v4 = [row(edge) for edge in observe(piece(as_icmp(productpage_to_reviews(), 3, reverse=True)))[0]]
    (unreachable,) = v4
    record = productpage_to_reviews()
    record["flow"]["l4"] = {"ICMPv6": {"type": 128}}
    record["flow"]["IP"] = {**record["flow"]["IP"], "source": "fd00::177", "destination": "fd00::110"}
    flow = json.loads(json.dumps(record["flow"]))
    flow["source"], flow["destination"] = flow["destination"], flow["source"]
    (echo6,) = [row(edge) for edge in observe(piece({"flow": flow, "time": flow["time"]}))[0]]
    assert (echo6.edge["protocol"], echo6.edge["port"]) == ("ICMPv6", 128)
    cases = {
        ("IPv4", "DestinationUnreachable"): (True, False),
        ("IPv4", "EchoReply"): (True, False),  # type 0: every ICMPv4 type to Cilium (cilium/cilium#41304)
        ("IPv4", "EchoRequest"): (False, False),
        ("IPv6", "EchoRequest"): (False, True),
        ("IPv6", "EchoReply"): (False, False),  # 129 in ICMPv6
        ("IPv6", "DestinationUnreachable"): (False, False),  # 1 in ICMPv6, not 3
        ("IPv4", "PacketTooBig"): (False, False),  # an ICMPv6 name only: Cilium refuses it for IPv4
        ("IPv6", "128"): (False, True),
    }
    found = {}
    for (family, name), _ in cases.items():
        document = drawing()
        document.edges.append(
            Edge("d", "bookinfo/reviews-v2", "bookinfo/productpage-v1", icmps=[{"family": family, "type": name}])
        )
        found[(family, name)] = tuple(drift(document, [ping]).new == [] for ping in (unreachable, echo6))
    assert found == cases


def test_drift_does_not_let_an_icmp_only_edge_carry_tcp() -> None:
    """An edge with only icmps allows nothing of TCP, UDP and SCTP (check/__init__'s intent, and Cilium's
    icmps rule without toPorts): the TCP traffic between its ends is new."""
    document = drawing()
    (tcp,) = [
        row(edge)
        for edge in observe(TCP.read_bytes())[0]
        if (edge.source.get("name"), edge.target.get("name"), edge.port) == ("productpage-v1", "reviews-v2", 9080)
    ]
    assert drift(document, [tcp]).new == []
    for edge in document.edges:
        if (edge.source, edge.target) == ("bookinfo/productpage-v1", "bookinfo/reviews-v2"):
            edge.ports, edge.icmps = [], [{"family": "IPv4", "type": 8}]
    assert [r.key for r in drift(document, [tcp]).new] == [tcp.key]


# ---- rows stored before ICMP was kept: protocol ANY, no port ------------------------------------------------


def legacy_row() -> ObservedRow:
    """A ping's row as the intake stored it before: protocol ANY, port None, keyed by them."""
    (edge,) = observe(piece(as_icmp(productpage_to_reviews(), reverse=True)))[0]
    description = {**json.loads(edge.description), "protocol": "ANY", "port": None}
    key = edge_key(edge.source, edge.target, "ANY", None)
    return ObservedRow(key, description, edge.count, 0, edge.first_seen, edge.last_seen)


def test_an_old_any_row_is_one_undecided_connection_not_three_denied_ones() -> None:
    """Three would-be-denied connections (TCP, UDP, SCTP on every port) under one key, of which the stored report
    kept one (staged_store keys its verdicts by edge key): an old row's replay names no protocol instead."""
    report = staged_report(drawing(), [legacy_row()])
    assert (report.denied, report.allowed, report.undecided) == (0, 0, 1)


def test_an_old_any_row_is_not_drawn_as_an_edge_of_everything() -> None:
    old = legacy_row()
    assert not old.drawable
    document = drawing()
    assert add_observed_edge(document, old).to_json() == document.to_json()
    # Drift still lists it (nothing drawn carries it) and still finds it carried by an edge without ports.
    assert [r.key for r in drift(document, [old]).new] == [old.key]
    document.edges.append(Edge("all", "bookinfo/reviews-v2", "bookinfo/productpage-v1"))
    assert drift(document, [old]).new == []
