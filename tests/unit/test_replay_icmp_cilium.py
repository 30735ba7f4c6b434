"""Observed ICMP replayed where Cilium enforces the policies (issue 17): allowed or denied, with the attribution the
replay gives TCP (SEMANTICS.md 4.3 C12), and undecided where NetworkPolicy alone decides (3.6 P6).

Cilium's rules, as its source has them (cilium/cilium):
* pkg/policy/rule.go mergeIngress/mergeEgress: a rule with no toPorts and no icmps is one L4 filter of port 0 and
  protocol ANY, every protocol, ICMP included (the L3-only rule); each toPorts port is a filter of TCP, UDP or SCTP
  (ANY is those), so ports alone let no ICMP through; each icmps field is a filter of its type on ICMP or ICMPv6,
  with a wildcard peer when the rule names none;
* pkg/policy/api/icmp.go ICMPField.PortProtocol: family IPv6 is ICMPv6, anything else (IPv4, the default) ICMP;
  a type name is the number icmpIpv4TypeNameToCode / icmpIpv6TypeNameToCode give it (EchoRequest: 8 and 128);
* deny rules (ingressDeny/egressDeny) take the same peers, ports and icmps, and win over every allow (C14);
  a direction is default-deny once a rule selecting the pod has an entry there (C2), `- {}` included (C4).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from editor.policy.analysis import analyse
from editor.policy.check import Replayed, add_observed, observations_from_document, replay
from editor.policy.cli import main
from editor.policy.document import Document, Port
from editor.policy.manifests import read_cluster
from editor.policy.yamlio import dump_yaml_documents, load_objects
from tests.unit.test_analysis_cilium import CLUSTER, cnp
from tests.unit.test_observed_icmp import as_icmp

WEB = {"matchLabels": {"app": "web"}}
DB = {"matchLabels": {"app": "db"}}
CLIENT_NS = {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "other"}}  # every pod of namespace other
PING = {"family": "IPv4", "type": 8}


def ends(text: str) -> dict[str, Any]:
    """An observed end: `ns/name` a workload, `entity:x` a Cilium entity, else a CIDR."""
    if "/" in text and not text[0].isdigit():
        namespace, name = text.split("/")
        return {"kind": "workload", "namespace": namespace, "name": name}
    if text.startswith("entity:"):
        return {"kind": "entity", "entity": text.removeprefix("entity:")}
    return {"kind": "cidr", "cidr": text}


def observed(src: str, dst: str, protocol: str, kind: int | None) -> Document:
    """The flows of one ICMP connection; without its type when `kind` is None (a row the intake kept without
    one becomes such an edge, staging.observed_document)."""
    icmp = {"family": "IPv6" if protocol == "ICMPv6" else "IPv4", "type": 0 if kind is None else kind}
    document = Document.from_json(
        {
            "schema": "fenceline/v1",
            "namespaces": [{"name": "shop"}, {"name": "other"}],
            "nodes": [{"id": "src", **ends(src)}, {"id": "dst", **ends(dst)}],
            "edges": [
                {
                    "id": "seen",
                    "source": "src",
                    "target": "dst",
                    "icmps": [icmp],
                    "observed": {"count": 3, "verdicts": {"FORWARDED": 3}},
                }
            ],
        }
    )
    if kind is None:
        del document.edges[0].icmps[0]["type"]
    return document


def judge(
    policies: list[dict[str, Any]],
    src: str = "shop/web",
    dst: str = "shop/db",
    protocol: str = "ICMPv4",
    kind: int | None = 8,
    icmp: bool | None = None,
) -> Replayed:
    loaded, _ = load_objects(dump_yaml_documents([*CLUSTER, *policies]), "c.yaml")
    flows = observed(src, dst, protocol, kind)
    analysis = analyse(add_observed(read_cluster(loaded), flows))
    told = {} if icmp is None else {"icmp": icmp}  # None: Cilium inferred from the policies
    (connection,) = replay(observations_from_document(flows), analysis, explain=True, **told).connections
    return connection


def db_in(*rules: dict[str, Any], deny: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return cnp("db", {"endpointSelector": DB, "ingress": list(rules), **({"ingressDeny": list(deny)} if deny else {})})


def web_out(*rules: dict[str, Any], deny: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return cnp("web", {"endpointSelector": WEB, "egress": list(rules), **({"egressDeny": list(deny)} if deny else {})})


def icmps(*fields: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"fields": list(fields)}]


TO_DB_PORT = [{"ports": [{"port": "5432", "protocol": "TCP"}]}]
INGRESS_RULE = "CiliumNetworkPolicy 'shop/db' allows connections by Ingress rule #1"
EGRESS_RULE = "CiliumNetworkPolicy 'shop/web' allows connections by Egress rule #1"
DB_DENIES = "denied by the ingress of shop/db[Pod]"
WEB_DENIES = "denied by the egress of shop/web[Deployment]"
PORTS_MISMATCH = "selects shop/web[Deployment], but the protocols and ports do not match"

# name: (policies, src, dst, protocol, type, verdict, the denial's reason, a line of the attribution)
CASES: dict[str, tuple[list[dict[str, Any]], str, str, str, int | None, str, str, str]] = {
    "not selected: allowed": (
        [cnp("client", {"endpointSelector": {"matchLabels": {"app": "client"}}, "ingress": [{}]}, "other")],
        *("shop/web", "shop/db", "ICMPv4", 8, "allowed", "", "due to the system default"),
    ),
    "L3-only ingress allows ICMP": (
        [db_in({"fromEndpoints": [WEB]})],
        *("shop/web", "shop/db", "ICMPv4", 8, "allowed", "", INGRESS_RULE),
    ),
    "toPorts-only ingress blocks ICMP": (
        [db_in({"fromEndpoints": [WEB], "toPorts": TO_DB_PORT})],
        *("shop/web", "shop/db", "ICMPv4", 8, "denied", DB_DENIES, PORTS_MISMATCH),
    ),
    "toPorts without a peer (L3 wildcard) blocks ICMP": (
        [db_in({"toPorts": [{"ports": [{"port": "5432", "protocol": "ANY"}]}]})],
        *("shop/web", "shop/db", "ICMPv4", 8, "denied", DB_DENIES, PORTS_MISMATCH),
    ),
    "icmps of the family and type allow it": (
        [db_in({"fromEndpoints": [WEB], "icmps": icmps(PING)})],
        *("shop/web", "shop/db", "ICMPv4", 8, "allowed", "", INGRESS_RULE),
    ),
    "icmps without a family are IPv4": (
        [db_in({"fromEndpoints": [WEB], "icmps": icmps({"type": 8})})],
        *("shop/web", "shop/db", "ICMPv4", 8, "allowed", "", INGRESS_RULE),
    ),
    "icmps of another type deny it": (  # not type 0, which Cilium reads as every type (test_icmp_cilium_review)
        [db_in({"fromEndpoints": [WEB], "icmps": icmps({"family": "IPv4", "type": 13})})],
        *("shop/web", "shop/db", "ICMPv4", 8, "denied", DB_DENIES, PORTS_MISMATCH),
    ),
    "icmps of another family deny it": (
        [db_in({"fromEndpoints": [WEB], "icmps": icmps({"family": "IPv6", "type": 8})})],
        *("shop/web", "shop/db", "ICMPv4", 8, "denied", DB_DENIES, PORTS_MISMATCH),
    ),
    "EchoRequest is type 8 in IPv4": (
        [db_in({"fromEndpoints": [WEB], "icmps": icmps({"family": "IPv4", "type": "EchoRequest"})})],
        *("shop/web", "shop/db", "ICMPv4", 8, "allowed", "", INGRESS_RULE),
    ),
    "EchoRequest is type 128 in IPv6": (
        [db_in({"fromEndpoints": [WEB], "icmps": icmps({"family": "IPv6", "type": "EchoRequest"})})],
        *("shop/web", "shop/db", "ICMPv6", 128, "allowed", "", INGRESS_RULE),
    ),
    "IPv6 EchoRequest is not ICMPv4 8": (
        [db_in({"fromEndpoints": [WEB], "icmps": icmps({"family": "IPv6", "type": "EchoRequest"})})],
        *("shop/web", "shop/db", "ICMPv4", 8, "denied", DB_DENIES, PORTS_MISMATCH),
    ),
    "isolated with no rule for the peer": (
        [db_in({"fromEndpoints": [{"matchLabels": {"app": "nobody"}}]})],
        *("shop/web", "shop/db", "ICMPv4", 8, "denied", DB_DENIES, "shop/web[Deployment] is not allowed by any"),
    ),
    "Cilium's default deny - {}": (
        [db_in({})],
        *("shop/web", "shop/db", "ICMPv4", 8, "denied", DB_DENIES, "is not allowed by any Ingress rule"),
    ),
    "an ingress deny rule with icmps wins over the L3-only allow": (
        [db_in({"fromEndpoints": [WEB]}, deny=({"fromEndpoints": [WEB], "icmps": icmps(PING)},))],
        *("shop/web", "shop/db", "ICMPv4", 8, "denied", DB_DENIES, "denies connections by IngressDeny rule #1"),
    ),
    "an ingress deny rule with icmps leaves other types": (
        [db_in({"fromEndpoints": [WEB]}, deny=({"fromEndpoints": [WEB], "icmps": icmps(PING)},))],
        *("shop/web", "shop/db", "ICMPv4", 13, "allowed", "", INGRESS_RULE),
    ),
    "an ingress deny rule with toPorts leaves ICMP": (
        [db_in({"fromEndpoints": [WEB]}, deny=({"fromEndpoints": [WEB], "toPorts": TO_DB_PORT},))],
        *("shop/web", "shop/db", "ICMPv4", 8, "allowed", "", INGRESS_RULE),
    ),
    "an L3-only deny rule denies ICMP too": (
        [db_in({"fromEndpoints": [WEB], "icmps": icmps(PING)}, deny=({"fromEndpoints": [WEB]},))],
        *("shop/web", "shop/db", "ICMPv4", 8, "denied", DB_DENIES, "but the deny rule wins"),
    ),
    "L3-only egress allows ICMP": (
        [web_out({"toEndpoints": [DB]})],
        *("shop/web", "shop/db", "ICMPv4", 8, "allowed", "", EGRESS_RULE),
    ),
    "toPorts-only egress blocks ICMP": (
        [web_out({"toEndpoints": [DB], "toPorts": TO_DB_PORT})],
        *("shop/web", "shop/db", "ICMPv4", 8, "denied", WEB_DENIES, "Egress (Denied)"),
    ),
    "egress icmps allow it": (
        [web_out({"toEndpoints": [DB], "icmps": icmps(PING)})],
        *("shop/web", "shop/db", "ICMPv4", 8, "allowed", "", EGRESS_RULE),
    ),
    "an egress deny rule with icmps": (
        [web_out({"toEndpoints": [DB]}, deny=({"toEndpoints": [DB], "icmps": icmps(PING)},))],
        *("shop/web", "shop/db", "ICMPv4", 8, "denied", WEB_DENIES, "denies connections by EgressDeny rule #1"),
    ),
    "both sides deny": (
        [web_out({"toEndpoints": [DB], "toPorts": TO_DB_PORT}), db_in({"fromEndpoints": [WEB], "toPorts": TO_DB_PORT})],
        *("shop/web", "shop/db", "ICMPv4", 8, "denied", f"{WEB_DENIES} and the ingress of shop/db[Pod]", ""),
    ),
    "a namespace peer, L3-only": (
        [db_in({"fromEndpoints": [CLIENT_NS]})],
        *("other/client", "shop/db", "ICMPv4", 8, "allowed", "", INGRESS_RULE),
    ),
    "a namespace peer on ports": (
        [db_in({"fromEndpoints": [CLIENT_NS], "toPorts": TO_DB_PORT})],
        *("other/client", "shop/db", "ICMPv4", 8, "denied", DB_DENIES, "but the protocols and ports do not match"),
    ),
    "the world entity, egress icmps": (
        [web_out({"toEntities": ["world"], "icmps": icmps(PING)})],
        *("shop/web", "1.2.3.4/32", "ICMPv4", 8, "allowed", "", EGRESS_RULE),
    ),
    "the world entity, egress ports": (
        [web_out({"toEntities": ["world"], "toPorts": TO_DB_PORT})],
        *("shop/web", "1.2.3.4/32", "ICMPv4", 8, "denied", WEB_DENIES, "Egress (Denied)"),
    ),
    "a CIDR, ingress icmps": (
        [db_in({"fromCIDR": ["192.168.0.0/16"], "icmps": icmps(PING)})],
        *("192.168.1.1/32", "shop/db", "ICMPv4", 8, "allowed", "", INGRESS_RULE),
    ),
    "a CIDR, another type": (
        [db_in({"fromCIDR": ["192.168.0.0/16"], "icmps": icmps(PING)})],
        *("192.168.1.1/32", "shop/db", "ICMPv4", 0, "denied", DB_DENIES, "Ingress (Denied)"),
    ),
    "the health entity, L3-only": (
        [db_in({"fromEntities": ["health"]})],
        *("entity:health", "shop/db", "ICMPv4", 8, "allowed", "", INGRESS_RULE),
    ),
    "the health entity on ports": (
        [db_in({"fromEntities": ["health"], "toPorts": TO_DB_PORT})],
        *("entity:health", "shop/db", "ICMPv4", 8, "denied", DB_DENIES, "Ingress (Denied)"),
    ),
    "the pod's own node always": (  # K5: the local host reaches its pods whatever the policies say
        [db_in({"fromEndpoints": [WEB], "toPorts": TO_DB_PORT}, {"fromEntities": ["host"], "toPorts": TO_DB_PORT})],
        *("entity:host", "shop/db", "ICMPv4", 8, "allowed", "", "due to the system default"),
    ),
    "default deny disabled: not isolated": (
        [
            cnp(
                "db",
                {"endpointSelector": DB, "ingress": [{"toPorts": TO_DB_PORT}], "enableDefaultDeny": {"ingress": False}},
            )
        ],
        *("shop/web", "shop/db", "ICMPv4", 8, "allowed", "", "Ingress (Allowed)"),
    ),
    "no type observed: some type allowed": (
        [db_in({"fromEndpoints": [WEB], "icmps": icmps({"family": "IPv4", "type": 0})})],
        *("shop/web", "shop/db", "ICMPv4", None, "allowed", "", "Allowed ICMPv4 due to"),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_cilium_decides_observed_icmp(name: str) -> None:
    policies, src, dst, protocol, kind, verdict, reason, line = CASES[name]
    connection = judge(policies, src, dst, protocol, kind)
    assert (connection.verdict, connection.reason if verdict == "denied" else "") == (verdict, reason)
    assert line in "\n".join(connection.explanation)
    text = protocol if kind is None else f"{protocol} type {kind}"
    word = "Allowed" if verdict == "allowed" else "Denied"
    assert connection.explanation[0].startswith(f"{word} {text} due to")


def test_an_icmp_type_cilium_refuses_allows_nothing_and_is_warned_about() -> None:
    """PacketTooBig is an ICMPv6 name only (the CRD's pattern admits it; the agent's ICMPField.UnmarshalJSON does
    not find it in IPv4) and 300 is not an 8-bit type (the CRD admits any integer; it matches no ICMP type): the
    fields allow nothing, so the ping is denied, and the analysis says which fields it left out."""
    loaded, _ = load_objects(
        dump_yaml_documents(
            [*CLUSTER, db_in({"fromEndpoints": [WEB], "icmps": icmps({"type": "PacketTooBig"}, {"type": 300}, PING)})]
        ),
        "c.yaml",
    )
    analysis = analyse(read_cluster(loaded))
    left_out = [w for w in analysis.warnings if "is not an ICMP type of IPv4 or IPv6" in w]
    assert [w.split(": ")[2] for w in left_out] == [
        "spec.ingress[0].icmps[0].fields[0]",
        "spec.ingress[0].icmps[0].fields[1]",
    ]
    refused = judge([db_in({"fromEndpoints": [WEB], "icmps": icmps({"type": "PacketTooBig"}, {"type": 300})})])
    assert (refused.verdict, refused.reason) == ("denied", DB_DENIES)


def native_policy(ports: list[dict[str, Any]]) -> dict[str, Any]:
    rule: dict[str, Any] = {"from": [{"podSelector": WEB}], **({"ports": ports} if ports else {})}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {"podSelector": DB, "policyTypes": ["Ingress"], "ingress": [rule]},
    }


def test_networkpolicy_alone_leaves_icmp_undecided_and_says_why() -> None:
    """NetworkPolicy defines TCP, UDP and SCTP only (SEMANTICS.md 3.6 P6): with no Cilium policy among them the
    replay does not guess, whatever the ports."""
    for ports in ([], [{"port": 5432}]):
        connection = judge([native_policy(ports)])
        assert connection.verdict == "undecided"
        assert "P6" in connection.reason and "Cilium" in connection.reason
        assert connection.status.startswith("undecided: ICMP is left to each NetworkPolicy implementation")


def test_a_networkpolicy_in_a_cilium_cluster_reads_as_cilium_translates_it() -> None:
    """Where Cilium enforces it (a Cilium drawing: its default-deny companions are NetworkPolicies), a
    NetworkPolicy rule's ports become toPorts and a rule without ports is L3-only (SEMANTICS.md 4.4 K1,
    pkg/k8s/network_policy.go), so ICMP passes the one and not the other."""
    without_ports = judge([native_policy([])], icmp=True)
    assert without_ports.verdict == "allowed"
    assert "\t\tNetworkPolicy 'shop/db' allows connections by Ingress rule #1" in without_ports.explanation
    on_ports = judge([native_policy([{"port": 5432}])], icmp=True)
    assert (on_ports.verdict, on_ports.reason) == ("denied", DB_DENIES)


def test_the_rule_that_blocks_the_ping_still_allows_its_port() -> None:
    """One edge seen with TCP 5432 and a ping: the toPorts rule allows the one with the attribution TCP always had
    and denies the other (ports alone carry no ICMP, C12)."""
    loaded, _ = load_objects(
        dump_yaml_documents([*CLUSTER, db_in({"fromEndpoints": [WEB], "toPorts": TO_DB_PORT})]), "c.yaml"
    )
    flows = observed("shop/web", "shop/db", "ICMPv4", 8)
    flows.edges[0].ports = [Port("TCP", 5432)]
    analysis = analyse(add_observed(read_cluster(loaded), flows))
    ping, tcp = replay(observations_from_document(flows), analysis, explain=True).connections
    assert (ping.observation.protocol, ping.verdict, ping.reason) == ("ICMPv4", "denied", DB_DENIES)
    assert (tcp.observation.protocol, tcp.verdict) == ("TCP", "allowed")
    assert tcp.explanation == (
        "Allowed TCP:[5432] due to the following policies and rules:",
        "\tEgress (Allowed) due to the system default (Allow all)",
        "\tIngress (Allowed)",
        f"\t\t{INGRESS_RULE}",
    )


# ---- `fenceline plan --flows` and `fenceline connlist --flows` share the replay --------------------------------

HUBBLE_10 = Path(__file__).resolve().parents[1] / "fixtures" / "hubble" / "basic-sample-10-flows.json"
REVIEWS = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: reviews
  namespace: bookinfo
spec:
  endpointSelector:
    matchLabels:
      app: reviews
  ingress:
  - fromEndpoints:
    - matchLabels:
        k8s:io.kubernetes.pod.namespace: istio-system
{ports}"""
ON_PORTS = """\
    toPorts:
    - ports:
      - port: "15090"
        protocol: TCP
"""


def prometheus_pings(tmp_path: Path) -> Path:
    """The capture's prometheus -> reviews-v1 scrape (TCP 15090) as an ICMPv4 echo request, written as Hubble's
    export is."""
    records = [json.loads(line) for line in HUBBLE_10.read_text().splitlines() if line.strip()]
    (scrape,) = [r for r in records if r["flow"]["l4"].get("TCP", {}).get("destination_port") == 15090]
    path = tmp_path / "pings.json"
    path.write_text(json.dumps(as_icmp(scrape)) + "\n")
    return path


def test_plan_lists_a_ping_the_new_cilium_policy_would_break(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """OLD allows istio-system into reviews on every protocol (an L3-only rule), NEW on TCP 15090 only: the ping
    breaks (toPorts carry no ICMP, C12), and going back fixes it."""
    pings = prometheus_pings(tmp_path)
    old, new = tmp_path / "old", tmp_path / "new"
    for directory, ports in ((old, ""), (new, ON_PORTS)):
        directory.mkdir()
        (directory / "reviews.yaml").write_text(REVIEWS.format(ports=ports))
    code = main(["plan", str(old), str(new), "--flows", str(pings), "--format", "json"])
    plan = json.loads(capsys.readouterr().out)
    assert code == 1 and plan["breaking"] is True
    assert [(f["src"], f["dst"], f["protocol"], f["port"], f["old"], f["new"]) for f in plan["flows"]["breaks"]] == [
        ("istio-system/prometheus[Deployment]", "bookinfo/reviews-v1[Deployment]", "ICMPv4", 8, "allowed", "denied")
    ]
    code = main(["plan", str(new), str(old), "--flows", str(pings), "--format", "json"])
    plan = json.loads(capsys.readouterr().out)
    assert code == 0 and [(f["protocol"], f["old"], f["new"]) for f in plan["flows"]["fixes"]] == [
        ("ICMPv4", "denied", "allowed")
    ]


def test_connlist_replays_a_ping_against_cilium_policies_with_its_attribution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pings = prometheus_pings(tmp_path)
    (tmp_path / "reviews.yaml").write_text(REVIEWS.format(ports=ON_PORTS))
    code = main(["connlist", str(tmp_path / "reviews.yaml"), "--flows", str(pings), "--explain"])
    out = capsys.readouterr().out
    assert code == 1
    assert (
        "istio-system/prometheus[Deployment] => bookinfo/reviews-v1[Deployment] : ICMPv4 8 : DENIED, would break "
        "(1 flow) - denied by the ingress of bookinfo/reviews-v1[Deployment]"
    ) in out
    assert "    Denied ICMPv4 type 8 due to the following policies and rules:" in out
    assert "but the protocols and ports do not match" in out
