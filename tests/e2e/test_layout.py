"""In Chromium at 1024x768, from rendered bounding boxes: new nodes go to free space, namespace boxes never
overlap, two workloads of one namespace leave room for the edge between them and its port label, a node added
by a template does not land on an edge, labels are neither repeated nor spill out of their box, and every
label is at least 11 px on screen at the zoom the editor opens with (issue 10, finding 8)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from conftest import SMALL
from editor_page import EditorPage, Person

from editor.models import save_revision

pytestmark = pytest.mark.e2e

TALK_APP = json.loads((Path(__file__).parent.parent / "fixtures" / "documents" / "talk-app.json").read_text())

RENDERED = """() => {
  const box = (b) => ({x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2});
  const cy = fencelineCy;
  return {
    zoom: cy.zoom(),
    namespaces: cy.nodes('[kind = "namespace"]').map(n => [n.id(), box(n.renderedBoundingBox({includeLabels: true}))]),
    nodes: cy.nodes().filter(n => n.data('kind') !== 'namespace').map(n => ({
      id: n.id(), label: n.data('label'), box: box(n.renderedBoundingBox({includeLabels: false})),
      withLabel: box(n.renderedBoundingBox({includeLabels: true})), fontSize: parseFloat(n.style('font-size')),
      free: !n.isChild()})),
    edges: cy.edges().map(e => ({id: e.id(), source: e.source().id(), target: e.target().id(),
      from: e.source().renderedPosition(), to: e.target().renderedPosition(),
      label: box(e.renderedBoundingBox({includeEdges: false, includeLabels: true})),
      fontSize: parseFloat(e.style('font-size'))})),
  };
}"""


def overlaps(a: dict, b: dict) -> bool:
    return a["x1"] < b["x2"] and b["x1"] < a["x2"] and a["y1"] < b["y2"] and b["y1"] < a["y2"]


def crosses(p: dict, q: dict, box: dict) -> bool:
    """Does the segment p-q cross the box? (sampled finely: boxes are tens of pixels, segments hundreds)"""
    return any(
        box["x1"] <= p["x"] + (q["x"] - p["x"]) * t / 200 <= box["x2"]
        and box["y1"] <= p["y"] + (q["y"] - p["y"]) * t / 200 <= box["y2"]
        for t in range(201)
    )


def assert_well_laid_out(editor: EditorPage) -> dict:
    shown = editor.page.evaluate(RENDERED)
    boxes = shown["namespaces"] + [(n["id"], n["withLabel"]) for n in shown["nodes"] if n["free"]]
    clashes = [(a, b) for i, (a, abox) in enumerate(boxes) for b, bbox in boxes[i + 1 :] if overlaps(abox, bbox)]
    assert clashes == []
    for node in shown["nodes"]:
        lines = node["label"].split("\n")
        assert len(set(lines)) == len(lines), f"repeated label {node['label']!r}"
        spill = [node["withLabel"][k] - node["box"][k] for k in ("x1", "y1", "x2", "y2")]
        assert max(abs(d) for d in spill) < 1, f"the label of {node['id']} spills out of its box"
        assert node["fontSize"] * shown["zoom"] >= 11, node["id"]
        for edge in shown["edges"]:
            if node["id"] not in (edge["source"], edge["target"]):
                assert not crosses(edge["from"], edge["to"], node["box"]), f"{edge['id']} runs over {node['id']}"
    for edge in shown["edges"]:
        assert edge["fontSize"] * shown["zoom"] >= 11, edge["id"]
    return shown


def add_named(editor: EditorPage, person: Person, kind: str, name: str) -> None:
    editor.page.click(f"#palette [data-add={kind}]")
    editor.wait_focus_in_panel("name")
    person.type(name)
    person.press("Enter")
    editor.wait_idle()


def test_new_nodes_go_to_free_space_and_leave_room_for_edges(open_editor):
    editor, watch = open_editor("/", viewport=SMALL)
    page, person = editor.page, Person(editor.page)
    add_named(editor, person, "namespace", "shop")
    add_named(editor, person, "namespace", "payments")
    add_named(editor, person, "workload", "api")
    add_named(editor, person, "workload", "ledger")
    assert_well_laid_out(editor)

    page.locator("#cy").focus()
    for _ in range(10):  # the arrow keys, until the live region names api
        person.press("ArrowDown")
        if page.inner_text("#graph-status").startswith("Workload api"):
            break
    person.press("c")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'connect-target'")
    person.type("ledger")
    person.press("Enter")
    editor.accept_isolation_by_keyboard(person, then="#inspector .panel-kicker:text-is('Edge')")
    editor.page.click("#inspector [name='port-0-port']")
    person.type("8443")
    person.press("Tab")
    editor.wait_idle()
    shown = assert_well_laid_out(editor)
    [edge] = shown["edges"]
    ends = {n["id"]: n["box"] for n in shown["nodes"]}
    assert not overlaps(edge["label"], ends[edge["source"]]) and not overlaps(edge["label"], ends[edge["target"]])
    gap = max(
        ends[edge["target"]]["x1"] - ends[edge["source"]]["x2"], ends[edge["source"]]["x1"] - ends[edge["target"]]["x2"]
    )
    assert gap >= 100, "the two workloads sit too close for their edge"

    editor.use_template("default-deny", scope="payments")
    assert_well_laid_out(editor)
    add_named(editor, person, "namespace", "billing")
    add_named(editor, person, "cidr", "office")
    assert_well_laid_out(editor)
    watch.assert_clean(page)


def test_the_editor_opens_readable_without_repeated_or_spilling_labels(open_editor):
    document = copy.deepcopy(TALK_APP)
    for item in document["namespaces"] + document["nodes"]:
        item.pop("position", None)  # laid out by the browser, as after an import
    document["nodes"].append({"id": "office", "kind": "cidr", "name": "10.0.0.0/24", "cidr": "10.0.0.0/24"})
    document["nodes"].append(
        {
            "id": "batch",
            "kind": "workload",
            "name": "nightly-invoice-reconciliation-exporter",
            "namespace": "backend",
            "labels": {"app": "batch"},
            "isolate": {"ingress": True, "egress": True},
        }
    )
    document["edges"].append(
        {"id": "e9", "source": "api", "target": "office", "ports": [{"protocol": "TCP", "port": 443}]}
    )
    revision = save_revision(document)
    editor, watch = open_editor(f"/d/{revision.slug}/edit", viewport=SMALL)
    shown = editor.page.evaluate(RENDERED)
    assert shown["zoom"] >= 11 / 12
    office = next(n for n in shown["nodes"] if n["id"] == "n:office")
    assert office["label"] == "10.0.0.0/24\nIP range"
    for node in shown["nodes"]:
        lines = node["label"].split("\n")
        assert len(set(lines)) == len(lines)
        spill = [node["withLabel"][k] - node["box"][k] for k in ("x1", "y1", "x2", "y2")]
        assert max(abs(d) for d in spill) < 1, f"the label of {node['id']} spills out of its box"
        assert node["fontSize"] * shown["zoom"] >= 11
    assert all(edge["fontSize"] * shown["zoom"] >= 11 for edge in shown["edges"])
    watch.assert_clean(editor.page)
