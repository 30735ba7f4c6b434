/* Fenceline: the drawing's layers in the editor (issue 15).
 *
 * Every node and edge belongs to the application layer or to a platform tier (Admin, Baseline): the platform team's
 * rules that bound the application's policy. This file
 *   - tells graph.js how a platform node or rule looks (a class per tier and action, a label that says both in
 *     words, so that neither colour nor line style alone carries the meaning);
 *   - shows and hides layers (the Layers menu, remembered in this browser);
 *   - locks the platform layer: its nodes and rules can be selected and read, not edited, moved, deleted or
 *     connected from, until the person turns on "Edit platform layer" (the server accepts platform edits: the
 *     document owns them; the lock is the page's, so that an application author does not change them by mistake);
 *   - says why an application edge is not in effect (the compile answer's edgeReasons) on the canvas, in a tooltip,
 *     to screen readers and in the legend.
 * It loads before editor.js (graph.js asks it while drawing) and starts with the editor's first drawing. No policy logic:
 * which edges are overridden, and why, is the server's answer.
 */
(function () {
  "use strict";

  const APPLICATION = "application";
  const TIERS = { admin: "Admin", baseline: "Baseline" };
  const ACTION_WORDS = { allow: "accept", deny: "deny", pass: "pass" };
  const STORE = "fenceline.layers.v1";

  const layerOf = (item) => (item && item.layer) || APPLICATION;
  const isPlatform = (item) => layerOf(item) !== APPLICATION;
  const hasPlatform = (doc) => (doc.nodes || []).some(isPlatform) || (doc.edges || []).some(isPlatform);

  function loadShown() {
    const shown = { application: true, admin: true, baseline: true };
    try {
      const saved = JSON.parse(localStorage.getItem(STORE) || "null");
      if (saved && saved.shown) for (const layer of Object.keys(shown)) shown[layer] = saved.shown[layer] !== false;
    } catch (err) { /* storage disabled or garbled: every layer shown */ }
    return shown;
  }

  const state = { shown: loadShown(), open: false };

  /* `classes` (graph.js's) with the layer's: most items are the application's, shown, and get them unchanged. */
  function layerClasses(item, classes, extra) {
    const layer = layerOf(item);
    if (layer === APPLICATION && state.shown.application) return classes;
    const more = layer === APPLICATION ? [] : ["platform", "layer-" + layer, extra];
    if (!state.shown[layer]) more.push("layer-hidden");
    return classes + " " + more.filter(Boolean).join(" ");
  }

  // ---------------------------------------------------------------------------------------- what graph.js asks
  function nodeClasses(node, classes) { return layerClasses(node, classes, ""); }

  function edgeClasses(edge, classes) {
    if (edge.layer === undefined && state.shown.application) return classes; // most edges: no string built
    return layerClasses(edge, classes, "action-" + (edge.action || "allow"));
  }

  /* A platform rule's label starts with its tier and action in words: "Admin deny · all ports". */
  function edgeLabel(edge, ports) {
    if (edge.layer === undefined || !isPlatform(edge)) return ports;
    return TIERS[layerOf(edge)] + " " + ACTION_WORDS[edge.action || "allow"] + " \u00b7 " + ports;
  }

  /* The extra line of a platform node's label. */
  function nodeLine(node) {
    return isPlatform(node) ? "platform \u00b7 " + TIERS[layerOf(node)] + " tier" : "";
  }

  /* Canvas styles, after graph.js's own. Tier: the line (Admin a thick cased line, Baseline dash-dot); action: the
   * arrow head (accept a triangle, deny a bar, pass a chevron) and the colour (Okabe-Ito blue, vermillion, plum, told
   * apart with every kind of colour blindness); the label says both in words. */
  const INK = { accept: "#0072b2", deny: "#d55e00", pass: "#8e4585", casing: "#1e293b", overridden: "#64748b" };
  function style() {
    return [
      { selector: "node.platform", style: { "background-color": "#f8fafc", "border-color": INK.casing } },
      { selector: "node.layer-admin", style: { "border-style": "double", "border-width": 6 } },
      { selector: "node.layer-baseline", style: { "border-style": "dashed", "border-width": 2.5 } },
      { selector: "edge.platform", style: { "line-style": "solid", "font-weight": 600 } },
      { selector: "edge.layer-admin", style: { "width": 3.5, "line-outline-width": 1.5, "line-outline-color": INK.casing } },
      { selector: "edge.layer-baseline", style: { "width": 3, "line-style": "dashed", "line-dash-pattern": [12, 4, 2, 4] } },
      { selector: "edge.action-allow", style: { "line-color": INK.accept, "target-arrow-color": INK.accept, "target-arrow-shape": "triangle" } },
      { selector: "edge.action-deny", style: { "line-color": INK.deny, "target-arrow-color": INK.deny, "target-arrow-shape": "tee" } },
      { selector: "edge.action-pass", style: { "line-color": INK.pass, "target-arrow-color": INK.pass, "target-arrow-shape": "chevron" } },
      { selector: "edge.overridden", style: {
        "line-color": INK.overridden, "target-arrow-color": INK.overridden, "line-style": "dashed",
        "line-dash-pattern": [3, 4], "opacity": 0.6, "target-arrow-shape": "triangle-cross", "color": "#334155",
      } },
      { selector: "edge.overridden[notInEffect]", style: { "label": "data(notInEffect)" } },
      { selector: ".layer-hidden", style: { "display": "none" } },
      { selector: "edge.platform:selected, edge.overridden:selected", style: { "width": 5, "opacity": 1 } },
    ];
  }

  window.FencelineLayers = {
    nodeClasses: nodeClasses, edgeClasses: edgeClasses, edgeLabel: edgeLabel, nodeLine: nodeLine, style: style,
    hasPlatform: hasPlatform,
  };

  // ------------------------------------------------------------------------------------------ in the editor
  // Starts at the editor's first drawing; listening from here, before the other views, each drawing's reasons
  // are on the edges before they read them (graph_keys.js reads them out).
  const app = document.getElementById("app");
  let rendered = null;
  if (app) {
    app.addEventListener("fenceline:rendered", () => {
      if (!rendered) rendered = start();
      if (rendered) rendered();
    });
  }

  function start() {
    const E = window.FencelineEditor;
    if (!E) return null; // not yet: the next drawing starts it
    const cy = E.cy;
    const $ = (selector, root) => (root || document).querySelector(selector);
    const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));
    const toggle = $("#platform-edit");

    const docItem = (id) => {
      const doc = E.doc();
      if (id.startsWith("e:")) return (doc.edges || []).find((e) => e.id === id.slice(2));
      if (id.startsWith("n:")) return (doc.nodes || []).find((n) => n.id === id.slice(2));
      return null;
    };

    function lockedText(item) {
      const rule = item.source !== undefined;
      return "This " + (rule ? "rule" : "node") + " is the platform team's (" + TIERS[layerOf(item)] + " tier): it bounds " +
        "what the application's policy can allow. You can select and read it; to change, " + (rule ? "" : "move, ") +
        "delete or connect from it, turn on \u201cEdit platform layer\u201d.";
    }

    // Why an element may not be changed now ("" when it may): the editor asks before deleting and connecting.
    function whyLocked(id) {
      if (state.open || E.readOnly) return "";
      const item = docItem(id);
      if (!item || !isPlatform(item)) return "";
      return "Locked. " + lockedText(item);
    }
    E.guardEdit(whyLocked);

    // ------------------------------------------------------------------------------------- filter and lock
    function saveShown() {
      try { localStorage.setItem(STORE, JSON.stringify({ shown: state.shown })); } catch (err) { /* see loadShown */ }
    }

    function showLayer(layer, on) {
      state.shown[layer] = on;
      saveShown();
      E.render();
      const selected = E.selected();
      if (selected && cy.getElementById(selected).hasClass("layer-hidden")) E.closePanel();
    }

    // `focusPanel`: opened from the inspector's note, the keyboard goes on in the panel's first field.
    function setOpen(open, focusPanel) {
      state.open = open;
      if (toggle) {
        toggle.setAttribute("aria-pressed", String(open));
        toggle.title = open ? "The platform layer is open for editing: click to lock it again" : "The platform layer is locked: click to edit it";
      }
      app.classList.toggle("platform-open", open);
      app.dataset.platformOpen = open ? "1" : "0";
      lockTemplates();
      onRendered();
      const selected = E.selected();
      if (selected && !$("#inspector").hidden && (selected.startsWith("e:") || selected.startsWith("n:"))) {
        E.select(selected, focusPanel ? { focus: true } : undefined);
      }
      E.toast(open ? "The platform layer is open: its rules can be edited. Lock it again when done." : "The platform layer is locked.");
    }

    // The platform templates add platform rules: offered only while the platform layer is open.
    function lockTemplates() {
      for (const button of $$("#templates-menu [data-template^='platform-']")) {
        button.disabled = !state.open;
        button.title = state.open ? "" : "Turn on \u201cEdit platform layer\u201d to add the platform team's rules";
      }
    }

    // ------------------------------------------------------------------------------- canvas after each render
    let reasoned = cy.collection();
    function onRendered() {
      const compiled = E.lastCompile();
      const reasons = (compiled && compiled.edgeReasons) || {};
      cy.batch(() => {
        // Platform nodes stay where the platform team put them while locked.
        cy.nodes(".platform").forEach((n) => { if (state.open && !E.readOnly) n.grabify(); else n.ungrabify(); });
        // A namespace box whose members are all hidden is hidden too.
        cy.nodes(".namespace").forEach((ns) => {
          const hide = !state.shown.application && ns.children().every((child) => child.hasClass("layer-hidden"));
          if (hide !== ns.hasClass("layer-hidden")) ns.toggleClass("layer-hidden", hide);
        });
        reasoned.forEach((edge) => { if (!reasons[edge.data("docId")]) edge.removeData("reason notInEffect"); });
        reasoned = cy.collection();
        for (const [id, reason] of Object.entries(reasons)) {
          const edge = cy.getElementById("e:" + id);
          if (!edge.length) continue;
          const text = "\u2298 " + (edge.data("label") || "all ports") + " \u00b7 not in effect";
          if (edge.data("reason") !== reason) edge.data("reason", reason);
          if (edge.data("notInEffect") !== text) edge.data("notInEffect", text);
          reasoned = reasoned.union(edge);
        }
      });
      const platform = hasPlatform(E.doc());
      for (const item of $$("[data-layer-legend]")) item.hidden = item.dataset.layerLegend === "overridden" ? !reasoned.length : !platform;
    }

    // ------------------------------------------------------------------------------------------ tooltip
    const tip = document.createElement("div");
    tip.className = "canvas-tip";
    tip.id = "canvas-tip";
    tip.setAttribute("role", "tooltip");
    tip.hidden = true;
    $("#cy").after(tip);

    function describeEdge(edge) {
      const item = docItem(edge.id());
      if (!item) return "";
      if (edge.data("reason")) return edge.data("reason");
      if (!isPlatform(item)) return "";
      const name = item.name === undefined ? item.id : item.name;
      const words = TIERS[layerOf(item)] + " tier rule" + (name ? " \u201c" + name + "\u201d" : "") + ", priority " +
        (item.priority === undefined || item.priority === null ? app.dataset.defaultPriority : item.priority) + ": " + ACTION_WORDS[item.action || "allow"] + ".";
      return state.open || E.readOnly ? words : words + " Locked: turn on \u201cEdit platform layer\u201d to change it.";
    }

    cy.on("mouseover", "edge", (evt) => {
      const text = describeEdge(evt.target);
      if (!text) return;
      tip.textContent = text;
      const p = evt.renderedPosition || evt.target.renderedMidpoint();
      tip.style.left = Math.round(p.x + 14) + "px";
      tip.style.top = Math.round(p.y + 14) + "px";
      tip.hidden = false;
    });
    cy.on("mouseout", "edge", () => { tip.hidden = true; });
    cy.on("viewport", () => { tip.hidden = true; });

    // -------------------------------------------------------------------------------------- the inspector
    function onPanel() {
      const inspector = $("#inspector");
      const form = $("form[data-layer]", inspector);
      $$(".layer-lock-note", inspector).forEach((note) => note.remove());
      if (!form || E.readOnly) return;
      if (form.dataset.layer === APPLICATION) {
        // An application author does not move things into the platform layer while it is locked.
        for (const option of $$("select[name=layer] option", form)) {
          if (option.value !== APPLICATION) option.disabled = !state.open;
        }
        return;
      }
      if (state.open) return;
      $$("input, select, textarea, button[type=submit]", inspector).forEach((el) => { el.disabled = true; });
      $$("[data-action=delete], form.connect", inspector).forEach((el) => el.remove());
      const note = document.createElement("div");
      note.className = "layer-lock-note";
      note.setAttribute("role", "note");
      const text = document.createElement("p");
      const strong = document.createElement("strong");
      strong.textContent = "Platform layer, locked. ";
      const id = $("input[name=id]", form).value;
      const item = docItem((form.getAttribute("action").endsWith("/edge") ? "e:" : "n:") + id) || { layer: form.dataset.layer };
      text.append(strong, document.createTextNode(lockedText(item)));
      const open = document.createElement("button");
      open.type = "button";
      open.className = "button small";
      open.dataset.openPlatform = "";
      open.textContent = "Edit platform layer";
      note.append(text, open);
      form.before(note);
    }
    app.addEventListener("fenceline:panel", onPanel);

    // ----------------------------------------------------------------------------------------- controls
    for (const box of $$("[data-layer-show]")) {
      box.checked = state.shown[box.dataset.layerShow];
      box.addEventListener("change", () => showLayer(box.dataset.layerShow, box.checked));
    }
    if (toggle) toggle.addEventListener("click", () => setOpen(!state.open));
    $("#inspector").addEventListener("click", (evt) => {
      if (evt.target.closest("[data-open-platform]")) setOpen(true, true);
    });
    document.addEventListener("click", (evt) => {
      const menu = $("#layers-menu");
      if (menu && menu.open && !menu.contains(evt.target)) menu.open = false;
    });

    $("#layers-menu").addEventListener("keydown", (evt) => {
      if (evt.key !== "Escape") return;
      evt.stopPropagation();
      $("#layers-menu").open = false;
      $("#layers-menu summary").focus();
    });

    lockTemplates();
    return onRendered;
  }
})();
