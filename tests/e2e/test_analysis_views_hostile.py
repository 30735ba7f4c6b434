"""In Chromium: HTML in names, file names and skipped flow lines stays text in the Rating tab and the flow-log
dialog, and the new tabs and the dialog work from the keyboard (arrow keys between tabs, Escape closes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from editor.models import save_revision
from tests.e2e.test_analysis_views import ONE_SIDED, wait_analysed

pytestmark = pytest.mark.e2e

HUBBLE_HTTP = Path(__file__).parents[1] / "fixtures/hubble/basic-sample-5-http-flows.json"
SVG = '"><svg onload=alert(2)>'
HOSTILE_APP = "<b onmouseover=alert(5)>"
FILE_NAME = "<svg onload=alert(4)>.json"  # Chromium sends a quote in a file name as %22


def hostile_flows() -> bytes:
    """The five HTTP flows with prometheus renamed and in a hostile namespace, and a line that is not JSON."""
    text = HUBBLE_HTTP.read_text().replace('"istio-system"', json.dumps(SVG)).replace("prometheus", HOSTILE_APP)
    return (text.rstrip("\n") + "\n<img src=x onerror=alert(3)> not json\n").encode()


def assert_nothing_injected(page) -> None:
    page.wait_for_timeout(200)
    assert page.locator("img[src=x]").count() == 0
    assert page.evaluate("document.querySelectorAll('svg[onload], [onerror], [onload]').length") == 0


def test_hostile_text_in_rating_and_flow_logs_stays_text_and_the_keyboard_works(open_editor):
    revision = save_revision(ONE_SIDED)
    editor, watch = open_editor(f"/d/{revision.slug}/edit")
    page = editor.page
    wait_analysed(editor, "lint")

    page.focus("#tab-yaml")  # arrow keys move between the tabs and show each view
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-rating"
    assert page.get_attribute("#tab-rating", "aria-selected") == "true"
    assert page.is_visible("#rating-view")
    assert "NetworkPolicy frontend/img-src-x-onerror-alert-1" in page.inner_text("#rating-policies")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-check"
    wait_analysed(editor, "check")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.activeElement.id") == "tab-yaml" and not page.is_visible("#check-view")
    assert_nothing_injected(page)

    page.click("#flows-button")
    assert page.evaluate("document.activeElement.id") == "flows-files"
    page.set_input_files("#flows-files", {"name": FILE_NAME, "mimeType": "application/json", "buffer": hostile_flows()})
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # past the filters' summary to the button that sends
    assert page.evaluate("document.activeElement.id") == "flows-read"
    page.keyboard.press("Enter")
    page.locator("#flows-summary").wait_for()
    assert FILE_NAME in page.inner_text("#flows-counts")
    assert f"{FILE_NAME}:6: not valid JSON" in page.inner_text("#flows-skipped")
    assert f"Pod '{HOSTILE_APP}-6655946b9f-6xcpf' is in no valid namespace (namespace '{SVG}')" in page.inner_text(
        "#flows-notes"
    )
    assert page.evaluate("document.activeElement.id") == "flows-merge"
    assert_nothing_injected(page)
    page.keyboard.press("Escape")
    assert not page.is_visible("#dialog")
    assert len(editor.graph()["nodes"]) == 4  # closing added nothing
    assert_nothing_injected(page)
    watch.assert_clean(page)
