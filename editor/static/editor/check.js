/* Fenceline: the Check view (who may really talk to whom) and the flow replay before saving.
 *
 * The server compiles the drawing, analyses the YAML and compares (POST /api/check); this file shows the
 * matrix, the drawn edges that are not in effect (also marked on the canvas) and the allowed connections
 * nobody drew. Before a save of a drawing with observed traffic it asks which observed connections the new
 * policies would break, and lets the person save anyway or go back. All server text goes in as textContent.
 */
(function () {
  "use strict";

  const E = window.FencelineEditor;
  const V = window.FencelineViews;
  const app = document.getElementById("app");
  if (!E || !V || !app) return;

  const $ = (selector, root) => (root || document).querySelector(selector);
  const h = V.h;
  const urls = $("#pane-tabs").dataset;
  const MATRIX_LIMIT = 40; // peers shown at once; a filter narrows bigger drawings down
  const STATUS = { allowed: ["\u2713", "allowed"], partial: ["\u25d0", "partly allowed"], denied: ["\u2715", "denied"] };
  // Which tier decided a cell (the server's `tier`): its mark beside the status, and its words.
  const TIERS = {
    admin: ["A", "the Admin tier"], application: ["N", "NetworkPolicy"], baseline: ["B", "the Baseline tier"],
    default: ["D", "no policy (allowed by default)"],
  };

  const hasPlatform = (doc) => Boolean(window.FencelineLayers && FencelineLayers.hasPlatform(doc)); // layers.js
  const check = { seq: 0, result: null, key: null, active: false, cells: new Map(), hoverTimer: null };

  // What the check depends on: the drawing without its layout (moving a node changes no connection).
  const semantic = (doc) => JSON.stringify(doc, (name, value) => (name === "position" ? undefined : value));

  // ------------------------------------------------------------------------------------------------ check
  async function runCheck() {
    const seq = ++check.seq;
    const key = semantic(E.doc());
    app.dataset.checkPending = "1";
    $("#check-status").textContent = "Checking\u2026";
    let answer;
    try {
      answer = await V.postDrawing(urls.checkUrl, observedBaseline());
    } catch (err) {
      if (seq === check.seq) { $("#check-status").textContent = "The server cannot be reached."; app.dataset.checkPending = "0"; }
      return;
    }
    if (seq !== check.seq) return;
    app.dataset.checkPending = "0";
    if (semantic(E.doc()) !== key) return; // the next compile checks again
    if (!answer.ok) {
      check.result = null;
      $("#check-status").textContent = "Not checked: " + V.errorText(answer);
      markFlagged();
      return;
    }
    check.result = answer.body;
    check.key = key;
    check.cells.clear();
    showCheck(answer.body);
  }

  // A peer as the page shows it ("Any IP address"); `name` stays the key the server knows it by.
  const label = (name) => (check.result && check.result.labels && check.result.labels[name]) || name;

  function showCheck(result) {
    const flagged = result.flaggedEdges.length;
    const parts = [flagged ? V.plural(flagged, "drawn edge") + " not (fully) in effect" : "Every drawn edge is in effect"];
    parts.push(result.undrawn.length ? V.plural(result.undrawn.length, "undrawn connection") + " allowed" : "nothing allowed that nobody drew");
    if (result.mismatches.length) parts.push(V.plural(result.mismatches.length, "disagreement") + " between the YAML and the drawing");
    $("#check-status").textContent = parts.join("; ") + ".";
    $("#check-count").textContent = flagged ? "\u26a0 " + flagged : "\u2713";
    showFlagged(result);
    $("#check-mismatches").hidden = !result.mismatches.length;
    $("#check-mismatches ul").replaceChildren(...result.mismatches.map((m) => h("li", "check-item check-pair",
      m.src + " \u2192 " + m.dst + ": the YAML allows " + m.allowed + ", the drawing means " + m.intended)));
    showMatrix(result);
    showUndrawn(result);
    showExposure(result);
    showReplay(result.replay);
    markFlagged();
  }

  function edgeEnds(edgeId) {
    const edge = (E.doc().edges || []).find((e) => e.id === edgeId);
    if (!edge) return edgeId;
    const name = (id) => {
      const node = (E.doc().nodes || []).find((n) => n.id === id);
      return node ? window.FencelineGraph.displayName(node) : id;
    };
    return name(edge.source) + " \u2192 " + name(edge.target);
  }

  function showFlagged(result) {
    const list = $("#check-flagged");
    list.replaceChildren();
    if (!result.flaggedEdges.length) list.append(h("li", "help", "None: every drawn edge is allowed by the YAML."));
    for (const finding of result.flaggedEdges) {
      const item = h("li", "check-item flagged");
      item.dataset.edge = finding.edgeId;
      const show = h("button", "check-edge", "Edge " + finding.edgeId + ": " + edgeEnds(finding.edgeId));
      show.type = "button";
      show.dataset.show = "e:" + finding.edgeId;
      item.append(show, h("p", "check-reason", Fenceline.sentence(finding.summary)));
      for (const pair of finding.pairs) {
        item.append(h("p", "check-pair", pair.src + " \u2192 " + pair.dst + ": drawn " + pair.drawn + ", allowed " + pair.allowed));
      }
      list.append(item);
    }
  }

  function showUndrawn(result) {
    const list = $("#check-undrawn");
    list.replaceChildren();
    if (!result.undrawn.length) list.append(h("li", "help", "None: the YAML allows only what is drawn."));
    for (const entry of result.undrawn) {
      const item = h("li", "check-item");
      item.append(h("p", "check-pair", entry.src + " \u2192 " + entry.dsts.join(", ") + ": " + entry.connections));
      item.append(h("p", "check-reason", Fenceline.sentence(entry.reason)));
      list.append(item);
    }
  }

  function showExposure(result) {
    const list = $("#check-exposure");
    list.replaceChildren();
    for (const entry of result.exposure || []) {
      const item = h("li", "check-item exposure-item");
      item.dataset.workload = entry.workload;
      item.append(h("p", "check-pair", entry.workload));
      const open = entry.exposures.filter((e) => e.direction === "ingress");
      const reach = entry.exposures.filter((e) => e.direction === "egress");
      if (!entry.exposures.length) item.append(h("p", "check-reason", "Open to nothing but the pods its rules name."));
      for (const exposure of [...open, ...reach]) {
        item.append(h("p", "check-reason exposure-" + exposure.direction, exposure.text + (exposure.protected ? "" : " (no policy selects it)")));
      }
      list.append(item);
    }
    if (!list.children.length) list.append(h("li", "help", "No workloads."));
  }

  function showReplay(replay) {
    const box = $("#check-replay");
    box.hidden = !replay;
    if (!replay) return;
    $("#check-replay-summary").textContent = replay.summary;
    const list = $("#check-replay-list");
    list.replaceChildren(...replay.connections.filter((c) => c.verdict !== "allowed").map(replayItem));
  }

  function replayItem(connection) {
    const port = connection.port === null ? "" : " " + connection.port;
    const item = h("li", "check-item" + (connection.breaks ? " flagged" : ""));
    const flows = V.plural(connection.count, "flow");
    const verdict = connection.breaks ? "would break" : connection.verdict === "denied" ? "denied, as when observed" : connection.verdict;
    item.append(h("p", "check-pair", connection.src + " \u2192 " + connection.dst + " : " + connection.protocol + port + " (" + flows + "): " + verdict));
    if (connection.reason) item.append(h("p", "check-reason", Fenceline.sentence(connection.reason)));
    if (connection.explanation && connection.explanation.length) item.append(h("pre", "cell-explanation", connection.explanation.join("\n")));
    return item;
  }

  // ----------------------------------------------------------------------------------------------- matrix
  function showMatrix(result) {
    const filter = $("#check-filter");
    $("#check-filter-label").hidden = result.peers.length <= MATRIX_LIMIT;
    const words = filter.value.trim().toLowerCase();
    const visible = (index) => !words || label(result.peers[index].name).toLowerCase().includes(words);
    // "Peers of X": X is the peer the filter names (exactly, else the first it matches); its row and its column
    // come first, against everyone, and the cells between two other peers stay empty.
    const names = result.peers.map((peer) => label(peer.name).toLowerCase());
    const focus = $("#check-peers-of").checked && words ? (names.includes(words) ? names.indexOf(words) : names.findIndex((n) => n.includes(words))) : -1;
    const first = (list) => list.filter(([peer]) => peer === focus).concat(list.filter(([peer]) => peer !== focus));
    const rows = focus >= 0 ? first(result.sources.map((peer, i) => [peer, i])) : result.sources.map((peer, i) => [peer, i]).filter(([peer]) => visible(peer));
    const columns = focus >= 0 ? first(result.destinations.map((peer, j) => [peer, j])) : result.destinations.map((peer, j) => [peer, j]).filter(([peer]) => visible(peer));
    const shownRows = rows.slice(0, MATRIX_LIMIT);
    const shownColumns = columns.slice(0, MATRIX_LIMIT);
    const hidden = rows.length - shownRows.length + columns.length - shownColumns.length;
    $("#check-matrix-note").textContent = hidden
      ? "Showing " + shownRows.length + " of " + rows.length + " rows and " + shownColumns.length + " of " + columns.length + " columns; filter by name to see the others."
      : "";

    // With platform layers, each cell says which tier decided it; without, NetworkPolicy or nothing always does.
    const tiered = hasPlatform(E.doc());
    $("#check-tier-key").hidden = !tiered;
    const table = $("#check-matrix");
    table.replaceChildren();
    const head = h("tr");
    head.append(h("td", "matrix-corner", "from \u2193 to \u2192"));
    const number = new Map(result.peers.map((peer, index) => [index, index + 1]));
    for (const [peer] of shownColumns) {
      const th = h("th", "matrix-col", number.get(peer));
      th.scope = "col";
      th.title = label(result.peers[peer].name);
      th.setAttribute("aria-label", th.title);
      head.append(th);
    }
    const thead = h("thead");
    thead.append(head);
    const tbody = h("tbody");
    for (const [source, i] of shownRows) {
      const row = h("tr");
      const th = h("th", "matrix-row", number.get(source) + " \u00b7 " + label(result.peers[source].name));
      th.scope = "row";
      th.title = label(result.peers[source].name);
      row.append(th);
      for (const [destination, j] of shownColumns) {
        const index = result.matrix[i][j];
        if (focus >= 0 && source !== focus && destination !== focus) { row.append(h("td", "matrix-other")); continue; }
        if (index === null) { row.append(h("td", "matrix-self", "\u2014")); continue; }
        const connections = result.connections[index];
        const [symbol, words] = STATUS[connections.status];
        const td = h("td", "matrix-cell " + connections.status);
        const button = h("button", null, symbol);
        button.type = "button";
        button.dataset.src = result.peers[source].name;
        button.dataset.dst = result.peers[destination].name;
        button.title = label(button.dataset.src) + " \u2192 " + label(button.dataset.dst) + ": " + words + " (" + connections.text + ")";
        const tier = tiered && TIERS[connections.tier];
        if (tier) {
          button.append(h("span", "tier-mark tier-" + connections.tier, tier[0]));
          button.dataset.tier = connections.tier;
          button.title += "; decided by " + tier[1] + (connections.tierReason ? ": " + connections.tierReason : "");
        }
        button.setAttribute("aria-label", button.title);
        td.append(button);
        row.append(td);
      }
      tbody.append(row);
    }
    table.append(thead, tbody);
  }

  async function showCell(button) {
    const key = button.dataset.src + "\u0000" + button.dataset.dst;
    const box = $("#check-cell");
    box.hidden = false;
    box.replaceChildren(h("p", "help", button.title));
    let detail = check.cells.get(key);
    if (!detail) {
      const answer = await V.postDrawing(urls.cellUrl, { src: button.dataset.src, dst: button.dataset.dst });
      if (!answer.ok || answer.stale) return;
      detail = answer.body;
      check.cells.set(key, detail);
    }
    if (!button.isConnected || box.dataset.key !== key) return;
    box.replaceChildren(
      h("p", "cell-title", detail.src + " \u2192 " + detail.dst + ": " + STATUS[detail.status][1]),
      h("p", "cell-ports", "Ports: " + detail.connections),
    );
    if (hasPlatform(E.doc()) && TIERS[detail.tier]) box.append(h("p", "cell-tier", "Decided by " + TIERS[detail.tier][1] + (detail.tierReason ? ": " + detail.tierReason : "")));
    for (const direction of ["egress", "ingress"]) {
      const side = detail[direction];
      if (!side) continue;
      const parts = [direction === "egress" ? "Sender" : "Receiver"];
      parts.push(side.isolated ? "isolated for " + direction + (side.lockedOn.length ? " (locked on " + side.lockedOn.join(", ") + ")" : "") : "not isolated for " + direction);
      if (side.allowedBy.length) parts.push("allowed by edge " + side.allowedBy.join(", "));
      if (side.deniedBy.length) parts.push("denied by edge " + side.deniedBy.join(", "));
      box.append(h("p", "cell-side", parts.join("; ")));
    }
    box.append(h("pre", "cell-explanation", detail.explanation.join("\n")));
  }

  function cellEvent(evt, delay) {
    const button = evt.target.closest(".matrix-cell button");
    if (!button) return;
    clearTimeout(check.hoverTimer);
    $("#check-cell").dataset.key = button.dataset.src + "\u0000" + button.dataset.dst;
    check.hoverTimer = setTimeout(() => showCell(button), delay);
  }
  $("#check-matrix").addEventListener("mouseover", (evt) => cellEvent(evt, 250));
  $("#check-matrix").addEventListener("focusin", (evt) => cellEvent(evt, 0));
  $("#check-matrix").addEventListener("click", (evt) => cellEvent(evt, 0));
  $("#check-filter").addEventListener("input", () => { if (check.result) showMatrix(check.result); });
  $("#check-peers-of").addEventListener("change", () => { if (check.result) showMatrix(check.result); });

  // -------------------------------------------------------------------------------------- canvas marks
  function markFlagged() {
    const current = check.result && check.key === semantic(E.doc());
    E.cy.batch(() => {
      E.cy.edges(".check-flagged").removeClass("check-flagged");
      if (!current) return;
      for (const finding of check.result.flaggedEdges) {
        const reason = (finding.pairs[0] && finding.pairs[0].reasons[0]) || finding.summary;
        const short = reason.length > 60 ? reason.slice(0, 59) + "\u2026" : reason;
        E.cy.getElementById("e:" + finding.edgeId).addClass("check-flagged").data("checkFlag", "\u26a0 " + short);
      }
    });
  }

  $("#check-view").addEventListener("click", (evt) => {
    const show = evt.target.closest("[data-show]");
    if (show) {
      E.select(show.dataset.show);
      E.cy.animate({ center: { eles: E.cy.getElementById(show.dataset.show) } }, { duration: 200 });
    }
  });
  $("#check-refresh").addEventListener("click", runCheck);
  V.onShow((view) => {
    check.active = view === "check";
    if (check.active && check.key !== semantic(E.doc())) runCheck();
  });
  app.addEventListener("fenceline:compiled", (evt) => {
    if (check.active && evt.detail.ok) runCheck();
  });
  app.addEventListener("fenceline:rendered", markFlagged);

  // ------------------------------------------------------------------------------------ replay on save
  // Observed traffic is judged against the drawing as it would be saved: that of the drawing itself and that
  // of the drawing as last loaded or saved (an observed edge deleted since still counts).
  // The drawing as loaded is read from the page's data block when first needed (a whole cluster's is a megabyte
  // of JSON, whose decoding came before the first picture).
  let saved = null;
  const baseline = () => saved || (saved = JSON.parse(document.getElementById("drawing-data").textContent));
  app.addEventListener("fenceline:saved", (evt) => { saved = JSON.parse(JSON.stringify(evt.detail.doc)); });

  const hasObserved = (doc) => (doc.edges || []).some((edge) => edge.observed);
  function observedBaseline() {
    return hasObserved(baseline()) ? { observed: baseline() } : {};
  }

  async function replayBeforeSave(fork) {
    if (!hasObserved(E.doc()) && !hasObserved(baseline())) return true;
    let answer;
    try {
      answer = await V.postDrawing(urls.checkUrl, Object.assign({ only: "replay" }, observedBaseline()));
    } catch (err) {
      return true; // saving reports the unreachable server itself
    }
    if (!answer.ok) {
      E.toast("Observed traffic not replayed (" + V.errorText(answer) + "); saving anyway.", "warn");
      return true;
    }
    const replay = answer.body.replay;
    if (!replay || !replay.breaking) return true;
    confirmBreaking(replay, fork);
    return false;
  }

  function confirmBreaking(replay, fork) {
    const dialog = $("#dialog");
    const content = $("#replay-template").content.cloneNode(true);
    $(".panel-title", content).textContent = "This change would break " + V.plural(replay.breaking, "observed connection");
    $(".replay-summary", content).textContent = replay.summary + ".";
    $(".replay-list", content).append(...replay.connections.filter((c) => c.breaks).map(replayItem));
    $("[data-replay=back]", content).addEventListener("click", () => dialog.close());
    $("[data-replay=save]", content).addEventListener("click", () => { dialog.close(); E.save(fork); });
    $("#dialog-body").replaceChildren(content);
    if (!dialog.open) dialog.showModal();
    $("#dialog [data-replay=back]").focus();
  }

  if (!E.readOnly) E.guardSave(replayBeforeSave);
})();
