"""In Chromium at 1024x768: the editor page gets the scripts of its first picture in one request (issue 13: they
were 20, each on its own connection to the sync workers, and editor.js waited for its turn among them), and they
all run: the drawing is drawn, the keyboard moves through it (graph_keys.js) and opens a node's panel (inspector.js,
Idiomorph). Edge drawing still comes after the first picture."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_inspector_typing import TWO_WORKLOADS

from editor.models import save_revision
from editor.static_bundles import BUNDLES, build

pytestmark = pytest.mark.e2e


def test_the_editor_fetches_its_scripts_in_one_request_and_runs_them_all(open_editor):
    revision = save_revision(TWO_WORKLOADS)
    editor, watch = open_editor(f"/d/{revision.slug}/edit")
    page = editor.page
    page.wait_for_function("() => document.getElementById('app').dataset.pending === '0'")
    scripts = [url for url in watch.requests if url.endswith(".js")]
    before_edge_drawing = scripts[: next(i for i, url in enumerate(scripts) if "/vendor/lodash" in url)]
    # htmx and site.js (every page's) and the editor page's bundle.
    assert len(before_edge_drawing) == 3, before_edge_drawing
    assert any("/static/editor/editor-page." in url for url in before_edge_drawing)

    # What ran from it, used as a person would: the keyboard moves through the drawing and reads it out
    # (graph_keys.js), Enter opens the panel (inspector.js, patched by Idiomorph).
    for _ in range(40):
        if page.evaluate("document.activeElement.id") == "cy":
            break
        page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")
    assert page.inner_text("#graph-status").strip() != ""
    page.keyboard.press("Enter")
    page.wait_for_selector("#inspector:not([hidden]) .panel-title")
    assert page.evaluate("typeof Idiomorph") == "object"
    watch.assert_clean(page)


def test_the_bundle_is_its_parts_in_their_order():
    from django.contrib.staticfiles import finders

    content = build("editor/editor-page.js").read_text()
    at = 0
    for part in BUNDLES["editor/editor-page.js"]:
        text = Path(finders.find(part)).read_text().rstrip()
        found = content.find(text, at)
        assert found >= at, part
        at = found + len(text)
