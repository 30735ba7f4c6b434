"""The server-drawn picture: stored positions kept, a packing layout where boxes never overlap, canvas colours."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from editor.policy.document import Document
from editor.policy.picture import EDGE_COLOURS, layout, render_png, render_svg

TALK = Path(__file__).resolve().parents[1] / "fixtures" / "documents" / "talk-app.json"
GRAPH_JS = Path(__file__).resolve().parents[2] / "editor" / "static" / "editor" / "graph.js"


def _big(namespaces: int, per_namespace: int) -> Document:
    return Document.from_json({
        "schema": "fenceline/v1",
        "namespaces": [{"name": f"team-{n:02d}"} for n in range(namespaces)],
        "nodes": [
            {"id": f"team-{n:02d}/w{i}", "kind": "workload", "namespace": f"team-{n:02d}", "name": f"w{i}",
             "labels": {"app": f"w{i}"}}
            for n in range(namespaces) for i in range((n * 7) % per_namespace + 1)
        ] + [{"id": "world", "kind": "cidr", "cidr": "0.0.0.0/0"}],
        "edges": [{"id": "e1", "source": "team-00/w0", "target": "world", "ports": [{"protocol": "TCP", "port": 443}]}],
    })  # fmt: skip


def test_the_packing_layout_never_overlaps_namespace_boxes_and_keeps_pods_inside() -> None:
    document = _big(15, 20)
    placed = layout(document)
    boxes = list(placed.namespaces.values())
    assert len(boxes) == 15
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    for node in document.nodes:
        box = placed.nodes[node.id]
        if node.namespace:
            outer = placed.namespaces[node.namespace]
            assert (
                outer.left < box.left and box.right < outer.right and outer.top < box.top and box.bottom < outer.bottom
            )
        else:
            assert not any(box.overlaps(ns) for ns in boxes)
    assert render_svg(document) == render_svg(_big(15, 20))  # deterministic


def test_stored_positions_are_used_as_drawn() -> None:
    document = Document.loads(TALK.read_text())
    for index, node in enumerate(document.nodes):
        node.position = {"x": 100.0 + 300 * index, "y": 50.0 * index}
    placed = layout(document)
    for node in document.nodes:
        assert node.position is not None
        assert (placed.nodes[node.id].x, placed.nodes[node.id].y) == (node.position["x"], node.position["y"])


def test_the_colours_are_the_canvas_colours() -> None:
    """graph.js COLORS is the canvas's palette; the picture must use the same one."""
    script = GRAPH_JS.read_text()
    canvas = dict(re.findall(r'(allowed|oneSided|denied|disabled|deny): "(#[0-9a-f]{6})"', script))
    assert EDGE_COLOURS["allowed"] == canvas["allowed"]
    assert EDGE_COLOURS["one-sided"] == canvas["oneSided"]
    assert EDGE_COLOURS["denied"] == canvas["denied"]
    assert EDGE_COLOURS["disabled"] == canvas["disabled"]
    assert EDGE_COLOURS["deny"] == canvas["deny"]


def test_edges_carry_their_state_and_ports() -> None:
    document = Document.loads(TALK.read_text())
    document.edges[0].disabled = True
    svg = render_svg(document)
    assert f'class="edge disabled" data-id="{document.edges[0].id}"' in svg
    assert 'stroke="#94a3b8" stroke-width="2" stroke-dasharray="2 3"' in svg
    assert ">TCP 9090<" in svg


def test_an_empty_drawing_is_a_small_valid_picture() -> None:
    svg = render_svg(Document())
    assert svg.startswith("<svg") and "<title>Untitled drawing</title>" in svg
    assert render_png(svg).startswith(b"\x89PNG")


def test_a_huge_drawing_becomes_a_bounded_png() -> None:
    import struct

    svg = render_svg(_big(40, 60))
    png = render_png(svg, max_side=1000)
    width, height = struct.unpack(">II", png[16:24])
    assert max(width, height) == 1000
