"""In Chromium at 1024x768 (issue 15): the drawing's layers in the editor.

The platform team's Admin and Baseline tiers are drawn apart from the application's edges, locked until the person
opens the platform layer, shown or hidden per layer (remembered in the browser); an application edge that a
platform rule overrides is drawn as not in effect with the reason; the Check matrix marks which tier decided each
cell. Built as a person does: clicks, the keyboard, typing at a person's speed.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from conftest import SMALL
from editor_page import EditorPage, Person, slow_network
from test_inspector_typing import TWO_WORKLOADS

from editor.models import save_revision

pytestmark = pytest.mark.e2e

# web -> api (all ports), an application edge: the drawing of the inspector typing tests.
SHOP = copy.deepcopy(TWO_WORKLOADS)


def admin_deny(edge_id: str, source: str, target: str, priority: int) -> dict[str, Any]:
    """An Admin tier Deny of all ports, the source's egress rule."""
    rule = {"id": edge_id, "source": source, "target": target, "ports": [], "enforce": ["source"]}
    return {**rule, "action": "deny", "layer": "admin", "priority": priority}


# The same with the platform team's rules: every namespace may not reach the metadata service (Admin deny), and
# web may not reach api (Admin deny, priority 5).
PLATFORM = copy.deepcopy(SHOP)
PLATFORM["nodes"] += [
    {
        "id": "everyone",
        "kind": "selector",
        "name": "every namespace",
        "namespaceSelector": {},
        "isolate": {"ingress": False, "egress": False},
        "layer": "admin",
        "position": {"x": -150, "y": 260},
    },
    {
        "id": "metadata",
        "kind": "cidr",
        "cidr": "169.254.169.254/32",
        "layer": "admin",
        "position": {"x": 150, "y": 260},
    },
]
PLATFORM["edges"] += [
    admin_deny("no-metadata", "everyone", "metadata", 10),
    admin_deny("no-web-to-api", "web", "api", 5),
]


def open_drawing(open_editor: Any, data: dict[str, Any]) -> tuple[EditorPage, Person, Any]:
    revision = save_revision(data)
    editor, watch = open_editor(f"/d/{revision.slug}/edit", viewport=SMALL)
    return editor, Person(editor.page), watch


def edge_state(editor: EditorPage, element_id: str) -> dict[str, Any]:
    return editor.page.evaluate(
        """(id) => { const e = fencelineCy.getElementById(id);
            return {classes: e.classes(), reason: e.data('reason') || '', label: e.data('label'),
                    visible: e.visible(), opacity: Number(e.style('opacity'))}; }""",
        element_id,
    )


def open_platform_layer(editor: EditorPage, person: Person) -> None:
    """Turn on "Edit platform layer" from the keyboard: Tab reaches it; Enter presses it."""
    editor.page.locator("#layers-menu summary").focus()
    person.press("Tab")
    assert editor.page.evaluate("document.activeElement.id") == "platform-edit"
    person.press("Enter")
    assert editor.page.get_attribute("#platform-edit", "aria-pressed") == "true"


def choose(editor: EditorPage, person: Person, name: str, label: str) -> None:
    """Pick an option of the inspector's select `name` from the keyboard, and wait for the server's answer."""
    with editor.panel_swap():
        editor.panel_field(name).focus()
        editor.panel_field(name).select_option(label=label)
        person.press("Tab")
    editor.wait_idle()


def test_an_application_edge_the_admin_deny_overrides_is_shown_not_in_effect_with_the_reason(open_editor):
    """The Must-show of issue 15: a platform layer with an Admin deny and a Baseline deny, drawn through the page;
    the application edge web -> api that the Admin deny overrides is drawn as not in effect and says why."""
    editor, person, watch = open_drawing(open_editor, SHOP)
    slow_network(editor.page)  # answers arrive while the person types on
    assert "overridden" not in edge_state(editor, "e:e1")["classes"]
    assert editor.page.get_attribute("#platform-edit", "aria-pressed") == "false"
    open_platform_layer(editor, person)

    # The Baseline deny: the platform team's template "default deny unless an application allows".
    editor.use_template("platform-default-deny")
    # The Admin deny: an edge drawn from web to api, then made a platform rule in the inspector.
    new = editor.drag_edge("n:web", "n:api")
    choose(editor, person, "layer", "Platform: Admin tier")
    choose(editor, person, "rule_action", "Deny")
    editor.panel_field("priority").click()
    person.type("5")
    person.press("Tab")
    assert editor.page.evaluate("document.activeElement.name") == "rule_name"
    person.type("no-web-to-api")
    person.press("Tab")
    editor.wait_idle()

    [rule] = [e for e in editor.doc()["edges"] if e["id"] == new[2:]]
    assert (rule["layer"], rule["action"], rule["priority"], rule["name"]) == ("admin", "deny", 5, "no-web-to-api")
    tiers = {(p["kind"], p["spec"]["tier"]) for p in editor.policies() if p["kind"] == "ClusterNetworkPolicy"}
    assert tiers == {("ClusterNetworkPolicy", "Admin"), ("ClusterNetworkPolicy", "Baseline")}

    # On the canvas: faded, dashed, "not in effect" in its label, the reason on the edge.
    reason = "Not in effect: ClusterNetworkPolicy 'web' (Admin tier, priority 5) denies it by Egress rule no-web-to-api"
    shown = edge_state(editor, "e:e1")
    assert "overridden" in shown["classes"] and shown["reason"] == reason
    assert shown["opacity"] < 1
    assert editor.page.evaluate("fencelineCy.getElementById('e:e1').style('label')").endswith("not in effect")
    platform_rule = edge_state(editor, new)
    assert {"platform", "layer-admin", "action-deny"} <= set(platform_rule["classes"])
    assert platform_rule["label"].startswith("Admin deny")
    # Told apart without colour: the tier by its line, the action by its arrow head (and the label's words).
    look = "(id) => ['line-style', 'target-arrow-shape'].map(p => fencelineCy.getElementById(id).style(p))"
    assert editor.page.evaluate(look, new) == ["solid", "tee"]
    assert editor.page.evaluate(look, "e:deny-all-egress") == ["dashed", "tee"]
    assert edge_state(editor, "e:deny-all-egress")["label"].startswith("Baseline deny")
    assert editor.page.locator(".legend [data-layer-legend=overridden]").is_visible()

    # Its tooltip, its spoken name, and its inspector say why.
    editor.close_panel_if_open()
    x, y = editor.edge_point("e:e1")
    editor.page.mouse.move(x, y)
    editor.page.wait_for_selector("#canvas-tip:not([hidden])")
    assert editor.page.inner_text("#canvas-tip") == reason
    assert reason in editor.page.inner_text("#graph-options")
    editor.page.mouse.click(x, y)
    editor.page.wait_for_selector("#inspector #not-in-effect")
    assert reason in editor.page.inner_text("#inspector #not-in-effect")
    watch.assert_clean(editor.page)


def test_the_platform_layer_is_locked_until_the_person_opens_it(open_editor):
    editor, person, watch = open_drawing(open_editor, PLATFORM)
    before = editor.doc()

    # A platform rule can be selected and read, not edited or deleted.
    editor.click_element("e:no-metadata")
    editor.page.wait_for_selector("#inspector .layer-lock-note")
    assert "Edit platform layer" in editor.page.inner_text("#inspector .layer-lock-note")
    assert editor.panel_field("priority").input_value() == "10" and editor.panel_field("priority").is_disabled()
    assert editor.panel_field("rule_action").is_disabled() and editor.panel_field("layer").is_disabled()
    assert editor.page.locator("#inspector [data-action=delete]").count() == 0
    editor.page.locator("#cy").focus()
    person.press("Delete")
    assert "Locked" in editor.page.inner_text("#toast")
    assert edge_state(editor, "e:no-metadata")["visible"]

    # Deleting the application node a platform rule is drawn from would take the rule away: refused too.
    editor.click_element("n:web")
    editor.page.wait_for_selector("#inspector .panel-kicker:text('Workload')")
    editor.page.locator("#cy").focus()
    person.press("Delete")
    assert "Deleting this would take it away too" in editor.page.inner_text("#toast")
    assert editor.doc() == before

    # Its nodes cannot be moved, nor connected from (keyboard or mouse).
    editor.click_element("n:everyone")
    editor.page.wait_for_selector("#inspector .layer-lock-note")
    assert editor.page.locator("#inspector form.connect").count() == 0
    start = editor.positions()["n:everyone"]
    x, y = editor.node_point("n:everyone")
    editor.page.mouse.move(x, y)
    editor.page.mouse.down()
    editor.page.mouse.move(x + 60, y + 40, steps=6)
    editor.page.mouse.up()
    assert editor.positions()["n:everyone"] == start
    editor.close_panel()
    edges = len(editor.edge_ids())
    editor.page.click("#draw-toggle")
    x2, y2 = editor.node_point("n:api")
    editor.page.mouse.move(x, y)
    editor.page.mouse.down()
    editor.page.mouse.move(x2, y2, steps=8)
    editor.page.wait_for_timeout(250)
    editor.page.mouse.up()
    editor.page.click("#draw-toggle")
    assert len(editor.edge_ids()) == edges

    # An application edge cannot be moved into the platform layer, and the platform templates are not offered.
    editor.click_element("e:e1")
    editor.page.wait_for_selector("#inspector .panel-kicker:text('Edge')")
    disabled = editor.page.eval_on_selector_all(
        "#inspector select[name=layer] option", "options => options.map(o => [o.value, o.disabled])"
    )
    assert disabled == [["application", False], ["admin", True], ["baseline", True]]
    editor.page.click("#templates-menu summary")
    assert editor.page.locator("#templates-menu [data-template='platform-no-metadata']").is_disabled()
    editor.page.click("#templates-menu summary")
    assert editor.doc() == before

    # The note's button opens the platform layer (from the keyboard): the rule can now be edited.
    editor.click_element("e:no-metadata")
    editor.page.wait_for_selector("#inspector .layer-lock-note")
    editor.page.locator("#inspector [data-open-platform]").focus()
    with editor.panel_swap():
        person.press("Enter")
    editor.page.wait_for_selector("#inspector [name=priority]:not([disabled])")
    assert editor.page.locator("#inspector .layer-lock-note").count() == 0
    assert editor.page.evaluate("document.activeElement.name") == "layer"  # the keyboard goes on in the panel
    editor.panel_field("priority").click()
    person.press("Control+a")
    person.type("20")
    person.press("Tab")
    editor.wait_idle()
    [rule] = [e for e in editor.doc()["edges"] if e["id"] == "no-metadata"]
    assert rule["priority"] == 20

    # A priority out of range is refused with a clear error, the drawing unchanged.
    editor.panel_field("priority").click()
    person.press("Control+a")
    person.type("1001")
    person.press("Tab")
    editor.wait_idle()
    assert "from 0 to 1000" in editor.page.inner_text("#inspector .field-error")
    assert editor.panel_field("priority").input_value() == "1001"  # what the person typed stays
    assert next(e for e in editor.doc()["edges"] if e["id"] == "no-metadata")["priority"] == 20

    # Pass is the Admin tier's: a Baseline rule that passes is refused, with the reason beside the field.
    editor.panel_field("priority").click()
    person.press("Control+a")
    person.type("30")
    person.press("Tab")
    editor.wait_idle()
    choose(editor, person, "rule_action", "Pass (Admin tier only)")
    choose(editor, person, "layer", "Platform: Baseline tier")
    assert "Pass is an Admin tier action" in editor.page.inner_text("#inspector .field-error")
    rule = next(e for e in editor.doc()["edges"] if e["id"] == "no-metadata")
    assert (rule["layer"], rule["action"], rule["priority"]) == ("admin", "pass", 30)
    assert "action-pass" in edge_state(editor, "e:no-metadata")["classes"]
    watch.assert_clean(editor.page)


def test_the_layers_shown_are_remembered_in_this_browser(open_editor):
    editor, person, watch = open_drawing(open_editor, PLATFORM)
    assert edge_state(editor, "e:no-metadata")["visible"]
    editor.page.click("#layers-menu summary")
    editor.page.locator("[data-layer-show=admin]").focus()
    person.press("Space")
    assert not editor.page.locator("[data-layer-show=admin]").is_checked()
    assert not edge_state(editor, "e:no-metadata")["visible"]
    assert not edge_state(editor, "e:no-web-to-api")["visible"]
    assert edge_state(editor, "e:e1")["visible"]
    assert not editor.page.evaluate("fencelineCy.getElementById('n:everyone').visible()")
    assert "every namespace" not in editor.page.inner_text("#graph-options")
    person.press("Escape")
    assert not editor.page.locator("#layers-menu").evaluate("menu => menu.open")

    editor.page.reload()
    editor.page.wait_for_selector("#app[data-ready='1']")
    editor.wait_compiled()
    assert not editor.page.locator("[data-layer-show=admin]").is_checked()
    assert not edge_state(editor, "e:no-metadata")["visible"]

    editor.page.click("#layers-menu summary")
    editor.page.click("[data-layer-show=application]")
    editor.page.click("[data-layer-show=admin]")
    assert editor.page.locator("[data-layer-show=admin]").is_checked()
    assert not editor.page.locator("[data-layer-show=application]").is_checked()
    assert edge_state(editor, "e:no-metadata")["visible"], edge_state(editor, "e:no-metadata")
    assert not edge_state(editor, "e:e1")["visible"]
    assert not editor.page.evaluate("fencelineCy.getElementById('ns:shop').visible()")
    watch.assert_clean(editor.page)


def test_the_check_matrix_marks_which_tier_decided_each_cell(open_editor):
    editor, _person, watch = open_drawing(open_editor, PLATFORM)
    editor.page.click("#tab-check")
    editor.wait_compiled()
    editor.page.wait_for_function("() => document.getElementById('app').dataset.checkPending === '0'")
    cell = editor.page.locator("#check-matrix button[data-src='shop/web[Workload]'][data-dst='shop/api[Workload]']")
    assert cell.locator(".tier-mark").inner_text() == "A"
    title = cell.get_attribute("title")
    assert "decided by the Admin tier: ClusterNetworkPolicy 'web' (Admin tier) denies" in title
    assert cell.get_attribute("aria-label") == title
    reverse = editor.page.locator("#check-matrix button[data-src='shop/api[Workload]'][data-dst='shop/web[Workload]']")
    assert reverse.locator(".tier-mark").inner_text() in ("N", "D")
    cell.focus()
    editor.page.wait_for_selector("#check-cell .cell-tier")
    assert editor.page.inner_text("#check-cell .cell-tier").startswith("Decided by the Admin tier")
    assert json.loads(editor.page.evaluate("JSON.stringify(window.FencelineEditor.doc().edges.length)")) == 3
    watch.assert_clean(editor.page)


def test_the_drawing_settings_write_the_platform_layer_as_anp_and_banp(open_editor):
    editor, person, watch = open_drawing(open_editor, PLATFORM)
    assert {p["kind"] for p in editor.policies()} == {"NetworkPolicy", "ClusterNetworkPolicy"}
    editor.page.click("#doc-name")
    editor.page.wait_for_selector("#inspector [name=platform_api]")
    choose(editor, person, "platform_api", "AdminNetworkPolicy and BaselineAdminNetworkPolicy (v1alpha1)")
    assert editor.doc()["settings"]["platformApi"] == "v1alpha1"
    assert {p["kind"] for p in editor.policies()} == {"NetworkPolicy", "AdminNetworkPolicy"}
    watch.assert_clean(editor.page)


def test_a_node_moved_into_the_admin_tier_is_drawn_and_locked_as_the_platforms(open_editor):
    editor, person, watch = open_drawing(open_editor, SHOP)
    open_platform_layer(editor, person)
    editor.click_element("n:web")
    editor.page.wait_for_selector("#inspector .panel-kicker:text('Workload')")
    choose(editor, person, "layer", "Platform: Admin tier")
    assert editor.doc_node("web")["layer"] == "admin"
    node = "(id) => { const n = fencelineCy.getElementById(id); return [n.classes(), n.data('label'), n.grabbable()]; }"
    classes, label, grabbable = editor.page.evaluate(node, "n:web")
    assert "layer-admin" in classes and label.endswith("platform \u00b7 Admin tier") and grabbable
    assert editor.page.locator("#inspector [name=isolate_ingress]").count() == 0  # the locks are the application's

    editor.page.locator("#platform-edit").focus()
    with editor.panel_swap():
        person.press("Enter")  # lock it again: the open panel turns read-only
    assert editor.page.get_attribute("#platform-edit", "aria-pressed") == "false"
    editor.page.wait_for_selector("#inspector .layer-lock-note")
    assert editor.panel_field("name").is_disabled()
    assert editor.page.evaluate(node, "n:web")[2] is False
    watch.assert_clean(editor.page)
