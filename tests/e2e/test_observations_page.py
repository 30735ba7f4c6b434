"""In Chromium: make a stream, stage a revision, push flows with `fenceline push`, see the would-be-denied list
update, add the connection to the drawing and promote the revision (issue 17)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from editor.models import save_revision
from editor.observation_models import StagedRevision
from editor.policy.flows import read_flows
from tests.e2e.conftest import CSP_LISTENER, Watch

pytestmark = pytest.mark.e2e

TCP = Path(__file__).parents[1] / "fixtures" / "hubble" / "basic-sample-400-tcp-flows.json"
ROOT = Path(__file__).resolve().parents[2]


def recent_capture_with_a_new_port() -> bytes:
    """The real capture as if seen minutes ago, plus one flow to a port the drawing never saw."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    records = [json.loads(line) for line in TCP.read_bytes().splitlines() if line.strip()]
    for number, record in enumerate(records):
        record["flow"]["time"] = record["time"] = (now + timedelta(milliseconds=number)).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )
    extra = json.loads(json.dumps(next(r for r in records if not r["flow"].get("is_reply"))))
    extra["flow"]["l4"]["TCP"]["destination_port"] = 31337
    return b"".join(json.dumps(record).encode() + b"\n" for record in [*records, extra])


def type_like_a_person(page, text: str) -> None:
    for character in text:
        page.keyboard.type(character, delay=random.randint(30, 150))


def press(page, selector: str) -> None:
    page.locator(selector).focus()
    page.keyboard.press("Enter")


def watched_page(browser, app_url) -> tuple[Any, Any, Watch]:
    """A context and its page at 1024x768, every console error, exception and CSP violation recorded."""
    context = browser.new_context(base_url=app_url, viewport={"width": 1024, "height": 768})
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch = Watch()
    watch.attach(page)
    return context, page, watch


def stage_and_push(page, flows: bytes) -> None:
    """On a drawing's observations page: make a stream (its name typed), stage the revision (ready: nothing observed
    yet), push `flows` with `fenceline push` to the command the page shows, and reload."""
    page.locator("#stream-name").focus()
    type_like_a_person(page, "kind-cluster")
    page.keyboard.press("Enter")
    token = page.locator("#token-value").inner_text().strip()
    command = page.locator("#push-command").inner_text()
    url = command.split("fenceline push ")[1].split(" --token")[0]
    press(page, "#stage")
    page.wait_for_selector("#stage-state")
    assert "ready" in page.locator("#stage-state").inner_text()
    pushed = subprocess.run(
        [sys.executable, "-m", "editor.policy.cli", "push", url, "--token", token],
        input=flows,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert pushed.returncode == 0, pushed.stderr
    page.reload()


def test_stage_push_add_promote(browser, app_url):
    with TCP.open("rb") as handle:
        revision = save_revision(read_flows([("tcp", handle)]).document.to_json())
    context, page, watch = watched_page(browser, app_url)
    try:
        page.goto(f"/d/{revision.slug}/history")
        press(page, "#observations-link")
        page.wait_for_selector("#streams-heading")
        stage_and_push(page, recent_capture_with_a_new_port())
        state = page.locator("#stage-state").inner_text()
        assert "not ready" in state and "1 observed connection would be denied" in state
        rows = page.locator("tr.would-deny")
        assert rows.count() == 1 and "TCP/31337" in rows.inner_text()

        press(page, "tr.would-deny button")
        page.wait_for_selector("#stage-state")
        assert "not ready" not in page.locator("#stage-state").inner_text()
        assert page.locator("tr.would-deny").count() == 0
        staged = StagedRevision.objects.select_related("revision").get()
        assert staged.revision.number == 2

        press(page, "#promote")
        page.wait_for_url(f"**/d/{staged.revision.slug}")
        latest = revision.document.latest_revision()
        assert latest.pk == staged.revision.pk and not StagedRevision.objects.exists()
        assert any(port == {"protocol": "TCP", "port": 31337} for e in latest.data["edges"] for port in e["ports"])
        watch.assert_clean(page)
    finally:
        context.close()
