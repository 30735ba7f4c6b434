/* Fenceline editor: the browser holds the graph document, draws it, and sends it back.
 *
 * Every change produces a new document (kept for undo/redo), is drawn on the canvas and posted to the server,
 * which compiles it into YAML in the chosen dialect and says how to colour each edge. Forms in the side panel
 * are rendered and applied by the server (inspector.js); the answer carries the changed document. No policy logic here.
 */
(function () {
  "use strict";

  const app = document.getElementById("app");
  if (!app || typeof cytoscape !== "function") return;

  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));
  const G = window.FencelineGraph;
  const View = window.FencelineView; // collapse.js: what of a large drawing is shown (issue 13)
  const readOnly = app.dataset.readOnly === "1";
  const UNDO_LIMIT = 200;
  const EDGE_STATES = ["allowed", "one-sided", "denied", "disabled", "deny", "pass", "overridden", "error"]; // edge_states.py
  const COMPILE_DELAY_MS = 200;
  // The opening's phases as performance.measure entries ("fenceline:<name>"), for bench/profile_large.py; only
  // until the first answer is shown (the browser keeps every entry).
  let opening = true;
  const since = (name, start) => { if (opening) performance.measure("fenceline:" + name, { start: start, end: performance.now() }); };
  const t0 = performance.now();
  performance.measure("fenceline:before editor.js", { start: 0, end: t0 });

  const state = {
    doc: JSON.parse(document.getElementById("drawing-data").textContent), // a data block (json_script)
    parent: app.dataset.parent || null,
    version: 0,
    undo: [],
    redo: [],
    compileSeq: 0,
    compiledDoc: null,
    compiledKey: null,
    lastCompile: null,
    drawMode: false,
    selected: null,
  };
  // The dialect is the drawing's own (settings.dialect): what is shown, compiled, checked and saved is one thing.
  const dialectOf = (doc) => (doc.settings && doc.settings.dialect) || "native";
  const dialects = JSON.parse(app.dataset.dialects || "{}");
  since("parse document", t0);

  // ------------------------------------------------------------------------------------------------ canvas
  // The UMD bundles register themselves when they find the global cytoscape; register only what is missing.
  if (typeof cytoscapeFcose === "function" && !cytoscape("layout", "fcose")) cytoscape.use(cytoscapeFcose);

  const cy = cytoscape({
    container: $("#cy"),
    style: G.style().concat(window.FencelineLod ? FencelineLod.style() : []), // lod.js: labels at every zoom
    elements: [],
    minZoom: 0.05,
    maxZoom: 3,
    boxSelectionEnabled: false,
    selectionType: "single",
    autoungrabify: readOnly,
    pixelRatio: "auto",
    textureOnViewport: true,
    hideEdgesOnViewport: false,
  });
  window.fencelineCy = cy; // for tests and the benchmark: read-only inspection of what is drawn
  // The canvas changes size with the window and the dividers; Cytoscape only watches the window by itself. Only
  // a change of size is passed on: the observer's first call (no change) made Cytoscape measure and draw a whole
  // cluster again, a quarter of a second after its first picture.
  // The size compared is the one last passed on, not cy.width(): Cytoscape caches its size whenever anything asks
  // for it, so after a divider drag it could already hold the new width while its canvases kept the old one.
  let canvasSize = cy.width() + "x" + cy.height();
  new ResizeObserver((entries) => {
    const box = entries[entries.length - 1].contentRect;
    const size = Math.round(box.width) + "x" + Math.round(box.height);
    if (size === canvasSize) return;
    canvasSize = size;
    cy.resize();
  }).observe($("#cy"));

  // Drawing an edge by dragging (edgehandles) is no part of the first picture: lodash and the plugin are loaded
  // after its frame (loadLater: #app's data-later-scripts, in order), so the canvas waits neither for their
  // download nor for their running. The handles are made when they have run; draw mode asked for before that (E,
  // Shift, the toggle) is taken up then.
  let eh = null;
  function startEdgeHandles() {
    if (eh || readOnly) return;
    if (typeof cytoscapeEdgehandles === "function" && !cytoscape("core", "edgehandles")) cytoscape.use(cytoscapeEdgehandles);
    if (!cy.edgehandles) return;
    eh = cy.edgehandles({
      canConnect: (source, target) => !whyLocked(source.id()) && !source.same(target) && !source.isParent() && !target.isParent() &&
        !source.hasClass("collapsed") && !target.hasClass("collapsed"),
      edgeParams: () => ({ data: {} }),
      hoverDelay: 120,
      snap: false,
      noEdgeEventsInDraw: true,
      disableBrowserGestures: true,
    });
    cy.on("ehcomplete", (evt, sourceNode, targetNode, addedEdge) => {
      addedEdge.remove();
      addEdge(sourceNode, targetNode);
    });
    if (app.classList.contains("drawing")) eh.enableDrawMode();
  }
  function loadLater() {
    let last = null;
    for (const url of (app.dataset.laterScripts || "").split(" ").filter(Boolean)) {
      const script = document.createElement("script");
      script.src = url;
      script.async = false; // run in the list's order (lodash before the plugin that uses it)
      document.head.appendChild(script);
      last = script;
    }
    if (last) last.addEventListener("load", startEdgeHandles);
    else startEdgeHandles();
  }

  // --------------------------------------------------------------------------------------------- document
  const clone = (value) => JSON.parse(JSON.stringify(value));

  function semanticKey(doc) {
    // Positions do not change the YAML: only recompile when something else changed.
    return JSON.stringify(doc, (key, value) => (key === "position" ? undefined : value));
  }

  // The key of the drawing last compiled, made when first needed: for a whole cluster it costs a tenth of a
  // second, which the way to the first picture and the first answer does without.
  function compiledKey() {
    if (state.compiledKey === null && state.compiledDoc) state.compiledKey = semanticKey(state.compiledDoc);
    return state.compiledKey;
  }

  function commit(newDoc, options) {
    const opts = options || {};
    const before = JSON.stringify(state.doc);
    if (before === JSON.stringify(newDoc)) return false;
    state.undo.push(before);
    if (state.undo.length > UNDO_LIMIT) state.undo.shift();
    state.redo = [];
    state.doc = newDoc;
    changed(opts);
    return true;
  }

  function changed(opts) {
    state.version += 1;
    showDialect();
    render(opts);
    saveDraft();
    updateButtons();
    if (semanticKey(state.doc) !== compiledKey()) scheduleCompile();
  }

  // ----------------------------------------------------------------------------------- isolation guard
  // A change that newly isolates a workload (a template, an import, a fix, a new edge) takes traffic away from
  // it. The server's analyser lists what (POST /api/isolation); the person applies the change or not, in the
  // page, before it happens. app.dataset.isolation is "checking" while the server is asked, "asking" while
  // the question is shown (tests wait on it).
  async function commitGuarded(next, options) {
    const version = state.version;
    app.dataset.isolation = "checking";
    let answer = null;
    try {
      answer = await Fenceline.postJSON(app.dataset.isolationUrl, { document: next, before: state.doc, dialect: dialectOf(next) });
    } catch (err) {
      answer = null;
    }
    const losses = answer && answer.ok ? answer.body.losses : [];
    if (answer && !answer.ok) toast("Could not work out which traffic this change takes away: " + (answer.body.error || answer.status) + ".", "warn");
    const apply = losses.length ? await askIsolation(losses) : true;
    app.dataset.isolation = "";
    if (!apply) { render({}); toast("Nothing was changed."); return false; }
    if (state.version !== version) { toast("The drawing changed meanwhile; that change was not applied. Try again.", "warn"); return false; }
    return commit(next, options);
  }

  // An element with a class and text (server text goes in as text, never as HTML).
  function make(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    if (tag === "button") el.type = "button";
    return el;
  }

  function askIsolation(losses) {
    app.dataset.isolation = "asking";
    const dialog = $("#dialog");
    const form = make("div", "dialog-form isolation-form");
    const workloads = new Set(losses.map((loss) => loss.nodeId)).size;
    const title = make("h2", "panel-title", "This change isolates " + workloads + " workload" + (workloads === 1 ? "" : "s"));
    title.id = "dialog-title";
    const intro = make("p", null, "Once a workload is isolated in a direction, only the traffic drawn for it passes. It loses:");
    const list = make("ul", "check-list isolation-list");
    list.append(...losses.map((loss) => make("li", null, loss.text)));
    const actions = make("div", "panel-actions");
    const cancel = make("button", "button", "Cancel");
    cancel.dataset.isolation = "cancel";
    const apply = make("button", "button danger", "Apply anyway");
    apply.dataset.isolation = "apply";
    actions.append(apply, cancel);
    form.append(title, intro, list, actions);
    $("#dialog-body").replaceChildren(form);
    if (!dialog.open) dialog.showModal();
    apply.focus();
    return new Promise((resolve) => {
      let answered = false;
      const answer = (value) => {
        if (answered) return;
        answered = true;
        dialog.removeEventListener("close", closed);
        if (dialog.open) dialog.close();
        resolve(value);
      };
      const closed = () => answer(false);
      apply.addEventListener("click", () => answer(true));
      cancel.addEventListener("click", () => answer(false));
      dialog.addEventListener("close", closed);
    });
  }

  function undo() {
    if (!state.undo.length) return;
    state.redo.push(JSON.stringify(state.doc));
    state.doc = JSON.parse(state.undo.pop());
    changed({});
    refreshPanel();
    toast("Undone.");
  }

  function redo() {
    if (!state.redo.length) return;
    state.undo.push(JSON.stringify(state.doc));
    state.doc = JSON.parse(state.redo.pop());
    changed({});
    refreshPanel();
    toast("Redone.");
  }

  function uniqueId(prefix, taken) {
    let n = 1;
    while (taken.has(prefix + n)) n += 1;
    return prefix + n;
  }

  function nodeIds(doc) { return new Set((doc.nodes || []).map((n) => n.id)); }

  // ------------------------------------------------------------------------------------------------ render
  function render(opts) {
    const t1 = performance.now();
    const els = G.elements(state.doc, View.shown(state.doc));
    since("elements", t1);
    const t2 = performance.now();
    const desired = View.transform(els, state.doc);
    since("transform", t2);
    const t3 = performance.now();
    const wanted = new Map(desired.map((el) => [el.data.id, el]));
    let addedNodes = cy.collection(), edgesToAdd = [];
    cy.batch(() => {
      cy.elements().forEach((ele) => {
        if (ele.hasClass("eh-ghost") || ele.hasClass("eh-preview") || ele.hasClass("eh-ghost-node")) return;
        if (!wanted.has(ele.id())) cy.remove(ele);
      });
      const toAdd = [];
      for (const el of desired) {
        const existing = cy.getElementById(el.data.id);
        if (!existing.length) { toAdd.push(el); continue; }
        if (el.group === "nodes") {
          if ((existing.data("parent") || null) !== (el.data.parent || null)) existing.move({ parent: el.data.parent || null });
          if (el.position && !existing.isParent()) {
            const p = existing.position();
            if (p.x !== el.position.x || p.y !== el.position.y) existing.position(el.position);
          }
        } else if (existing.data("source") !== el.data.source || existing.data("target") !== el.data.target) {
          existing.move({ source: el.data.source, target: el.data.target });
        }
        // Setting data or classes makes Cytoscape restyle the element: on thousands of them, only when they differ.
        if (Object.keys(el.data).some((key) => existing.data(key) !== el.data[key])) existing.data(el.data);
        const keep = ["has-error"].concat(EDGE_STATES).filter((c) => existing.hasClass(c));
        const classes = el.classes.split(" ").concat(keep);
        if (classes.length !== existing.classes().length || classes.some((c) => !existing.hasClass(c))) existing.classes(classes.join(" "));
      }
      // Parents first, so that children can be added into them; edges after their ends.
      const nodesToAdd = toAdd.filter((el) => el.group === "nodes");
      nodesToAdd.sort((a, b) => (a.data.kind === "namespace" ? -1 : 0) - (b.data.kind === "namespace" ? -1 : 0));
      if (nodesToAdd.length) addedNodes = cy.add(nodesToAdd);
      edgesToAdd = toAdd.filter((el) => el.group === "edges");
    });
    // Where the transform placed the nodes (a large drawing, focus), they are styled and measured before the
    // edges that touch them are added: Cytoscape marks every edge at a node for each style property it gives the
    // node, 40 boxes x 18 properties x 40 edges in a whole cluster's first picture (a quarter of editor.js).
    if (View.placesAll() && addedNodes.length && edgesToAdd.length) addedNodes.boundingBox();
    if (edgesToAdd.length) cy.batch(() => cy.add(edgesToAdd));
    since("cy add", t3);
    const t4 = performance.now();
    applyStates();
    since("apply states", t4);
    if (!View.placesAll()) {
      placeUnplaced(opts);
      // Boxes saved or dragged over one another move apart; a node just dragged stays where it was dropped.
      if (FencelinePlacement.keepApart(cy, { pinned: opts.pinned })) writePositions(cy.nodes());
    } else if (opts.fit) cy.fit(undefined, 40);
    $("#doc-name").textContent = state.doc.name || "Untitled drawing";
    $("#empty-state").hidden = Boolean((state.doc.namespaces || []).length || (state.doc.nodes || []).length);
  }

  function unplacedNodes() {
    const byId = new Map((state.doc.nodes || []).map((n) => [n.id, n]));
    const namespaces = new Map((state.doc.namespaces || []).map((ns) => [ns.name, ns]));
    return cy.nodes().filter((ele) => {
      if (ele.isParent()) return false;
      if (ele.data("kind") === "namespace") return !(namespaces.get(ele.data("name")) || {}).position;
      const node = byId.get(ele.data("docId"));
      return node && !node.position;
    });
  }

  function placeUnplaced(opts) {
    const unplaced = unplacedNodes();
    if (!unplaced.length) return;
    const simple = cy.nodes().filter((n) => !n.isParent());
    if (unplaced.length === simple.length || opts.tidy) {
      runLayout(cy.elements(), true);
    } else {
      // Added to a drawing that has its shape: each new node goes into free space near what it connects to.
      const pending = new Set(unplaced.map((n) => n.id()));
      const place = FencelinePlacement.create(cy, (n) => !pending.has(n.id()));
      unplaced.forEach((n) => {
        const near = neighbourCenter(n, pending);
        n.position(n.isChild() ? place.spotInNamespace(n.parent(), n.height(), near) : place.freeSpot(near, n.width(), n.height(), n));
        pending.delete(n.id());
      });
    }
    writePositions(cy.nodes());
    if (opts.fit !== false) fitReadable();
  }

  function neighbourCenter(node, pending) {
    const placed = node.neighborhood("node").filter((n) => !pending.has(n.id()) && !n.isParent());
    if (!placed.length) return viewportCenter();
    const sum = placed.reduce((acc, n) => ({ x: acc.x + n.position().x, y: acc.y + n.position().y }), { x: 0, y: 0 });
    return { x: sum.x / placed.length, y: sum.y / placed.length };
  }

  function fitReadable() {
    // Fit the drawing, but never below the zoom at which every label is at least 11 px on screen (nor
    // above 1.2): a large drawing opens readable at its centre, and F (fit) shows all of it.
    cy.fit(undefined, 40);
    const zoom = Math.min(1.2, Math.max(G.READABLE_ZOOM, cy.zoom()));
    if (zoom !== cy.zoom()) cy.zoom({ level: zoom, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
  }

  function runLayout(all, randomize) {
    // Inside each namespace by force (an edge between two namespaces is left to the packing below, so that no
    // box stretches towards another), then the namespace boxes and the nodes outside them packed by their edges:
    // no two overlap (issue 13). A large drawing's boxes are packed by collapse.js when it is drawn again.
    const eles = all.filter((e) => e.isNode() || (e.source().isChild() && e.target().isChild() && e.source().parent().same(e.target().parent())));
    // Past ~1,500 elements the incremental CoSE pass costs seconds; the spectral ("draft") pass alone still
    // keeps namespaces together and gives a readable first picture that people then drag into shape.
    const large = eles.length > 1500;
    const options = {
      name: "fcose", quality: large ? "draft" : "default", randomize: randomize || large, animate: false, fit: false,
      nodeDimensionsIncludeLabels: false, packComponents: true, tile: true,
      nodeRepulsion: () => 6000, idealEdgeLength: () => 110, edgeElasticity: () => 0.45, nestingFactor: 0.2,
      gravity: 0.4, gravityCompound: 1.2, numIter: eles.length > 1500 ? 1200 : 2500, nodeSeparation: 70,
      tilingPaddingVertical: 24, tilingPaddingHorizontal: 24,
    };
    try {
      eles.layout(options).run();
    } catch (err) {
      // A layout that cannot satisfy its constraints leaves the nodes where they are, which is still usable.
      console.warn("layout:", err && err.message);
    }
    if (!View.placesAll()) FencelinePlacement.packCanvas(cy, { aspect: FencelinePlacement.canvasAspect() });
  }

  function writePositions(eles) {
    // Layout results are part of the current state, not a separate undo step.
    const byId = new Map((state.doc.nodes || []).map((n) => [n.id, n]));
    const namespaces = new Map((state.doc.namespaces || []).map((ns) => [ns.name, ns]));
    eles.forEach((ele) => {
      const p = ele.position();
      const position = { x: Math.round(p.x), y: Math.round(p.y) };
      if (ele.data("kind") === "namespace") {
        const ns = namespaces.get(ele.data("name"));
        if (ns) ns.position = position;
      } else {
        const node = byId.get(ele.data("docId"));
        if (node) node.position = position;
      }
    });
  }

  function viewportCenter() {
    const ext = cy.extent();
    return { x: Math.round((ext.x1 + ext.x2) / 2), y: Math.round((ext.y1 + ext.y2) / 2) };
  }

  // ---------------------------------------------------------------------------------------------- compile
  let compileTimer = null;
  function scheduleCompile() {
    clearTimeout(compileTimer);
    app.dataset.pending = "1"; // tests and the benchmark wait for "0": the YAML shown matches the drawing
    setStatus("Compiling\u2026", "busy");
    compileTimer = setTimeout(compile, COMPILE_DELAY_MS);
  }

  // The drawing as the page brought it, until it changes: its answer is the saved revision's, which the server
  // keeps (GET), instead of compiling the drawing posted back to it.
  let asSaved = null;

  async function requestAnswer(doc) {
    const dialect = dialectOf(doc);
    if (doc === asSaved && app.dataset.revisionCompileUrl) {
      const response = await fetch(app.dataset.revisionCompileUrl + "?" + new URLSearchParams({ dialect: dialect, view: "editor" }),
        { credentials: "same-origin", headers: { "Accept": "application/json" } });
      let data;
      try { data = await response.json(); } catch (err) { data = { error: "The server answered " + response.status + " without JSON.", details: [] }; }
      return { ok: response.ok, status: response.status, body: data };
    }
    return Fenceline.postJSON(app.dataset.compileUrl, { document: doc, dialect: dialect, view: "editor" });
  }

  async function compile() {
    const seq = ++state.compileSeq;
    const sent = state.doc;
    let answer;
    try {
      const t1 = performance.now();
      answer = await requestAnswer(sent);
      since("compile round trip", t1);
    } catch (err) {
      if (seq === state.compileSeq) { setStatus("Cannot reach the server", "error"); app.dataset.pending = "0"; }
      return;
    }
    if (seq !== state.compileSeq) return;
    state.compiledDoc = sent;
    state.compiledKey = null;
    if (state.doc === sent || semanticKey(state.doc) === compiledKey()) {
      app.dataset.pending = "0";
      if (!app.dataset.firstCompileMs) app.dataset.firstCompileMs = String(Math.round(performance.now()));
    }
    if (!answer.ok && answer.body.error) {
      opening = false;
      state.lastCompile = null;
      const details = answer.body.details || [];
      if (answer.status === 413) {
        // Nothing is wrong with the drawing: it is larger than this server takes. One problem says which limit
        // and the setting that raises it (the server's details), so whoever runs the server can act on it.
        showIssues([{ severity: "error", message: [answer.body.error].concat(details).join(": ") + "." }]);
        $("#yaml").textContent = "# Not compiled: the drawing is over this server's limits; see the problem above.\n" +
          details.map((d) => "# " + Fenceline.sentence(d) + ".\n").join("");
        setStatus("Over this server's limits", "error");
      } else {
        showIssues([{ severity: "error", message: answer.body.error }].concat(details.map((d) => ({ severity: "error", message: d }))));
        $("#yaml").textContent = "# The drawing is not valid; see the problems above.";
        setStatus("Invalid drawing", "error");
      }
      if (app.dataset.pending === "0") announce("compiled", { ok: false });
      return;
    }
    const t2 = performance.now();
    state.lastCompile = answer.body;
    const result = answer.body;
    showYaml(result.yaml || emptyYaml(), result.objectCount);
    showIssues(result.issues, result.needs, result.switchTo);
    applyStates();
    const errors = result.issues.filter((i) => i.severity === "error").length;
    const count = result.objectCount;
    setStatus(errors ? errors + " error" + (errors === 1 ? "" : "s") : count + " polic" + (count === 1 ? "y" : "ies"), errors ? "error" : "ok");
    if (app.dataset.pending === "0") announce("compiled", { ok: true });
    since("compile answer applied", t2);
    opening = false;
  }

  // The YAML of many policies (a whole cluster's are megabytes) is shown one part per policy, which the browser
  // lays out only when it scrolls into view (content-visibility: auto in app.css): laid out at once, 2,000
  // policies cost two seconds of layout. Each part is one YAML document, in the order of the answer's objects.
  const YAML_PARTS_FROM = 100; // objects
  function showYaml(text, objects) {
    const pre = $("#yaml");
    if (objects < YAML_PARTS_FROM) { pre.textContent = text; return; }
    const starts = [];
    const re = /^---$/gm;
    let m;
    while ((m = re.exec(text))) starts.push(m.index);
    if (starts[0] !== 0) starts.unshift(0);
    pre.replaceChildren(...starts.map((from, i) => {
      const part = text.slice(from, i + 1 < starts.length ? starts[i + 1] : text.length);
      const el = make("div", "yaml-part", part);
      let lines = 0;
      for (let at = part.indexOf("\n"); at >= 0; at = part.indexOf("\n", at + 1)) lines += 1;
      el.style.setProperty("--lines", String(lines));
      return el;
    }));
  }

  function emptyYaml() {
    return "# Nothing to enforce yet.\n# Draw an edge between two workloads, or lock a workload's ingress or egress,\n# and its policy appears here.\n";
  }

  // Only what is drawn is looked at (a collapsed whole cluster draws 40 of its 10,000 nodes and edges), and only
  // what differs is changed: each class or data change restyles the element. Aggregate edges are collapse.js's.
  function applyStates() {
    const result = state.lastCompile || {};
    const edgeStates = result.edgeStates || {};
    const isolation = result.isolation || {};
    const errorNodes = new Set(), errorEdges = new Set();
    for (const issue of result.issues || []) {
      if (issue.severity !== "error") continue;
      if (issue.nodeId) errorNodes.add(issue.nodeId);
      if (issue.edgeId) errorEdges.add(issue.edgeId);
    }
    const docNodes = new Map((state.doc.nodes || []).map((n) => [n.id, n]));
    cy.batch(() => {
      cy.edges().forEach((edge) => {
        const id = edge.data("docId");
        if (id === undefined) return;
        const wanted = new Set([edgeStates[id], errorEdges.has(id) ? "error" : null].filter(Boolean));
        for (const c of EDGE_STATES) if (edge.hasClass(c) && !wanted.has(c)) edge.removeClass(c);
        for (const c of wanted) if (!edge.hasClass(c)) edge.addClass(c);
      });
      cy.nodes().forEach((ele) => {
        const id = ele.data("docId");
        if (ele.hasClass("has-error") !== errorNodes.has(id)) ele.toggleClass("has-error", errorNodes.has(id));
        // Each subject's isolation per direction, implied by its edges as well as by its locks.
        const node = docNodes.get(id), effective = isolation[id];
        if (!node || !effective) return;
        const label = G.nodeLabel(node, effective);
        if (ele.data("label") !== label) ele.data({ label: label, height: G.nodeHeight(label) });
        const isolated = Boolean(effective.ingress || effective.egress);
        if (ele.hasClass("isolated") !== isolated) ele.toggleClass("isolated", isolated);
      });
    });
    announce("rendered");
  }

  function showIssues(issues, needs, switchTo) {
    const list = $("#issues");
    list.replaceChildren();
    if (needs && needs.length && switchTo && !readOnly) {
      // The server found content this dialect cannot write, and a dialect that can: ask, rather than leave those
      // edges out silently.
      const label = dialects[switchTo].label;
      const item = make("li", "issue issue-dialect");
      const button = make("button", "button small primary", "Switch to " + label);
      button.dataset.dialect = switchTo;
      item.append(make("span", null, "This drawing has " + needs.join(", ") + ": only " + label + " can express it. "), button);
      list.append(item);
    }
    for (const issue of issues || []) {
      const item = document.createElement("li");
      item.className = "issue issue-" + issue.severity;
      const target = issue.edgeId ? "e:" + issue.edgeId : issue.nodeId ? "n:" + issue.nodeId : null;
      const content = document.createElement(target ? "button" : "span");
      if (target) {
        content.type = "button";
        content.dataset.select = target;
        content.title = "Show it in the drawing";
      }
      const badge = document.createElement("span");
      badge.className = "issue-badge";
      badge.textContent = issue.severity;
      content.append(badge, document.createTextNode(" " + Fenceline.sentence(issue.message)));
      item.append(content);
      list.append(item);
    }
  }

  function setStatus(text, kind) {
    const el = $("#compile-status");
    el.textContent = text;
    el.dataset.kind = kind || "";
  }

  // ------------------------------------------------------------------------------------------------ panels
  const inspector = FencelineInspector.create({
    root: $("#inspector"),
    url: app.dataset.panelUrl,
    readOnly: readOnly,
    maxUploadMib: app.dataset.maxUploadMib,
    context: () => ({ document: state.doc, dialect: dialectOf(state.doc), version: state.version }),
    onDocument: (doc, selectId, url) => {
      const selectIt = () => {
        if (!selectId) return;
        state.selected = selectId;
        cy.elements().unselect();
        cy.getElementById(selectId).select();
        if (selectId.startsWith("ns:")) inspector.rekey("namespace", selectId.slice(3));
      };
      // A template may isolate workloads: the person is asked first (see commitGuarded).
      if (new URL(url, location.href).pathname.startsWith(app.dataset.panelUrl + "template")) {
        commitGuarded(doc, { fit: false }).then((applied) => { if (applied) selectIt(); });
      } else {
        commit(doc, { fit: false });
        selectIt();
      }
    },
    onShown: () => announce("panel"),
    busy: (on) => { app.dataset.inspectorBusy = on ? "1" : "0"; },
    toast: (text, kind) => toast(text, kind),
  });

  function openPanel(what, id, extra, opts) {
    inspector.open(what, id, Object.assign({ dialect: dialectOf(state.doc) }, extra || {}), opts);
  }

  function closePanel() {
    inspector.close();
    state.selected = null;
    cy.elements().unselect();
  }

  function refreshPanel() {
    if ($("#inspector").hidden || !state.selected) return;
    const ele = cy.getElementById(state.selected);
    if (ele.length) openFor(ele); else closePanel();
  }

  function openFor(ele, opts) {
    // Selecting shows the inspector beside the canvas; it never zooms or pans the drawing.
    state.selected = ele.id();
    const kind = ele.data("kind");
    if (ele.isEdge()) openPanel("edge", ele.data("docId"), null, opts);
    else if (kind === "namespace") openPanel("namespace", ele.data("name"), null, opts);
    else openPanel("node", ele.data("docId"), null, opts);
  }

  function mark(id) {
    // The keyboard's selection: shown on the canvas and ready for Enter, Delete or "c", without opening a panel.
    const ele = cy.getElementById(id);
    if (!ele.length) return;
    cy.elements().unselect();
    ele.select();
    state.selected = id;
  }

  function select(id, opts) {
    const ele = cy.getElementById(id);
    if (!ele.length) return;
    cy.elements().unselect();
    ele.select();
    openFor(ele, opts);
  }

  // The import dialog is the one htmx form left: its answer carries the imported drawing.
  document.body.addEventListener("htmx:afterSwap", (evt) => {
    const result = $(".panel-result", evt.detail.target);
    if (evt.detail.target.id !== "dialog-body" || !result || !result.dataset.document) return;
    const message = result.dataset.message;
    commitGuarded(JSON.parse(result.dataset.document), { fit: true }).then((applied) => {
      if (applied && message) toast(message);
    });
  });

  document.body.addEventListener("htmx:responseError", (evt) => {
    const status = evt.detail.xhr.status;
    if (status === 413) toast("Too large: the server accepts up to " + app.dataset.maxUploadMib + " MiB. Nothing was changed.", "error");
    else toast("The server answered " + status + "; nothing was changed.", "error");
  });
  document.body.addEventListener("htmx:sendError", () => toast("The server cannot be reached; nothing was changed.", "error"));

  // ------------------------------------------------------------------------------------------ adding things
  function targetNamespace(explicit) {
    if (explicit) return explicit;
    const sel = state.selected && cy.getElementById(state.selected);
    if (sel && sel.length) {
      if (sel.data("kind") === "namespace") return sel.data("name");
      const parent = sel.isNode() && sel.data("parent");
      if (parent) return parent.slice(3);
    }
    return null;
  }

  function placeIn(namespace, place) {
    const box = namespace && cy.getElementById("ns:" + namespace);
    if (box && box.length) return place.spotInNamespace(box, place.NODE_H, viewportCenter());
    return place.freeSpot(viewportCenter(), place.NODE_W + 44, place.NODE_H + 68);
  }

  function add(kind, explicitNamespace) {
    if (readOnly) return;
    const doc = clone(state.doc);
    doc.namespaces = doc.namespaces || [];
    doc.nodes = doc.nodes || [];
    const taken = nodeIds(doc);
    const place = FencelinePlacement.create(cy, () => true);
    let selectId;
    if (kind === "namespace") {
      const names = new Set(doc.namespaces.map((ns) => ns.name));
      const name = uniqueId("namespace-", names);
      doc.namespaces.push({ name: name, labels: { "kubernetes.io/metadata.name": name }, position: place.freeSpot(viewportCenter(), 224, 124) });
      selectId = "ns:" + name;
    } else if (kind === "workload" || kind === "selector") {
      let namespace = targetNamespace(explicitNamespace) || (doc.namespaces[0] && doc.namespaces[0].name);
      if (!namespace) {
        namespace = "default";
        doc.namespaces.push({ name: "default", labels: { "kubernetes.io/metadata.name": "default" }, position: place.freeSpot(viewportCenter(), 224, 124) });
      }
      const id = uniqueId(kind === "workload" ? "workload-" : "selector-", taken);
      const node = kind === "workload"
        ? { id: id, kind: "workload", name: id, namespace: namespace, owner: "Deployment", labels: { app: id } }
        : { id: id, kind: "selector", name: "", namespace: namespace, podSelector: {} };
      node.isolate = { ingress: false, egress: false };
      node.position = placeIn(namespace, place);
      doc.nodes.push(node);
      selectId = "n:" + id;
    } else {
      const defaults = {
        cidr: { cidr: "0.0.0.0/0", name: "anywhere" },
        entity: { entity: "world" },
        fqdn: { matchName: "api.example.com" },
      }[kind];
      if (!defaults) return;
      const id = uniqueId(kind + "-", taken);
      doc.nodes.push(Object.assign({ id: id, kind: kind, position: place.freeSpot(viewportCenter(), place.NODE_W, place.NODE_H) }, defaults));
      selectId = "n:" + id;
    }
    commit(doc, { fit: false });
    select(selectId, { focus: true });
  }

  function addEdge(sourceEle, targetEle, opts) {
    const locked = whyLocked(sourceEle.id());
    if (locked) { toast(locked, "warn"); return; }
    const doc = clone(state.doc);
    doc.edges = doc.edges || [];
    const id = uniqueId("e", new Set(doc.edges.map((e) => e.id)));
    const target = doc.nodes.find((n) => n.id === targetEle.data("docId"));
    const ports = ((target && target.containerPorts) || []).map((p) => ({ protocol: p.protocol || "TCP", port: p.port }));
    doc.edges.push({ id: id, source: sourceEle.data("docId"), target: targetEle.data("docId"), ports: ports });
    commitGuarded(doc, { fit: false }).then((applied) => { if (applied) select("e:" + id, opts); });
  }

  // "Connect to..." in a node's panel: the keyboard's way to draw an edge (the list comes from the server).
  $("#inspector").addEventListener("submit", (evt) => {
    if (evt.target.dataset.local !== "connect") return;
    evt.preventDefault();
    connect(evt.target, false);
  });
  // Picking a suggestion of the list (arrow keys and Enter in Chrome's popup) fills in the whole name: connect.
  $("#inspector").addEventListener("input", (evt) => {
    if (evt.target.id === "connect-target") connect(evt.target.form, true);
  });

  function connect(form, onlyExact) {
    if (form.dataset.done) return;
    const input = $("#connect-target", form);
    const text = input.value.trim().toLowerCase();
    const options = $$("#connect-targets option", form);
    const exact = options.filter((o) => o.value.toLowerCase() === text);
    const partial = options.filter((o) => text && o.value.toLowerCase().includes(text));
    const match = exact.length === 1 ? exact[0] : partial.length === 1 && !onlyExact ? partial[0] : null;
    if (!match && onlyExact) return;
    let problem = $(".field-error", form);
    if (!match) {
      if (!problem) { problem = document.createElement("p"); problem.className = "field-error"; problem.id = "connect-problem"; input.after(problem); }
      problem.textContent = partial.length > 1
        ? partial.length + " nodes match: " + partial.map((o) => o.value).join("; ") + ". Type more of the name."
        : "No node matches \u201c" + input.value + "\u201d.";
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", "connect-problem connect-help");
      input.focus();
      return;
    }
    form.dataset.done = "1";
    addEdge(cy.getElementById("n:" + form.dataset.source), cy.getElementById("n:" + match.dataset.node), { focus: true });
  }

  function removeElements(ids) {
    const doc = clone(state.doc);
    const goneNamespaces = new Set(ids.filter((id) => id.startsWith("ns:")).map((id) => id.slice(3)));
    const goneNodes = new Set(ids.filter((id) => id.startsWith("n:")).map((id) => id.slice(2)));
    const goneEdges = new Set(ids.filter((id) => id.startsWith("e:")).map((id) => id.slice(2)));
    const members = (doc.nodes || []).filter((node) => node.namespace && goneNamespaces.has(node.namespace) && (node.kind === "workload" || node.kind === "selector"));
    for (const node of members) goneNodes.add(node.id);
    doc.namespaces = (doc.namespaces || []).filter((ns) => !goneNamespaces.has(ns.name));
    doc.nodes = (doc.nodes || []).filter((n) => !goneNodes.has(n.id));
    const edgesBefore = (doc.edges || []).length;
    const gone = (e) => goneEdges.has(e.id) || goneNodes.has(e.source) || goneNodes.has(e.target);
    // Nothing locked goes, not even with a node it is drawn from (layers.js: the platform layer).
    const locked = [...goneNodes].map((id) => whyLocked("n:" + id)).concat((doc.edges || []).filter(gone).map((e) => whyLocked("e:" + e.id))).find(Boolean);
    if (locked) { toast(locked + (ids.some(whyLocked) ? "" : " Deleting this would take it away too."), "warn"); return; }
    doc.edges = (doc.edges || []).filter((e) => !gone(e));
    const apply = () => {
      if (!commit(doc, { fit: false })) return;
      closePanel();
      const n = goneNamespaces.size + goneNodes.size + goneEdges.size;
      toast("Deleted " + n + " item" + (n === 1 ? "" : "s") + ". Ctrl+Z brings " + (n === 1 ? "it" : "them") + " back.");
    };
    if (!members.length) { apply(); return; }
    // A namespace box is easy to hit by accident and takes everything inside with it: ask first, in the page.
    const names = members.map((node) => G.displayName(node));
    const edges = edgesBefore - doc.edges.length;
    const what = [...goneNamespaces].join(", ");
    confirmInPage(
      "Delete namespace " + what + " and everything in it?",
      "It holds " + members.length + " node" + (members.length === 1 ? "" : "s") + " (" + names.join(", ") + ")" +
        (edges ? " with " + edges + " edge" + (edges === 1 ? "" : "s") : "") + ". Ctrl+Z brings them back.",
      "Delete " + (members.length + 1) + " items",
    ).then((yes) => { if (yes) apply(); else $("#cy").focus(); });
  }

  function confirmInPage(title, text, yesLabel) {
    const dialog = $("#dialog");
    const content = $("#confirm-template").content.cloneNode(true);
    $("#dialog-title", content).textContent = title;
    $(".confirm-text", content).textContent = text;
    $("[data-confirm=yes]", content).textContent = yesLabel;
    $("#dialog-body").replaceChildren(content);
    return new Promise((resolve) => {
      let answer = false;
      $("#dialog [data-confirm=yes]").addEventListener("click", () => { answer = true; dialog.close(); });
      $("#dialog [data-confirm=no]").addEventListener("click", () => dialog.close());
      dialog.addEventListener("close", () => resolve(answer), { once: true });
      if (!dialog.open) dialog.showModal();
      $("#dialog [data-confirm=no]").focus();
    });
  }

  // --------------------------------------------------------------------------------------- canvas events
  cy.on("tap", (evt) => {
    if (evt.target === cy) closePanel();
  });
  cy.on("tap", "node, edge", (evt) => {
    if (evt.target.hasClass("eh-ghost") || evt.target.hasClass("eh-preview")) return;
    if (View.tap(evt.target)) return;
    openFor(evt.target);
  });

  let dragTimer = null;
  let dragged = [];
  cy.on("dragfree", "node", (evt) => {
    clearTimeout(dragTimer);
    dragged.push(evt.target.id());
    dragTimer = setTimeout(() => {
      const doc = clone(state.doc);
      const before = state.doc;
      state.doc = doc;
      writePositions(cy.nodes());
      state.doc = before;
      commit(doc, { fit: false, pinned: dragged });
      dragged = [];
    }, 0);
  });

  function setDrawMode(on, sticky) {
    if (readOnly) return;
    if (sticky !== false) state.drawMode = on;
    if (eh) { if (on) eh.enableDrawMode(); else eh.disableDrawMode(); }
    const toggle = $("#draw-toggle");
    if (toggle) toggle.setAttribute("aria-pressed", String(on));
    app.classList.toggle("drawing", on);
  }

  // --------------------------------------------------------------------------------------------- saving
  async function save(fork, unguarded) {
    const btn = $("#save-button");
    btn.disabled = true;
    try {
      for (const guard of unguarded ? [] : saveGuards) if (!(await guard(Boolean(fork)))) return;
      const answer = await Fenceline.postJSON(app.dataset.saveUrl, { document: state.doc, parent: state.parent, fork: Boolean(fork) });
      if (answer.status === 409) { conflict(answer.body); return; }
      if (answer.status === 403 && answer.body && answer.body.fork) { notAnEditor(answer.body); return; }
      if (!answer.ok) { toast("Not saved: " + answer.body.error, "error"); return; }
      const saved = answer.body;
      clearDraft();
      state.parent = saved.slug;
      app.dataset.parent = saved.slug;
      history.replaceState(null, "", "/d/" + saved.slug + "/edit");
      showRevision(saved);
      toastLink("Saved revision " + saved.revision + ".", saved.url, "Open the permalink");
      announce("saved", { doc: state.doc });
    } catch (err) {
      toast("Not saved: the server cannot be reached. Your drawing is kept in this browser.", "error");
    } finally {
      btn.disabled = false;
    }
  }

  function showRevision(saved) {
    // Every link and command on the page names the revision just saved, never an older one.
    $("#revision-badge").hidden = false;
    $("#revision-link").href = saved.url;
    $("#revision-number").textContent = String(saved.revision);
    const latestNote = $("#latest-note");
    if (latestNote) latestNote.remove();
    $("#copy-permalink").hidden = false;
    const historyLink = $("#history-link");
    historyLink.href = saved.historyUrl;
    historyLink.hidden = false;
    $("#apply-url").textContent = saved.yamlUrl;
    $("#apply-foot").hidden = false;
    document.title = (saved.name ? saved.name + " \u00b7 " : "") + "r" + saved.revision + " \u00b7 Fenceline";
  }

  function conflict(body) {
    offerFork("Someone saved this drawing meanwhile", body.error,
      "Your drawing is still here, unchanged. Save it as a separate copy (a fork), or open the latest revision in a new tab to compare.",
      body.latest ? body.latest.url : null);
  }

  // With sign-in on, only the owner and the editors add revisions; everyone else keeps their work as a fork.
  function notAnEditor(body) {
    offerFork("This drawing is not yours to change", body.error,
      "Your drawing is still here, unchanged. Save it as your own copy (a fork): it remembers the drawing it came from.",
      null);
  }

  function offerFork(title, error, advice, latestUrl) {
    const dialog = $("#dialog");
    const bodyEl = $("#dialog-body");
    bodyEl.replaceChildren();
    const wrap = document.createElement("div");
    wrap.className = "dialog-form";
    const h = document.createElement("h2");
    h.className = "panel-title";
    h.id = "dialog-title";
    h.textContent = title;
    const p = document.createElement("p");
    p.textContent = error;
    const p2 = document.createElement("p");
    p2.textContent = advice;
    const actions = document.createElement("div");
    actions.className = "panel-actions";
    const forkBtn = document.createElement("button");
    forkBtn.type = "button";
    forkBtn.className = "button primary";
    forkBtn.textContent = "Save as a fork";
    forkBtn.addEventListener("click", () => { dialog.close(); save(true); });
    const latest = document.createElement("a");
    latest.className = "button";
    latest.textContent = "Open the latest revision";
    latest.href = latestUrl || "#";
    latest.target = "_blank";
    latest.rel = "noopener";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "button";
    cancel.textContent = "Cancel";
    cancel.addEventListener("click", () => dialog.close());
    actions.append(...(latestUrl ? [forkBtn, latest, cancel] : [forkBtn, cancel]));
    wrap.append(h, p, p2, actions);
    bodyEl.append(wrap);
    if (!dialog.open) dialog.showModal();
    forkBtn.focus();
  }

  function draftKey() { return "fenceline.draft." + (app.dataset.parent || "new"); }
  function saveDraft() {
    if (readOnly) return;
    try { localStorage.setItem(draftKey(), JSON.stringify({ doc: state.doc, parent: state.parent, at: Date.now() })); } catch (err) { /* storage full or disabled: drafts are a convenience */ }
  }
  function clearDraft() { try { localStorage.removeItem(draftKey()); } catch (err) { /* see saveDraft */ } }
  function restoreDraft() {
    if (readOnly) return false;
    let draft = null;
    try { draft = JSON.parse(localStorage.getItem(draftKey()) || "null"); } catch (err) { draft = null; }
    if (!draft || !draft.doc || semanticKey(draft.doc) === semanticKey(state.doc) && JSON.stringify(draft.doc) === JSON.stringify(state.doc)) return false;
    const empty = !(draft.doc.nodes || []).length && !(draft.doc.namespaces || []).length;
    if (empty) return false;
    state.undo.push(JSON.stringify(state.doc));
    state.doc = draft.doc;
    return true;
  }

  // --------------------------------------------------------------------------------------- yaml actions
  // Copy and Download carry the compiler's problems as comments on top, as the permalink's .yaml does.
  function currentYaml() { return state.lastCompile ? state.lastCompile.annotation + state.lastCompile.yaml : $("#yaml").textContent; }

  async function copyText(text, done) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (err) {
      const area = document.createElement("textarea");
      area.value = text;
      area.className = "offscreen";
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    toast(done);
  }

  function copyYaml() { copyText(currentYaml(), "YAML copied."); }

  function downloadYaml() {
    const blob = new Blob([currentYaml()], { type: "text/yaml" });
    const a = document.createElement("a");
    const base = (state.doc.name || "fenceline").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "fenceline";
    a.href = URL.createObjectURL(blob);
    a.download = base + "-" + dialectOf(state.doc) + ".yaml";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  function setDialect(dialect) {
    if (dialect === dialectOf(state.doc)) return;
    const next = clone(state.doc);
    next.settings = Object.assign({}, next.settings, { dialect: dialect });
    commit(next);
    refreshPanel();
    toast("The drawing now uses " + dialects[dialect].label + ". Ctrl+Z switches back.");
  }

  function showDialect() {
    const dialect = dialectOf(state.doc);
    $$(".yaml-head [data-dialect]").forEach((b) => b.setAttribute("aria-checked", String(b.dataset.dialect === dialect)));
    const applyDialect = $("#apply-dialect");
    if (applyDialect) applyDialect.textContent = dialect;
  }

  // ---------------------------------------------------------------------------------------------- toasts
  let toastTimer = null;
  function toast(text, kind) {
    const el = $("#toast");
    el.replaceChildren(document.createTextNode(text));
    el.dataset.kind = kind || "";
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 8000 : 3500);
  }
  function toastLink(text, href, label) {
    toast(text + " ");
    const a = document.createElement("a");
    a.href = href;
    a.textContent = label;
    a.id = "permalink";
    $("#toast").append(a);
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { $("#toast").hidden = true; }, 12000);
  }

  function updateButtons() {
    const u = $("#undo"), r = $("#redo");
    if (u) u.disabled = !state.undo.length;
    if (r) r.disabled = !state.redo.length;
  }

  // -------------------------------------------------------------------------------------------- commands
  function openImport() {
    if (readOnly) return;
    const dialog = $("#dialog");
    htmx.ajax("GET", "/panel/import/form", { target: "#dialog-body", swap: "innerHTML" }).then(() => {
      if (!dialog.open) dialog.showModal();
      const area = $("#dialog-body textarea");
      if (area) area.focus();
    });
  }

  const actions = {
    undo: undo,
    redo: redo,
    save: () => save(false),
    import: openImport,
    settings: () => { state.selected = null; openPanel("settings"); },
    "zoom-in": () => cy.zoom({ level: cy.zoom() * 1.25, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } }),
    "zoom-out": () => cy.zoom({ level: cy.zoom() / 1.25, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } }),
    fit: () => cy.fit(undefined, 40),
    tidy: () => {
      const doc = clone(state.doc);
      if (View.isLarge()) {
        // Packed by collapse.js: every namespace afresh, its workloads ordered by their edges.
        for (const node of doc.nodes || []) delete node.position;
      } else {
        runLayout(cy.elements(), true);
        const before = state.doc;
        state.doc = doc;
        writePositions(cy.nodes());
        state.doc = before;
      }
      commit(doc, {});
      // As when opened: every label readable; a large drawing whole (the edges lie between the nodes, and their
      // label bounds cost seconds at 8,000).
      if (View.isLarge()) cy.fit(cy.nodes(), 40); else fitReadable();
    },
    draw: () => setDrawMode(!state.drawMode),
    copy: copyYaml,
    "copy-permalink": () => copyText($("#revision-link").href, "Permalink copied."),
    "copy-command": () => copyText($("#apply-command").textContent, "Command copied."),
    download: downloadYaml,
    "close-panel": closePanel,
    "close-dialog": () => $("#dialog").close(),
    delete: (el) => removeElements([el.dataset.element]),
  };

  document.addEventListener("click", (evt) => {
    const actionEl = evt.target.closest("[data-action]");
    if (actionEl && app.contains(actionEl) && actions[actionEl.dataset.action]) {
      evt.preventDefault();
      actions[actionEl.dataset.action](actionEl);
      return;
    }
    const addEl = evt.target.closest("[data-add]");
    if (addEl) { add(addEl.dataset.add, addEl.dataset.namespace); return; }
    const templateEl = evt.target.closest("[data-template]");
    if (templateEl) {
      $("#templates-menu").open = false;
      state.selected = null;
      openPanel("template", templateEl.dataset.template, { scope: targetNamespace(null) || "" }, { focus: true });
      return;
    }
    const dialectEl = evt.target.closest("[data-dialect]");
    if (dialectEl) { setDialect(dialectEl.dataset.dialect); return; }
    const selectEl = evt.target.closest("#issues [data-select]");
    if (selectEl) { select(selectEl.dataset.select); cy.animate({ center: { eles: cy.getElementById(selectEl.dataset.select) } }, { duration: 200 }); }
    const menu = $("#templates-menu");
    if (menu && menu.open && !menu.contains(evt.target)) menu.open = false;
  });

  function typing(evt) {
    const el = evt.target;
    return el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  }

  document.addEventListener("keydown", (evt) => {
    const mod = evt.ctrlKey || evt.metaKey;
    if (evt.key === "Escape") {
      if ($("#dialog").open) return; // the dialog closes itself
      const menu = $("#templates-menu");
      if (menu && menu.open) { menu.open = false; return; }
      if (!$("#inspector").hidden) { closePanel(); $("#cy").focus(); }
      return;
    }
    if (mod && evt.key.toLowerCase() === "s") { evt.preventDefault(); if (!readOnly) save(false); return; }
    if (typing(evt) || readOnly) return;
    if (mod && evt.key.toLowerCase() === "z") { evt.preventDefault(); if (evt.shiftKey) redo(); else undo(); return; }
    if (mod && evt.key.toLowerCase() === "y") { evt.preventDefault(); redo(); return; }
    if (mod || evt.altKey) return;
    if (evt.key === "Shift" && !state.drawMode) { setDrawMode(true, false); return; }
    if ((evt.key === "Delete" || evt.key === "Backspace") && state.selected) { evt.preventDefault(); removeElements([state.selected]); return; }
    const key = evt.key.toLowerCase();
    if (key === "e") setDrawMode(!state.drawMode);
    else if (key === "f") actions.fit();
    else if (key === "n") add("namespace");
    else if (key === "w") add("workload");
    else if (key === "+" || key === "=") actions["zoom-in"]();
    else if (key === "-") actions["zoom-out"]();
  });
  document.addEventListener("keyup", (evt) => {
    if (evt.key === "Shift" && !state.drawMode) setDrawMode(false, false);
  });
  window.addEventListener("blur", () => { if (!state.drawMode) setDrawMode(false, false); });

  // What may not be changed now, and why (layers.js: the locked platform layer); "" when it may.
  const editGuards = [];
  function whyLocked(id) {
    for (const guard of editGuards) {
      const why = guard(id);
      if (why) return why;
    }
    return "";
  }

  // ------------------------------------------------------------------------------------ analysis views
  // findings.js, check.js and flows.js read the drawing and change it only through this, and hear about it
  // through "fenceline:*" events on #app: compiled (the YAML shown is the drawing's), rendered, saved.
  const saveGuards = [];
  function announce(name, detail) { app.dispatchEvent(new CustomEvent("fenceline:" + name, { detail: detail || {} })); }
  window.FencelineEditor = {
    cy: cy,
    readOnly: readOnly,
    doc: () => state.doc,
    lastCompile: () => state.lastCompile,
    render: () => render({ fit: false }),
    dialect: () => dialectOf(state.doc),
    version: () => state.version,
    commit: (doc, opts) => commit(doc, Object.assign({ fit: false }, opts)),
    commitGuarded: (doc, opts) => commitGuarded(doc, Object.assign({ fit: false }, opts)),
    select: select,
    mark: mark,
    selected: () => state.selected,
    openPanel: openPanel,
    toast: toast,
    guardSave: (guard) => saveGuards.push(guard), // async (fork) => true to go on saving
    guardEdit: (guard) => editGuards.push(guard), // (element id) => why it may not be changed, or ""
    closePanel: closePanel,
    save: (fork) => save(fork, true),
  };

  // ------------------------------------------------------------------------------------------------ start
  const t5 = performance.now();
  const restored = restoreDraft();
  if (!restored) asSaved = state.doc;
  showDialect();
  // The first compile goes out before the canvas is drawn: the server works while the browser renders.
  app.dataset.pending = "1";
  compile();
  render({ fit: false });
  if (View.isLarge()) {
    // Nodes alone bound a drawing as well; a large one's aggregate edge labels would cost seconds to measure here.
    cy.fit(cy.nodes(), 40);
    if (cy.zoom() > 1.2) cy.zoom(1.2);
  } else {
    fitReadable();
  }
  since("render and fit", t5);
  const t6 = performance.now();
  View.opened(cy);
  since("opened (lod, search)", t6);
  updateButtons();
  if (restored) toast("Restored your unsaved drawing from this browser. Ctrl+Z goes back to the saved one.");
  app.dataset.readyMs = String(Math.round(performance.now())); // drawn and fitted, for the benchmark
  app.dataset.ready = "1";
  // What the first picture does not need loads after its frame: a frame's requestAnimationFrame callbacks run
  // before its style, layout and paint, a timeout set there after them.
  requestAnimationFrame(() => setTimeout(loadLater, 0));
})();
