"""In Chromium: a ping pushed with `fenceline push` shows in drift as ICMPv4 type 8 and is added to the drawing as
an ICMP edge with the keyboard; a row stored as protocol ANY before ICMP was kept shows without "Add to the
drawing"; an unused ICMP-only edge reads as its ICMP type, not as "all"; a staged Cilium revision lists a ping it
would deny, with the sides that deny it, and adding it draws the `icmps` edge that allows it (issue 17)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from editor.models import save_revision
from editor.observation_models import Observation, ObservationStream, StagedRevision
from editor.policy.flows import read_flows
from editor.policy.flows.observe import edge_key, observe
from tests.e2e.test_observations_page import ROOT, TCP, press, stage_and_push, watched_page
from tests.unit.test_observed_icmp import as_icmp
from tests.web.test_observations_staged import body, lines

pytestmark = pytest.mark.e2e


def open_observations(page, slug: str) -> None:
    """From the drawing's history to its observations page, with the keyboard."""
    page.goto(f"/d/{slug}/history")
    press(page, "#observations-link")
    page.wait_for_selector("#drift-heading")


def test_a_ping_in_drift_is_added_as_icmp_and_an_old_any_row_cannot_be(browser, app_url):
    with TCP.open("rb") as handle:
        data = read_flows([("tcp", handle)]).document.to_json()
    data["edges"].append(
        {
            "id": "timestamps",
            "source": "bookinfo/reviews-v3",
            "target": "bookinfo/ratings-v1",
            "icmps": [{"family": "IPv4", "type": 13}],
        }
    )
    revision = save_revision(data)
    stream, token = ObservationStream.create(revision.document, "kind")
    records = lines()
    # The row a ping reviews-v2 -> productpage-v1 got before ICMP was kept: protocol ANY, port None.
    (old,) = observe(body([as_icmp(records[0], reverse=True)]))[0]
    now = datetime.now(UTC)
    legacy_key = edge_key(old.source, old.target, "ANY", None)
    Observation.objects.create(
        document=revision.document,
        key=legacy_key,
        bucket=now.replace(minute=0, second=0, microsecond=0),
        edge={**json.loads(old.description), "protocol": "ANY", "port": None},
        count=2,
        first_seen=now,
        last_seen=now,
    )
    url = f"{app_url}/api/observations/{stream.slug}"
    pushed = subprocess.run(
        [sys.executable, "-m", "editor.policy.cli", "push", url, "--token", token],
        input=body([*records, as_icmp(records[0])]),  # productpage-v1 -> reviews-v2: drawn for TCP 9080 only
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert pushed.returncode == 0, pushed.stderr

    context, page, watch = watched_page(browser, app_url)
    try:
        open_observations(page, revision.slug)
        rows = page.locator("tr.drift-new")
        assert rows.count() == 2
        ping = rows.filter(has_text="ICMPv4 type 8")
        legacy = rows.filter(has_text="ANY")
        assert ping.count() == 1 and legacy.count() == 1
        assert "productpage-v1" in ping.locator("td").nth(0).inner_text()
        assert legacy.locator("button[value=accept]").count() == 0
        assert "cannot be drawn" in legacy.inner_text()
        unused = page.locator("tr.drift-unused")
        assert unused.count() == 1 and "ICMPv4 type 13" in unused.inner_text() and "all" not in unused.inner_text()

        ping.locator("button[value=accept]").focus()
        page.keyboard.press("Enter")
        page.wait_for_load_state()
        page.wait_for_selector("#drift-heading")
        assert page.locator("tr.drift-new").count() == 1 and "ANY" in page.locator("tr.drift-new").inner_text()
        latest = revision.document.latest_revision()
        assert latest.number == 2
        (added,) = [edge for edge in latest.data["edges"] if edge["id"].startswith("observed-")]
        assert added["icmps"] == [{"family": "IPv4", "type": 8}] and not added.get("ports")

        page.locator("tr.drift-new button[value=dismiss]").focus()
        page.keyboard.press("Enter")
        page.wait_for_load_state()
        page.wait_for_selector("#drift-heading")
        assert page.locator("tr.drift-new").count() == 0
        assert revision.document.latest_revision().number == 2
        watch.assert_clean(page)
    finally:
        context.close()


def test_a_ping_in_a_networkpolicy_drawing_says_why_it_cannot_be_drawn(browser, app_url):
    """NetworkPolicy has no ICMP rules: in the native dialect the ping's row gives the reason instead of "Add to
    the drawing" (which drew an edge the native compiler leaves out), and can be dismissed with the keyboard."""
    with TCP.open("rb") as handle:
        document = read_flows([("tcp", handle)]).document
    document.settings.dialect = "native"
    revision = save_revision(document.to_json())
    (seen,) = observe(body([as_icmp(lines()[0], reverse=True)]))[0]
    now = datetime.now(UTC)
    Observation.objects.create(
        document=revision.document,
        key=seen.key,
        bucket=now.replace(minute=0, second=0, microsecond=0),
        edge=json.loads(seen.description),
        count=seen.count,
        first_seen=now,
        last_seen=now,
    )
    context, page, watch = watched_page(browser, app_url)
    try:
        open_observations(page, revision.slug)
        row = page.locator("tr.drift-new")
        assert row.count() == 1 and "ICMPv4 type 8" in row.inner_text()
        assert row.locator("button[value=accept]").count() == 0
        assert "NetworkPolicy has no ICMP rules" in row.inner_text() and "Cilium" in row.inner_text()
        press(page, "tr.drift-new button[value=dismiss]")
        page.wait_for_load_state()
        page.wait_for_selector("#drift-heading")
        assert page.locator("tr.drift-new").count() == 0
        assert revision.document.latest_revision().pk == revision.pk
        watch.assert_clean(page)
    finally:
        context.close()


def test_a_staged_cilium_revision_lists_a_ping_it_would_deny_and_adding_it_allows_it(browser, app_url):
    """A person makes a stream, stages the Cilium drawing made from the capture and pushes the capture plus a ping
    reviews-v2 -> productpage-v1: the drawing's rules there are on TCP ports, which carry no ICMP (SEMANTICS.md
    4.3 C12), so the ping is listed as would-be-denied by both sides; adding it draws an `icmps` edge, and the
    stage, moved to that revision, is ready."""
    with TCP.open("rb") as handle:
        revision = save_revision(read_flows([("tcp", handle)]).document.to_json())
    assert revision.data["settings"]["dialect"] == "cilium"
    context, page, watch = watched_page(browser, app_url)
    try:
        open_observations(page, revision.slug)
        records = lines()
        stage_and_push(page, body([*records, as_icmp(records[0], reverse=True)]))
        state = page.locator("#stage-state").inner_text()
        assert "not ready" in state and "1 observed connection would be denied" in state
        row = page.locator("tr.would-deny")
        assert row.count() == 1
        cells = row.locator("td")
        assert "reviews-v2" in cells.nth(0).inner_text() and "productpage-v1" in cells.nth(1).inner_text()
        assert cells.nth(2).inner_text() == "ICMPv4 type 8"
        assert cells.nth(5).inner_text() == (
            "denied by the egress of bookinfo/reviews-v2[Deployment] and the ingress of "
            "bookinfo/productpage-v1[Deployment]"
        )
        button = row.locator("button")
        assert "ICMPv4 type 8 to the drawing" in button.inner_text()

        button.focus()
        page.keyboard.press("Enter")
        page.wait_for_load_state()
        page.wait_for_selector("#stage-state")
        assert "not ready" not in page.locator("#stage-state").inner_text()
        assert page.locator("tr.would-deny").count() == 0
        staged = StagedRevision.objects.select_related("revision").get()
        assert staged.revision.number == 2
        (added,) = [edge for edge in staged.revision.data["edges"] if edge["id"].startswith("observed-")]
        assert (added["source"], added["target"]) == ("bookinfo/reviews-v2", "bookinfo/productpage-v1")
        assert added["icmps"] == [{"family": "IPv4", "type": 8}] and not added.get("ports")
        watch.assert_clean(page)
    finally:
        context.close()
