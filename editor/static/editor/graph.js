/* Fenceline: how a graph document looks on the Cytoscape canvas.
 *
 * Presentation only: document -> Cytoscape elements and styles. Which traffic a drawing allows is decided by the
 * server (the compile answer's edgeStates colours the edges); nothing here interprets policy.
 * Labels are canvas text, so names containing HTML are drawn as the characters they are.
 */
(function () {
  "use strict";

  const POD_KINDS = new Set(["workload", "selector"]);

  function labelText(labels) {
    return Object.entries(labels || {}).map(([k, v]) => k + "=" + v).join(", ");
  }

  function displayName(node) {
    if (node.name) return node.name;
    if (node.kind === "cidr") return node.cidr || node.id;
    if (node.kind === "entity") return node.entity || node.id;
    if (node.kind === "fqdn") return node.matchName || node.matchPattern || node.id;
    if (node.kind === "selector") {
      const pods = labelText((node.podSelector || {}).matchLabels);
      return pods ? "pods " + pods : "all pods";
    }
    return node.id;
  }

  function subtitle(node) {
    switch (node.kind) {
      case "workload": return node.owner || "Deployment";
      case "selector":
        if (node.namespaceSelector) {
          const ns = labelText(node.namespaceSelector.matchLabels);
          return ns ? "namespaces " + ns : "all namespaces";
        }
        return "selector";
      // A name that already says the CIDR (imports name ipBlocks after it) is not repeated below it.
      case "cidr": return node.name && node.cidr && !String(node.name).includes(node.cidr) ? node.cidr : "IP range";
      case "entity": return "Cilium entity";
      case "fqdn": return node.matchPattern ? "domain pattern" : "domain";
      default: return node.kind;
    }
  }

  // Isolation per direction as the server computed it (`effective`: a lock, or an edge the node enforces), or
  // the locks alone until the first answer arrives.
  function isolationText(node, effective) {
    const iso = effective || node.isolate || {};
    const locked = node.isolate || {};
    const parts = [];
    if (iso.ingress) parts.push("in" + (locked.ingress ? "" : " by edges"));
    if (iso.egress) parts.push("out" + (locked.egress ? "" : " by edges"));
    return parts.length ? "isolated: " + parts.join(", ") : "";
  }

  function nodeLabel(node, effective) {
    const lines = [displayName(node), subtitle(node)];
    const isolation = isolationText(node, effective);
    if (isolation) lines.push("\u2298 " + isolation);
    const layer = window.FencelineLayers ? FencelineLayers.nodeLine(node) : ""; // layers.js: a platform tier's node
    if (layer) lines.push(layer);
    return lines.filter((line, i) => i === 0 || line !== lines[0]).join("\n");
  }

  // The box grows with its label, so that no text spills out of it: about 7.5 px per character at 13 px in
  // a 140 px wide text block, 17 px per line.
  const TEXT_WIDTH = 140, CHAR_WIDTH = 7.5, LINE_HEIGHT = 17;
  function nodeHeight(label) {
    const lines = label.split("\n").reduce((sum, line) => sum + Math.max(1, Math.ceil((line.length * CHAR_WIDTH) / TEXT_WIDTH)), 0);
    return Math.max(52, lines * LINE_HEIGHT + 14);
  }

  function portsLabel(edge) {
    const ports = edge.ports || [];
    if (!ports.length) return "all ports";
    const byPort = new Map();
    for (const p of ports) {
      const key = p.port === undefined ? "*" : String(p.port) + (p.endPort ? "-" + p.endPort : "");
      if (!byPort.has(key)) byPort.set(key, []);
      byPort.get(key).push(p.protocol || "TCP");
    }
    const parts = [];
    for (const [port, protocols] of byPort) {
      parts.push(protocols.join("/") + (port === "*" ? " all" : " " + port));
    }
    let text = parts.join(", ");
    if (edge.l7 && (edge.l7.http || edge.l7.dns)) text += " + L7";
    return text.length > 48 ? text.slice(0, 47) + "\u2026" : text;
  }

  function nodeClasses(node) {
    const classes = [node.kind];
    if (!POD_KINDS.has(node.kind)) classes.push("external");
    const iso = node.isolate || {};
    if (iso.ingress || iso.egress) classes.push("locked");
    return window.FencelineLayers ? FencelineLayers.nodeClasses(node, classes.join(" ")) : classes.join(" ");
  }

  // `shown` (optional: { node(node), edge(edge) } -> whether it is drawn) leaves out what is not drawn, so that a
  // collapsed whole cluster does not build 10,000 elements to draw 800 (collapse.js's `shown`).
  function elements(doc, shown) {
    const els = [];
    const namespaces = new Set();
    for (const ns of doc.namespaces || []) {
      namespaces.add(ns.name);
      const el = { group: "nodes", data: { id: "ns:" + ns.name, kind: "namespace", label: ns.name, name: ns.name }, classes: "namespace" };
      if (ns.position) el.position = { x: ns.position.x, y: ns.position.y };
      els.push(el);
    }
    for (const node of doc.nodes || []) {
      if (shown && !shown.node(node)) continue;
      const label = nodeLabel(node);
      const data = { id: "n:" + node.id, docId: node.id, kind: node.kind, label: label, height: nodeHeight(label) };
      if (POD_KINDS.has(node.kind) && node.namespace && namespaces.has(node.namespace)) data.parent = "ns:" + node.namespace;
      const el = { group: "nodes", data: data, classes: nodeClasses(node) };
      if (node.position) el.position = { x: node.position.x, y: node.position.y };
      els.push(el);
    }
    const L = window.FencelineLayers; // layers.js: a platform rule's tier and action, a hidden layer
    for (const edge of doc.edges || []) {
      if (shown && !shown.edge(edge)) continue;
      const label = L ? L.edgeLabel(edge, portsLabel(edge)) : portsLabel(edge);
      const classes = edge.disabled ? "edge disabled" : "edge";
      els.push({
        group: "edges",
        data: { id: "e:" + edge.id, docId: edge.id, source: "n:" + edge.source, target: "n:" + edge.target, label: label },
        classes: L ? L.edgeClasses(edge, classes) : classes,
      });
    }
    return els;
  }

  const FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica Neue, Arial, sans-serif";
  const COLORS = {
    ink: "#0f172a", muted: "#64748b", line: "#94a3b8", paper: "#ffffff", accent: "#2563eb",
    allowed: "#15803d", oneSided: "#d97706", denied: "#dc2626", disabled: "#94a3b8", deny: "#7f1d1d",
    unwritable: "#7c3aed",
  };

  function style() {
    return [
      { selector: "node", style: {
        "font-family": FONT, "font-size": 13, "color": COLORS.ink,
        "text-wrap": "wrap", "text-max-width": 140, "text-valign": "center", "text-halign": "center",
        "shape": "round-rectangle", "width": 160, "height": 52, "background-color": COLORS.paper,
        "text-overflow-wrap": "anywhere",
        "border-width": 1.5, "border-color": COLORS.line, "min-zoomed-font-size": 6,
      } },
      { selector: "node[label], edge[label]", style: { "label": "data(label)" } },
      { selector: "node[height]", style: { "height": "data(height)" } },
      { selector: "node.selector", style: { "border-style": "dashed", "background-color": "#f8fafc" } },
      { selector: "node.external", style: { "background-color": "#fefce8", "border-color": "#ca8a04", "shape": "round-tag", "width": 150 } },
      { selector: "node.entity", style: { "shape": "round-hexagon", "background-color": "#f0f9ff", "border-color": "#0284c7" } },
      { selector: "node.fqdn", style: { "shape": "round-rectangle", "background-color": "#fdf4ff", "border-color": "#a21caf" } },
      { selector: "node.locked, node.isolated", style: { "border-width": 3, "border-color": "#334155" } },
      { selector: "node.namespace", style: {
        "shape": "round-rectangle", "background-color": "#eef2ff", "background-opacity": 0.55,
        "border-color": "#a5b4fc", "border-width": 1.5, "padding": 22, "font-weight": 600, "font-size": 14,
        "text-valign": "top", "text-halign": "center", "text-margin-y": -6, "color": "#3730a3",
        "min-width": 180, "min-height": 80,
      } },
      { selector: "node.has-error", style: { "border-color": COLORS.denied, "border-width": 3 } },
      { selector: "node:selected", style: { "border-color": COLORS.accent, "border-width": 3, "overlay-opacity": 0 } },
      { selector: "edge", style: { "curve-style": "bezier", "width": 2, "line-color": COLORS.allowed } },
      // Arrow heads and label text: every edge but an aggregate drawn as a plain line (lod.js: zoomed out, not
      // selected), which shows neither. Cytoscape applies and tracks every property an element's rules name, one
      // by one, so the thousand aggregates of a whole cluster's first picture are given only their line.
      { selector: "edge[!aggregate], edge[?shownLabel], edge:selected", style: {
        "target-arrow-shape": "triangle", "arrow-scale": 1.1,
        "target-arrow-color": COLORS.allowed, "source-arrow-color": COLORS.allowed,
        "font-family": FONT, "font-size": 12, "color": COLORS.ink,
        "text-background-color": COLORS.paper, "text-background-opacity": 0.9, "text-background-padding": 2,
        "text-background-shape": "round-rectangle", "min-zoomed-font-size": 6, "text-rotation": "autorotate",
      } },
      // The source arrow is drawn by two-way aggregate edges only (lod.js); it takes the colour of the target's.
      { selector: "edge.one-sided", style: { "line-color": COLORS.oneSided, "target-arrow-color": COLORS.oneSided, "source-arrow-color": COLORS.oneSided, "line-style": "dashed" } },
      { selector: "edge.denied", style: { "line-color": COLORS.denied, "target-arrow-color": COLORS.denied, "source-arrow-color": COLORS.denied, "line-style": "dashed" } },
      { selector: "edge.disabled", style: { "line-color": COLORS.disabled, "target-arrow-color": COLORS.disabled, "source-arrow-color": COLORS.disabled, "line-style": "dotted" } },
      { selector: "edge.deny", style: { "line-color": COLORS.deny, "target-arrow-color": COLORS.deny, "source-arrow-color": COLORS.deny, "target-arrow-shape": "tee" } },
      // Not "observed, denied": the dialect shown cannot write this edge, so it is left out of the YAML.
      { selector: "edge.error", style: { "line-color": COLORS.unwritable, "target-arrow-color": COLORS.unwritable, "source-arrow-color": COLORS.unwritable, "line-style": "dotted", "width": 3, "target-arrow-shape": "triangle-cross" } },
      { selector: "edge:selected", style: { "width": 4, "overlay-opacity": 0, "z-index": 10 } },
      { selector: ".eh-preview, .eh-ghost-edge", style: { "line-color": COLORS.accent, "target-arrow-color": COLORS.accent, "line-style": "dashed", "label": "" } },
      { selector: ".eh-ghost-edge.eh-preview-active", style: { "opacity": 0 } },
      { selector: ".eh-source, .eh-target", style: { "border-color": COLORS.accent, "border-width": 3 } },
      { selector: ".eh-ghost-node", style: { "opacity": 0, "label": "" } },
    ].concat(window.FencelineLayers ? FencelineLayers.style() : []);
  }

  // The smallest font on the canvas is 12 px: at this zoom or more every label is at least 11 px on screen.
  const READABLE_ZOOM = 11 / 12;

  window.FencelineGraph = {
    elements: elements, style: style, displayName: displayName, portsLabel: portsLabel, nodeLabel: nodeLabel,
    nodeHeight: nodeHeight, READABLE_ZOOM: READABLE_ZOOM, FONT: FONT,
  };
})();
