"""The drawing's dialect is the one shown; content that needs Cilium switches it, saying so, undoably; an edge the
shown dialect cannot write has its own look; Copy and Download carry the problems (issue 10, finding 2).

The flows are a real Hubble capture with HTTP rules (tests/fixtures/hubble/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

HUBBLE_HTTP = Path(__file__).resolve().parents[1] / "fixtures" / "hubble" / "basic-sample-5-http-flows.json"


def shown_dialect(editor) -> str:
    return editor.page.get_attribute(".yaml-head [role=radio][aria-checked=true]", "data-dialect")


def edge_classes(editor) -> set[str]:
    return {cls for *_, states in editor.graph()["edges"] for cls in states}


def test_flows_that_need_cilium_switch_the_drawing_and_the_native_view_tells_unwritable_from_denied(open_editor):
    editor, _ = open_editor("/", size=(1024, 768))
    page = editor.page
    editor.add_namespace("shop")  # the flows are merged into a drawing that is in Native
    editor.close_panel()
    assert shown_dialect(editor) == "native"

    page.click("#flows-button")
    page.set_input_files("#flows-files", str(HUBBLE_HTTP))
    page.click("#flows-read")
    page.locator("#flows-summary").wait_for()
    assert "The drawing now uses Cilium: it has HTTP or DNS rules on 3 edges" in page.inner_text("#flows-notes")
    page.click("#flows-merge")
    editor.wait_compiled()
    assert "The drawing now uses Cilium" in page.inner_text("#toast")
    assert shown_dialect(editor) == "cilium"
    assert "kind: CiliumNetworkPolicy" in editor.yaml_text()
    assert edge_classes(editor) <= {"allowed", "one-sided"}  # every observed flow was forwarded
    # Save replays the observed flows in the drawing's dialect: none breaks, so it saves straight away.
    page.click("#save-button")
    page.wait_for_selector("#toast:has-text('Saved revision 1')")
    assert not page.locator("#dialog .replay-list").is_visible()

    # Going back to Native by hand: the HTTP edge cannot be written there and looks like it, not like "denied".
    page.click(".yaml-head [data-dialect=native]")
    editor.wait_compiled()
    states = editor.graph()["edges"]
    assert [s for *_, s in states if "error" in s] and not [s for *_, s in states if "denied" in s]
    legend = page.inner_text(".legend")
    assert "not in this dialect" in legend and "observed, denied" in legend
    listed = page.eval_on_selector_all("#issues [data-select^='e:']", "els => els.map(e => e.dataset.select)")
    assert listed and len(listed) == len(set(listed)), listed  # each edge's problem once
    assert "only Cilium can express it" in page.inner_text("#issues")

    with page.expect_download() as download:
        page.click("[data-action=download]")
    text = Path(download.value.path()).read_text()
    assert text.startswith("# Fenceline drawing ")
    assert text.splitlines()[0].endswith("(native)")
    assert "# error: edge " in text and "left out of the YAML" in text

    # The page asks; one click answers, and Ctrl+Z takes the answer back.
    page.click("#issues [data-dialect=cilium]")
    editor.wait_compiled()
    assert shown_dialect(editor) == "cilium" and "error" not in edge_classes(editor)
    page.locator("#cy").focus()
    page.keyboard.press("Control+z")
    editor.wait_compiled()
    assert shown_dialect(editor) == "native"


def test_a_cilium_import_with_entities_and_l7_opens_in_cilium(open_editor):
    editor, _ = open_editor("/", size=(1024, 768))
    page = editor.page
    policy = (
        Path(__file__).resolve().parents[1]
        / "fixtures"
        / "policies"
        / "cilium-cilium"
        / "l7"
        / "http"
        / "simple"
        / "l7.yaml"
    )
    page.click("[data-action=import]")
    page.set_input_files("#dialog [name=file]", str(policy))
    page.click("#dialog button[type=submit]")
    page.wait_for_selector("#dialog .panel-saved")
    assert "The drawing now uses Cilium" in page.inner_text("#dialog .panel-saved")
    page.click("#dialog .panel-actions [data-action=close-dialog]")
    editor.wait_compiled()
    assert shown_dialect(editor) == "cilium"
    assert "error" not in edge_classes(editor)
    assert page.inner_text("#issues").strip() == ""
