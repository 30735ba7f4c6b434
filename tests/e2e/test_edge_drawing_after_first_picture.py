"""In Chromium at 1024x768: edge drawing (lodash and cytoscape-edgehandles) loads after the first picture (issue
13: the canvas does not wait for scripts it does not draw with). Draw mode asked for before the plugin has run is
taken up when it has: here its download is held back until the person has pressed E, then let go, and the edge
they then drag with the mouse is drawn."""

from __future__ import annotations

from typing import Any

import pytest
from editor_page import EditorPage
from test_inspector_typing import TWO_WORKLOADS

from editor.models import save_revision

pytestmark = pytest.mark.e2e


def test_draw_mode_asked_for_before_edge_handles_loaded_draws_an_edge_once_they_are(browser, app_url):
    held: list[Any] = []
    revision = save_revision(TWO_WORKLOADS)
    context = browser.new_context(base_url=app_url, viewport={"width": 1024, "height": 768})
    context.add_init_script("localStorage.setItem('fenceline.tour.v1', 'done')")
    context.route("**/vendor/cytoscape-edgehandles*.js", lambda route: held.append(route))
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        _draw_with_edge_handles_held(page, held, errors, revision.slug)
    finally:
        for route in held:  # a request left hanging would keep the live server's threads busy past the test
            route.continue_()
        context.close()


def _draw_with_edge_handles_held(page: Any, held: list[Any], errors: list[str], slug: str) -> None:
    # The page's load event waits for the held script when editor.js inserts it before load: wait for the DOM only.
    page.goto(f"/d/{slug}/edit", wait_until="domcontentloaded")
    page.wait_for_selector("#app[data-ready='1']")
    page.wait_for_function("() => document.getElementById('app').dataset.pending === '0'")
    page.wait_for_function("() => document.querySelectorAll('script[src*=edgehandles]').length === 1")
    assert held and page.evaluate("typeof cytoscapeEdgehandles") == "undefined"

    page.locator("#cy").click(position={"x": 5, "y": 5})
    page.keyboard.press("e")
    assert page.get_attribute("#draw-toggle", "aria-pressed") == "true"

    held.pop().continue_()
    page.wait_for_function("() => typeof cytoscapeEdgehandles === 'function'")
    box = page.locator("#cy").bounding_box()
    at = {n: page.evaluate(f"fencelineCy.getElementById('n:{n}').renderedPosition()") for n in ("api", "web")}
    (x1, y1), (x2, y2) = ((box["x"] + at[n]["x"], box["y"] + at[n]["y"]) for n in ("api", "web"))
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move((x1 + x2) / 2, (y1 + y2) / 2, steps=8)
    page.mouse.move(x2, y2, steps=8)
    page.wait_for_timeout(250)  # edgehandles waits 120 ms over a target before it accepts it
    page.mouse.up()
    EditorPage(page).accept_isolation()
    page.wait_for_function(
        "() => fencelineCy.edges().some(e => e.source().id() === 'n:api' && e.target().id() === 'n:web')"
    )
    assert errors == []
