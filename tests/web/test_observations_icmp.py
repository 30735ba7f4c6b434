"""Observed ICMP through the real intake (issue 17): a ping pushed by a stream is stored as ICMPv4 with its type,
judged by the staged report as one ICMP connection (not TCP, UDP and SCTP on every port), allowed or denied where
Cilium enforces the drawing and undecided under NetworkPolicy, and drift's "Add to the drawing" draws it as an
`icmps` edge. Rows stored before as protocol ANY still render, and are not drawn.

The flows are the bookinfo capture's, as if seen minutes ago; the pings are its records with layer 4 replaced by
an ICMPv4 echo request, as Hubble prints one (flow.l4.ICMPv4 {type}, FLOWS.md).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from django.test import Client

from editor.models import Revision, save_revision
from editor.observation_models import Observation, ObservationStream, StagedDenial, StagedRevision
from editor.policy.flows.observe import edge_key, observe
from tests.unit.test_observed_icmp import as_icmp
from tests.web.test_observations_staged import (
    body,
    csrf_client,
    flows_revision,  # noqa: F401 (a fixture)
    keep_old_captures,  # noqa: F401 (an autouse fixture)
    lines,
    page,
    post_form,
    send,
    staged,
)

pytestmark = pytest.mark.django_db(transaction=True)


def ping(*, reverse: bool = True) -> dict:
    """The capture's first record (productpage-v1 -> reviews-v2 on TCP 9080, seen minutes ago) as an ICMPv4 echo
    request; from reviews-v2 to productpage-v1 when `reverse`, which the drawing allows on no port."""
    record = lines()[0]
    assert record["flow"]["source"]["pod_name"].startswith("productpage-v1")
    return as_icmp(record, reverse=reverse)


def icmp_rows() -> list[Observation]:
    return [row for row in Observation.objects.all() if not row.edge["protocol"].startswith(("TCP", "UDP"))]


def test_a_ping_through_the_intake_is_stored_as_icmp_and_staged_as_one_icmp_connection(flows_revision):  # noqa: F811
    """Before, the ping's row was protocol ANY: replayed as TCP, UDP and SCTP on any port, three would-be-denied
    connections under one key, of which the stored report kept the last: "UDP, any port, would be denied". Each
    ping is one ICMPv4 type 8 connection, which the Cilium drawing decides (SEMANTICS.md 4.3 C12): its edges have
    TCP ports, which carry no ICMP, so the stage would deny both pings, as ICMP and nothing else."""
    stage = staged(flows_revision)
    stream, token = ObservationStream.create(flows_revision.document, "a")
    send(Client(), stream, token, body([*lines(), ping(), ping(), ping(reverse=False)]))
    assert sorted((row.edge["protocol"], row.edge["port"], row.count) for row in icmp_rows()) == [
        ("ICMPv4", 8, 1),
        ("ICMPv4", 8, 2),
    ]
    denials = StagedDenial.objects.filter(stage=stage)
    assert sorted((d.protocol, d.port, d.count) for d in denials) == [("ICMPv4", 8, 1), ("ICMPv4", 8, 2)]
    html = page(Client(), flows_revision)
    assert "not ready" in html and html.count('class="would-deny"') == 2 and html.count("ICMPv4 type 8") >= 2
    # A TCP flow the drawing does not have is denied next to them, as before.
    violation = json.loads(json.dumps(lines()[0]))
    violation["flow"]["l4"]["TCP"]["destination_port"] = 31337
    send(Client(), stream, token, body([violation, ping()]))
    assert sorted((d.protocol, d.port) for d in StagedDenial.objects.filter(stage=stage)) == [
        ("ICMPv4", 8),
        ("ICMPv4", 8),
        ("TCP", 31337),
    ]


def test_the_staged_report_lists_a_denied_ping_with_the_side_that_denies_it(flows_revision):  # noqa: F811
    """The Cilium drawing isolates reviews-v2's egress and productpage's ingress with rules on TCP ports only:
    the stored denial and the page name both sides, as for TCP; the same ping staged on the drawing in the
    NetworkPolicy dialect is undecided (NetworkPolicy leaves ICMP to the implementation, P6): not stored."""
    stage = staged(flows_revision)
    stream, token = ObservationStream.create(flows_revision.document, "a")
    send(Client(), stream, token, body([*lines(), ping()]))
    denial = StagedDenial.objects.get(stage=stage)
    assert (denial.protocol, denial.port, denial.count, denial.denied) == ("ICMPv4", 8, 1, 0)
    assert (denial.source, denial.target) == ("bookinfo/reviews-v2[Deployment]", "bookinfo/productpage-v1[Deployment]")
    assert denial.reason == (
        "denied by the egress of bookinfo/reviews-v2[Deployment] and the ingress of bookinfo/productpage-v1[Deployment]"
    )
    html = page(Client(), flows_revision)
    row = html.split('class="would-deny"')[1].split("</tr>")[0]
    assert "<td>ICMPv4 type 8</td>" in row and denial.reason in row and "ICMPv4 type 8 to the drawing" in row
    data = json.loads(json.dumps(flows_revision.data))
    data["settings"]["dialect"] = "native"
    native = save_revision(data, flows_revision)
    stage = staged(native)
    assert stage.revision_id == native.pk and StagedDenial.objects.filter(stage=stage).exists()  # TCP it cannot say
    assert not StagedDenial.objects.filter(stage=stage, protocol="ICMPv4").exists()
    assert "ICMPv4" not in page(Client(), native).split('id="would-deny"')[1].split("</div>")[0]


def test_drift_adds_a_ping_to_the_drawing_as_an_icmp_edge(flows_revision):  # noqa: F811
    """Drift lists the ping as new traffic (the drawing's edges have TCP ports, which carry no ICMP: SEMANTICS.md
    4.3 C12) and "Add to the drawing" draws it as Cilium writes ICMP, `icmps` of its family and type, not as an
    edge of all ports and protocols."""
    client = csrf_client()
    stream, token = ObservationStream.create(flows_revision.document, "a")
    send(client, stream, token, body([*lines(), ping(reverse=False)]))
    html = page(client, flows_revision)
    new = html.split('id="drift-new"')[1].split("</table>")[0]
    assert new.count('class="drift-new"') == 1 and "ICMPv4 type 8" in new and "ANY" not in new
    key = re.search(r'name="key" value="([0-9a-f]{64})"', new)[1]
    post_form(client, f"/d/{flows_revision.slug}/observations/drift", {"key": key, "action": "accept"})
    newest = flows_revision.document.latest_revision()
    assert newest.number == 2
    (added,) = [edge for edge in newest.data["edges"] if edge["id"].startswith("observed-")]
    assert (added["source"], added["target"]) == ("bookinfo/productpage-v1", "bookinfo/reviews-v2")
    assert added.get("ports", []) == [] and added["icmps"] == [{"family": "IPv4", "type": 8}]
    assert 'class="drift-new"' not in page(client, newest)


def legacy_row(revision: Revision) -> Observation:
    """The ping's row as the intake stored it before ICMP was kept: protocol ANY, port None, keyed by them."""
    (edge,) = observe(body([ping()]))[0]
    description = {**json.loads(edge.description), "protocol": "ANY", "port": None}
    now = datetime.now(UTC)
    return Observation.objects.create(
        document=revision.document,
        key=edge_key(edge.source, edge.target, "ANY", None),
        bucket=now.replace(minute=0, second=0, microsecond=0),
        edge=description,
        count=3,
        first_seen=now,
        last_seen=now,
    )


def test_a_row_stored_as_any_before_still_renders_and_is_not_drawn(flows_revision):  # noqa: F811
    """Staging replays it as one connection naming no protocol (undecided), not three denied ones under one key
    (stored as a denial of UDP on any port); drift lists it, with no "Add to the drawing" (drawn, it would allow
    everything between its ends), and accepting it anyway saves nothing."""
    old = legacy_row(flows_revision)
    client = csrf_client()
    stage = staged(flows_revision)
    assert not StagedDenial.objects.filter(stage=stage).exists()
    html = page(client, flows_revision)
    assert ">ready<" in html
    new = html.split('id="drift-new"')[1].split("</table>")[0]
    assert new.count('class="drift-new"') == 1 and old.key in new and ">ANY<" in new
    assert 'value="accept"' not in new and "cannot be drawn" in new
    post_form(client, f"/d/{flows_revision.slug}/observations/drift", {"key": old.key, "action": "accept"})
    post_form(client, f"/d/{flows_revision.slug}/observations/add", {"key": old.key})
    assert flows_revision.document.latest_revision().pk == flows_revision.pk
    post_form(client, f"/d/{flows_revision.slug}/observations/drift", {"key": old.key, "action": "dismiss"})
    assert 'class="drift-new"' not in page(client, flows_revision)


def test_a_stage_on_a_revision_with_an_icmp_edge_judges_pings_and_tcp(flows_revision):  # noqa: F811
    """A staged revision that draws the ping as icmps allows it (Cilium's icmps rule), and replays its TCP edges as
    before: the icmps edge allows no TCP."""
    data = json.loads(json.dumps(flows_revision.data))
    data["edges"].append(
        {
            "id": "ping",
            "source": "bookinfo/reviews-v2",
            "target": "bookinfo/productpage-v1",
            "icmps": [{"family": "IPv4", "type": 8}],
        }
    )
    revision = save_revision(data, flows_revision)
    stage = staged(revision)
    stream, token = ObservationStream.create(revision.document, "a")
    violation = json.loads(json.dumps(ping()))
    violation["flow"]["l4"] = {"TCP": {"source_port": 40000, "destination_port": 9080, "flags": {"SYN": True}}}
    send(Client(), stream, token, body([*lines(), ping(), violation]))
    # reviews-v2 -> productpage on TCP 9080: the icmps edge allows no TCP.
    assert [(d.protocol, d.port) for d in StagedDenial.objects.filter(stage=stage)] == [("TCP", 9080)]


def test_a_networkpolicy_drawing_refuses_to_draw_a_ping_and_says_why(flows_revision):  # noqa: F811
    """NetworkPolicy has no ICMP rules (SEMANTICS.md 3.5 P6): in the native dialect the ping stays in drift with
    the reason instead of "Add to the drawing", and accepting or adding it anyway saves nothing (drawn, it would
    be an edge the native compiler leaves out of the YAML, while drift counted the ping as carried)."""
    data = json.loads(json.dumps(flows_revision.data))
    data["settings"]["dialect"] = "native"
    native = save_revision(data, flows_revision)
    client = csrf_client()
    stage = staged(native)
    stream, token = ObservationStream.create(native.document, "a")
    send(client, stream, token, body([*lines(), ping(reverse=False)]))
    html = page(client, native)
    new = html.split('id="drift-new"')[1].split("</table>")[0]
    assert new.count('class="drift-new"') == 1 and "ICMPv4 type 8" in new
    assert 'value="accept"' not in new and "Kubernetes NetworkPolicy has no ICMP rules" in new and "Cilium" in new
    key = re.search(r'name="key" value="([0-9a-f]{64})"', new)[1]
    post_form(client, f"/d/{native.slug}/observations/drift", {"key": key, "action": "accept"})
    post_form(client, f"/d/{native.slug}/observations/add", {"key": key})
    assert native.document.latest_revision().pk == native.pk
    assert StagedRevision.objects.get(pk=stage.pk).revision_id == native.pk
