"""In Chromium at 1024x768, keyboard only: the talk's application is built, saved and re-opened without the
mouse (issue 10, "must show"), and the drawing is usable from the keyboard and named for screen readers
(finding 6): Tab and the arrow keys move through it, Enter opens the inspector, "Connect to..." draws an edge.
Keys are pressed one at a time, 30-150 ms apart."""

from __future__ import annotations

import pytest
from conftest import SMALL
from editor_page import TALK_APP_PARENTS, EditorPage, Person

pytestmark = pytest.mark.e2e


def focused(page, selector: str) -> bool:
    return page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector)


def tab_to(page, person: Person, selector: str, limit: int = 80) -> None:
    """Press Tab until the control is focused, as a person tabs along the page to it."""
    for _ in range(limit):
        if focused(page, selector):
            return
        person.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def arrow_to(page, person: Person, spoken: str, limit: int = 40) -> None:
    """In the focused drawing, press the down arrow until the live region names the wanted item."""
    for _ in range(limit):
        person.press("ArrowDown")
        if page.inner_text("#graph-status").startswith(spoken):
            return
    raise AssertionError(f"the arrow keys never reached {spoken!r}")


def name_new_namespace(editor: EditorPage, person: Person, name: str) -> None:
    person.press("n")
    editor.wait_focus_in_panel("name")
    person.type(name)
    person.press("Enter")
    editor.wait_idle()
    person.press("Escape")


def fill_new_workload(editor: EditorPage, person: Person, name: str, port: str) -> None:
    person.press("w")
    editor.wait_focus_in_panel("name")
    person.type(name)
    person.press("Tab", "Tab", "Tab", "Control+a")
    person.type(f"app={name}")
    person.press("Tab")
    person.type("http")
    person.press("Tab")
    person.type(port)
    person.press("Tab")
    editor.wait_idle()
    person.press("Escape")


def use_template(editor: EditorPage, person: Person, template: str, scope_keys: str = "") -> None:
    page = editor.page
    tab_to(page, person, "#templates-menu summary")
    person.press("Enter")
    tab_to(page, person, f"#templates-menu [data-template='{template}']")
    person.press("Enter")
    editor.wait_focus_in_panel("scope")
    person.type(scope_keys)
    tab_to(page, person, "#inspector button[type=submit]")
    person.press("Enter")
    editor.accept_isolation_by_keyboard(person, then="#inspector .panel-saved")
    editor.wait_idle()
    person.press("Escape")


def test_the_talks_application_is_built_saved_and_reopened_by_keyboard_only(open_editor):
    editor, watch = open_editor("/", viewport=SMALL)
    page, person = editor.page, Person(editor.page)
    tab_to(page, person, "#cy")
    name_new_namespace(editor, person, "frontend")
    assert focused(page, "#cy")
    arrow_to(page, person, "Namespace frontend")
    fill_new_workload(editor, person, "web", "8080")
    name_new_namespace(editor, person, "backend")
    arrow_to(page, person, "Namespace backend")
    fill_new_workload(editor, person, "api", "9090")

    # Screen readers: the focused drawing points at an offscreen item that names what is selected.
    arrow_to(page, person, "Workload web in namespace frontend")
    active = page.get_attribute("#cy", "aria-activedescendant")
    spoken = page.inner_text(f"#{active}")
    assert spoken == "Workload web in namespace frontend, Deployment; 0 outgoing edges, 0 incoming edges"
    assert page.get_attribute(f"#{active}", "aria-selected") == "true"

    person.press("Enter")  # opens the inspector on it, ready to type
    editor.wait_focus_in_panel("name")
    assert page.locator("#inspector .panel-title").inner_text() == "web"
    person.press("Escape")
    assert focused(page, "#cy")
    arrow_to(page, person, "Workload web in namespace frontend")
    person.press("c")  # "Connect to..." in the inspector
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'connect-target'")
    person.type("api")
    person.press("Enter")
    editor.accept_isolation_by_keyboard(person, then="#inspector .panel-kicker:text-is('Edge')")
    editor.wait_idle()
    assert editor.panel_field("port-0-port").input_value() == "9090"  # the target's named port
    person.press("Escape")

    page.locator("#cy").focus()
    person.press("End", "Tab")  # Tab past the last item leaves the drawing: the keyboard is never trapped
    assert not focused(page, "#cy")
    use_template(editor, person, "dns")
    use_template(editor, person, "ingress-controller", scope_keys="frontend")

    graph = editor.graph()
    labels = {label.split("\n")[0]: parent for _, label, parent in graph["nodes"]}
    assert labels == TALK_APP_PARENTS
    assert len(graph["edges"]) == 4 and all(states == ["allowed"] for *_, states in graph["edges"])
    policies = {(p["metadata"]["namespace"], p["metadata"]["name"]): p["spec"] for p in editor.policies()}
    assert set(policies) == {("frontend", "web"), ("backend", "api")}
    assert {
        "ports": [{"port": 9090, "protocol": "TCP"}],
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "backend"}},
                "podSelector": {"matchLabels": {"app": "api"}},
            }
        ],
    } in policies[("frontend", "web")]["egress"]
    yaml_text = editor.yaml_text()

    page.locator("#cy").focus()
    person.press("Control+s")
    page.wait_for_selector("#revision-badge:not([hidden])")
    tab_to(page, person, "#revision-link")
    with page.expect_navigation():
        person.press("Enter")
    page.wait_for_selector("#app[data-ready='1']")
    editor.wait_compiled()
    assert page.locator("#edit-copy").is_visible()
    assert editor.graph() == graph
    assert editor.yaml_text() == yaml_text
    watch.assert_clean(page)
