/* Fenceline: labels readable at every zoom (issue 13, level of detail).
 *
 * Presentation only. A label drawn smaller than READABLE screen pixels is not drawn at all (Cytoscape's
 * min-zoomed-font-size), so what shows can be read: namespace names are scaled against the zoom and show at
 * every zoom; workload names appear as one zooms in; ports on edges when close. Workloads whose name repeats in
 * another namespace carry their namespace in the label ("team-07/api").
 */
(function () {
  "use strict";

  const READABLE = 11; // px on screen
  const NAMESPACE_PX = 14; // what a namespace name measures on screen when zoomed out
  const OPENING_ZOOM = 0.3; // a large drawing never opens smaller than this: its collapsed names fit their boxes

  function install(cy) {
    cy.style()
      .selector("node.workload, node.selector, node.external").style({ "min-zoomed-font-size": READABLE })
      .selector("edge").style({ "min-zoomed-font-size": READABLE })
      .selector("node.namespace").style({ "font-size": "data(fontSize)", "text-max-width": "data(textWidth)", "min-zoomed-font-size": 0 })
      .selector("node.collapsed").style({
        "width": 240, "height": 96, "text-valign": "center", "text-margin-y": 0, "text-wrap": "wrap",
        "background-color": "#e0e7ff", "background-opacity": 1, "border-width": 2,
      })
      .selector("edge.aggregate").style({ "width": "data(weight)", "font-size": "data(fontSize)", "min-zoomed-font-size": READABLE, "arrow-scale": 1.4 })
      .selector("node.focus-centre").style({ "border-width": 4, "border-color": "#2563eb" })
      .update();
    let frame = 0;
    const rescale = () => { frame = 0; scale(cy); };
    cy.on("zoom", () => { if (!frame) frame = requestAnimationFrame(rescale); });
    const app = document.getElementById("app");
    app.addEventListener("fenceline:rendered", () => { qualifyRepeatedNames(cy); scale(cy); });
    qualifyRepeatedNames(cy);
    scale(cy);
    if (window.FencelineView.isLarge() && cy.zoom() < OPENING_ZOOM) {
      // Start at the top left of the packed drawing, at a zoom where the namespace boxes can be read.
      const box = cy.elements().boundingBox();
      cy.zoom(OPENING_ZOOM);
      cy.pan({ x: 24 - box.x1 * OPENING_ZOOM, y: 24 - box.y1 * OPENING_ZOOM });
      scale(cy);
    }
  }

  // Namespace names keep NAMESPACE_PX on screen when zoomed out (their model size grows), never less than 14.
  function scale(cy) {
    const zoom = cy.zoom();
    const size = Math.max(14, NAMESPACE_PX / zoom);
    cy.batch(() => {
      cy.nodes(".namespace").forEach((ns) => {
        const width = ns.data("collapsed") ? 230 : Math.max(160, ns.width());
        if (ns.data("fontSize") !== size) ns.data({ fontSize: size, textWidth: Math.max(width, size * 12) });
      });
      cy.edges(".aggregate").forEach((e) => { if (e.data("fontSize") !== Math.max(12, 12 / Math.max(zoom, 0.5))) e.data("fontSize", Math.max(12, 12 / Math.max(zoom, 0.5))); });
    });
  }

  // "api" twice in a drawing is two different workloads: say which namespace each is in.
  function qualifyRepeatedNames(cy) {
    const editor = window.FencelineEditor;
    const nodes = (editor.doc().nodes || []).filter((n) => n.kind === "workload" && n.namespace);
    const namespacesOf = new Map();
    for (const n of nodes) {
      if (!namespacesOf.has(n.name)) namespacesOf.set(n.name, new Set());
      namespacesOf.get(n.name).add(n.namespace);
    }
    cy.batch(() => {
      for (const n of nodes) {
        if (namespacesOf.get(n.name).size < 2) continue;
        const ele = cy.getElementById("n:" + n.id);
        const label = ele.length && ele.data("label");
        if (!label || label.startsWith(n.namespace + "/")) continue;
        ele.data("label", n.namespace + "/" + label);
      }
    });
  }

  window.FencelineView.onOpen(install);
})();
