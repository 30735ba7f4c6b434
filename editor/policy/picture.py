"""A drawing as an SVG picture, made from the document alone (no browser), in the canvas's colours.

CI jobs, merge-request comments and docs embed it (`/d/<slug>.svg`, `fenceline plan`). The picture follows the
editor's canvas (editor/static/editor/graph.js): namespaces are boxes around their pods, workloads are rounded
boxes, external peers (CIDR, entity, FQDN) are tinted, edges are coloured by `edge_states` (the compiler's own
view of which edges get through) and labelled with their ports.

Layout: when every node carries the position the editor stored, those positions are used as they are. When
any is missing, every node is laid out by a deterministic packing instead (mixing stored and invented
positions could put a box on top of another): each namespace becomes a grid of its pods, the namespace boxes
are packed into shelves left to right, and external peers stand in a column on the right. Boxes never overlap.

The SVG uses presentation attributes only (no `style` attribute, no <style> element), so a page may inline it
under a Content-Security-Policy that forbids inline styles.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from xml.sax.saxutils import escape, quoteattr

from .compile import compile_document, describe_ports
from .document import POD_KINDS, Document, Edge, Node
from .edge_states import edge_states

NODE_W, NODE_H = 160.0, 52.0
EXTERNAL_W = 150.0
NS_PAD, NS_LABEL = 22.0, 20.0
NS_MIN_W, NS_MIN_H = 180.0, 80.0
GAP = 60.0
MARGIN = 30.0
FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica Neue, Arial, sans-serif"

# The canvas's palette (graph.js COLORS and its node styles), kept in one place for every picture.
INK, PAPER, LINE = "#0f172a", "#ffffff", "#94a3b8"
EDGE_COLOURS: dict[str, str] = {
    "allowed": "#15803d",
    "one-sided": "#d97706",
    "denied": "#dc2626",
    "disabled": "#94a3b8",
    "deny": "#7f1d1d",
    "error": "#dc2626",
}
EDGE_DASHES: dict[str, str | None] = {
    "allowed": None,
    "one-sided": "6 4",
    "denied": "6 4",
    "disabled": "2 3",
    "deny": None,
    "error": "2 3",
}
NODE_FILLS: dict[str, tuple[str, str]] = {  # kind -> (fill, border)
    "workload": (PAPER, LINE),
    "selector": ("#f8fafc", LINE),
    "hosts": (PAPER, LINE),
    "cidr": ("#fefce8", "#ca8a04"),
    "entity": ("#f0f9ff", "#0284c7"),
    "fqdn": ("#fdf4ff", "#a21caf"),
}
NAMESPACE_FILL, NAMESPACE_BORDER, NAMESPACE_INK = "#eef2ff", "#a5b4fc", "#3730a3"
# Above this many edges the port labels are left out (changed edges keep theirs): at that density they overlap
# into noise, and they are most of what a rasteriser spends its time on.
EDGE_LABEL_LIMIT = 300
# How a plan marks edges that changed between two drawings: a wide translucent halo under the edge.
CHANGE_COLOURS: dict[str, str] = {"added": "#2563eb", "removed": "#dc2626", "changed": "#d97706"}


@dataclasses.dataclass(frozen=True)
class Box:
    x: float  # centre
    y: float
    w: float
    h: float

    @property
    def left(self) -> float:
        return self.x - self.w / 2

    @property
    def top(self) -> float:
        return self.y - self.h / 2

    @property
    def right(self) -> float:
        return self.x + self.w / 2

    @property
    def bottom(self) -> float:
        return self.y + self.h / 2

    def overlaps(self, other: Box) -> bool:
        across = self.left < other.right and other.left < self.right
        return across and self.top < other.bottom and other.top < self.bottom


@dataclasses.dataclass
class Layout:
    nodes: dict[str, Box]
    namespaces: dict[str, Box]


def _node_size(node: Node) -> tuple[float, float]:
    return (NODE_W if node.kind in POD_KINDS or node.kind == "hosts" else EXTERNAL_W), NODE_H


def _in_namespace(node: Node, namespaces: set[str]) -> bool:
    return node.kind in POD_KINDS and node.namespace is not None and node.namespace in namespaces


def _wrap(boxes: list[Box]) -> Box:
    left = min(b.left for b in boxes) - NS_PAD
    right = max(b.right for b in boxes) + NS_PAD
    top = min(b.top for b in boxes) - NS_PAD - NS_LABEL
    bottom = max(b.bottom for b in boxes) + NS_PAD
    w, h = max(right - left, NS_MIN_W), max(bottom - top, NS_MIN_H)
    return Box((left + right) / 2, (top + bottom) / 2, w, h)


def _stored_layout(document: Document) -> Layout:
    names = {ns.name for ns in document.namespaces}
    nodes: dict[str, Box] = {}
    members: dict[str, list[Box]] = {}
    for node in document.nodes:
        assert node.position is not None
        w, h = _node_size(node)
        box = Box(float(node.position["x"]), float(node.position["y"]), w, h)
        nodes[node.id] = box
        if _in_namespace(node, names):
            members.setdefault(str(node.namespace), []).append(box)
    namespaces = {name: _wrap(boxes) for name, boxes in members.items()}
    # An empty namespace has no children to wrap: it is drawn at its own stored place, or not at all.
    for ns in document.namespaces:
        if ns.name not in namespaces and ns.position is not None:
            namespaces[ns.name] = Box(float(ns.position["x"]), float(ns.position["y"]), NS_MIN_W, NS_MIN_H)
    return Layout(nodes, namespaces)


def _packed_layout(document: Document) -> Layout:
    names = [ns.name for ns in document.namespaces]
    members: dict[str, list[Node]] = {name: [] for name in names}
    outside: list[Node] = []
    for node in document.nodes:
        if _in_namespace(node, set(names)):
            members[str(node.namespace)].append(node)
        else:
            outside.append(node)
    # Each namespace: a near-square grid of its pods, sized before packing.
    grids: dict[str, tuple[float, float, int]] = {}
    for name, pods in members.items():
        columns = max(1, math.ceil(math.sqrt(len(pods))))
        rows = max(1, math.ceil(len(pods) / columns))
        width = max(NS_MIN_W, columns * NODE_W + (columns - 1) * GAP / 2 + 2 * NS_PAD)
        height = max(NS_MIN_H, rows * NODE_H + (rows - 1) * GAP / 2 + 2 * NS_PAD + NS_LABEL)
        grids[name] = (width, height, columns)
    total_area = sum(w * h for w, h, _ in grids.values()) or 1.0
    shelf_width = max(max((w for w, _, _ in grids.values()), default=0.0), math.sqrt(total_area) * 1.6)
    namespaces: dict[str, Box] = {}
    nodes: dict[str, Box] = {}
    x = y = shelf_height = 0.0
    for name in names:  # the document's order, so the same document always gives the same picture
        width, height, columns = grids[name]
        if x > 0 and x + width > shelf_width:
            x, y, shelf_height = 0.0, y + shelf_height + GAP, 0.0
        box = Box(x + width / 2, y + height / 2, width, height)
        namespaces[name] = box
        for index, node in enumerate(members[name]):
            row, column = divmod(index, columns)
            nodes[node.id] = Box(
                box.left + NS_PAD + NODE_W / 2 + column * (NODE_W + GAP / 2),
                box.top + NS_PAD + NS_LABEL + NODE_H / 2 + row * (NODE_H + GAP / 2),
                *_node_size(node),
            )
        x += width + GAP
        shelf_height = max(shelf_height, height)
    right = max((b.right for b in namespaces.values()), default=0.0) + GAP
    for index, node in enumerate(outside):
        w, h = _node_size(node)
        nodes[node.id] = Box(right + w / 2, h / 2 + index * (h + GAP / 2), w, h)
    return Layout(nodes, namespaces)


def layout(document: Document) -> Layout:
    """Where every node and namespace box goes (see the module docstring for the rule)."""
    if document.nodes and all(node.position is not None for node in document.nodes):
        return _stored_layout(document)
    return _packed_layout(document)


# --- drawing ----------------------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _clip(box: Box, toward_x: float, toward_y: float) -> tuple[float, float]:
    """Where the line from the box's centre toward a point leaves the box."""
    dx, dy = toward_x - box.x, toward_y - box.y
    if dx == 0 and dy == 0:
        return box.x, box.y
    scale = min(
        (box.w / 2) / abs(dx) if dx else math.inf,
        (box.h / 2) / abs(dy) if dy else math.inf,
    )
    return box.x + dx * scale, box.y + dy * scale


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label(node: Node) -> str:
    if node.kind == "selector" and not node.name:
        return "selected pods"
    return node.display_name()


def _edge_label(edge: Edge) -> str:
    text = "all ports" if not edge.ports else describe_ports(edge.ports)
    if edge.l7:
        text += " + L7"
    return _short(text, 48)


def render_svg(
    document: Document,
    *,
    states: Mapping[str, str] | None = None,
    changes: Mapping[str, str] | None = None,
    title: str | None = None,
) -> str:
    """The drawing as a standalone SVG document.

    `states` (edge id -> canvas state) defaults to what the compiler says of this document; `changes` (edge id ->
    added/removed/changed) draws a halo under each changed edge, for plans and revision diffs.
    """
    if states is None:
        states = edge_states(document, compile_document(document))
    changes = changes or {}
    placed = layout(document)
    boxes = [*placed.nodes.values(), *placed.namespaces.values()]
    left = min((b.left for b in boxes), default=0.0) - MARGIN
    top = min((b.top for b in boxes), default=0.0) - MARGIN
    width = max((b.right for b in boxes), default=NS_MIN_W) - left + MARGIN
    height = max((b.bottom for b in boxes), default=NS_MIN_H) - top + MARGIN
    heading = title if title is not None else (document.name or "Untitled drawing")
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" class="fenceline-picture" role="img" '
        f'viewBox="{_fmt(left)} {_fmt(top)} {_fmt(width)} {_fmt(height)}" '
        f'width="{_fmt(width)}" height="{_fmt(height)}" font-family={quoteattr(FONT)}>',
        f"<title>{escape(heading)}</title>",
        "<defs>",
    ]
    for state, colour in EDGE_COLOURS.items():
        out.append(
            f'<marker id="arrow-{state}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
            f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        )
    out.append(
        f'<marker id="tee-deny" viewBox="0 0 4 10" refX="4" refY="5" markerWidth="4" markerHeight="10" '
        f'orient="auto"><rect x="0" y="0" width="4" height="10" fill="{EDGE_COLOURS["deny"]}"/></marker>'
    )
    out.append("</defs>")
    out.append(f'<rect x="{_fmt(left)}" y="{_fmt(top)}" width="{_fmt(width)}" height="{_fmt(height)}" fill="{PAPER}"/>')
    for name, box in placed.namespaces.items():
        out.append(
            f'<g class="namespace" data-name={quoteattr(name)}><rect x="{_fmt(box.left)}" y="{_fmt(box.top)}" '
            f'width="{_fmt(box.w)}" height="{_fmt(box.h)}" rx="8" fill="{NAMESPACE_FILL}" fill-opacity="0.55" '
            f'stroke="{NAMESPACE_BORDER}" stroke-width="1.5"/>'
            f'<text x="{_fmt(box.x)}" y="{_fmt(box.top + 18)}" text-anchor="middle" font-size="14" '
            f'font-weight="600" fill="{NAMESPACE_INK}">{escape(_short(name, 40))}</text></g>'
        )
    nodes = document.node_map()
    labelled = len(document.edges) <= EDGE_LABEL_LIMIT
    for edge in document.edges:
        source, target = placed.nodes.get(edge.source), placed.nodes.get(edge.target)
        if source is None or target is None:
            continue
        change = changes.get(edge.id)
        out.append(_edge_svg(edge, source, target, states.get(edge.id, "allowed"), change, labelled or bool(change)))
    for node_id, box in placed.nodes.items():
        node = nodes[node_id]
        fill, border = NODE_FILLS.get(node.kind, (PAPER, LINE))
        locked = node.isolate.ingress or node.isolate.egress
        stroke_width = "3" if locked else "1.5"
        stroke = "#334155" if locked else border
        dash = ' stroke-dasharray="5 3"' if node.kind == "selector" else ""
        out.append(
            f'<g class="node {escape(node.kind)}" data-id={quoteattr(node.id)}><rect x="{_fmt(box.left)}" '
            f'y="{_fmt(box.top)}" width="{_fmt(box.w)}" height="{_fmt(box.h)}" rx="10" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{stroke_width}"{dash}/>'
            f'<text x="{_fmt(box.x)}" y="{_fmt(box.y + 4.5)}" text-anchor="middle" font-size="13" '
            f'fill="{INK}">{escape(_short(_label(node), 22))}</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _edge_svg(edge: Edge, source: Box, target: Box, state: str, change: str | None, label: bool) -> str:
    colour = EDGE_COLOURS.get(state, EDGE_COLOURS["allowed"])
    if source is target:  # a self-loop: a small arc on the box's right side
        x, y = source.right, source.y
        path = (
            f"M{_fmt(x)},{_fmt(y - 10)} C{_fmt(x + 50)},{_fmt(y - 40)} "
            f"{_fmt(x + 50)},{_fmt(y + 40)} {_fmt(x)},{_fmt(y + 10)}"
        )
        label_x, label_y = x + 40, y
    else:
        x1, y1 = _clip(source, target.x, target.y)
        x2, y2 = _clip(target, source.x, source.y)
        path = f"M{_fmt(x1)},{_fmt(y1)} L{_fmt(x2)},{_fmt(y2)}"
        label_x, label_y = (x1 + x2) / 2, (y1 + y2) / 2
    marker = "tee-deny" if state == "deny" else f"arrow-{state if state in EDGE_COLOURS else 'allowed'}"
    dash = EDGE_DASHES.get(state)
    classes = f"edge {state}" + (f" diff-{change}" if change else "")
    parts = [f"<g class={quoteattr(classes)} data-id={quoteattr(edge.id)}>"]
    if change:
        parts.append(
            f'<path d="{path}" fill="none" stroke="{CHANGE_COLOURS[change]}" stroke-width="12" stroke-opacity="0.35"'
            ' stroke-linecap="round"/>'
        )
    parts.append(
        f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{3 if state == "error" else 2}"'
        + (f' stroke-dasharray="{dash}"' if dash else "")
        + f' marker-end="url(#{marker})"/>'
    )
    if not label:
        return "".join(parts) + "</g>"
    text = _edge_label(edge) + (f" ({change})" if change else "")
    approx = 6.2 * len(text) + 6
    parts.append(
        f'<rect x="{_fmt(label_x - approx / 2)}" y="{_fmt(label_y - 9)}" width="{_fmt(approx)}" height="16" rx="3" '
        f'fill="{PAPER}" fill-opacity="0.9"/>'
        f'<text x="{_fmt(label_x)}" y="{_fmt(label_y + 3)}" text-anchor="middle" font-size="11" fill="{INK}">'
        f"{escape(text)}</text></g>"
    )
    return "".join(parts)


MAX_PNG_SIDE = 4096  # pixels: a 2,000-workload drawing at scale 1 would be a gigabyte of pixels


def render_png(svg: str, max_side: int = MAX_PNG_SIDE) -> bytes:
    """The SVG rasterised by CairoSVG (on Debian's libcairo2), scaled down so that no side exceeds `max_side`."""
    import cairosvg  # imported here: only PNG export needs cairo, and the rest of the core must load without it

    size = re.search(r'<svg [^>]*?width="([0-9.]+)" height="([0-9.]+)"', svg)
    longest = max(float(size.group(1)), float(size.group(2))) if size else max_side
    scale = min(1.0, max_side / longest) if longest > 0 else 1.0
    return bytes(cairosvg.svg2png(bytestring=svg.encode("utf-8"), scale=scale))
