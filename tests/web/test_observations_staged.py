"""Staged revisions (issue 17, item 2): a revision replayed against every observation, the would-be-denied
list per workload, "add to the drawing", ready and promote; and the stream page (make, show once, revoke)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.test import Client

from editor.models import Revision, save_revision
from editor.observation_models import Observation, ObservationStream, StagedDenial, StagedRevision
from editor.policy.document import Document
from editor.policy.flows import read_flows
from editor.policy.flows.staging import staged_report
from editor.staged_store import observed_rows

TCP = Path(__file__).parents[1] / "fixtures" / "hubble" / "basic-sample-400-tcp-flows.json"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def keep_old_captures(settings):
    """The captures are from 2021: keep them past the default retention of 90 days."""
    settings.FENCELINE_OBSERVATION_RETENTION_DAYS = 36500


def lines() -> list[dict]:
    """The capture as if seen in the last minutes (it is from 2021; readiness looks at the last days)."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    records = [json.loads(line) for line in TCP.read_bytes().splitlines() if line.strip()]
    for number, record in enumerate(records):
        moment = now + timedelta(milliseconds=number)
        record["flow"]["time"] = record["time"] = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return records


def body(records: list[dict]) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


@pytest.fixture
def flows_revision() -> Revision:
    """A drawing made from the capture itself: its policies allow exactly what was seen."""
    with TCP.open("rb") as handle:
        document = read_flows([("tcp", handle)]).document
    return save_revision(document.to_json())


def send(client: Client, stream: ObservationStream, token: str, data: bytes) -> None:
    response = client.post(
        f"/api/observations/{stream.slug}",
        data,
        content_type="application/x-ndjson",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert b'"done"' in b"".join(response.streaming_content)


def page(client: Client, revision: Revision) -> str:
    response = client.get(f"/d/{revision.slug}/observations")
    assert response.status_code == 200
    return response.content.decode()


def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def post_form(client: Client, path: str, data: dict) -> object:
    token = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else None
    if token is None:
        client.get("/api/csrf")
        token = client.cookies["csrftoken"].value
    return client.post(path, {**data, "csrfmiddlewaretoken": token})


def new_violation() -> dict:
    """A captured flow with its destination port moved to one the drawing never saw: a new connection."""
    record = next(r for r in lines() if not r["flow"].get("is_reply") and "TCP" in r["flow"].get("l4", {}))
    record = json.loads(json.dumps(record))
    record["flow"]["l4"]["TCP"]["destination_port"] = 31337
    return record


def test_a_staged_revisions_report_changes_when_a_new_violating_flow_arrives(flows_revision):
    client = csrf_client()
    html = page(client, flows_revision)
    assert "No stream yet" in html
    answer = post_form(client, f"/d/{flows_revision.slug}/observations/streams", {"name": "cluster-a"})
    html = answer.content.decode()
    token = re.search(r'id="token-value">([^<]+)<', html)[1]
    assert token.startswith("flst_") and "fenceline push http://testserver/api/observations/" in html
    assert token not in page(client, flows_revision)  # shown once
    stream = ObservationStream.objects.get()
    assert post_form(client, f"/d/{flows_revision.slug}/observations/stage", {"since": "2020-01-01"}).status_code == 302
    send(client, stream, token, body(lines()))
    html = page(client, flows_revision)
    assert "is staged" in html and "ready" in html and 'class="would-deny"' not in html
    send(client, stream, token, body([new_violation()]))
    html = page(client, flows_revision)
    assert "not ready" in html and "1 observed connection would be denied" in html
    assert html.count('class="would-deny"') == 1 and "/31337" in html


def test_add_to_the_drawing_saves_a_revision_and_promote_makes_it_the_latest(flows_revision):
    client = csrf_client()
    stream, token = ObservationStream.create(flows_revision.document, "a")
    post_form(client, f"/d/{flows_revision.slug}/observations/stage", {"since": "2020-01-01"})
    send(client, stream, token, body([*lines(), new_violation()]))
    html = page(client, flows_revision)
    key = re.search(r'name="key" value="([0-9a-f]{64})"', html)[1]
    answer = post_form(client, f"/d/{flows_revision.slug}/observations/add", {"key": key})
    assert answer.status_code == 302
    stage = StagedRevision.objects.get()
    assert stage.revision.number == 2 and stage.revision.parent_id == flows_revision.pk
    added = [edge for edge in stage.revision.data["edges"] if edge["id"].startswith("observed-")]
    assert [port for edge in added for port in edge["ports"]] == [{"protocol": "TCP", "port": 31337}]
    html = page(client, stage.revision)
    assert 'class="would-deny"' not in html and "ready" in html
    # Someone saves meanwhile: promoting puts the staged drawing on top of theirs.
    other = save_revision({**flows_revision.data, "name": "meanwhile"}, stage.revision)
    answer = post_form(client, f"/d/{flows_revision.slug}/observations/promote", {})
    latest = flows_revision.document.latest_revision()
    assert latest.number == other.number + 1 and latest.data == stage.revision.data
    assert answer["Location"] == f"/d/{latest.slug}"
    assert not StagedRevision.objects.exists()


def test_revoking_from_the_page_refuses_the_token_at_once(flows_revision):
    client = csrf_client()
    stream, token = ObservationStream.create(flows_revision.document, "a")
    post_form(client, f"/d/{flows_revision.slug}/observations/revoke", {"stream": stream.slug})
    response = client.post(
        f"/api/observations/{stream.slug}", body(lines()[:1]), content_type="application/x-ndjson",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )  # fmt: skip
    assert response.status_code == 401
    assert "revoked" in page(client, flows_revision)


def test_the_forms_need_the_csrf_token(flows_revision):
    client = csrf_client()
    for action in ("streams", "stage", "promote", "add", "revoke", "drift"):
        assert client.post(f"/d/{flows_revision.slug}/observations/{action}", {}).status_code == 403
    assert not ObservationStream.objects.exists() and not StagedRevision.objects.exists()


def test_drift_lists_new_traffic_and_unused_edges_each_one_click(flows_revision):
    """Drift of the latest revision (issue 17, item 3): an edge taken out of the drawing comes back as new
    traffic, a drawn edge nothing used is a candidate to remove; accept and dismiss each take one click."""
    data = json.loads(json.dumps(flows_revision.data))
    removed = data["edges"].pop(0)
    unused = {**data["edges"][0], "id": "never-used", "ports": [{"protocol": "UDP", "port": 9999}]}
    data["edges"].append(unused)
    latest = save_revision(data, flows_revision)
    client = csrf_client()
    stream, token = ObservationStream.create(latest.document, "a")
    assert "Nothing observed in the last 7 days" in page(client, latest)
    send(client, stream, token, body(lines()))
    html = page(client, latest)
    assert html.count('class="drift-new"') == 1 and html.count('class="drift-unused"') == 1
    assert f"/{removed['ports'][0]['port']}" in html.split('id="drift-new"')[1].split("</table>")[0]
    key = re.search(r'name="key" value="([0-9a-f]{64})"', html.split('id="drift-new"')[1])[1]

    post_form(client, f"/d/{latest.slug}/observations/drift", {"key": "edge:never-used", "action": "dismiss"})
    html = page(client, latest)
    assert 'class="drift-unused"' not in html and 'class="drift-new"' in html
    post_form(client, f"/d/{latest.slug}/observations/drift", {"key": key, "action": "accept"})
    newest = latest.document.latest_revision()
    assert newest.number == 3 and len(newest.data["edges"]) == len(data["edges"]) + 1
    assert 'class="drift-new"' not in page(client, newest)


def test_removing_an_unused_edge_saves_a_revision_without_it(flows_revision):
    data = json.loads(json.dumps(flows_revision.data))
    data["edges"].append({**data["edges"][0], "id": "never-used", "ports": [{"protocol": "UDP", "port": 9999}]})
    latest = save_revision(data, flows_revision)
    client = csrf_client()
    stream, token = ObservationStream.create(latest.document, "a")
    send(client, stream, token, body(lines()))
    post_form(client, f"/d/{latest.slug}/observations/drift", {"key": "edge:never-used", "action": "accept"})
    newest = latest.document.latest_revision()
    assert newest.number == 3 and "never-used" not in {edge["id"] for edge in newest.data["edges"]}
    assert newest.data["edges"] == flows_revision.data["edges"]


# ---- the stored report (kept as observations arrive, not replayed at page load) ------------------------------


def staged(revision: Revision, since: str = "2020-01-01") -> StagedRevision:
    client = csrf_client()
    assert post_form(client, f"/d/{revision.slug}/observations/stage", {"since": since}).status_code == 302
    return StagedRevision.objects.get(document=revision.document)


def test_a_new_violating_flow_through_the_intake_adds_a_stored_denial(flows_revision):
    stage = staged(flows_revision)
    stream, token = ObservationStream.create(flows_revision.document, "a")
    send(Client(), stream, token, body(lines()))
    assert not StagedDenial.objects.exists()  # the drawing allows everything it was made from
    violation = new_violation()
    send(Client(), stream, token, body([violation, violation]))
    denial = StagedDenial.objects.get()
    assert (denial.stage, denial.protocol, denial.port, denial.count) == (stage, "TCP", 31337, 2)
    assert denial.reason.startswith("denied by the egress of") and "ingress of bookinfo/reviews" in denial.reason
    assert denial.count > denial.denied  # it flowed when observed: promoting would break it
    assert denial.first_seen <= denial.last_seen
    send(Client(), stream, token, body([violation]))  # seen again: the same row counts it
    assert StagedDenial.objects.get().count == 3


def test_a_flow_the_staged_revision_allows_stores_nothing(flows_revision):
    staged(flows_revision)
    stream, token = ObservationStream.create(flows_revision.document, "a")
    send(Client(), stream, token, body(lines()[:50]))
    assert Observation.objects.exists() and not StagedDenial.objects.exists()


def test_the_staged_view_reads_the_stored_report(flows_revision):
    """Once stored, the denial is shown even if the observations it came from are gone (retention): the page
    replays nothing."""
    staged(flows_revision)
    stream, token = ObservationStream.create(flows_revision.document, "a")
    send(Client(), stream, token, body([*lines(), new_violation()]))
    Observation.objects.all().delete()
    html = page(Client(), flows_revision)
    assert html.count('class="would-deny"') == 1 and "/31337" in html and "not ready" in html


def test_readiness_is_the_stored_denials_of_the_last_days(flows_revision, settings):
    stage = staged(flows_revision)
    stream, token = ObservationStream.create(flows_revision.document, "a")
    send(Client(), stream, token, body([new_violation()]))
    assert "not ready" in page(Client(), flows_revision)
    StagedDenial.objects.update(last_seen=datetime.now(UTC) - timedelta(days=settings.FENCELINE_STAGED_READY_DAYS + 1))
    html = page(Client(), flows_revision)
    assert ">ready<" in html and html.count('class="would-deny"') == 1  # still listed, no longer recent
    assert StagedDenial.objects.filter(stage=stage).count() == 1


def test_staging_after_the_traffic_replays_everything_since_its_date(flows_revision):
    """Staging (and "add to the drawing", which moves the stage) rebuilds the report from the observations;
    what arrives afterwards is added piece by piece, and both agree with replaying everything at once."""
    stream, token = ObservationStream.create(flows_revision.document, "a")
    other = new_violation()
    other["flow"]["l4"]["TCP"]["destination_port"] = 31338
    send(Client(), stream, token, body([*lines(), new_violation()]))
    stage = staged(flows_revision)
    assert [(d.port, d.count) for d in StagedDenial.objects.all()] == [(31337, 1)]
    send(Client(), stream, token, body([other, new_violation()]))
    stored = {(d.key, d.port, d.count, d.reason) for d in StagedDenial.objects.filter(stage=stage)}
    full = staged_report(Document.from_json(flows_revision.data), observed_rows(stage.document_id, stage.since))
    assert stored == {(i.key, i.port, i.count, i.reason) for items in full.would_deny.values() for i in items}
    assert {port for _, port, _, _ in stored} == {31337, 31338}
    assert staged(flows_revision, since=(datetime.now(UTC) + timedelta(days=1)).date().isoformat()) == stage
    assert not StagedDenial.objects.exists()  # a later date: nothing observed since
