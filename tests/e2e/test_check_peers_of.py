"""In Chromium: the Check tab's "peers of X" shows X's row and column against everyone (issue 13).

With more peers than the matrix shows at once, the name filter alone narrows rows and columns together (typing
one workload's name leaves a matrix of that name's matches only); ticking "peers of it" puts that peer's row and
column first, against every other peer, and leaves the cells between two other peers empty.
"""

from __future__ import annotations

import pytest

from editor.models import save_revision
from tests.e2e.test_analysis_views import wait_analysed
from tests.large_drawing import large_drawing

pytestmark = pytest.mark.e2e


def test_peers_of_one_workload_against_everyone(open_editor):
    revision = save_revision(large_drawing(60, 120, namespaces=3))
    editor, _ = open_editor(f"/d/{revision.slug}/edit", size=(1024, 768))
    page = editor.page
    page.set_default_timeout(60_000)
    page.click("#tab-check")
    wait_analysed(editor, "check")

    page.locator("#check-filter").click()
    page.keyboard.type("team-01/db", delay=50)
    rows = page.locator("#check-matrix th.matrix-row")
    assert 1 <= rows.count() <= 3 and all("team-01/db" in text for text in rows.all_inner_texts())
    narrowed_columns = page.locator("#check-matrix th.matrix-col").count()
    assert narrowed_columns == rows.count()

    page.locator("#check-peers-of").check()
    rows = page.locator("#check-matrix th.matrix-row")
    assert rows.count() == 40  # everyone, as far as the matrix shows at once
    assert "team-01/db" in rows.first.inner_text()
    focus = page.locator("#check-matrix th.matrix-row").first.get_attribute("title")
    first_row = page.locator("#check-matrix tbody tr").first
    assert first_row.locator("button").count() == 39  # against every column but itself
    assert all(b.get_attribute("title").startswith(focus + " \u2192 ") for b in first_row.locator("button").all())
    second_row = page.locator("#check-matrix tbody tr").nth(1)
    assert second_row.locator("button").count() == 1  # only the cell towards the focused peer
    assert f" \u2192 {focus}: " in second_row.locator("button").get_attribute("title")
    assert second_row.locator("td.matrix-other").count() == 39

    page.locator("#check-peers-of").uncheck()
    assert page.locator("#check-matrix th.matrix-col").count() == narrowed_columns
