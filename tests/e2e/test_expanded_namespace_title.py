"""In Chromium at 1024x768: a namespace opened in a large drawing (it opens collapsed) has the title of an open
namespace, not the label of a collapsed one: zoomed out, it grows to 48 drawing units at most and does not reach
into the box above it (issue 13, level of detail). The opened box kept its collapsed mark (Cytoscape merges an
element's new data into its old), and lod.js sized its title as a collapsed label's: 126 units at zoom 0.1."""

from __future__ import annotations

import pytest
from test_collapsed_labels_fit import SIZE, drawing
from test_namespace_titles import BOXES, overlap

from editor.models import save_revision

pytestmark = pytest.mark.e2e

TITLE_MAX = 48  # lod.js: the room the layout leaves above an open box


def test_a_namespace_opened_in_a_large_drawing_keeps_its_title_above_its_box(open_editor):
    revision = save_revision(drawing())
    editor, watch = open_editor(f"/d/{revision.slug}/edit", size=SIZE)
    page = editor.page
    editor.wait_compiled()
    # The collapsed box nearest the middle of the canvas, one with boxes around it; a click opens it.
    name, x, y = page.evaluate("""() => {
      const c = fencelineCy.container().getBoundingClientRect(), mx = c.width / 2, my = c.height / 2;
      const n = fencelineCy.nodes('.collapsed').min(n => Math.hypot(n.renderedPosition('x') - mx,
        n.renderedPosition('y') - my)).ele;
      return [n.data('name'), c.left + n.renderedPosition('x'), c.top + n.renderedPosition('y')];
    }""")
    page.mouse.click(x, y)
    page.wait_for_function(f"() => fencelineCy.nodes('.namespace.collapsed[name = \"{name}\"]').length === 0")
    assert page.evaluate(f"fencelineCy.getElementById('ns:{name}').children().length") == 4

    page.locator("#cy").click(position={"x": 5, "y": 300})
    for _ in range(16):  # down to the smallest zoom the editor offers
        page.keyboard.press("-")
        page.wait_for_timeout(60)
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))")
        zoom = page.evaluate("fencelineCy.zoom()")
        size = page.evaluate(f"parseFloat(fencelineCy.getElementById('ns:{name}').style('font-size'))")
        assert size <= TITLE_MAX, (zoom, size)
        boxes = {box["id"]: box for box in page.evaluate(BOXES)}
        opened = boxes.pop(f"ns:{name}")
        for other in boxes.values():
            assert not overlap(opened["title"], other["box"]), (zoom, opened, other)
    assert page.evaluate("fencelineCy.zoom()") == pytest.approx(0.05)
    watch.assert_clean(page)
