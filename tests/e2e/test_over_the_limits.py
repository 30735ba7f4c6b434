"""In Chromium at 1024x768: a drawing that grows over the server's limits says so in the page, which limit and
the setting that raises it, instead of calling the drawing invalid (the 413 of /api/compile, editor/api.py
check_size)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SMALL

from editor.models import save_revision

pytestmark = pytest.mark.e2e

TALK_APP = json.loads((Path(__file__).parent.parent / "fixtures" / "documents" / "talk-app.json").read_text())


def test_a_drawing_over_the_node_limit_says_which_limit_and_setting(open_editor, settings):
    settings.FENCELINE_MAX_NODES = len(TALK_APP["nodes"])  # the drawing is at the limit: one more is over it
    revision = save_revision(TALK_APP)
    editor, watch = open_editor(f"/d/{revision.slug}/edit", size=SMALL)
    page = editor.page
    assert page.inner_text("#compile-status") == "2 policies"

    watch.expect_statuses(413)
    editor.add_namespace("extra")
    with editor.panel_swap():
        page.click("#palette [data-add=workload]")  # the fifth node
    editor.wait_compiled()

    # The inspector cannot show the new workload's panel and says why; so do the problems above the YAML.
    assert "more than the limit of 4 on this server" in page.inner_text("#inspector")
    assert page.inner_text("#compile-status") == "Over this server's limits"
    problem = page.locator("#issues .issue-error")
    assert problem.count() == 1 and problem.is_visible()
    assert problem.inner_text().split(" ", 1)[1] == (  # after the badge
        "The drawing has 5 nodes, more than the limit of 4 on this server: "
        "the limit is the setting FENCELINE_MAX_NODES."
    )
    assert "not valid" not in editor.yaml_text()
    assert "over this server's limits" in editor.yaml_text()
    assert "FENCELINE_MAX_NODES" in editor.yaml_text()
