"""In the browser: nothing leaves the server's origin, and HTML in names is text that runs nothing."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.e2e

HOSTILE = "<img src=x onerror=alert(1)>"


def test_it_makes_no_request_outside_its_own_origin(open_editor, app_url):
    editor, watch = open_editor("/", tour_done=False)
    editor.page.click("#tour [data-tour=skip]")
    editor.add_namespace("shop")
    editor.add_workload("cart")
    editor.use_template("dns")
    editor.set_dialect("cilium")
    editor.page.click("#import-button")
    editor.page.wait_for_selector("#dialog textarea")
    editor.page.keyboard.press("Escape")
    editor.page.click("#save-button")
    permalink = editor.page.locator("#permalink").get_attribute("href")
    editor.goto(permalink)
    editor.page.click("[data-action=tour]")
    history = editor.page.locator("a[href$='/history']").first.get_attribute("href")
    editor.page.goto(history)
    editor.page.wait_for_load_state("networkidle")

    origin = urlsplit(app_url)
    outside = [url for url in watch.requests if urlsplit(url)[:2] != origin[:2] and not url.startswith("blob:")]
    assert outside == []
    # The page really loaded its front-end (so the list above is not empty for a trivial reason).
    assert any("/static/editor/editor-page" in url for url in watch.requests)
    assert any(url.endswith("/api/compile") for url in watch.requests)
    watch.assert_clean(editor.page)


def test_it_shows_html_in_names_as_text_and_runs_nothing(open_editor):
    editor, watch = open_editor("/")
    editor.add_namespace("shop")
    editor.add_workload("cart")
    editor.apply_panel(name=HOSTILE)
    node = editor.element_for(HOSTILE)
    # The canvas draws the label as text; the inspector shows it through Django's autoescaping.
    assert editor.page.evaluate(f"fencelineCy.getElementById('{node}').data('label')").startswith(HOSTILE + "\n")
    assert editor.page.locator("#inspector .panel-title").inner_text() == HOSTILE
    assert editor.page.locator("#inspector input[name=name]").input_value() == HOSTILE
    # A label value with HTML is refused by the form, and the refusal quotes it as text.
    editor.page.fill("#inspector textarea[name=labels]", f"app={HOSTILE}")
    with editor.page.expect_response(lambda r: "/panel/node" in r.url):
        editor.page.click("#inspector button[type=submit]")
    error = editor.page.locator("#inspector .field-error").first
    assert HOSTILE in error.inner_text()
    editor.page.wait_for_timeout(300)
    assert editor.page.locator("img[src=x]").count() == 0
    assert editor.page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    watch.assert_clean(editor.page)
