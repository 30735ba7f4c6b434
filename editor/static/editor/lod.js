/* Fenceline: labels readable at every zoom (issue 13, level of detail).
 *
 * Presentation only. A label drawn smaller than READABLE screen pixels is not drawn at all (Cytoscape's
 * min-zoomed-font-size), so what shows can be read: namespace names are scaled against the zoom and show at
 * every zoom (an open namespace's title only as large as the room above its box; a collapsed namespace's label as
 * large as fits inside its box, a name too long for it shortened with an ellipsis, down to READABLE); workload
 * names appear as one zooms in; ports on edges when close. Workloads whose name repeats in another namespace carry
 * their namespace in the label ("team-07/api").
 */
(function () {
  "use strict";

  const READABLE = 11; // px on screen
  const NAMESPACE_PX = 14; // what a namespace name measures on screen when zoomed out
  const OPENING_ZOOM = 0.3; // a large drawing never opens smaller than this: its collapsed names fit their boxes

  // Part of the canvas's stylesheet from the start (editor.js adds it to graph.js's): one style pass, not two.
  function style() {
    return [
      { selector: "node.workload, node.selector, node.external", style: { "min-zoomed-font-size": READABLE } },
      { selector: "edge[!aggregate], edge[?shownLabel], edge:selected", style: { "min-zoomed-font-size": READABLE } },
      { selector: "node.namespace[fontSize]", style: { "font-size": "data(fontSize)", "text-max-width": "data(textWidth)" } },
      { selector: "node.namespace", style: { "min-zoomed-font-size": 0 } },
      { selector: "node.collapsed", style: {
        "width": window.FencelineView.COLLAPSED.w, "height": window.FencelineView.COLLAPSED.h, "text-valign": "center", "text-margin-y": 0, "text-wrap": "wrap",
        "background-color": "#e0e7ff", "background-opacity": 1, "border-width": 2,
      } },
      { selector: "edge.aggregate", style: { "width": "data(weight)" } },
      // At the opening zoom an aggregate is a haystack line (Cytoscape's cheapest edge: no curve, no arrow), its
      // ends spread over the boxes. Where its label is drawn (zoomed in) or when selected it is curved again,
      // with its arrow (one at each end when its edges go both ways): the direction is read there.
      { selector: "edge.aggregate", style: { "curve-style": "haystack", "haystack-radius": 0.6 } },
      { selector: "edge.aggregate[?shownLabel], edge.aggregate:selected", style: { "curve-style": "bezier", "arrow-scale": 1.4 } },
      // A two-way aggregate shows its state at both ends: the tee of a Deny and the cross of an edge the dialect
      // cannot write (graph.js puts them at the target end only) at the source end too.
      { selector: "edge.aggregate[?twoWay][?shownLabel], edge.aggregate[?twoWay]:selected", style: { "source-arrow-shape": "triangle" } },
      { selector: "edge.aggregate[?twoWay][?shownLabel].deny, edge.aggregate[?twoWay].deny:selected", style: { "source-arrow-shape": "tee" } },
      { selector: "edge.aggregate[?twoWay][?shownLabel].error, edge.aggregate[?twoWay].error:selected", style: { "source-arrow-shape": "triangle-cross" } },
      // An aggregate's label is given to Cytoscape only at a zoom where it is drawn (scale): below that, measuring
      // a thousand labels that are not drawn cost a third of the first picture.
      { selector: "edge.aggregate", style: { "label": "" } },
      { selector: "edge.aggregate[fontSize]", style: { "font-size": "data(fontSize)" } },
      { selector: "edge.aggregate[shownLabel]", style: { "label": "data(shownLabel)" } },
      { selector: "node.collapsed[fitLabel]", style: { "label": "data(fitLabel)" } },
      { selector: "node.focus-centre", style: { "border-width": 4, "border-color": "#2563eb" } },
    ];
  }

  function install(cy) {
    const app = document.getElementById("app");
    app.addEventListener("fenceline:rendered", () => { qualifyRepeatedNames(cy); scale(cy); });
    qualifyRepeatedNames(cy);
    if (window.FencelineView.isLarge() && cy.zoom() < OPENING_ZOOM) {
      // Start at the top left of the packed drawing, at a zoom where the namespace boxes can be read. The nodes
      // bound it (edges run between them): measuring a thousand edge labels here cost most of a second.
      const box = cy.nodes().boundingBox();
      cy.zoom(OPENING_ZOOM);
      cy.pan({ x: 24 - box.x1 * OPENING_ZOOM, y: 24 - box.y1 * OPENING_ZOOM });
    }
    scaleNamespaces(cy);
    let frame = 0;
    const rescale = () => { frame = 0; scale(cy); };
    cy.on("zoom", () => { if (!frame) frame = requestAnimationFrame(rescale); });
    // Aggregate edge labels are sized right after the first picture, not before it: restyling a thousand edges
    // there doubled its cost, and at the opening zoom of a large drawing (0.3) they are not drawn.
    requestAnimationFrame(() => setTimeout(() => scale(cy), 0));
  }

  // Namespace names keep NAMESPACE_PX on screen when zoomed out (their model size grows), never less than 14.
  function scale(cy) {
    cy.batch(() => {
      scaleNamespaces(cy);
      const size = edgeFontSize(cy.zoom());
      const drawn = size * cy.zoom() >= READABLE;
      cy.edges(".aggregate").forEach((e) => {
        // An edge whose label is not drawn is left alone: restyling it changes nothing on screen.
        if (!drawn && !e.data("shownLabel")) return;
        const shown = drawn ? e.data("label") : "";
        if (e.data("fontSize") !== size || e.data("shownLabel") !== shown) e.data({ fontSize: size, shownLabel: shown });
      });
    });
  }
  function edgeFontSize(zoom) { return Math.max(12, 12 / Math.max(zoom, 0.5)); }
  // An open namespace's title sits above its box, where the layout leaves 64 between two boxes (placement.js: its
  // margin and the room for a title at zoom 1): it grows to TITLE_MAX at most, so that it never reaches into the
  // box above. It is 14 px on screen down to a zoom of 0.29, 11 px down to 0.23, smaller only below that.
  const TITLE_MAX = 48;
  function scaleNamespaces(cy) {
    const grown = Math.max(14, NAMESPACE_PX / cy.zoom());
    cy.batch(() => {
      cy.nodes(".namespace").forEach((ns) => {
        if (ns.hasClass("collapsed")) { fitCollapsed(ns, grown, cy.zoom()); return; }
        const size = Math.min(grown, TITLE_MAX);
        if (ns.data("fontSize") !== size) ns.data({ fontSize: size, textWidth: Math.max(160, ns.width(), size * 12) });
      });
    });
  }

  // A collapsed namespace's label ("name", "N workloads") inside its box: at the largest size up to `grown` at
  // which both lines fit, but never under READABLE px on screen; a name still too wide there ends in an ellipsis.
  const MARGIN = 10; // each side, inside the box's outline
  function fitCollapsed(ns, grown, zoom) {
    const room = ns.outerWidth() - 2 * MARGIN;
    const [name, count] = String(ns.data("label")).split("\n");
    const widest = Math.max(textWidth(name, 1), textWidth(count || "", 1));
    const size = Math.max(Math.min(grown, room / widest), (READABLE + 0.05) / zoom);
    let shown = name;
    if (textWidth(name, size) > room) {
      let fits = 0; // the longest start of the name that fits with the ellipsis after it
      for (let lo = 1, hi = name.length - 1; lo <= hi;) {
        const mid = (lo + hi) >> 1;
        if (textWidth(name.slice(0, mid) + "\u2026", size) <= room) { fits = mid; lo = mid + 1; } else hi = mid - 1;
      }
      shown = name.slice(0, fits) + "\u2026";
    }
    const label = count === undefined ? shown : shown + "\n" + count;
    // Cytoscape wraps no line of it: each is measured to fit already.
    if (ns.data("fontSize") !== size || ns.data("fitLabel") !== label) ns.data({ fontSize: size, textWidth: ns.outerWidth(), fitLabel: label });
  }

  // The width of a text in a collapsed namespace's font at `size`, measured once at 100.
  let measure = null;
  const widths = new Map();
  function textWidth(text, size) {
    if (!measure) {
      measure = document.createElement("canvas").getContext("2d");
      measure.font = "600 100px " + window.FencelineGraph.FONT; // node.namespace's weight, graph.js's font
    }
    if (!widths.has(text)) widths.set(text, measure.measureText(text).width);
    return (widths.get(text) * size) / 100;
  }

  // "api" twice in a drawing is two different workloads: say which namespace each is in.
  // Only the workloads drawn are looked at: a collapsed namespace draws none of its own.
  function qualifyRepeatedNames(cy) {
    const drawn = cy.nodes(".workload");
    if (!drawn.length) return;
    const namespacesOf = new Map();
    for (const n of window.FencelineEditor.doc().nodes || []) {
      if (n.kind !== "workload" || !n.namespace) continue;
      if (!namespacesOf.has(n.name)) namespacesOf.set(n.name, new Set());
      namespacesOf.get(n.name).add(n.namespace);
    }
    const nodes = new Map((window.FencelineEditor.doc().nodes || []).map((n) => [n.id, n]));
    cy.batch(() => {
      drawn.forEach((ele) => {
        const n = nodes.get(ele.data("docId"));
        if (!n || !n.namespace || (namespacesOf.get(n.name) || new Set()).size < 2) return;
        const label = ele.data("label");
        if (!label || label.startsWith(n.namespace + "/")) return;
        ele.data("label", n.namespace + "/" + label);
      });
    });
  }

  window.FencelineLod = { style: style };
  window.FencelineView.onOpen(install);
})();
