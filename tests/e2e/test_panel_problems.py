"""In Chromium: when the server refuses an inspector request (4xx), its problem panel is shown in place of a
generic toast, so people read what went wrong."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_a_refused_inspector_request_shows_the_servers_problem_panel(open_editor):
    editor, watch = open_editor("/")
    page = editor.page
    editor.add_namespace("shop")
    page.evaluate("window.FencelineEditor.openPanel('node', 'no-such-node')")
    problem = page.locator("#inspector .panel-problems")
    problem.wait_for()
    assert "no-such-node" in problem.inner_text()
    assert page.locator(".toast:has-text('The server answered')").count() == 0
    watch.assert_clean(page, expected_statuses=(404,))
