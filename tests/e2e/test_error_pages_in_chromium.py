"""Error pages in Chromium with DEBUG off: a plain sentence and a way back, nothing of the server (issue 10,
finding 10; tests/web/test_error_pages.py covers every status)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_it_shows_a_mistyped_address_as_a_plain_page_and_leads_back_to_the_editor(open_editor):
    editor, watch = open_editor("/d/not-a-drawing/edit", editor_page=False)
    watch.expect_statuses(404)
    page = editor.page
    text = page.inner_text("main")
    assert "There is nothing at this address." in text
    for internal in ("tried", "URLPattern", "pattern", "{"):
        assert internal not in text
    page.keyboard.press("Tab")  # the brand link, then the way back
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector("#app[data-ready='1']")


def test_it_shows_a_wrong_method_as_a_plain_page(open_editor):
    editor, watch = open_editor("/panel/import", editor_page=False)
    watch.expect_statuses(405)
    assert "GET is not used at this address; it takes POST." in editor.page.inner_text("main")
