"""In Chromium at 1024x768: selecting never zooms or pans the drawing, and deleting a namespace that holds
workloads asks first, in the page, and stays undoable (issue 10, finding 5)."""

from __future__ import annotations

import pytest
from conftest import SMALL
from editor_page import Person
from test_inspector_typing import TWO_WORKLOADS

from editor.models import save_revision

pytestmark = pytest.mark.e2e


def view(editor) -> dict:
    return editor.page.evaluate("({zoom: fencelineCy.zoom(), pan: fencelineCy.pan()})")


def names(editor) -> list[str]:
    doc = editor.doc()
    return sorted([ns["name"] for ns in doc["namespaces"]] + [n["name"] for n in doc["nodes"]])


def test_selecting_keeps_the_view_and_deleting_a_namespace_with_workloads_asks_first(open_editor):
    revision = save_revision(TWO_WORKLOADS)
    editor, watch = open_editor(f"/d/{revision.slug}/edit", viewport=SMALL)
    page, person = editor.page, Person(editor.page)
    before = view(editor)
    for element, kicker in (("e:e1", "Edge"), ("n:web", "Workload"), ("n:api", "Workload"), ("e:e1", "Edge")):
        x, y = editor.edge_point(element) if element.startswith("e:") else editor.node_point(element)
        page.mouse.click(x, y)
        page.wait_for_selector(f"#inspector .panel-kicker:text-is('{kicker}')")
        editor.wait_idle()
        assert view(editor) == before, f"clicking {element} moved the drawing"

    canvas = page.locator("#cy").bounding_box()
    box = page.evaluate("fencelineCy.getElementById('ns:shop').renderedBoundingBox({includeLabels: false})")
    page.mouse.click(canvas["x"] + (box["x1"] + box["x2"]) / 2, canvas["y"] + box["y2"] - 6)  # the box, below both
    page.wait_for_selector("#inspector .panel-kicker:text-is('Namespace')")
    assert view(editor) == before

    person.press("Delete")
    dialog = page.locator("#dialog")
    dialog.wait_for(state="visible")
    assert "Delete namespace shop and everything in it?" in dialog.inner_text()
    assert "web, api" in dialog.inner_text()
    person.press("Escape")
    dialog.wait_for(state="hidden")
    assert names(editor) == ["api", "shop", "web"]

    page.locator("#cy").focus()
    person.press("Delete")
    dialog.wait_for(state="visible")
    person.press("Tab", "Enter")  # from Cancel to "Delete 3 items"
    dialog.wait_for(state="hidden")
    assert names(editor) == []
    person.press("Control+z")
    assert names(editor) == ["api", "shop", "web"]
    assert [e["id"] for e in editor.doc()["edges"]] == ["e1"]
    watch.assert_clean(page)
