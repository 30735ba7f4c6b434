"""In Chromium at 1024x768: a collapsed namespace's label ("name / N workloads") is drawn inside its box at the
zoom a large drawing opens at, and at least 11 px high on screen (issue 13, level of detail). A name too long for
the box is shortened with an ellipsis there; zoomed in, where the box has room for it, the whole name is shown.
"""

from __future__ import annotations

from typing import Any

import pytest

from editor.models import save_revision
from tests.large_drawing import large_drawing

pytestmark = pytest.mark.e2e

SIZE = (1024, 768)
LONG = "payments-reconciliation-worker"

# Each collapsed box and its label's box on screen, the label's size on screen and the text Cytoscape draws.
LABELS = """() => fencelineCy.nodes('.collapsed').map(n => {
  const b = n.renderedBoundingBox({includeLabels: false, includeOverlays: false});
  const t = n.renderedBoundingBox({includeNodes: false, includeLabels: true, includeOverlays: false});
  return {name: n.data('name'), box: [b.x1, b.y1, b.x2, b.y2], label: [t.x1, t.y1, t.x2, t.y2],
          px: parseFloat(n.style('font-size')) * fencelineCy.zoom(), text: n.style('label')};
})"""


def drawing() -> dict[str, Any]:
    """40 namespaces of 4 workloads (160: over collapse.js's LARGE, so it opens collapsed and packed, too wide to
    fit the canvas above the opening zoom), the last one renamed to a long name."""
    doc = large_drawing(160, 200)
    renamed = doc["namespaces"][-1]["name"]
    doc["namespaces"][-1] = {"name": LONG, "labels": {"kubernetes.io/metadata.name": LONG}}
    for node in doc["nodes"]:
        if node["namespace"] == renamed:
            node["namespace"] = node["labels"]["team"] = LONG
    return doc


def inside(inner: list[float], outer: list[float]) -> bool:
    return inner[0] >= outer[0] and inner[1] >= outer[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def test_collapsed_namespace_labels_fit_their_boxes_at_the_opening_zoom(open_editor):
    revision = save_revision(drawing())
    editor, _ = open_editor(f"/d/{revision.slug}/edit", size=SIZE)
    page = editor.page
    editor.wait_compiled()
    assert page.evaluate("fencelineCy.zoom()") >= 0.3  # a large drawing opens at 0.3 or, where all of it fits, above
    labels = page.evaluate(LABELS)
    assert len(labels) == 40
    for label in labels:
        assert inside(label["label"], label["box"]), label
        assert label["px"] >= 11, label
    by_name = {label["name"]: label for label in labels}
    assert by_name["team-07"]["text"] == "team-07\n4 workloads"
    shortened = by_name[LONG]["text"]
    assert shortened.endswith("\u2026\n4 workloads") and LONG.startswith(shortened.split("\u2026")[0]), shortened

    # Zoomed in by the keyboard, the box has room for the whole name, still inside it.
    page.locator("#cy").click(position={"x": 5, "y": 300})
    for _ in range(4):
        page.keyboard.press("+")
    page.wait_for_function(
        f"() => fencelineCy.nodes('.collapsed').filter(n => n.data('name') === '{LONG}')[0].style('label')"
        f" === '{LONG}\\n4 workloads'",
        timeout=10_000,
    )
    zoomed = {label["name"]: label for label in page.evaluate(LABELS)}[LONG]
    assert inside(zoomed["label"], zoomed["box"]), zoomed
    assert zoomed["px"] >= 11, zoomed


def test_every_collapsed_namespace_is_on_the_canvas_at_the_opening(open_editor):
    """The 40 boxes are packed about as wide per unit of height as the canvas beside the side panels, so the
    opening shows every one of them (packed 4:3, a fifth column reached past the canvas's right edge)."""
    revision = save_revision(drawing())
    editor, _ = open_editor(f"/d/{revision.slug}/edit", size=SIZE)
    page = editor.page
    editor.wait_compiled()
    canvas = page.evaluate("[0, 0, fencelineCy.width(), fencelineCy.height()]")
    boxes = page.evaluate(LABELS)
    assert len(boxes) == 40
    outside = [box["name"] for box in boxes if not inside(box["box"], canvas)]
    assert outside == [], f"boxes past the canvas {canvas}: {outside}"
    assert all(box["px"] >= 11 for box in boxes)
