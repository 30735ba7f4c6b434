/* Fenceline: the drawing from the keyboard, and read out to screen readers.
 *
 * The canvas draws pixels, so the page keeps an offscreen list that mirrors it (every namespace, node and edge
 * with a spoken name) and points the focused canvas at the current item (aria-activedescendant), announcing it
 * in a live region. With the canvas focused: Tab / Shift+Tab and the arrow keys move through the drawing
 * (Tab leaves it after the last item, so the keyboard is never trapped; the arrows go round), Home and End go to the ends, Enter
 * opens the inspector, C opens it at "Connect to..." to draw an edge. Moving never zooms; it pans only when
 * the item is out of sight.
 */
(function () {
  "use strict";

  const E = window.FencelineEditor;
  const canvas = document.getElementById("cy");
  const list = document.getElementById("graph-options");
  const status = document.getElementById("graph-status");
  if (!E || !canvas || !list || !status) return;
  const cy = E.cy;

  const KINDS = { workload: "Workload", selector: "Selector", cidr: "IP range", entity: "Cilium entity", fqdn: "Domain" };
  const optionId = (ele) => "graph-option-" + ele.id().replace(/[^A-Za-z0-9_-]/g, (c) => "_" + c.charCodeAt(0));
  const plural = (n, word) => n + " " + word + (n === 1 ? "" : "s");

  function byPlace(a, b) {
    const p = a.position(), q = b.position();
    return p.y - q.y || p.x - q.x;
  }

  /* Reading order: each namespace followed by what is in it, then the nodes outside any namespace, then edges. */
  function items() {
    // A layer hidden in the Layers menu (layers.js) is skipped, and the edges of its nodes with it.
    const nodes = cy.nodes().filter((n) => !n.hasClass("eh-ghost-node") && !n.hasClass("eh-ghost") && !n.hasClass("layer-hidden"));
    const order = [];
    nodes.filter((n) => n.data("kind") === "namespace").sort(byPlace).forEach((ns) => {
      order.push(ns);
      ns.children().sort(byPlace).forEach((child) => order.push(child));
    });
    nodes.filter((n) => n.data("kind") !== "namespace" && !n.isChild()).sort(byPlace).forEach((n) => order.push(n));
    cy.edges().filter((e) => !e.hasClass("eh-preview") && !e.hasClass("eh-ghost-edge") &&
      !e.hasClass("layer-hidden") && !e.source().hasClass("layer-hidden") && !e.target().hasClass("layer-hidden")).forEach((e) => order.push(e));
    return order;
  }

  function firstLine(ele) { return String(ele.data("label") || "").split("\n")[0]; }

  function spokenName(ele) {
    if (ele.isEdge()) {
      // An application edge a platform rule overrides says so, and why (layers.js).
      const reason = ele.data("reason") ? "; " + ele.data("reason") : "";
      return "Edge from " + firstLine(ele.source()) + " to " + firstLine(ele.target()) + ", " + (ele.data("label") || "all ports") + reason;
    }
    if (ele.data("kind") === "namespace") return "Namespace " + ele.data("name") + ", " + plural(ele.children().length, "node");
    const lines = String(ele.data("label") || "").split("\n");
    const where = ele.isChild() ? " in namespace " + ele.parent().data("name") : "";
    const details = lines.slice(1).map((line) => line.replace("\u2298 ", "")).join(", ");
    return (KINDS[ele.data("kind")] || "Node") + " " + lines[0] + where + (details ? ", " + details : "") + "; " +
      plural(ele.outgoers("edge").length, "outgoing edge") + ", " + plural(ele.incomers("edge").length, "incoming edge");
  }

  let mirrored = false;
  function mirror() {
    mirrored = true;
    const current = E.selected();
    list.replaceChildren(...items().map((ele) => {
      const li = document.createElement("li");
      li.id = optionId(ele);
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(ele.id() === current));
      li.textContent = spokenName(ele);
      return li;
    }));
    const active = current && cy.getElementById(current);
    if (active && active.length) canvas.setAttribute("aria-activedescendant", optionId(active));
    else canvas.removeAttribute("aria-activedescendant");
  }

  function reveal(ele) {
    const box = ele.renderedBoundingBox();
    const margin = 24;
    let dx = 0, dy = 0;
    if (box.x2 - box.x1 < cy.width() - 2 * margin) {
      if (box.x1 < margin) dx = margin - box.x1; else if (box.x2 > cy.width() - margin) dx = cy.width() - margin - box.x2;
    }
    if (box.y2 - box.y1 < cy.height() - 2 * margin) {
      if (box.y1 < margin) dy = margin - box.y1; else if (box.y2 > cy.height() - margin) dy = cy.height() - margin - box.y2;
    }
    if (dx || dy) cy.panBy({ x: dx, y: dy });
  }

  function moveTo(ele) {
    E.mark(ele.id());
    reveal(ele);
    mirror();
    status.textContent = spokenName(ele);
  }

  canvas.addEventListener("keydown", (evt) => {
    if (evt.ctrlKey || evt.metaKey || evt.altKey) return;
    const order = items();
    if (!order.length) return;
    const current = order.findIndex((ele) => ele.id() === E.selected());
    const forward = evt.key === "ArrowDown" || evt.key === "ArrowRight" || (evt.key === "Tab" && !evt.shiftKey);
    const backward = evt.key === "ArrowUp" || evt.key === "ArrowLeft" || (evt.key === "Tab" && evt.shiftKey);
    let next = null;
    if (forward) next = current < 0 ? 0 : current + 1;
    else if (backward) next = current < 0 ? order.length - 1 : current - 1;
    else if (evt.key === "Home") next = 0;
    else if (evt.key === "End") next = order.length - 1;
    if (next !== null) {
      if (evt.key === "Tab" && (next < 0 || next >= order.length)) return; // Tab past either end leaves the drawing
      next = (next + order.length) % order.length; // the arrow keys go round
      evt.preventDefault();
      evt.stopPropagation();
      moveTo(order[next]);
      return;
    }
    if (current < 0) return;
    if (evt.key === "Enter") {
      evt.preventDefault();
      E.select(order[current].id(), { focus: true });
    } else if (evt.key.toLowerCase() === "c" && !E.readOnly && order[current].isNode() && order[current].data("kind") !== "namespace") {
      evt.preventDefault();
      evt.stopPropagation();
      E.select(order[current].id(), { focus: "#connect-target" });
    }
  });

  document.getElementById("app").addEventListener("fenceline:rendered", mirror);
  cy.on("select unselect", () => { if (document.activeElement === canvas) mirror(); });
  // The drawing as the page opened it is mirrored once the browser is idle, after the first picture: for a whole
  // cluster the list is ~1,300 items whose building and layout came before it. Focusing the drawing mirrors it
  // at once if it has not been yet.
  const mirrorOnce = () => { if (!mirrored) mirror(); };
  canvas.addEventListener("focus", mirrorOnce);
  if (window.requestIdleCallback) requestIdleCallback(mirrorOnce, { timeout: 1000 }); else setTimeout(mirrorOnce, 0);
})();
