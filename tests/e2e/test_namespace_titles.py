"""In Chromium at 1024x768: namespace titles stay with their own box at every zoom the editor offers (issue 13,
level of detail). A namespace's title is drawn at a constant size on screen when zoomed out (lod.js), so in the
drawing's own units it grows as one zooms out; it must not grow into the box above it. A collapsed namespace's
label ("name / N workloads") is drawn inside its box."""

from __future__ import annotations

from typing import Any

import pytest

from editor.models import save_revision

pytestmark = pytest.mark.e2e

SIZE = (1024, 768)

# Each namespace box (without its title) and its title's box, in the drawing's units, as Cytoscape draws them.
BOXES = """() => fencelineCy.nodes('.namespace').map(n => {
  const b = n.boundingBox({includeLabels: false});
  const t = n.boundingBox({includeNodes: false, includeLabels: true, includeOverlays: false});
  return {id: n.id(), box: [b.x1, b.y1, b.x2, b.y2], title: [t.x1, t.y1, t.x2, t.y2]};
})"""


def overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def stacked() -> dict[str, Any]:
    """Namespaces alpha above beta above gamma, one workload each, the boxes 64 apart (what the editor's layout
    leaves between two boxes one above the other: its margin and the room for a title at zoom 1)."""
    names = ("alpha", "beta", "gamma")
    nodes = [
        {
            "id": f"{ns}.web",
            "kind": "workload",
            "name": "web",
            "namespace": ns,
            "labels": {"app": "web"},
            "isolate": {"ingress": True, "egress": True},
            "position": {"x": 0, "y": i * (134 + 64)},  # a box is 134 high
        }
        for i, ns in enumerate(names)
    ]
    return {
        "schema": "fenceline/v1",
        "name": "stacked",
        "namespaces": [{"name": ns} for ns in names],
        "nodes": nodes,
        "edges": [],
    }


def test_zoomed_out_a_namespace_title_does_not_reach_into_the_box_above(open_editor):
    revision = save_revision(stacked())
    editor, _ = open_editor(f"/d/{revision.slug}/edit", size=SIZE)
    page = editor.page
    page.locator("#cy").click(position={"x": 5, "y": 300})
    for _ in range(16):  # down to the smallest zoom the editor offers
        page.keyboard.press("-")
        page.wait_for_timeout(60)
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))")
        boxes = page.evaluate(BOXES)
        zoom = page.evaluate("fencelineCy.zoom()")
        for one in boxes:
            for other in boxes:
                if one is not other:
                    assert not overlap(one["title"], other["box"]), (zoom, one, other)
    assert page.evaluate("fencelineCy.zoom()") == pytest.approx(0.05)
