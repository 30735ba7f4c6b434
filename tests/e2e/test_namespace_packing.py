"""In Chromium at 1024x768, from the rendered bounding boxes: whatever the editor lays out -- an import of a whole
application, opening a drawing without positions, Tidy, expanding a collapsed namespace -- ends with no two
namespace boxes overlapping and no namespace box over an outside-world peer; a node a person moved keeps its place
across a save and a reload (issue 13, point 4: "the layout never overlaps namespace boxes and keeps user
positions"). The application imported is the issue's finding: 300 Deployments in 15 namespaces, 534 edges. A saved
drawing whose boxes overlap opens with them apart, each namespace's workloads as they were saved."""

from __future__ import annotations

import pytest
from conftest import SMALL
from editor_page import EditorPage, Person
from test_layout import TALK_APP, assert_well_laid_out

from editor.models import save_revision
from editor.policy.importer.build import import_text
from tests.cluster_manifests import cluster_manifests

pytestmark = pytest.mark.e2e

# Every namespace box and every node outside a namespace (the outside-world peers), as Cytoscape draws them (a
# namespace's title is drawn at a constant size on screen, lod.js, so it is left out of its box).
BOXES = """() => {
  const cy = fencelineCy;
  const box = (n) => { const b = n.boundingBox({includeLabels: false});
    return {id: n.id(), x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2}; };
  return {
    boxes: cy.nodes().filter(n => n.data('kind') === 'namespace' || !n.isChild()).map(box),
    members: cy.nodes().filter(n => n.isChild()).map(n => Object.assign(box(n), {parent: n.parent().id()})),
  };
}"""


NEAREST_THE_MIDDLE = """() => {
  const cy = fencelineCy, mid = {x: cy.width() / 2, y: cy.height() / 2};
  const far = (n) => Math.hypot(n.renderedPosition().x - mid.x, n.renderedPosition().y - mid.y);
  return cy.nodes('.workload').sort((a, b) => far(a) - far(b))[0].id();
}"""


def overlapping(editor: EditorPage) -> list[tuple[str, str]]:
    """Pairs of boxes that overlap, and workloads that lie in a namespace box other than their own."""
    shown = editor.page.evaluate(BOXES)
    boxes, clashes = shown["boxes"], []

    def over(a: dict, b: dict) -> bool:
        return a["x1"] < b["x2"] and b["x1"] < a["x2"] and a["y1"] < b["y2"] and b["y1"] < a["y2"]

    for i, a in enumerate(boxes):
        clashes += [(a["id"], b["id"]) for b in boxes[i + 1 :] if over(a, b)]
    for member in shown["members"]:
        clashes += [(member["id"], b["id"]) for b in boxes if b["id"] != member["parent"] and over(member, b)]
    assert len(boxes) > 1
    return clashes


def import_through_the_dialog(editor: EditorPage, text: str) -> None:
    page = editor.page
    page.click("[data-action=import]")
    page.set_input_files(
        "#dialog [name=file]", {"name": "cluster.yaml", "mimeType": "application/yaml", "buffer": text.encode()}
    )
    page.click("#dialog button[type=submit]")
    page.wait_for_selector("#dialog .panel-saved")
    page.click("#dialog .panel-actions [data-action=close-dialog]")
    editor.wait_compiled()


def members(editor: EditorPage, namespace: str) -> int:
    return editor.page.evaluate("(ns) => fencelineCy.getElementById('ns:' + ns).children().length", namespace)


def tidy(editor: EditorPage) -> None:
    editor.page.click("[data-action=tidy]")
    editor.wait_compiled()


def test_an_imported_application_has_no_overlapping_namespaces_before_and_after_tidy(open_editor):
    editor, watch = open_editor("/", viewport=SMALL, timeout=60_000)
    import_through_the_dialog(editor, cluster_manifests(300, 534, 15))
    page = editor.page
    assert page.evaluate("fencelineCy.nodes('.namespace').length") == 15
    assert overlapping(editor) == []
    # Opened, every namespace's workloads are drawn in their own box.
    page.click("#expand-all")
    editor.wait_compiled()
    assert page.evaluate("fencelineCy.nodes('.workload').length") == 300
    assert overlapping(editor) == []
    tidy(editor)
    assert overlapping(editor) == []
    # One namespace collapsed again, then opened with a click on it.
    page.click("#collapse-all")
    editor.wait_compiled()
    editor.click_element("ns:shop-04")
    editor.wait_compiled()
    assert members(editor, "shop-04") == 20
    assert overlapping(editor) == []
    watch.assert_clean(page)


def test_a_medium_application_is_laid_out_without_overlaps_and_tidy_keeps_it_so(open_editor):
    # Below the size at which namespaces open collapsed: every workload is laid out on the canvas.
    editor, watch = open_editor("/", viewport=SMALL, timeout=60_000)
    import_through_the_dialog(editor, cluster_manifests(120, 214, 12))
    assert editor.page.evaluate("fencelineCy.nodes('.workload').length") == 120
    assert overlapping(editor) == []
    tidy(editor)
    assert overlapping(editor) == []
    tidy(editor)
    assert overlapping(editor) == []
    # A workload added to the packed drawing goes into its namespace's box without pushing it over another.
    page, person = editor.page, Person(editor.page)
    page.locator("#cy").focus()
    person.press("/")
    person.type("shop-05")
    person.press("Enter")
    page.click("#inspector [data-add=workload]")
    editor.wait_idle()
    assert members(editor, "shop-05") == 11
    assert overlapping(editor) == []
    watch.assert_clean(page)


def test_a_moved_workload_keeps_its_place_across_a_reload(open_editor):
    document = import_text(cluster_manifests(60, 107, 6)).document.to_json()
    revision = save_revision(document)
    editor, watch = open_editor(f"/d/{revision.slug}/edit", viewport=SMALL)
    page, person = editor.page, Person(editor.page)
    assert overlapping(editor) == []  # opened without positions: laid out by the browser
    node = page.evaluate(NEAREST_THE_MIDDLE)  # one the person sees
    before = editor.positions()
    x, y = editor.node_point(node)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 30, y + 25, steps=6)
    page.mouse.up()
    editor.wait_idle()
    moved = editor.positions()
    assert moved[node] != before[node]
    page.locator("#cy").focus()
    person.press("Control+s")
    page.locator("#toast #permalink").wait_for()
    page.reload()
    page.wait_for_selector("#app[data-ready='1']")
    editor.wait_compiled()
    after = editor.positions()
    assert after[node] == moved[node]
    # The others of its namespace keep their arrangement around it.
    parent = page.evaluate(f"fencelineCy.getElementById('{node}').parent().id()")
    siblings = page.evaluate(f"fencelineCy.nodes('[parent = \"{parent}\"]').map(n => n.id())")
    for sibling in siblings:
        assert after[sibling] == moved[sibling]
    assert overlapping(editor) == []
    watch.assert_clean(page)


def test_the_talks_application_stays_readable_after_tidy(open_editor):
    revision = save_revision(TALK_APP)  # without positions: laid out when opened
    editor, watch = open_editor(f"/d/{revision.slug}/edit", viewport=SMALL)
    assert_well_laid_out(editor)
    tidy(editor)
    assert overlapping(editor) == []
    assert_well_laid_out(editor)
    watch.assert_clean(editor.page)


def test_a_saved_drawing_whose_boxes_overlap_opens_with_them_apart_and_their_insides_kept(open_editor):
    document = import_text(cluster_manifests(60, 107, 6)).document.to_json()
    for number, node in enumerate(document["nodes"]):  # each namespace a 3-column grid, shifted 150 from the last
        shift, index = int(node["namespace"][-2:]) * 150, number // 6
        node["position"] = {"x": shift + (index % 3) * 220, "y": (index // 3) * 110}
    revision = save_revision(document)
    editor, watch = open_editor(f"/d/{revision.slug}/edit", viewport=SMALL)
    assert overlapping(editor) == []
    shown = editor.positions()
    for namespace in {node["namespace"] for node in document["nodes"]}:
        members = [node for node in document["nodes"] if node["namespace"] == namespace]
        first = shown[f"n:{members[0]['id']}"]
        for node in members[1:]:
            saved = (
                node["position"]["x"] - members[0]["position"]["x"],
                node["position"]["y"] - members[0]["position"]["y"],
            )
            here = shown[f"n:{node['id']}"]
            assert (here[0] - first[0], here[1] - first[1]) == saved
    watch.assert_clean(editor.page)
