"""In Chromium: a read-only permalink (/d/<slug>) cannot be changed from the keyboard, the inspector, the
findings or the Check tab, and sends no save; the revision stays as it was saved."""

from __future__ import annotations

import copy

import pytest

from editor.models import Revision, save_revision
from tests.e2e.test_analysis_views import HOSTILE, ONE_SIDED, wait_analysed

pytestmark = pytest.mark.e2e


def test_a_read_only_permalink_changes_nothing(open_editor):
    revision = save_revision(copy.deepcopy(ONE_SIDED))  # its egress-locked workload has a finding with a fix
    editor, watch = open_editor(f"/d/{revision.slug}")
    page = editor.page
    wait_analysed(editor, "lint")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" and "/api/documents" in r.url else None)
    before, placed = editor.graph(), editor.positions()

    node = editor.element_for(HOSTILE)
    editor.click_element(node)
    page.wait_for_selector("#inspector .panel-kicker")
    assert page.locator("#inspector input:not([disabled]), #inspector textarea:not([disabled])").count() == 0
    assert page.locator("#inspector button[type=submit]:not([disabled]), #inspector [data-action=delete]").count() == 0
    page.click("#tab-check")  # the Check tab's "show the edge" opens the same read-only inspector
    wait_analysed(editor, "check")
    page.locator("#check-flagged [data-show]").first.click()
    page.wait_for_selector("#inspector .panel-kicker:text('Edge')")
    assert page.locator("#inspector input:not([disabled]), #inspector [data-action=delete]").count() == 0
    page.locator("#cy").focus()
    for key in ("Delete", "Backspace", "n", "w", "Control+z", "Control+y", "Control+s"):
        page.keyboard.press(key)
    x, y = editor.node_point(node)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 150, y + 90, steps=5)
    page.mouse.up()
    page.wait_for_timeout(300)

    assert page.locator("#findings-list .finding").count() > 0  # findings are shown, without their fixes
    assert page.locator("#findings-list [data-fix]").count() == 0
    assert page.locator("#flows-button").count() == 0
    assert editor.graph() == before and editor.positions() == placed
    assert posts == []
    assert Revision.objects.get(pk=revision.pk).data == ONE_SIDED
    watch.assert_clean(page)
