"""In Chromium at 1024x768: whatever a person types into the inspector, at a person's speed (30-150 ms a key,
Tab between fields as fast), is what the drawing holds and what the panel shows (issue 10, finding 1).

Each field is applied when it is left, while the person already types into the next one; the network adds
250 ms to every request (Chromium's throttling), so answers arrive mid-word. No answer may overwrite the field
being typed into, drop a field typed meanwhile or apply changes out of order -- in any panel.
"""

from __future__ import annotations

import pytest
from conftest import SMALL
from editor_page import EditorPage, Person, slow_network

from editor.models import save_revision

pytestmark = pytest.mark.e2e

TWO_WORKLOADS = {
    "schema": "fenceline/v1",
    "name": "two workloads",
    "settings": {"dialect": "native"},
    "namespaces": [{"name": "shop", "labels": {"kubernetes.io/metadata.name": "shop"}, "position": {"x": 0, "y": 0}}],
    "nodes": [
        {
            "id": "web",
            "kind": "workload",
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web"},
            "position": {"x": -150, "y": 0},
        },
        {
            "id": "api",
            "kind": "workload",
            "name": "api",
            "namespace": "shop",
            "labels": {"app": "api"},
            "position": {"x": 150, "y": 0},
        },
    ],
    "edges": [{"id": "e1", "source": "web", "target": "api", "ports": []}],
}


def start(open_editor, path: str = "/") -> tuple[EditorPage, Person, object]:
    editor, watch = open_editor(path, viewport=SMALL)
    slow_network(editor.page)
    return editor, Person(editor.page), watch


def add_namespace(editor: EditorPage, person: Person, name: str, labels: str) -> None:
    editor.page.click("#palette [data-add=namespace]")
    editor.wait_focus_in_panel("name")
    person.type(name)
    person.press("Tab")
    person.type(labels)
    person.press("Tab")


def add_workload(editor: EditorPage, person: Person, name: str, labels: str, port_name: str, port: str) -> None:
    editor.page.click("#palette [data-add=workload]")
    editor.wait_focus_in_panel("name")
    person.type(name)
    person.press("Tab", "Tab", "Tab", "Control+a")  # past namespace and kind, into the labels
    person.type(labels)
    person.press("Tab")
    person.type(port_name)
    person.press("Tab")
    person.type(port)
    person.press("Tab")


def test_fast_typing_in_the_namespace_and_workload_panels_keeps_every_keystroke(open_editor):
    editor, person, watch = start(open_editor)
    add_namespace(editor, person, "shop", "team=shop")
    add_workload(editor, person, "cart", "app=cart,tier=web", "http", "8080")
    editor.wait_idle()

    doc = editor.doc()
    assert [(ns["name"], ns["labels"]) for ns in doc["namespaces"]] == [
        ("shop", {"kubernetes.io/metadata.name": "shop", "team": "shop"})
    ]
    cart = editor.doc_node("cart")
    assert cart["namespace"] == "shop"
    assert cart["labels"] == {"app": "cart", "tier": "web"}
    assert cart["containerPorts"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    panel = editor.page.locator("#inspector")
    assert panel.locator("[name=name]").input_value() == "cart"
    assert panel.locator("[name=labels]").input_value() == "app=cart\ntier=web"
    assert panel.locator("[name='cport-0-name']").input_value() == "http"
    assert panel.locator("[name='cport-0-port']").input_value() == "8080"
    assert panel.locator(".field-error, .panel-problems").count() == 0
    watch.assert_clean(editor.page)


def test_fast_typing_in_the_selector_panel_keeps_every_keystroke(open_editor):
    editor, person, watch = start(open_editor)
    add_namespace(editor, person, "shop", "")
    editor.page.click("#palette [data-add=selector]")
    editor.wait_focus_in_panel("name")
    person.type("batch jobs")
    person.press("Tab", "Tab", "Tab")  # past the namespace and the namespace labels, into the pod labels
    person.type("role=batch,team=data")
    person.press("Tab", "Tab")  # past "deny ingress", onto "deny egress"
    person.press("Space")
    person.press("Tab")
    person.type("batch-egress")
    person.press("Tab")
    editor.wait_idle()

    [selector] = [n for n in editor.doc()["nodes"] if n["kind"] == "selector"]
    assert selector["name"] == "batch jobs"
    assert selector["podSelector"] == {"matchLabels": {"role": "batch", "team": "data"}}
    assert selector["isolate"] == {"ingress": False, "egress": True}
    assert selector["policyName"] == "batch-egress"
    assert editor.page.locator("#inspector [name=policy_name]").input_value() == "batch-egress"
    watch.assert_clean(editor.page)


def test_fast_typing_of_an_edge_port_range_keeps_both_ends(open_editor):
    revision = save_revision(TWO_WORKLOADS)
    editor, person, watch = start(open_editor, f"/d/{revision.slug}/edit")
    editor.click_element("e:e1")
    editor.page.click("#inspector [name='port-0-port']")
    person.type("8443")
    person.press("Tab")
    person.type("8450")
    person.press("Tab")
    editor.wait_idle()
    editor.page.click("#inspector [name='port-1-port']")  # the row added for one more port
    person.type("9000")
    person.press("Tab")
    editor.wait_idle()

    [edge] = editor.doc()["edges"]
    assert edge["ports"] == [{"protocol": "TCP", "port": 8443, "endPort": 8450}, {"protocol": "TCP", "port": 9000}]
    panel = editor.page.locator("#inspector")
    assert panel.locator("[name='port-0-port']").input_value() == "8443"
    assert panel.locator("[name='port-0-end_port']").input_value() == "8450"
    assert panel.locator("[name='port-1-port']").input_value() == "9000"
    assert panel.locator(".field-error, .panel-problems").count() == 0
    watch.assert_clean(editor.page)
