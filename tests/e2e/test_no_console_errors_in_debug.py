"""With DEBUG on (as on a developer's machine) the editor works as with it off and writes nothing the CSP blocks:
htmx adds no inline <style> (its indicator rules are in app.css) and django-htmx's debug script, which replaces
the whole page with any 4xx answer and evals its scripts, is not loaded (issue 10, finding 11). The console
and CSP checks are the central ones of tests/e2e/conftest.py."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def debug_on(settings):
    settings.DEBUG = True


def test_the_editor_with_debug_on_keeps_its_own_problem_panel_and_adds_no_inline_style(debug_on, open_editor):
    editor, watch = open_editor("/", size=(1024, 768))
    page = editor.page
    assert page.locator("script[src*='django-htmx']").count() == 0
    editor.add_namespace("shop")
    editor.add_workload("cart")
    editor.use_template("dns")
    page.click("#import-button")
    page.locator("#dialog textarea[name=text]").press_sequentially("kind: NetworkPolicy\nspec: [\n", delay=40)
    page.click("#dialog button[type=submit]")
    assert "invalid YAML" in page.inner_text("#dialog .panel-problems")
    page.keyboard.press("Escape")

    # A refused inspector request (the node is gone on the server's side of a stale panel) answers 404 with
    # the inspector's own problem panel; the page stays the editor.
    watch.expect_statuses(404)
    page.evaluate("window.FencelineEditor.openPanel('node', 'no-such-node')")
    page.locator("#inspector .panel-problems").wait_for()
    assert page.locator("#app").count() == 1
    assert page.evaluate("document.querySelectorAll('style').length") == 0
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
