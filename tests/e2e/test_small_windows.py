"""In Chromium at 1024x768 and 1280x720: nothing covers a control, the drawing keeps its room beside the
inspector, the drawing's name is readable, the YAML keeps its room, and the dividers resize the panels with
the mouse or the keyboard and are remembered (issue 10, finding 7). Checked from bounding boxes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from conftest import SMALL
from editor_page import Person

from editor.models import save_revision

pytestmark = pytest.mark.e2e

TALK_APP = json.loads((Path(__file__).parent.parent / "fixtures" / "documents" / "talk-app.json").read_text())

# Every visible control, clipped by the scrolling boxes it sits in (a field scrolled out of the inspector is not
# on screen), with the elements that float over others.
CONTROLS = """() => {
  const out = [];
  const sel = 'button, a[href], input, select, textarea, summary, [role=separator], .legend, .canvas-tools';
  for (const el of document.querySelectorAll(sel)) {
    if (el.closest('[hidden], dialog:not([open]), details:not([open]) > :not(summary)')) continue;
    let r = el.getBoundingClientRect();
    let box = {x1: r.left, y1: r.top, x2: r.right, y2: r.bottom};
    for (let p = el.parentElement; p; p = p.parentElement) {
      if (getComputedStyle(p).overflow === 'visible') continue;
      const q = p.getBoundingClientRect();
      box = {x1: Math.max(box.x1, q.left), y1: Math.max(box.y1, q.top),
             x2: Math.min(box.x2, q.right), y2: Math.min(box.y2, q.bottom)};
    }
    if (box.x2 - box.x1 < 1 || box.y2 - box.y1 < 1 || getComputedStyle(el).visibility === 'hidden') continue;
    el.dataset.probe = String(out.length);
    out.push({i: out.length, name: el.id || el.getAttribute('aria-label') || el.name || el.className || el.tagName,
              box, raw: {x1: r.left, y1: r.top, x2: r.right, y2: r.bottom}});
  }
  for (const c of out) {
    const el = document.querySelector(`[data-probe="${c.i}"]`);
    c.related = out.filter(o => { const other = document.querySelector(`[data-probe="${o.i}"]`);
      return el.contains(other) || other.contains(el); }).map(o => o.i);
  }
  return {controls: out, width: innerWidth, height: innerHeight};
}"""


def overlaps(a: dict, b: dict) -> bool:
    return a["x1"] < b["x2"] - 0.5 and b["x1"] < a["x2"] - 0.5 and a["y1"] < b["y2"] - 0.5 and b["y1"] < a["y2"] - 0.5


def assert_nothing_covers_a_control(page) -> None:
    found = page.evaluate(CONTROLS)
    controls = found["controls"]
    for c in controls:
        box = c["raw"]
        assert box["x1"] >= 0 and box["y1"] >= 0, c["name"]
        assert box["x2"] <= found["width"] + 0.5 and box["y2"] <= found["height"] + 0.5, c["name"]
    clashes = [
        (a["name"], b["name"])
        for a in controls
        for b in controls
        if a["i"] < b["i"] and b["i"] not in a["related"] and overlaps(a["box"], b["box"])
    ]
    assert clashes == []


@pytest.mark.parametrize("size", [SMALL, (1280, 720)], ids=["1024x768", "1280x720"])
def test_nothing_overlaps_and_every_part_keeps_its_room(open_editor, size):
    document = copy.deepcopy(TALK_APP)
    document["name"] = "Shop: frontend and API"
    revision = save_revision(document)
    editor, watch = open_editor(f"/d/{revision.slug}/edit", viewport=size)
    page = editor.page
    assert_nothing_covers_a_control(page)
    name = page.locator("#doc-name")
    assert name.evaluate("el => el.scrollWidth <= el.clientWidth"), "the drawing's name is cut off"

    editor.click_element("e:e2")
    page.wait_for_selector("#inspector .panel-kicker:text-is('Edge')")
    editor.wait_idle()
    assert_nothing_covers_a_control(page)
    canvas = page.locator("#cy").bounding_box()
    inspector = page.locator("#inspector").bounding_box()
    assert inspector["x"] >= canvas["x"] + canvas["width"], "the inspector covers the drawing"
    assert canvas["width"] >= 0.45 * size[0]
    assert page.locator("#yaml").bounding_box()["height"] >= 150
    assert page.locator("#inspector").bounding_box()["height"] >= 250
    watch.assert_clean(page)


def test_the_dividers_resize_the_panels_by_mouse_and_keyboard_and_are_remembered(open_editor):
    revision = save_revision(copy.deepcopy(TALK_APP))
    editor, watch = open_editor(f"/d/{revision.slug}/edit", viewport=SMALL)
    page, person = editor.page, Person(editor.page)
    side = page.locator("#side")
    width = side.bounding_box()["width"]
    divider = page.locator("#side-divider").bounding_box()
    x, y = divider["x"] + divider["width"] / 2, divider["y"] + 200
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 60, y, steps=6)
    page.mouse.up()
    dragged = side.bounding_box()["width"]
    assert abs(dragged - (width + 60)) <= 2
    assert page.locator("#cy").evaluate(
        "el => el.querySelector('canvas').getBoundingClientRect().width"
    ) == pytest.approx(page.locator("#cy").bounding_box()["width"], abs=2)

    page.locator("#side-divider").focus()
    person.press("ArrowLeft", "ArrowLeft")
    assert abs(side.bounding_box()["width"] - (dragged + 32)) <= 2
    person.press("End")  # as wide as it goes: the drawing keeps its least room
    assert page.locator("#cy").bounding_box()["width"] >= 319
    person.press("Home")
    assert abs(side.bounding_box()["width"] - 300) <= 1

    editor.click_element("e:e2")
    page.wait_for_selector("#inspector .panel-kicker:text-is('Edge')")
    inspector = page.locator("#inspector").bounding_box()["height"]
    page.locator("#split-divider").focus()
    person.press("ArrowDown", "ArrowDown", "ArrowDown")
    assert abs(page.locator("#inspector").bounding_box()["height"] - (inspector + 48)) <= 2
    split = page.locator("#inspector").bounding_box()["height"]

    editor.goto(f"/d/{revision.slug}/edit")
    assert abs(side.bounding_box()["width"] - 300) <= 1
    editor.click_element("e:e2")
    page.wait_for_selector("#inspector .panel-kicker:text-is('Edge')")
    assert abs(page.locator("#inspector").bounding_box()["height"] - split) <= 2
    watch.assert_clean(page)


def test_long_lists_of_problems_and_findings_leave_the_yaml_its_room(open_editor):
    # Twelve domain edges in the native dialect (twelve problems) and ten egress-locked workloads without DNS
    # (ten findings) above the YAML, as after reading a day of flow logs.
    document = copy.deepcopy(TALK_APP)
    for i in range(12):
        document["nodes"].append({"id": f"site{i}", "kind": "fqdn", "matchName": f"svc{i}.example.com"})
        document["edges"].append(
            {"id": f"out{i}", "source": "api", "target": f"site{i}", "ports": [{"protocol": "TCP", "port": 443}]}
        )
    for i in range(10):
        document["nodes"].append(
            {
                "id": f"job{i}",
                "kind": "workload",
                "name": f"job{i}",
                "namespace": "backend",
                "labels": {"app": f"job{i}"},
                "isolate": {"ingress": False, "egress": True},
            }
        )
    revision = save_revision(document)
    editor, watch = open_editor(f"/d/{revision.slug}/edit", viewport=SMALL)
    page = editor.page
    page.wait_for_selector("#findings-list .finding")
    assert page.locator("#issues .issue").count() >= 12 and page.locator("#findings-list .finding").count() >= 10
    assert page.locator("#yaml").bounding_box()["height"] >= 200
    page.locator("#cy").focus()  # the domain may lie outside the view: select it with the keyboard
    for _ in range(60):
        page.keyboard.press("ArrowDown")
        if page.inner_text("#graph-status").startswith("Domain svc0.example.com"):
            break
    page.keyboard.press("Enter")
    page.wait_for_selector("#inspector .panel-kicker:text-is('Fqdn')")
    editor.wait_idle()
    assert page.locator("#yaml").bounding_box()["height"] >= 120
    assert_nothing_covers_a_control(page)
    watch.assert_clean(page)
