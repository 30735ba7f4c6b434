"""The revision diff as a person uses it: edit a saved drawing, save a second revision, open History, compare
the two, and see the changed edge highlighted in the drawing and the changed port in the YAML diff."""

from __future__ import annotations

import json
import random
import zipfile
from pathlib import Path
from typing import Any

from conftest import CSP_LISTENER, TOUR_DONE, Watch
from editor_page import EditorPage

from editor.models import save_revision

TALK_APP = Path(__file__).resolve().parents[1] / "fixtures" / "documents" / "talk-app.json"


def _open_small(browser: Any, app_url: str) -> tuple[Any, Any, Watch, EditorPage]:
    """A 1024x768 Chromium context (the size a person with a small laptop has), downloads allowed."""
    context = browser.new_context(base_url=app_url, viewport={"width": 1024, "height": 768}, accept_downloads=True)
    context.add_init_script(CSP_LISTENER)
    context.add_init_script(TOUR_DONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch = Watch()
    watch.attach(page)
    return context, page, watch, EditorPage(page)


def _change_port(editor: EditorPage, edge: str, port: str) -> None:
    """Click the edge, select its first port number and type the new one, as a person does."""
    page = editor.page
    editor.click_element(edge)
    page.wait_for_selector("#inspector .panel-kicker:text('Edge')")
    with editor.panel_swap():
        editor.panel_field("port-0-port").click()
        page.keyboard.press("Control+A")
        _type(page, port)
        page.keyboard.press("Enter")
    page.wait_for_selector("#inspector .panel-saved")
    editor.wait_compiled()


def _type(page: Any, text: str) -> None:
    for key in text:
        page.keyboard.type(key)
        page.wait_for_timeout(random.randint(30, 150))


def test_save_two_revisions_compare_them_and_see_the_changed_edge(browser: Any, app_url: str) -> None:
    first = save_revision(json.loads(TALK_APP.read_text()))
    context, page, watch, editor = _open_small(browser, app_url)
    try:
        editor.goto(f"/d/{first.slug}/edit")
        _change_port(editor, "e:e2", "9091")  # web -> api, TCP 9090
        assert editor.panel_field("port-0-port").input_value() == "9091"
        page.click("#save-button")
        page.wait_for_selector("#permalink")

        page.click("#history-link")
        page.wait_for_selector("#compare-form")
        assert page.locator("input[name=new]:checked").get_attribute("aria-label") == "Compare to r2"
        assert page.locator("input[name=old]:checked").get_attribute("aria-label") == "Compare from r1"
        page.click("#compare-button")
        page.wait_for_selector("#diff-picture svg")

        assert page.locator("#compare-title").inner_text().endswith("r1 → r2")
        changed = page.locator("#diff-picture g.edge.diff-changed")
        assert changed.count() == 1 and changed.get_attribute("data-id") == "e2"
        assert "TCP 9091 (changed)" in changed.text_content()
        box = changed.bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0  # drawn, not just present
        halo = changed.locator("path").first.get_attribute("stroke")
        assert halo == "#d97706"  # the "changed" colour of the legend
        assert page.locator("#yaml-diff .line.del", has_text="port: 9090").count() >= 1
        assert page.locator("#yaml-diff .line.add", has_text="port: 9091").count() >= 1
        assert page.locator("#connectivity-diff").inner_text().count("TCP 9091") >= 1
        assert page.locator("#diff-picture g.edge.diff-removed").count() == 0
        watch.assert_clean(page)
    finally:
        context.close()


def test_the_export_menu_sends_the_unsaved_drawing(browser: Any, app_url: str, tmp_path: Path) -> None:
    first = save_revision(json.loads(TALK_APP.read_text()))
    context, page, watch, editor = _open_small(browser, app_url)
    try:
        editor.goto(f"/d/{first.slug}/edit")
        _change_port(editor, "e:e1", "8081")  # ingress -> web, TCP 8080
        editor.close_panel()

        page.click("#export-menu summary")
        with page.expect_download() as download:
            page.click("#export-bundle")
        saved = tmp_path / "bundle.zip"
        download.value.save_as(saved)
        web = zipfile.ZipFile(saved).read("network-policies/frontend/web.yaml").decode()
        assert "port: 8081" in web  # the drawing as it is in the editor, not as saved

        page.click("#export-menu summary")
        page.click("#export-compare")
        page.wait_for_selector("#diff-picture svg")
        assert page.locator("#compare-title").inner_text().endswith("r1 → your unsaved drawing")
        assert page.locator("#diff-picture g.edge.diff-changed").get_attribute("data-id") == "e1"
        assert page.locator("#yaml-diff .line.add", has_text="port: 8081").count() >= 1
        watch.assert_clean(page)
    finally:
        context.close()
