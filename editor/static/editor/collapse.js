/* Fenceline: what of a large drawing the canvas shows (issue 13).
 *
 * Presentation only. editor.js turns the document into Cytoscape elements (graph.js: only those `shown` keeps)
 * and hands them to `FencelineView.transform` before drawing them:
 * - a drawing above LARGE pod nodes opens with its namespaces collapsed into single nodes; the edges that touch a
 *   collapsed namespace become one aggregate edge per pair of shown ends (both directions in one, with an arrow
 *   at each end when its edges go both ways), with their count, a summary of their ports and the colour of the
 *   worst state among them. Which namespaces are open is kept per browser
 *   (localStorage), per drawing.
 * - such a drawing is also packed: every namespace box (collapsed or open) gets its own slot, beside the boxes it
 *   has most edges to, so no two boxes overlap; an open namespace keeps the arrangement of its workloads (their
 *   saved positions), moved as one block into its slot.
 * - focus shows one node and its neighbours only (1 or 2 hops, ingress, egress or both), namespace in each label.
 * Edge states come from the server's compile answer; nothing here decides what traffic is allowed.
 */
(function () {
  "use strict";

  const LARGE = 150; // pod nodes: above this a drawing opens collapsed and packed
  const POD_KINDS = new Set(["workload", "selector"]);
  // A collapsed namespace's box (and its slot): wide enough for "999 workloads" at 11 px on screen at the zoom a
  // large drawing opens at (lod.js fits the label into it).
  const COLLAPSED = { w: 280, h: 96 };
  const CELL = { w: 200, h: 84 }; // grid of a namespace's workloads that have no position yet
  const GAP = 80; // between slots
  const PAD = 40; // inside an open namespace box (its padding and label)
  // Worst first: an edge the dialect cannot write, one observed denied, one allowed on one side only.
  const WORST = ["error", "denied", "one-sided", "allowed", "deny", "disabled"];

  const view = {
    key: null,
    expanded: new Set(),
    focus: null, // { id: doc node id, hops: 1|2, direction: "both"|"ingress"|"egress" }
    aggregates: new Map(), // aggregate edge element id -> doc edge ids
    large: false,
  };

  function podNodes(doc) { return (doc.nodes || []).filter((n) => POD_KINDS.has(n.kind)); }
  function isLarge(doc) { return podNodes(doc).length > LARGE; }

  // ------------------------------------------------------------------------------------- remembered state
  function storageKey() {
    const app = document.getElementById("app");
    return "fenceline.expanded." + ((app && app.dataset.parent) || "new");
  }
  function load(doc) {
    const key = storageKey();
    if (view.key === key) return;
    const resaved = view.key !== null; // the drawing was saved under a new address: what is open stays open
    view.key = key;
    if (resaved) { store(); return; }
    view.expanded = new Set();
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(key) || "null"); } catch (err) { saved = null; }
    const names = new Set((doc.namespaces || []).map((ns) => ns.name));
    if (Array.isArray(saved)) for (const name of saved) if (names.has(name)) view.expanded.add(name);
  }
  function store() {
    try { localStorage.setItem(storageKey(), JSON.stringify(Array.from(view.expanded))); } catch (err) { /* a convenience only */ }
  }

  // ------------------------------------------------------------------------------------------- transform
  // What of the document transform keeps as it is, for graph.js to build only that: in a collapsed drawing, the
  // nodes outside collapsed namespaces and the edges between two of them. Null when everything is needed.
  function shown(doc) {
    load(doc);
    if (view.focus || !isLarge(doc)) return null;
    const namespaces = new Set((doc.namespaces || []).map((ns) => ns.name));
    const own = new Set();
    for (const node of doc.nodes || []) {
      if (!(POD_KINDS.has(node.kind) && namespaces.has(node.namespace)) || view.expanded.has(node.namespace)) own.add(node.id);
    }
    return { node: (node) => own.has(node.id), edge: (edge) => own.has(edge.source) && own.has(edge.target) };
  }

  function transform(els, doc) {
    load(doc);
    view.large = isLarge(doc);
    view.aggregates = new Map();
    if (view.focus) {
      const focused = focusElements(els, doc);
      if (focused) return focused;
      view.focus = null;
    }
    if (!view.large) return els;
    return pack(collapse(els, doc), doc);
  }

  function collapse(els, doc) {
    const namespaces = new Set((doc.namespaces || []).map((ns) => ns.name));
    const shownAs = new Map(); // doc node id -> element id it is drawn as
    const members = new Map(); // namespace -> pod node count
    for (const node of doc.nodes || []) {
      const ns = POD_KINDS.has(node.kind) && namespaces.has(node.namespace) ? node.namespace : null;
      if (ns) members.set(ns, (members.get(ns) || 0) + 1);
      shownAs.set(node.id, ns && !view.expanded.has(ns) ? "ns:" + ns : "n:" + node.id);
    }
    const out = [];
    for (const el of els) {
      if (el.group === "nodes") {
        if (el.data.kind === "namespace" && !view.expanded.has(el.data.name)) {
          const count = members.get(el.data.name) || 0;
          out.push({
            group: "nodes",
            data: Object.assign({}, el.data, { label: el.data.name + "\n" + count + " workload" + (count === 1 ? "" : "s"), collapsed: true }),
            classes: "namespace collapsed",
          });
        } else if (el.data.kind === "namespace" || shownAs.get(el.data.docId) === el.data.id) {
          out.push(el);
        }
      } else if (shownAs.get(el.data.source.slice(2)) === el.data.source && shownAs.get(el.data.target.slice(2)) === el.data.target) {
        out.push(el);
      }
    }
    // One aggregate per pair of shown ends, whichever way its edges go: its source is the end the first of them
    // leaves from; edges the other way make it two-way (an arrow at each end, and the label says so).
    const byPair = new Map();
    for (const edge of doc.edges || []) {
      const source = shownAs.get(edge.source), target = shownAs.get(edge.target);
      if (!source || !target || (source === "n:" + edge.source && target === "n:" + edge.target)) continue;
      if (source === target) continue; // inside one collapsed namespace: counted when it is opened
      const id = "agg:" + (source < target ? source + "|" + target : target + "|" + source);
      if (!byPair.has(id)) byPair.set(id, { source: source, target: target, edges: [], back: 0 });
      const pair = byPair.get(id);
      pair.edges.push(edge);
      if (pair.source !== source) pair.back += 1;
    }
    for (const [id, pair] of byPair) {
      view.aggregates.set(id, pair.edges.map((e) => e.id));
      const count = pair.edges.length;
      const ways = pair.back ? ", both ways" : "";
      const data = { id: id, source: pair.source, target: pair.target, aggregate: true, count: count, label: count + " edge" + (count === 1 ? "" : "s") + ways + " \u00b7 " + portsSummary(pair.edges), weight: Math.min(2 + Math.log2(count), 9) };
      if (pair.back) data.twoWay = true;
      out.push({ group: "edges", data: data, classes: "edge aggregate" });
    }
    return out;
  }

  function portsSummary(edges) {
    const ports = new Set();
    for (const edge of edges) {
      if (!(edge.ports || []).length) ports.add("all ports");
      for (const p of edge.ports || []) ports.add(p.port === undefined ? (p.protocol || "TCP") + " all" : String(p.port) + (p.endPort ? "-" + p.endPort : ""));
    }
    const list = Array.from(ports).sort();
    return list.length > 3 ? list.slice(0, 3).join(", ") + " +" + (list.length - 3) : list.join(", ");
  }

  // Packing: every block (a namespace box, collapsed or open, and the nodes outside namespaces) gets its own slot,
  // the most connected first and each next beside those it has most edges to (placement.js packBlocks), so no
  // namespace box can overlap another and connected namespaces sit near each other.
  function pack(els, doc) {
    const blocks = new Map(); // block name -> { nodes: [element], collapsed: element|null }
    const block = (name) => { if (!blocks.has(name)) blocks.set(name, { nodes: [], collapsed: null }); return blocks.get(name); };
    const docNodes = new Map((doc.nodes || []).map((n) => [n.id, n]));
    for (const el of els) {
      if (el.group !== "nodes") continue;
      if (el.data.collapsed) block("ns:" + el.data.name).collapsed = el;
      else if (el.data.kind === "namespace") block("ns:" + el.data.name);
      else block(el.data.parent || "outside").nodes.push(el);
    }
    const slots = [];
    for (const [name, b] of Array.from(blocks).sort((a, c) => order(a[0]) - order(c[0]) || (a[0] < c[0] ? -1 : 1))) {
      if (b.collapsed) { slots.push({ id: name, w: COLLAPSED.w, h: COLLAPSED.h, place: (x, y) => { b.collapsed.position = { x: x + COLLAPSED.w / 2, y: y + COLLAPSED.h / 2 }; } }); continue; }
      if (!b.nodes.length) { slots.push({ id: name, w: 180 + 2 * PAD, h: 80 + 2 * PAD, place: () => {} }); continue; }
      const local = arrange(b.nodes, docNodes, doc);
      slots.push({ id: name, w: local.w + 2 * PAD, h: local.h + 2 * PAD, place: (x, y) => {
        for (const [el, p] of local.at) el.position = { x: Math.round(x + PAD + p.x), y: Math.round(y + PAD + p.y) };
      } });
    }
    // The edges between blocks, one link per pair of blocks weighing as many edges, in the order each pair first
    // appears (the weights packBlocks would add up itself: the same packing, without 8,000 links to go through).
    const blockOf = new Map();
    for (const node of doc.nodes || []) {
      const name = POD_KINDS.has(node.kind) && blocks.has("ns:" + node.namespace) ? "ns:" + node.namespace : "outside";
      if (blocks.has(name)) blockOf.set(node.id, name);
    }
    const weights = new Map();
    for (const edge of doc.edges || []) {
      const a = blockOf.get(edge.source), b = blockOf.get(edge.target);
      if (!a || !b || a === b) continue;
      const key = a + "\n" + b;
      const link = weights.get(key);
      if (link) link[2] += 1; else weights.set(key, [a, b, 1]);
    }
    // The picture about as wide per unit of height as the canvas (as editor.js packs smaller drawings), so that the
    // fit shows every box: packed 4:3 into the canvas beside the side panels, a column of boxes was cut off.
    const at = FencelinePlacement.packBlocks(slots, Array.from(weights.values()), { gap: GAP, aspect: FencelinePlacement.canvasAspect() });
    for (const slot of slots) slot.place(at.get(slot.id).x - slot.w / 2, at.get(slot.id).y - slot.h / 2);
    return els;
  }
  function order(name) { return name === "outside" ? 1 : 0; }

  // A block's nodes relative to its top-left corner: saved positions keep their arrangement; nodes without one
  // go into a grid below it, in the order of a walk along their edges (the most connected first), so that
  // workloads joined by an edge mostly sit side by side.
  function arrange(nodes, docNodes, doc) {
    const placed = nodes.filter((el) => (docNodes.get(el.data.docId) || {}).position);
    const loose = byEdges(nodes.filter((el) => !(docNodes.get(el.data.docId) || {}).position), doc);
    const at = new Map();
    let w = 0, h = 0;
    if (placed.length) {
      const xs = placed.map((el) => docNodes.get(el.data.docId).position.x), ys = placed.map((el) => docNodes.get(el.data.docId).position.y);
      const x0 = Math.min(...xs), y0 = Math.min(...ys);
      placed.forEach((el, i) => at.set(el, { x: xs[i] - x0 + CELL.w / 2, y: ys[i] - y0 + CELL.h / 2 }));
      w = Math.max(...xs) - x0 + CELL.w;
      h = Math.max(...ys) - y0 + CELL.h;
    }
    if (loose.length) {
      const cols = Math.max(1, Math.ceil(Math.sqrt(loose.length * 1.5)));
      const top = h;
      loose.forEach((el, i) => at.set(el, { x: (i % cols) * CELL.w + CELL.w / 2, y: top + Math.floor(i / cols) * CELL.h + CELL.h / 2 }));
      w = Math.max(w, Math.min(cols, loose.length) * CELL.w);
      h = top + Math.ceil(loose.length / cols) * CELL.h;
    }
    return { at: at, w: w, h: h };
  }

  function byEdges(nodes, doc) {
    if (nodes.length < 3) return nodes;
    const index = new Map(nodes.map((el, i) => [el.data.docId, i]));
    const next = nodes.map(() => []);
    for (const edge of doc.edges || []) {
      const a = index.get(edge.source), b = index.get(edge.target);
      if (a !== undefined && b !== undefined && a !== b) { next[a].push(b); next[b].push(a); }
    }
    const degree = (i) => next[i].length;
    const starts = nodes.map((el, i) => i).sort((a, b) => degree(b) - degree(a) || a - b);
    const seen = new Uint8Array(nodes.length), out = [];
    for (const start of starts) {
      if (seen[start]) continue;
      seen[start] = 1;
      const queue = [start];
      for (let q = 0; q < queue.length; q += 1) {
        out.push(nodes[queue[q]]);
        for (const j of next[queue[q]].slice().sort((a, b) => degree(b) - degree(a) || a - b)) if (!seen[j]) { seen[j] = 1; queue.push(j); }
      }
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------- focus
  // Which nodes are within `hops` of the focused one, following edges the chosen way round.
  function neighbourhood(doc, focus) {
    const out = new Map(), inn = new Map();
    for (const e of doc.edges || []) {
      if (!out.has(e.source)) out.set(e.source, []);
      if (!inn.has(e.target)) inn.set(e.target, []);
      out.get(e.source).push(e.target);
      inn.get(e.target).push(e.source);
    }
    const distance = new Map([[focus.id, 0]]);
    let frontier = [focus.id];
    for (let hop = 1; hop <= focus.hops; hop += 1) {
      const next = [];
      for (const id of frontier) {
        const peers = (focus.direction !== "ingress" ? out.get(id) || [] : []).concat(focus.direction !== "egress" ? inn.get(id) || [] : []);
        for (const peer of peers) if (!distance.has(peer)) { distance.set(peer, hop); next.push(peer); }
      }
      frontier = next;
    }
    return distance;
  }

  function focusElements(els, doc) {
    const docNodes = new Map((doc.nodes || []).map((n) => [n.id, n]));
    if (!docNodes.has(view.focus.id)) return null;
    const distance = neighbourhood(doc, view.focus);
    const ring = new Map();
    const out = [];
    for (const el of els) {
      if (el.group !== "nodes" || !distance.has(el.data.docId)) continue;
      const node = docNodes.get(el.data.docId);
      const d = distance.get(el.data.docId);
      if (!ring.has(d)) ring.set(d, []);
      const copy = { group: "nodes", data: Object.assign({}, el.data, { parent: undefined }), classes: el.classes + (d === 0 ? " focus-centre" : "") };
      delete copy.data.parent;
      if (node.namespace && POD_KINDS.has(node.kind)) copy.data.label = node.namespace + "/" + copy.data.label;
      ring.get(d).push(copy);
      out.push(copy);
    }
    // The focused node in the middle, each further hop on a wider ring.
    for (const [d, nodes] of ring) {
      const radius = d * 320;
      nodes.forEach((el, i) => {
        const angle = (2 * Math.PI * i) / nodes.length - Math.PI / 2;
        el.position = { x: Math.round(radius * Math.cos(angle) * 1.4), y: Math.round(radius * Math.sin(angle)) };
      });
    }
    for (const el of els) if (el.group === "edges" && distance.has(el.data.source.slice(2)) && distance.has(el.data.target.slice(2))) out.push(el);
    return out;
  }

  // -------------------------------------------------------------------------------------------- actions
  function editor() { return window.FencelineEditor; }
  function redraw() { editor().render(); }

  function setExpanded(names, open) {
    for (const name of names) if (open) view.expanded.add(name); else view.expanded.delete(name);
    store();
    redraw();
  }
  function expand(name) { if (view.large && !view.expanded.has(name)) setExpanded([name], true); }
  function collapseOne(name) { if (view.large && view.expanded.has(name)) setExpanded([name], false); }
  function expandAll() { setExpanded((editor().doc().namespaces || []).map((ns) => ns.name), true); }
  function collapseAll() { setExpanded(Array.from(view.expanded), false); }

  function setFocus(focus) {
    view.focus = focus;
    // Focus positions are a transient picture: nothing dragged there may end up in the drawing.
    editor().cy.autoungrabify(Boolean(focus) || editor().readOnly);
    document.getElementById("app").dataset.focus = focus ? focus.id : "";
    redraw();
  }

  // A tap on a collapsed namespace opens it; on an aggregate edge, opens both ends. True when handled here.
  function tap(ele) {
    if (ele.hasClass("collapsed")) { expand(ele.data("name")); return true; }
    if (ele.data("aggregate")) {
      const names = [ele.source(), ele.target()].filter((n) => n.hasClass("collapsed")).map((n) => n.data("name"));
      setExpanded(names, true);
      return true;
    }
    return false;
  }

  // Aggregate edges take the colour of the worst state among the edges they stand for.
  function colourAggregates(cy, edgeStates) {
    cy.batch(() => {
      for (const [id, members] of view.aggregates) {
        const ele = cy.getElementById(id);
        if (!ele.length) continue;
        let worst = WORST.length;
        for (const edgeId of members) {
          const i = WORST.indexOf((edgeStates || {})[edgeId]);
          if (i >= 0 && i < worst) worst = i;
        }
        // Only when it differs: a class change restyles the edge, and a whole cluster has a thousand of them.
        for (const c of WORST) if (c !== WORST[worst] && ele.hasClass(c)) ele.removeClass(c);
        if (worst < WORST.length && !ele.hasClass(WORST[worst])) ele.addClass(WORST[worst]);
      }
    });
  }

  function namespaceOf(docId) {
    const node = (editor().doc().nodes || []).find((n) => n.id === docId);
    return node && POD_KINDS.has(node.kind) ? node.namespace : null;
  }

  // search.js and lod.js start with the canvas (editor.js calls `opened` before it says it is ready).
  const openers = [];
  function opened(cy) {
    const app = document.getElementById("app");
    app.addEventListener("fenceline:rendered", () => colourAggregates(cy, (editor().lastCompile() || {}).edgeStates));
    for (const open of openers) open(cy);
  }

  window.FencelineView = {
    onOpen: (fn) => openers.push(fn),
    opened: opened,
    shown: shown,
    transform: transform,
    placesAll: () => view.large || Boolean(view.focus),
    isLarge: () => view.large,
    isExpanded: (name) => !view.large || view.expanded.has(name),
    expand: expand,
    collapse: collapseOne,
    expandAll: expandAll,
    collapseAll: collapseAll,
    focus: () => view.focus,
    setFocus: setFocus,
    tap: tap,
    colourAggregates: colourAggregates,
    namespaceOf: namespaceOf,
    COLLAPSED: COLLAPSED,
  };
})();
