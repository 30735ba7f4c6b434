/* Fenceline: find, focus and follow in a large drawing (issue 13).
 *
 * - Search (/ or Ctrl+K): workloads, namespaces, labels and outside peers; choosing a result opens its namespace,
 *   centres and selects it. A combobox with a listbox, driven by the arrow keys, Enter and Escape.
 * - Focus on the selection: only it and its neighbours (1 or 2 hops, ingress, egress or both); Escape returns.
 * - Expand or collapse all namespaces of a large drawing.
 * - The YAML follows the selection: the selected workload's policy is scrolled into view and marked.
 * Presentation only: which policy belongs to which node is the server's answer (objectNodes).
 */
(function () {
  "use strict";

  const MAX_RESULTS = 12;
  const View = window.FencelineView;

  function make(tag, attrs, text) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // ------------------------------------------------------------------------------------------------ search
  function entries(doc) {
    const G = window.FencelineGraph;
    const out = [];
    for (const ns of doc.namespaces || []) out.push({ id: "ns:" + ns.name, title: ns.name, kind: "namespace", text: ns.name.toLowerCase() });
    for (const node of doc.nodes || []) {
      const name = G.displayName(node);
      const labels = Object.entries(node.labels || {}).map(([k, v]) => k + "=" + v).join(" ");
      const where = node.namespace && (node.kind === "workload" || node.kind === "selector") ? node.namespace : "outside";
      out.push({ id: "n:" + node.id, docId: node.id, title: name, kind: node.kind, where: where,
        name: name.toLowerCase(), text: (where + "/" + name + " " + labels).toLowerCase() });
    }
    return out;
  }

  // Exact names first, then names that start with the query, then any match (namespace, labels).
  function find(doc, query) {
    const q = query.trim().toLowerCase();
    if (!q) return [];
    const ranked = [];
    for (const e of entries(doc)) {
      const name = e.name || e.text;
      const rank = name === q ? 0 : name.startsWith(q) ? 1 : e.text.includes(q) ? 2 : -1;
      if (rank >= 0) ranked.push([rank, e]);
    }
    ranked.sort((a, b) => a[0] - b[0] || (a[1].text < b[1].text ? -1 : 1));
    return ranked.slice(0, MAX_RESULTS).map((r) => r[1]);
  }

  function installSearch(cy, top) {
    const box = make("div", { class: "canvas-search", role: "search" });
    const input = make("input", {
      type: "search", id: "canvas-search", role: "combobox", "aria-expanded": "false", "aria-controls": "search-results",
      "aria-autocomplete": "list", "aria-label": "Find a workload, namespace, label or outside peer (/ or Ctrl+K)",
      placeholder: "Find\u2026 (/ or Ctrl+K)", autocomplete: "off", spellcheck: "false",
    });
    const list = make("ul", { id: "search-results", role: "listbox", "aria-label": "Matches", class: "search-results" });
    list.hidden = true;
    box.append(input, list);
    top.prepend(box);
    let results = [], active = -1;

    function show() {
      results = find(window.FencelineEditor.doc(), input.value);
      active = results.length ? 0 : -1;
      list.replaceChildren(...results.map((r, i) => {
        const item = make("li", { role: "option", id: "search-result-" + i, "aria-selected": String(i === active) });
        item.append(make("strong", {}, r.title), make("span", { class: "search-where" }, r.kind === "namespace" ? "namespace" : r.where + " \u00b7 " + r.kind));
        item.addEventListener("mousedown", (evt) => { evt.preventDefault(); choose(r); });
        return item;
      }));
      if (!results.length && input.value.trim()) list.append(make("li", { class: "search-none", role: "presentation" }, "Nothing matches."));
      list.hidden = !input.value.trim();
      input.setAttribute("aria-expanded", String(!list.hidden));
      mark();
    }
    function mark() {
      Array.from(list.querySelectorAll("[role=option]")).forEach((el, i) => el.setAttribute("aria-selected", String(i === active)));
      if (active >= 0) input.setAttribute("aria-activedescendant", "search-result-" + active);
      else input.removeAttribute("aria-activedescendant");
    }
    function close() { list.hidden = true; input.setAttribute("aria-expanded", "false"); }

    function choose(result) {
      const started = performance.now();
      close();
      input.value = result.title;
      if (View.focus()) View.setFocus(null);
      const ns = result.kind === "namespace" ? result.id.slice(3) : View.namespaceOf(result.docId);
      if (ns && !View.isExpanded(ns)) View.expand(ns);
      jump(cy, result.id);
      document.getElementById("app").dataset.jumpMs = String(Math.round(performance.now() - started));
    }

    input.addEventListener("input", show);
    input.addEventListener("keydown", (evt) => {
      if (evt.key === "ArrowDown" || evt.key === "ArrowUp") {
        evt.preventDefault();
        if (!results.length) return;
        active = (active + (evt.key === "ArrowDown" ? 1 : results.length - 1)) % results.length;
        mark();
      } else if (evt.key === "Enter") {
        evt.preventDefault();
        if (active >= 0) choose(results[active]);
      } else if (evt.key === "Escape") {
        evt.stopPropagation();
        if (!list.hidden) close(); else { input.blur(); document.getElementById("cy").focus(); }
      }
    });
    input.addEventListener("blur", () => setTimeout(close, 150));
    document.addEventListener("keydown", (evt) => {
      const el = evt.target;
      const typing = el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
      if (((evt.ctrlKey || evt.metaKey) && evt.key.toLowerCase() === "k") || (evt.key === "/" && !typing && !evt.ctrlKey && !evt.altKey)) {
        if (document.getElementById("dialog").open) return;
        evt.preventDefault();
        input.focus();
        input.select();
      }
    });
  }

  // Centre the element at a zoom where its label can be read, and select it (the inspector opens).
  function jump(cy, id) {
    const ele = cy.getElementById(id);
    if (!ele.length) return;
    window.FencelineEditor.select(id);
    const zoom = ele.isParent() ? Math.min(1, Math.max(cy.zoom(), 0.5)) : Math.max(cy.zoom(), 1);
    cy.zoom(zoom);
    cy.center(ele);
  }

  // ------------------------------------------------------------------------------------------------- focus
  function installFocus(cy, tools) {
    const button = make("button", { type: "button", class: "button", id: "focus-button", title: "Show only the selection and its neighbours", disabled: "" }, "Focus");
    const bar = make("div", { class: "focus-bar", id: "focus-bar", role: "group", "aria-label": "Focus" });
    bar.hidden = true;
    const title = make("span", { class: "focus-title" });
    const hops = make("select", { "aria-label": "Hops", id: "focus-hops" });
    hops.append(make("option", { value: "1" }, "1 hop"), make("option", { value: "2" }, "2 hops"));
    const direction = make("select", { "aria-label": "Direction", id: "focus-direction" });
    direction.append(make("option", { value: "both" }, "ingress and egress"), make("option", { value: "ingress" }, "ingress"), make("option", { value: "egress" }, "egress"));
    const exit = make("button", { type: "button", class: "button small", id: "focus-exit" }, "Show all (Esc)");
    bar.append(title, hops, direction, exit);
    tools.append(button);
    document.getElementById("canvas-top").querySelector(".canvas-search").after(bar); // between search and legend
    let before = null;

    const selectedNode = () => cy.nodes(":selected").filter((n) => n.data("docId")).first();
    cy.on("select unselect", () => { button.disabled = !selectedNode().length; });

    function start(docId) {
      if (!View.focus()) before = { zoom: cy.zoom(), pan: Object.assign({}, cy.pan()) };
      View.setFocus({ id: docId, hops: Number(hops.value), direction: direction.value });
      const node = (window.FencelineEditor.doc().nodes || []).find((n) => n.id === docId);
      title.textContent = "Focus: " + window.FencelineGraph.displayName(node);
      bar.hidden = false;
      cy.fit(cy.elements(), 60);
      if (cy.zoom() > 1.2) cy.zoom(1.2);
      const ele = cy.getElementById("n:" + docId);
      if (ele.length) { ele.select(); cy.center(ele); }
    }
    function stop() {
      if (!View.focus()) return;
      const id = View.focus().id;
      View.setFocus(null);
      bar.hidden = true;
      if (before) { cy.zoom(before.zoom); cy.pan(before.pan); }
      const ns = View.namespaceOf(id);
      if (ns && !View.isExpanded(ns)) View.expand(ns);
      cy.getElementById("n:" + id).select();
    }
    button.addEventListener("click", () => { const n = selectedNode(); if (n.length) start(n.data("docId")); });
    hops.addEventListener("change", () => { if (View.focus()) start(View.focus().id); });
    direction.addEventListener("change", () => { if (View.focus()) start(View.focus().id); });
    exit.addEventListener("click", stop);
    document.addEventListener("keydown", (evt) => {
      if (evt.key === "Escape" && View.focus() && !document.getElementById("dialog").open) stop();
    });
  }

  // ----------------------------------------------------------------------------------- expand / collapse
  function installExpand(cy, tools) {
    const open = make("button", { type: "button", class: "button", id: "expand-all", title: "Open every namespace" }, "Expand all");
    const shut = make("button", { type: "button", class: "button", id: "collapse-all", title: "Collapse every namespace into one box" }, "Collapse all");
    const one = make("button", { type: "button", class: "button", id: "collapse-one", title: "Collapse the selected namespace", disabled: "" }, "Collapse");
    tools.append(open, shut, one);
    const refresh = () => {
      const large = View.isLarge();
      open.hidden = shut.hidden = one.hidden = !large;
      const sel = cy.nodes(":selected").first();
      const ns = sel.length && (sel.data("kind") === "namespace" ? sel.data("name") : View.namespaceOf(sel.data("docId")));
      one.disabled = !(ns && View.isExpanded(ns));
      one.dataset.namespace = ns || "";
    };
    cy.on("select unselect", refresh);
    document.getElementById("app").addEventListener("fenceline:rendered", refresh);
    open.addEventListener("click", () => View.expandAll());
    shut.addEventListener("click", () => View.collapseAll());
    one.addEventListener("click", () => { if (one.dataset.namespace) View.collapse(one.dataset.namespace); });
    refresh();
  }

  // --------------------------------------------------------------------------------------- yaml follows
  // The YAML is one document per emitted object, in the order of `objectNodes`: mark those of the selection.
  function installYamlFollow(cy) {
    const pre = document.getElementById("yaml");
    let marked = null;
    function follow() {
      const result = window.FencelineEditor.lastCompile();
      const sel = cy.nodes(":selected").first();
      const docId = sel.length ? sel.data("docId") : null;
      const index = result && docId ? (result.objectNodes || []).indexOf(docId) : -1;
      if (pre.firstElementChild && pre.firstElementChild.classList.contains("yaml-part")) {
        // A long YAML is in parts, one per policy (editor.js): mark the selection's part.
        if (marked) { marked.classList.remove("yaml-selected"); marked.removeAttribute("id"); }
        marked = index >= 0 ? pre.children[index] : null;
        if (!marked) return;
        marked.classList.add("yaml-selected");
        marked.id = "yaml-selected";
        pre.scrollTop += marked.getBoundingClientRect().top - pre.getBoundingClientRect().top - 8;
        return;
      }
      if (index < 0) { if (marked) { pre.textContent = result ? result.yaml : pre.textContent; marked = null; } return; }
      const starts = [];
      const re = /^---$/gm;
      let m;
      while ((m = re.exec(result.yaml))) starts.push(m.index);
      if (starts[0] !== 0) starts.unshift(0);
      const from = starts[index], to = index + 1 < starts.length ? starts[index + 1] : result.yaml.length;
      if (from === undefined) return;
      marked = make("mark", { class: "yaml-selected", id: "yaml-selected" }, result.yaml.slice(from, to));
      pre.replaceChildren(document.createTextNode(result.yaml.slice(0, from)), marked, document.createTextNode(result.yaml.slice(to)));
      pre.scrollTop += marked.getBoundingClientRect().top - pre.getBoundingClientRect().top - 8;
    }
    cy.on("select", "node", follow);
    document.getElementById("app").addEventListener("fenceline:compiled", follow);
  }

  View.onOpen((cy) => {
    const wrap = document.querySelector(".canvas-wrap");
    // A row of its own above the view tools: at 1024 px beside the legend there is no room for more buttons.
    const tools = make("div", { class: "canvas-tools large-tools", role: "toolbar", "aria-label": "Find and focus" });
    wrap.append(tools);
    installSearch(cy, document.getElementById("canvas-top"));
    installFocus(cy, tools);
    installExpand(cy, tools);
    installYamlFollow(cy);
  });
})();
