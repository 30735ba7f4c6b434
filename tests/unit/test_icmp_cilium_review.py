"""Observed ICMP against Cilium's real behaviour, where the first judging of it (test_replay_icmp_cilium) was wrong.

Upstream evidence (cilium/cilium):
* pkg/policy/api/rule_validation.go (`IngressRule.Validate`, `EgressRule.Validate`, `IngressDenyRule.Validate`,
  `EgressDenyRule.Validate`; `Sanitize` before 1.17): `len(ICMPs) > 0 && len(ToPorts) > 0` returns
  errUnsupportedICMPWithToPorts, "the ICMPs block may only be present without ToPorts. Define a separate rule to
  use ToPorts": the agent refuses the whole policy, so it allows, denies and isolates nothing.
* bpf/lib/conntrack.h (ct_lookup4/ct_lookup6 port extraction): ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED and
  ICMP_PARAMETERPROB (ICMPv6: DEST_UNREACH, PKT_TOOBIG, TIME_EXCEED, PARAMPROB) set TUPLE_F_RELATED, and
  bpf_lxc.c skips policy enforcement for CT_REPLY and CT_RELATED ("Skip policy enforcement for return traffic");
  bpf/lib/policy.h lets ICMPv4 type 3 code 4 (fragmentation needed) through whatever the policy when
  allow-icmp-frag-needed is on, its default (pkg/defaults: AllowICMPFragNeeded = true). An observed ICMP error
  keeps no code and no conntrack state, so the policies alone do not decide it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from editor.policy.admission import icmp_field_refusal
from editor.policy.analysis import analyse
from editor.policy.check import add_observed, observations_from_document, replay
from editor.policy.document import ICMP_TYPE_NAMES
from editor.policy.manifests import read_cluster
from editor.policy.model import Rule
from editor.policy.yamlio import dump_yaml_documents, load_objects
from tests.unit.test_analysis_cilium import CLUSTER, cnp
from tests.unit.test_replay_icmp_cilium import (
    DB,
    DB_DENIES,
    INGRESS_RULE,
    PING,
    TO_DB_PORT,
    WEB,
    db_in,
    icmps,
    judge,
    observed,
    web_out,
)

MIXED = {"fromEndpoints": [WEB], "toPorts": TO_DB_PORT, "icmps": icmps(PING)}  # one rule with both: refused


def test_icmps_beside_to_ports_make_cilium_refuse_the_policy() -> None:
    loaded, _ = load_objects(dump_yaml_documents([*CLUSTER, db_in(MIXED)]), "c.yaml")
    warnings = analyse(read_cluster(loaded)).warnings
    assert any("spec.ingress[0]" in w and "icmps" in w and "analysed as absent" in w for w in warnings), warnings
    # The policy does not exist: shop/db is not isolated, so any type gets through by default (Cilium enforcing:
    # with its only policy refused, the files no longer tell, so the caller says so, as a Cilium drawing does).
    other_type = judge([db_in(MIXED)], kind=13, icmp=True)
    assert (other_type.verdict, other_type.explanation[0]) == (
        "allowed",
        "Allowed ICMPv4 type 13 due to the system default (Allow all)",
    )


def test_a_refused_rule_allows_no_ping_beside_a_policy_cilium_keeps() -> None:
    """A second policy isolating shop/db on TCP 5432: the refused one's icmps do not let the ping through."""
    ports_only = cnp("db-ports", {"endpointSelector": DB, "ingress": [{"fromEndpoints": [WEB], "toPorts": TO_DB_PORT}]})
    ping = judge([db_in(MIXED), ports_only])
    assert (ping.verdict, ping.reason) == ("denied", DB_DENIES)
    assert INGRESS_RULE not in "\n".join(ping.explanation)


def test_a_refused_deny_rule_denies_nothing() -> None:
    allow = cnp("db-allow", {"endpointSelector": DB, "ingress": [{"fromEndpoints": [WEB]}]})
    deny = cnp("db-deny", {"endpointSelector": DB, "ingressDeny": [MIXED]})
    ping = judge([allow, deny])
    assert ping.verdict == "allowed"
    assert "\t\tCiliumNetworkPolicy 'shop/db-allow' allows connections by Ingress rule #1" in ping.explanation


def test_no_type_observed_needs_one_type_that_both_sides_let_through() -> None:
    """The egress lets type 13 out and the ingress type 8 in: no type passes both, so the ping (its type not kept)
    is denied, as its attribution says."""
    policies = [
        web_out({"toEndpoints": [DB], "icmps": icmps({"type": 13})}),
        db_in({"fromEndpoints": [WEB], "icmps": icmps(PING)}),
    ]
    ping = judge(policies, kind=None)
    assert ping.verdict == "denied"
    assert ping.explanation[0] == "Denied ICMPv4 due to the following policies and rules:"
    assert "no ICMPv4 type passes both" in ping.reason
    both = judge([web_out({"toEndpoints": [DB], "icmps": icmps(PING)}), policies[1]], kind=None)
    assert both.verdict == "allowed"


ERRORS: dict[str, tuple[str, int]] = {
    "destination unreachable": ("ICMPv4", 3),
    "time exceeded": ("ICMPv4", 11),
    "parameter problem": ("ICMPv4", 12),
    "ICMPv6 destination unreachable": ("ICMPv6", 1),
    "packet too big": ("ICMPv6", 2),
    "ICMPv6 time exceeded": ("ICMPv6", 3),
    "ICMPv6 parameter problem": ("ICMPv6", 4),
}


def test_an_icmp_error_the_policies_would_deny_is_undecided() -> None:
    """shop/db admits TCP 5432 only: an ICMP error from shop/web (the answer to a connection of shop/db's, or a
    path-MTU message) passes as related traffic, which the policies do not decide."""
    for protocol, kind in ERRORS.values():
        connection = judge([db_in({"fromEndpoints": [WEB], "toPorts": TO_DB_PORT})], protocol=protocol, kind=kind)
        assert connection.verdict == "undecided", (protocol, kind)
        assert "related" in connection.reason and DB_DENIES.removeprefix("denied by the ") in connection.reason


def test_an_icmp_error_the_policies_allow_stays_allowed_and_a_ping_stays_denied() -> None:
    error = judge([db_in({"fromEndpoints": [WEB]})], kind=3)
    assert (error.verdict, error.explanation[-1]) == ("allowed", f"\t\t{INGRESS_RULE}")
    for protocol, kind in (("ICMPv4", 8), ("ICMPv4", 13), ("ICMPv6", 128)):
        ping = judge([db_in({"fromEndpoints": [WEB], "toPorts": TO_DB_PORT})], protocol=protocol, kind=kind)
        assert (ping.verdict, ping.reason) == ("denied", DB_DENIES)


# Cilium makes an icmps field's type the L4 port of an ICMP filter (pkg/policy/api/icmp.go PortProtocol), and port
# 0 is its wildcard (pkg/policy/l4.go createL4Filter, the policy map's port prefix): type 0 (IPv4's EchoReply) lets
# every type of its family through, "match L3-Proto" in the policy verdict (cilium/cilium#41304, open; the fix,
# PR #44338, closed unmerged).
ZERO = {"family": "IPv4", "type": 0}


def test_icmp_type_zero_is_every_type_of_its_family_to_cilium() -> None:
    loaded, _ = load_objects(
        dump_yaml_documents([*CLUSTER, db_in({"fromEndpoints": [WEB], "icmps": icmps(ZERO)})]), "c.yaml"
    )
    warnings = analyse(read_cluster(loaded)).warnings
    assert any("spec.ingress[0].icmps[0].fields[0]" in w and "41304" in w for w in warnings), warnings
    for fields, protocol, kind, verdict in (
        (ZERO, "ICMPv4", 8, "allowed"),
        ({"type": "EchoReply"}, "ICMPv4", 13, "allowed"),  # its IPv4 name
        ({"family": "IPv6", "type": 0}, "ICMPv6", 128, "allowed"),
        ({"family": "IPv6", "type": 0}, "ICMPv4", 8, "denied"),  # its own family only
        ({"family": "IPv6", "type": "EchoReply"}, "ICMPv6", 128, "denied"),  # 129 in IPv6: no wildcard
    ):
        connection = judge([db_in({"fromEndpoints": [WEB], "icmps": icmps(fields)})], protocol=protocol, kind=kind)
        assert connection.verdict == verdict, (fields, protocol, kind)
        if verdict == "allowed":
            assert f"\t\t{INGRESS_RULE}" in connection.explanation


def test_a_deny_rule_of_icmp_type_zero_denies_every_type() -> None:
    ping = judge([db_in({"fromEndpoints": [WEB]}, deny=({"fromEndpoints": [WEB], "icmps": icmps(ZERO)},))])
    assert (ping.verdict, ping.reason) == ("denied", DB_DENIES)
    assert "denies connections by IngressDeny rule #1" in "\n".join(ping.explanation)


# The CRD's ICMPField (pkg/policy/api/icmp.go kubebuilder markers, the shipped schema): `family` an enum of IPv4
# and IPv6, `type` an integer or a string matching its pattern, which misspells one name ("ExtendedEcho Reply"):
# the API server refuses the whole object otherwise, so the policy never exists.
CRD_SCHEMA = (
    Path(__file__).resolve().parents[2] / "editor/policy/schemas/datreeio-cilium.io-ciliumnetworkpolicy_v2.json"
)


def _icmp_type_pattern(schema: Any) -> str | None:
    if isinstance(schema, dict):
        if "fields" in schema.get("properties", {}) and isinstance(schema["properties"]["fields"], dict):
            return str(schema["properties"]["fields"]["items"]["properties"]["type"]["pattern"])
        found = (_icmp_type_pattern(value) for value in schema.values())
    elif isinstance(schema, list):
        found = (_icmp_type_pattern(value) for value in schema)
    else:
        return None
    return next((pattern for pattern in found if pattern), None)


def test_an_icmp_field_the_api_server_refuses_takes_the_policy_with_it() -> None:
    for field in (
        {"type": "ExtendedEchoReply"},
        {"family": "IPv6", "type": "ExtendedEchoReply"},
        {"type": "08"},
        {"type": "256"},
        {"family": "ipv4", "type": 8},
        {"family": "IPv4"},
        {"type": True},
    ):
        loaded, _ = load_objects(
            dump_yaml_documents([*CLUSTER, db_in({"fromEndpoints": [WEB], "icmps": icmps(field)})]), "c.yaml"
        )
        analysis = analyse(read_cluster(loaded))
        assert any("analysed as absent" in w for w in analysis.warnings), (field, analysis.warnings)
        assert not analysis.policies, field
    for field in (
        {"type": "ExtendedEchoRequest"},
        {"type": "8"},
        {"type": 300},
        {"family": "IPv6", "type": "EchoReply"},
    ):
        loaded, _ = load_objects(
            dump_yaml_documents([*CLUSTER, db_in({"fromEndpoints": [WEB], "icmps": icmps(field)})]), "c.yaml"
        )
        assert analyse(read_cluster(loaded)).policies, field


def test_the_icmp_types_admitted_are_those_the_shipped_crd_schema_admits() -> None:
    pattern = _icmp_type_pattern(json.loads(CRD_SCHEMA.read_text()))
    assert pattern is not None
    texts = {name for names in ICMP_TYPE_NAMES.values() for name in names} | {str(n) for n in range(300)}
    texts |= {"08", "00", "-1", "", "echo", "EchoReply ", "ExtendedEcho Reply"}
    for text in sorted(texts):
        rule = Rule(
            raw={},
            path=(),
            section="ingress",
            direction="ingress",
            deny=False,
            index=0,
            cilium=True,
            peer_fields=(),
            peers=(),
            icmps=[{"fields": [{"type": text}]}],
        )
        assert (icmp_field_refusal(rule) is None) is bool(re.search(pattern, text)), text


def test_an_icmp_error_policy_dropped_when_observed_was_not_related_so_the_policies_decide_it() -> None:
    """Dropped by policy when it was seen, the error was not related to a tracked connection then (bpf_lxc.c checks
    policy only for CT_NEW): the policies decide it, and deny it again."""
    loaded, _ = load_objects(
        dump_yaml_documents([*CLUSTER, db_in({"fromEndpoints": [WEB], "toPorts": TO_DB_PORT})]), "c.yaml"
    )
    flows = observed("shop/web", "shop/db", "ICMPv4", 3)
    assert flows.edges[0].observed is not None
    flows.edges[0].observed.verdicts = {"DROPPED:POLICY_DENIED": 3}
    analysis = analyse(add_observed(read_cluster(loaded), flows))
    (connection,) = replay(observations_from_document(flows), analysis, explain=True).connections
    assert (connection.verdict, connection.reason) == ("denied", DB_DENIES)


def test_to_ports_on_protocol_icmp_take_the_policy_with_them() -> None:
    """The CRD's toPorts protocol is an enum of TCP, UDP, SCTP and ANY ("Matching on ICMP is not supported",
    pkg/policy/api/l4.go PortProtocol): the API server refuses a port of protocol ICMP, and the policy with it, so
    shop/db is not isolated and the ping gets through."""
    for protocol in ("ICMP", "ICMPV6"):  # Cilium's L4Proto spellings (pkg/policy/api/l4.go)
        rule = {"fromEndpoints": [WEB], "toPorts": [{"ports": [{"port": "8", "protocol": protocol}]}]}
        loaded, _ = load_objects(dump_yaml_documents([*CLUSTER, db_in(rule)]), "c.yaml")
        analysis = analyse(read_cluster(loaded))
        assert not analysis.policies and any("analysed as absent" in w for w in analysis.warnings), protocol
        ping = judge([db_in(rule)], icmp=True)
        assert (ping.verdict, ping.explanation[0]) == (
            "allowed",
            "Allowed ICMPv4 type 8 due to the system default (Allow all)",
        )
