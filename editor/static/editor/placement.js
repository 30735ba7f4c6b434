/* Fenceline: where a new node goes on the canvas -- always into free space.
 *
 * Namespace boxes never overlap one another or a node outside them; a new workload goes beside the others of
 * its namespace with room for the edge between them and its port label; nothing new lands on an edge. Only
 * positions are computed here (model coordinates); what the drawing means is not touched.
 */
(function () {
  "use strict";

  const NODE_W = 160, NODE_H = 52;
  const GAP_X = 150; // between two workloads side by side: an edge and its port label fit in between
  const GAP_Y = 90;
  const MARGIN = 40; // around namespace boxes and free nodes
  const NS_PAD = 22, NS_LABEL = 24; // the namespace box's padding and its title above the content

  function overlaps(a, b, margin) {
    const m = margin || 0;
    return a.x1 < b.x2 + m && b.x1 < a.x2 + m && a.y1 < b.y2 + m && b.y1 < a.y2 + m;
  }

  function boxAt(center, w, h) {
    return { x1: center.x - w / 2, y1: center.y - h / 2, x2: center.x + w / 2, y2: center.y + h / 2 };
  }

  function union(a, b) {
    return { x1: Math.min(a.x1, b.x1), y1: Math.min(a.y1, b.y1), x2: Math.max(a.x2, b.x2), y2: Math.max(a.y2, b.y2) };
  }

  function pad(box, side, top) {
    return { x1: box.x1 - side, y1: box.y1 - side - (top || 0), x2: box.x2 + side, y2: box.y2 + side };
  }

  // Does the straight segment p-q cross the box? (Liang-Barsky clipping)
  function segmentHits(p, q, box) {
    let t0 = 0, t1 = 1;
    const dx = q.x - p.x, dy = q.y - p.y;
    const checks = [[-dx, p.x - box.x1], [dx, box.x2 - p.x], [-dy, p.y - box.y1], [dy, box.y2 - p.y]];
    for (const [pp, qq] of checks) {
      if (pp === 0) { if (qq < 0) return false; continue; }
      const t = qq / pp;
      if (pp < 0) { if (t > t1) return false; if (t > t0) t0 = t; } else { if (t < t0) return false; if (t < t1) t1 = t; }
    }
    return true;
  }

  /* `isPlaced(node)` tells which nodes already have their place (the others are ignored until placed). */
  function create(cy, isPlaced) {
    function placedBox(ele) {
      const bb = ele.boundingBox({ includeLabels: false });
      return { x1: bb.x1, y1: bb.y1, x2: bb.x2, y2: bb.y2 };
    }

    function namespaceBox(ns, extra) {
      const kids = ns.children().filter((c) => isPlaced(c));
      let box = null;
      kids.forEach((c) => { box = box ? union(box, placedBox(c)) : placedBox(c); });
      if (extra) box = box ? union(box, extra) : extra;
      if (!box) return isPlaced(ns) && !ns.isParent() ? pad(boxAt(ns.position(), NODE_W, NODE_H), NS_PAD, NS_LABEL) : null;
      return pad(box, NS_PAD, NS_LABEL);
    }

    // The boxes a new thing must keep clear of: namespace boxes and nodes outside any namespace.
    function obstacles(except) {
      const boxes = [];
      cy.nodes().forEach((n) => {
        if (except && except.same(n)) return;
        if (n.data("kind") === "namespace") {
          const box = namespaceBox(n);
          if (box) boxes.push(box);
        } else if (!n.isChild() && isPlaced(n)) {
          boxes.push(placedBox(n));
        }
      });
      return boxes;
    }

    function crossesEdge(box) {
      return cy.edges().some((e) => isPlaced(e.source()) && isPlaced(e.target()) && segmentHits(e.source().position(), e.target().position(), box));
    }

    function free(box, avoid) {
      return !avoid.some((other) => overlaps(box, other, MARGIN)) && !crossesEdge(pad(box, 12));
    }

    /* The free spot nearest `near` for a w x h box, searched ring by ring on a grid. */
    function freeSpot(near, w, h, except) {
      const avoid = obstacles(except);
      const stepX = w + MARGIN, stepY = h + MARGIN;
      for (let ring = 0; ring < 60; ring += 1) {
        const candidates = [];
        for (let i = -ring; i <= ring; i += 1) {
          for (let j = -ring; j <= ring; j += 1) {
            if (Math.max(Math.abs(i), Math.abs(j)) === ring) candidates.push({ x: near.x + i * stepX, y: near.y + j * stepY });
          }
        }
        candidates.sort((a, b) => Math.hypot(a.x - near.x, a.y - near.y) - Math.hypot(b.x - near.x, b.y - near.y));
        for (const c of candidates) if (free(boxAt(c, w, h), avoid)) return { x: Math.round(c.x), y: Math.round(c.y) };
      }
      return { x: Math.round(near.x), y: Math.round(near.y) };
    }

    /* A spot for a node of height h inside namespace `ns`: beside its placed members, so that the grown
     * box still keeps clear of every other box and the node of every edge. */
    function spotInNamespace(ns, h, near) {
      const kids = ns.children().filter((c) => isPlaced(c));
      if (!kids.length) {
        const spot = freeSpot(isPlaced(ns) && !ns.isParent() ? ns.position() : near, NODE_W + 2 * NS_PAD, h + 2 * NS_PAD + NS_LABEL, ns);
        return { x: spot.x, y: spot.y + NS_LABEL / 2 };
      }
      const avoid = obstacles(ns);
      const bb = kids.boundingBox({ includeLabels: false });
      const rowY = kids[kids.length - 1].position().y;
      for (let distance = 1; distance < 30; distance += 1) {
        const candidates = [
          { x: bb.x2 + GAP_X * distance + NODE_W / 2, y: rowY },
          { x: bb.x1 + NODE_W / 2, y: bb.y2 + GAP_Y * distance + h / 2 },
          { x: bb.x1 - GAP_X * distance - NODE_W / 2, y: rowY },
          { x: bb.x1 + NODE_W / 2, y: bb.y1 - GAP_Y * distance - h / 2 },
        ];
        for (const c of candidates) {
          const own = boxAt(c, NODE_W, h);
          const grown = namespaceBox(ns, own);
          if (!avoid.some((other) => overlaps(grown, other, MARGIN)) && !crossesEdge(pad(own, 12))) {
            return { x: Math.round(c.x), y: Math.round(c.y) };
          }
        }
      }
      return { x: Math.round(bb.x2 + GAP_X + NODE_W / 2), y: Math.round(rowY) };
    }

    return { freeSpot: freeSpot, spotInNamespace: spotInNamespace, NODE_W: NODE_W, NODE_H: NODE_H };
  }

  window.FencelinePlacement = { create: create };
})();
