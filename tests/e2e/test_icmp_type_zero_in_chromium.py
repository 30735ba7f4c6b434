"""In Chromium at 1024x768: a CiliumNetworkPolicy allowing ICMP `EchoReply`, typed into the import dialog, shows a
finding that names the edge and says Cilium lets every ICMPv4 type through it (FL026, cilium/cilium#41304); the
keyboard reaches the finding's Show button, which selects that edge. A hostile node name in the finding stays text.
"""

from __future__ import annotations

import pytest
from editor_page import Person

from editor.models import save_revision
from tests.e2e.test_analysis_views import wait_analysed
from tests.e2e.test_analysis_views_hostile import assert_nothing_injected

pytestmark = pytest.mark.e2e

SMALL = (1024, 768)
POLICY = """apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress: [{fromEndpoints: [{matchLabels: {app: web}}], icmps: [{fields: [{type: EchoReply}]}]}]
"""
HOSTILE = "<img src=x onerror=alert(7)>"


def focused(page) -> str:
    return page.evaluate("(document.activeElement.textContent || document.activeElement.name || '').trim()")


def test_an_echo_reply_rule_typed_into_the_import_shows_its_edge_allows_every_icmp_type(open_editor):
    editor, watch = open_editor("/", size=SMALL)
    page = editor.page
    person = Person(page)
    page.focus("#import-button")
    person.press("Enter")
    text = page.locator("#dialog textarea[name=text]")
    text.wait_for()
    text.focus()
    person.type(POLICY)
    for _ in range(4):  # past the file field to the Import button
        person.press("Tab")
        if focused(page) == "Import":
            break
    person.press("Enter")
    page.wait_for_selector("#dialog .panel-saved")
    person.press("Escape")
    wait_analysed(editor, "lint")

    (edge,) = editor.doc()["edges"]
    assert edge["icmps"] == [{"type": "EchoReply"}]
    finding = page.locator("#findings-list .finding", has_text="FL026")
    finding.wait_for()
    message = finding.locator(".finding-message").inner_text()
    assert message.startswith(f"Edge {edge['id']} (app=web (shop) -> app=db (shop)): EchoReply (type 0) is every")
    assert "every ICMPv4 type to Cilium" in message and "allows them all" in message
    assert "cilium/cilium#41304" in message and "echo replies alone" in message
    assert "finding-warning" in (finding.get_attribute("class") or "")

    show = finding.locator("button[data-show]")
    show.focus()  # the list is reached with Tab like any other; the button is where a person lands
    person.press("Enter")
    page.wait_for_function(
        "(id) => window.FencelineEditor.cy.$(':selected').map((e) => e.id()).includes(id)", arg=f"e:{edge['id']}"
    )
    assert "related" in (finding.get_attribute("class") or "")
    watch.assert_clean(page)


def test_a_hostile_node_name_in_the_finding_stays_text(open_editor):
    revision = save_revision(
        {
            "schema": "fenceline/v1",
            "settings": {"dialect": "cilium"},
            "namespaces": [{"name": "shop"}],
            "nodes": [
                {"id": "web", "kind": "workload", "namespace": "shop", "name": "web", "labels": {"app": "web"}},
                {"id": "odd", "kind": "selector", "namespace": "shop", "name": HOSTILE,
                 "podSelector": {"matchLabels": {"app": "odd"}}},
            ],
            "edges": [{"id": "ping", "source": "web", "target": "odd", "icmps": [{"family": "IPv4", "type": 0}]}],
        }
    )  # fmt: skip
    editor, watch = open_editor(f"/d/{revision.slug}/edit", size=SMALL)
    wait_analysed(editor, "lint")
    finding = editor.page.locator("#findings-list .finding", has_text="FL026").first
    finding.wait_for()
    message = finding.locator(".finding-message").inner_text()
    assert message.startswith(f"Edge ping (shop/web -> {HOSTILE} (shop)): type 0 is every ICMPv4 type to Cilium")
    assert_nothing_injected(editor.page)
    watch.assert_clean(editor.page)
