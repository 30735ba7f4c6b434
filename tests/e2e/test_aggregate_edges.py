"""In Chromium at 1024x768: a collapsed drawing has one aggregate edge per pair of namespaces (issue 13).

Edges between two collapsed namespaces that go both ways are one aggregate edge: its label says how many edges
it stands for, that they go both ways, and their ports; zoomed in it has an arrow at each end; it takes the
colour of the worst state among the edges of both directions. A pair with edges one way only keeps one arrow.
"""

from __future__ import annotations

from typing import Any

import pytest

from editor.models import save_revision

pytestmark = pytest.mark.e2e

SIZE = (1024, 768)


def drawing() -> dict[str, Any]:
    """160 workloads (over collapse.js's LARGE) in namespaces a, b and c; edges a -> b (two, port 80),
    b -> a (one, port 443, enforced at its target only while its source is isolated: one-sided) and a -> c."""
    nodes = [
        {
            "id": f"{ns}.w{i}",
            "kind": "workload",
            "name": f"w{i}",
            "namespace": ns,
            "labels": {"app": f"w{i}"},
            "isolate": {"ingress": True, "egress": True},
        }
        for ns, count in (("a", 60), ("b", 60), ("c", 40))
        for i in range(count)
    ]
    tcp = lambda port: [{"protocol": "TCP", "port": port}]  # noqa: E731
    edges = [
        {"id": "ab1", "source": "a.w0", "target": "b.w0", "ports": tcp(80)},
        {"id": "ab2", "source": "a.w1", "target": "b.w1", "ports": tcp(80)},
        {"id": "ba1", "source": "b.w2", "target": "a.w2", "ports": tcp(443), "enforce": ["target"]},
        {"id": "ac1", "source": "a.w3", "target": "c.w0", "ports": tcp(5432)},
    ]
    namespaces = [{"name": ns} for ns in ("a", "b", "c")]
    return {"schema": "fenceline/v1", "name": "two ways", "namespaces": namespaces, "nodes": nodes, "edges": edges}


AGGREGATES = """() => fencelineCy.edges('.aggregate').map(e => ({
  ends: [e.source().id(), e.target().id()].sort(), label: e.data('label'), classes: e.classes(),
  sourceArrow: e.style('source-arrow-shape'), targetArrow: e.style('target-arrow-shape'),
  curve: e.style('curve-style')}))"""


def test_edges_both_ways_between_two_namespaces_are_one_aggregate_with_two_arrows(open_editor):
    revision = save_revision(drawing())
    editor, _ = open_editor(f"/d/{revision.slug}/edit", size=SIZE)
    page = editor.page
    editor.wait_compiled()
    assert page.evaluate("fencelineCy.nodes('.collapsed').length") == 3

    assert page.evaluate("fencelineCy.edges('.aggregate').length") == 2
    aggregates = {tuple(a["ends"]): a for a in page.evaluate(AGGREGATES)}
    assert sorted(aggregates) == [("ns:a", "ns:b"), ("ns:a", "ns:c")]
    both, one = aggregates[("ns:a", "ns:b")], aggregates[("ns:a", "ns:c")]
    assert both["label"] == "3 edges, both ways \u00b7 443, 80"
    assert one["label"] == "1 edge \u00b7 5432"
    # The worst state of either direction: b -> a is one-sided, a -> b allowed.
    assert "one-sided" in both["classes"] and "allowed" not in both["classes"]
    assert "allowed" in one["classes"]

    # From the keyboard (and read out), the two-way edge says so: Tab to the drawing, End goes to its last item,
    # the one-way edge, and the up arrow to the two-way one.
    for _ in range(40):
        if page.evaluate("document.activeElement.id") == "cy":
            break
        page.keyboard.press("Tab")
    page.keyboard.press("End")
    spoken = page.inner_text("#" + page.get_attribute("#cy", "aria-activedescendant"))
    assert spoken == "Edge from a to c, 1 edge \u00b7 5432"
    page.keyboard.press("ArrowUp")
    spoken = page.inner_text("#" + page.get_attribute("#cy", "aria-activedescendant"))
    assert spoken == "Edge from a to b, 3 edges, both ways \u00b7 443, 80"

    # Zoomed in, where their labels are drawn, they curve and show their direction: both ways, or one.
    for _ in range(6):
        page.keyboard.press("+")
    page.wait_for_function(
        "() => fencelineCy.edges('.aggregate').every(e => e.style('curve-style') === 'bezier')", timeout=10_000
    )
    aggregates = {tuple(a["ends"]): a for a in page.evaluate(AGGREGATES)}
    both, one = aggregates[("ns:a", "ns:b")], aggregates[("ns:a", "ns:c")]
    assert (both["sourceArrow"], both["targetArrow"]) == ("triangle", "triangle")
    assert (one["sourceArrow"], one["targetArrow"]) == ("none", "triangle")

    # A click on the two-way edge opens both of its namespaces.
    page.locator("[data-action=fit]").click()  # the whole drawing in view
    middle = page.evaluate(
        "fencelineCy.edges('.aggregate').filter(e => !e.connectedNodes('#ns\\\\:c').length)[0].renderedMidpoint()"
    )
    page.locator("#cy").click(position={"x": middle["x"], "y": middle["y"]})
    page.wait_for_function("() => fencelineCy.nodes('.collapsed').length === 1")
    assert page.evaluate("fencelineCy.nodes('.collapsed').map(n => n.data('name'))") == ["c"]


def test_a_two_way_aggregate_of_deny_rules_shows_the_deny_tee_at_both_ends(open_editor):
    """Admin tier Deny rules both ways between a and b: their aggregate's worst state is "deny", which a single
    edge shows by a tee at its target; zoomed in, the two-way aggregate shows it at both of its ends (it had a
    tee at one end and an allow triangle at the other)."""
    doc = drawing()
    deny = {"ports": [], "enforce": ["source"], "action": "deny", "layer": "admin", "priority": 5}
    doc["edges"] = [
        {"id": "ab", "source": "a.w0", "target": "b.w0", **deny},
        {"id": "ba", "source": "b.w1", "target": "a.w1", **deny},
    ]
    revision = save_revision(doc)
    editor, _ = open_editor(f"/d/{revision.slug}/edit", size=SIZE)
    page = editor.page
    editor.wait_compiled()
    (both,) = page.evaluate(AGGREGATES)
    assert "deny" in both["classes"], both
    page.locator("#cy").click(position={"x": 5, "y": 300})
    for _ in range(6):
        page.keyboard.press("+")
    page.wait_for_function(
        "() => fencelineCy.edges('.aggregate').every(e => e.style('curve-style') === 'bezier')", timeout=10_000
    )
    (both,) = page.evaluate(AGGREGATES)
    assert (both["sourceArrow"], both["targetArrow"]) == ("tee", "tee")
