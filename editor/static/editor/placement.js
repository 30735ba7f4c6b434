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

  // ---------------------------------------------------------------------------------------- packing blocks
  /* Blocks are the things that must not overlap: namespace boxes and nodes outside any namespace. Each is
   * { id, w, h } and, to keep where it is, a centre { x, y }. `links` are [a, b, weight] between block ids
   * (edges between them). Both functions answer a Map id -> new centre; neither moves a block that is free where
   * it is asked to stay, and a block is only ever moved as a whole (what is inside keeps its arrangement). */

  function blockBox(c, b) { return { x1: c.x - b.w / 2, y1: c.y - b.h / 2, x2: c.x + b.w / 2, y2: c.y + b.h / 2 }; }

  function linkMap(links) {
    const adj = new Map();
    const add = (a, b, w) => {
      if (!adj.has(a)) adj.set(a, new Map());
      adj.get(a).set(b, (adj.get(a).get(b) || 0) + w);
    };
    for (const [a, b, w] of links || []) if (a !== b) { add(a, b, w || 1); add(b, a, w || 1); }
    return adj;
  }

  // Spots where a w x h block touches a placed box (gap between) on each side, aligned to its sides or centre;
  // `keep` holds the other coordinate where it was asked to be.
  function candidates(placed, b, gap, keep) {
    const out = [];
    for (const p of placed) {
      const ys = keep ? [keep.y] : [p.y1 + b.h / 2, (p.y1 + p.y2) / 2, p.y2 - b.h / 2];
      const xs = keep ? [keep.x] : [p.x1 + b.w / 2, (p.x1 + p.x2) / 2, p.x2 - b.w / 2];
      for (const y of ys) out.push({ x: p.x2 + gap + b.w / 2, y: y }, { x: p.x1 - gap - b.w / 2, y: y });
      for (const x of xs) out.push({ x: x, y: p.y2 + gap + b.h / 2 }, { x: x, y: p.y1 - gap - b.h / 2 });
    }
    return out;
  }

  function clear(box, placed, gap) {
    const m = gap - 0.5;
    for (const p of placed) if (box.x1 < p.x2 + m && p.x1 < box.x2 + m && box.y1 < p.y2 + m && p.y1 < box.y2 + m) return false;
    return true;
  }

  /* Where a block goes among those placed (no crossings counted): the spots of `candidates`, in their order,
   * scored as packBlocks does (the picture's growth, then the distances to its neighbours, `share` of each), the
   * first best that is clear. Without an object per spot: for 40 namespaces it looks at ~10,000 spots. */
  function bestSpot(placed, b, gap, bounds, aspect, nx, ny, share) {
    const hw = b.w / 2, hh = b.h / 2;
    let score = Infinity, best = null;
    const consider = (x, y) => {
      const x1 = x - hw, y1 = y - hh, x2 = x + hw, y2 = y + hh;
      let s = Math.max((Math.max(bounds.x2, x2) - Math.min(bounds.x1, x1)) / aspect, Math.max(bounds.y2, y2) - Math.min(bounds.y1, y1));
      for (let k = 0; k < nx.length && s < score - 1e-6; k += 1) {
        const dx = x - nx[k], dy = y - ny[k];
        s += share[k] * Math.sqrt(dx * dx + dy * dy);
      }
      if (s >= score - 1e-6) return;
      const m = gap - 0.5;
      for (const p of placed) if (x1 < p.x2 + m && p.x1 < x2 + m && y1 < p.y2 + m && p.y1 < y2 + m) return;
      score = s;
      best = { x: x, y: y };
    };
    for (const p of placed) {
      const right = p.x2 + gap + hw, left = p.x1 - gap - hw, below = p.y2 + gap + hh, above = p.y1 - gap - hh;
      for (const y of [p.y1 + hh, (p.y1 + p.y2) / 2, p.y2 - hh]) { consider(right, y); consider(left, y); }
      for (const x of [p.x1 + hw, (p.x1 + p.x2) / 2, p.x2 - hw]) { consider(x, below); consider(x, above); }
    }
    return best;
  }

  /* Afresh: the most connected block first, then each next the one with most edges to those placed, put beside
   * the placed ones where it is nearest its neighbours and keeps the picture about `aspect` wide per unit of
   * height. Deterministic for the same blocks and links. */
  function packBlocks(blocks, links, options) {
    const opts = options || {};
    const gap = opts.gap || 80, aspect = opts.aspect || 4 / 3;
    const crossing = opts.crossing || 0; // what an edge drawn across a third box costs, as a length
    const boxes = new Map(), drawn = []; // placed box by id; links between placed blocks
    const adj = linkMap(links);
    const weight = (id) => Array.from((adj.get(id) || new Map()).values()).reduce((s, w) => s + w, 0);
    const rest = blocks.slice().sort((a, b) => weight(b.id) - weight(a.id) || b.w * b.h - a.w * a.h || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const placed = [], at = new Map();
    const toPlaced = new Map(); // id -> weight of its links to placed blocks
    let bounds = null;
    while (rest.length) {
      let best = 0;
      for (let i = 1; i < rest.length; i += 1) if ((toPlaced.get(rest[i].id) || 0) > (toPlaced.get(rest[best].id) || 0)) best = i;
      const b = rest.splice(best, 1)[0];
      let spot = { x: 0, y: 0 };
      if (placed.length) {
        const near = Array.from((adj.get(b.id) || new Map()).entries()).filter(([id]) => at.has(id));
        const total = near.reduce((s, [, w]) => s + w, 0);
        // The neighbours' places and shares in flat arrays: this loop runs ~10^5 times for 40 namespaces.
        const nx = near.map(([id]) => at.get(id).x), ny = near.map(([id]) => at.get(id).y);
        const share = near.map(([, w]) => w / total);
        if (!crossing) {
          spot = bestSpot(placed, b, gap, bounds, aspect, nx, ny, share) || spot;
        } else {
          let score = Infinity;
          for (const c of candidates(placed, b, gap)) {
            const box = blockBox(c, b);
            const grown = { x1: Math.min(bounds.x1, box.x1), y1: Math.min(bounds.y1, box.y1), x2: Math.max(bounds.x2, box.x2), y2: Math.max(bounds.y2, box.y2) };
            let s = Math.max((grown.x2 - grown.x1) / aspect, grown.y2 - grown.y1);
            // Every term is >= 0: once the sum reaches the best score this spot cannot win (same answer, sooner).
            // Math.sqrt, not Math.hypot: V8 does not inline hypot, and here it was most of the packing's time.
            for (let k = 0; k < nx.length && s < score - 1e-6; k += 1) {
              const dx = c.x - nx[k], dy = c.y - ny[k];
              s += share[k] * Math.sqrt(dx * dx + dy * dy);
            }
            if (s >= score - 1e-6) continue;
            for (const [id, w] of near) {
              for (const [other, p] of boxes) if (other !== id && segmentHits(c, at.get(id), p)) s += crossing * w;
            }
            for (const [a, z, w] of drawn) if (segmentHits(at.get(a), at.get(z), box)) s += crossing * w;
            if (s < score - 1e-6 && clear(box, placed, gap)) { score = s; spot = c; }
          }
        }
      }
      spot = { x: Math.round(spot.x), y: Math.round(spot.y) };
      const box = blockBox(spot, b);
      placed.push(box);
      at.set(b.id, spot);
      boxes.set(b.id, box);
      if (crossing) for (const [id, w] of adj.get(b.id) || []) if (id !== b.id && at.has(id)) drawn.push([b.id, id, w]);
      bounds = bounds ? union(bounds, box) : box;
      for (const [id, w] of adj.get(b.id) || []) toPlaced.set(id, (toPlaced.get(id) || 0) + w);
    }
    return at;
  }

  /* Keeping places: blocks in `pinned` stay; every other block stays too when it overlaps none of those already
   * kept, else goes to the nearest spot `gap` clear of them (blocks nearest the middle of the picture first). */
  function separate(blocks, options) {
    const opts = options || {};
    const gap = opts.gap === undefined ? 40 : opts.gap;
    const pinned = opts.pinned || new Set();
    const n = blocks.length || 1;
    const mid = blocks.reduce((m, b) => ({ x: m.x + b.x / n, y: m.y + b.y / n }), { x: 0, y: 0 });
    const order = blocks.slice().sort((a, b) => (pinned.has(b.id) ? 1 : 0) - (pinned.has(a.id) ? 1 : 0) ||
      Math.hypot(a.x - mid.x, a.y - mid.y) - Math.hypot(b.x - mid.x, b.y - mid.y) || (a.id < b.id ? -1 : 1));
    const placed = [], at = new Map();
    for (const b of order) {
      let spot = { x: b.x, y: b.y };
      if (!pinned.has(b.id) && !clear(blockBox(spot, b), placed, 0)) {
        let distance = Infinity;
        for (const c of candidates(placed, b, gap, spot).concat(candidates(placed, b, gap))) {
          const d = Math.hypot(c.x - b.x, c.y - b.y);
          if (d < distance && clear(blockBox(c, b), placed, gap)) { distance = d; spot = c; }
        }
        spot = { x: Math.round(spot.x), y: Math.round(spot.y) };
      }
      placed.push(blockBox(spot, b));
      at.set(b.id, spot);
    }
    return at;
  }

  // ------------------------------------------------------------------------------------- on the canvas
  const top = (n) => (n.isChild() ? n.parent() : n);

  function canvasBlocks(cy) {
    const blocks = [];
    cy.nodes().forEach((n) => {
      if (n.isChild()) return;
      // A namespace's title sits above its box and is drawn larger as one zooms out (lod.js): room is kept
      // for it at its size from zoom 1, not at today's zoom, so a layout does not depend on the zoom.
      const bb = n.boundingBox({ includeLabels: false });
      const title = n.data("kind") === "namespace" ? NS_LABEL : 0;
      blocks.push({ id: n.id(), w: bb.w, h: bb.h + title, x: (bb.x1 + bb.x2) / 2, y: (bb.y1 + bb.y2 - title) / 2 });
    });
    const links = [];
    cy.edges().forEach((e) => {
      const a = top(e.source()).id(), b = top(e.target()).id();
      if (a !== b) links.push([a, b, 1]);
    });
    return { blocks: blocks, links: links };
  }

  function moveBlocks(cy, blocks, at) {
    let moved = false;
    cy.batch(() => {
      for (const b of blocks) {
        const c = at.get(b.id);
        const dx = Math.round(c.x - b.x), dy = Math.round(c.y - b.y);
        if (!dx && !dy) continue;
        moved = true;
        const n = cy.getElementById(b.id);
        const members = n.isParent() ? n.descendants().filter((d) => !d.isParent()) : n;
        members.positions((m) => ({ x: m.position().x + dx, y: m.position().y + dy }));
      }
    });
    return moved;
  }

  /* Namespace boxes (with their title) and nodes outside any namespace, packed afresh by their edges. */
  // The drawing's canvas, as wide per unit of height (at least 0.5) as a packed picture should be for the fit to
  // show all of it; undefined before the canvas has a size (packBlocks' default then).
  function canvasAspect() {
    const canvas = document.getElementById("cy");
    return canvas && canvas.clientHeight ? Math.max(0.5, canvas.clientWidth / canvas.clientHeight) : undefined;
  }

  function packCanvas(cy, options) {
    const { blocks, links } = canvasBlocks(cy);
    // Few boxes (a hand-drawn application): edges should not run across a third box, worth a detour.
    const opts = Object.assign({ crossing: blocks.length <= 40 ? 600 : 0 }, options);
    return moveBlocks(cy, blocks, packBlocks(blocks, links, opts));
  }

  /* The same boxes kept where they are, unless two overlap: then the ones not pinned move the least that clears
   * them. True when something moved. */
  function keepApart(cy, options) {
    const { blocks } = canvasBlocks(cy);
    const gap = MARGIN; // a moved box keeps as far from the others as a new node does
    const sorted = blocks.slice().sort((a, b) => a.x - a.w / 2 - (b.x - b.w / 2));
    let clash = false;
    for (let i = 0; i < sorted.length && !clash; i += 1) {
      const a = sorted[i];
      for (let j = i + 1; j < sorted.length; j += 1) {
        const b = sorted[j];
        if (b.x - b.w / 2 >= a.x + a.w / 2) break;
        if (Math.abs(a.y - b.y) < (a.h + b.h) / 2) { clash = true; break; }
      }
    }
    if (!clash) return false;
    const pinned = new Set(((options && options.pinned) || []).map((id) => top(cy.getElementById(id)).id()));
    return moveBlocks(cy, blocks, separate(blocks, { gap: gap, pinned: pinned }));
  }

  window.FencelinePlacement = { create: create, packBlocks: packBlocks, separate: separate, packCanvas: packCanvas, keepApart: keepApart, canvasAspect: canvasAspect };
})();
