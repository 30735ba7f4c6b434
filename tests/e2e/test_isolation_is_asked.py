"""A change that newly isolates a workload says, in the page and before it is applied, which workloads lose
which traffic; the canvas shows each workload's isolation per direction, from locks and from edges (issue 10,
finding 3). The losses are the analyser's (editor/policy/isolation.py): a pod isolated for egress keeps only the
egress its policies allow (`kubernetes/api` networking/v1 types.go, NetworkPolicySpec.policyTypes)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def label(editor: Any, name: str) -> str:
    return editor.page.evaluate(f"fencelineCy.getElementById('{editor.element_for(name)}').data('label')")


def losses_asked(editor: Any) -> list[str]:
    editor.page.wait_for_function("() => document.getElementById('app').dataset.isolation === 'asking'")
    assert editor.page.locator("#dialog").evaluate("d => d.open")
    return editor.page.locator("#dialog .isolation-list li").all_inner_texts()


def open_dns_template(editor: Any) -> None:
    editor.page.click("#templates-menu summary")
    editor.page.click("#templates-menu [data-template='dns']")
    editor.page.wait_for_selector("#inspector .panel-kicker:text('Template')")
    editor.page.select_option("#inspector [name='scope']", "")  # every namespace
    editor.page.locator("#inspector button[type=submit]").focus()
    editor.page.keyboard.press("Enter")


def test_a_template_that_isolates_egress_says_what_is_lost_first_and_the_canvas_shows_isolation(open_editor):
    editor, _ = open_editor("/", size=(1024, 768))
    page = editor.page
    editor.add_namespace("frontend")
    editor.add_workload("web")
    editor.add_namespace("backend")
    editor.add_workload("api")
    editor.close_panel()
    assert "isolated" not in label(editor, "api")

    # Drawing web -> api isolates web's egress and api's ingress: asked first, applied with Enter.
    page.locator("#cy").focus()
    page.keyboard.press("f")  # fit the drawing to the canvas
    page.click("#draw-toggle")
    (x1, y1), (x2, y2) = editor.node_point(editor.element_for("web")), editor.node_point(editor.element_for("api"))
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move((x1 + x2) / 2, (y1 + y2) / 2, steps=8)
    page.mouse.move(x2, y2, steps=8)
    page.wait_for_timeout(250)
    page.mouse.up()
    asked = losses_asked(editor)
    assert "frontend/web can no longer reach Any IP address (all ports)" in asked
    assert any(text.startswith("backend/api can no longer be reached from Any IP address") for text in asked)
    page.keyboard.press("Enter")  # "Apply anyway" has the focus
    page.wait_for_selector("#inspector .panel-kicker:text('Edge')")
    page.click("#draw-toggle")
    editor.wait_compiled()
    assert label(editor, "web").endswith("\u2298 isolated: out by edges")
    assert label(editor, "api").endswith("\u2298 isolated: in by edges")

    # "Allow DNS" for every namespace isolates api's egress: api loses the outside. Escape changes nothing.
    open_dns_template(editor)
    asked = losses_asked(editor)
    assert page.inner_text("#dialog-title") == "This change isolates 1 workload"
    assert asked == ["backend/api can no longer reach Any IP address, frontend/web (all ports)"]
    page.keyboard.press("Escape")
    editor.wait_compiled()
    assert "cluster DNS" not in [lbl.split("\n")[0] for _, lbl, _ in editor.graph()["nodes"]]
    assert label(editor, "api").endswith("\u2298 isolated: in by edges")

    open_dns_template(editor)
    losses_asked(editor)
    page.click("#dialog [data-isolation=apply]")
    editor.wait_compiled()
    assert "cluster DNS" in [lbl.split("\n")[0] for _, lbl, _ in editor.graph()["nodes"]]
    assert label(editor, "api").endswith("\u2298 isolated: in by edges, out by edges")
    api = next(p for p in editor.policies() if p["metadata"]["name"] == "api")
    assert api["spec"]["policyTypes"] == ["Ingress", "Egress"]
