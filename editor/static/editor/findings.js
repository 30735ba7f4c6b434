/* Fenceline: lint findings beside the YAML and on the drawing, one-click fixes, the rating, and the pane's tabs.
 *
 * After every compile the drawing is linted and rated on the server (POST /api/lint, the same functions as
 * `fenceline lint` and `fenceline rate`); this file only shows the answer. Every text from the server is set
 * with textContent, so names and labels holding HTML stay text. It also gives check.js and flows.js the
 * pane's tabs and a few DOM helpers (window.FencelineViews).
 */
(function () {
  "use strict";

  const E = window.FencelineEditor;
  const app = document.getElementById("app");
  const tabs = document.getElementById("pane-tabs");
  if (!E || !app || !tabs) return;

  const $ = (selector, root) => (root || document).querySelector(selector);
  const pane = $(".yaml-pane");
  const urls = tabs.dataset;
  const LINT_DELAY_MS = 300;

  // ----------------------------------------------------------------------------------------------- helpers
  function h(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined && text !== null) el.textContent = String(text);
    return el;
  }

  function plural(n, word, many) {
    return n + " " + (n === 1 ? word : many || word + "s");
  }

  /* POST the drawing (plus `extra`) for the drawing as it is now; `stale` is true when it changed meanwhile. */
  async function postDrawing(url, extra) {
    const version = E.version();
    const answer = await Fenceline.postJSON(url, Object.assign({ document: E.doc(), dialect: E.dialect() }, extra || {}));
    answer.stale = version !== E.version();
    return answer;
  }

  function errorText(answer) {
    const body = answer.body || {};
    return [body.error || "The server answered " + answer.status + "."].concat(body.details || []).join(" ");
  }

  /* Canvas styles of the analysis marks, added to the graph's own (graph.js). Not applied to what is drawn now
   * (no .update(): restyling a whole cluster's canvas costs a third of a second): no element has these classes
   * yet, and an element is restyled with every rule when its classes change. */
  E.cy.style()
    .selector("node.finding-warning, edge.finding-warning").style({ "underlay-color": "#f59e0b", "underlay-opacity": 0.35, "underlay-padding": 7 })
    .selector("node.finding-error, edge.finding-error").style({ "underlay-color": "#dc2626", "underlay-opacity": 0.35, "underlay-padding": 7 })
    .selector("edge.check-flagged").style({
      "underlay-color": "#dc2626", "underlay-opacity": 0.3, "underlay-padding": 6, "width": 3,
      "target-label": "data(checkFlag)", "target-text-offset": 56, "font-size": 10, "color": "#991b1b",
      "target-text-margin-y": -10, "text-background-color": "#fef2f2", "text-background-opacity": 0.95,
    });

  // -------------------------------------------------------------------------------------------------- tabs
  const shown = [];
  function showView(view) {
    pane.dataset.view = view;
    for (const tab of tabs.querySelectorAll("[role=tab]")) {
      const on = tab.dataset.view === view;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
    }
    $("#rating-view").hidden = view !== "rating";
    $("#check-view").hidden = view !== "check";
    for (const callback of shown) callback(view);
  }
  tabs.addEventListener("click", (evt) => {
    const tab = evt.target.closest("[role=tab]");
    if (tab) showView(tab.dataset.view);
  });
  tabs.addEventListener("keydown", (evt) => {
    if (evt.key !== "ArrowRight" && evt.key !== "ArrowLeft") return;
    const all = Array.from(tabs.querySelectorAll("[role=tab]"));
    const next = all[(all.indexOf(document.activeElement) + (evt.key === "ArrowRight" ? 1 : all.length - 1)) % all.length];
    showView(next.dataset.view);
    next.focus();
  });
  pane.dataset.view = "yaml";

  // ---------------------------------------------------------------------------------------------- findings
  const lint = { seq: 0, findings: [], marks: [] };

  async function runLint() {
    const seq = ++lint.seq;
    app.dataset.lintPending = "1";
    $("#findings-status").textContent = "Checking\u2026";
    let answer;
    try {
      answer = await postDrawing(urls.lintUrl);
    } catch (err) {
      if (seq === lint.seq) { showLintProblem("The server cannot be reached."); app.dataset.lintPending = "0"; }
      return;
    }
    if (seq !== lint.seq) return;
    app.dataset.lintPending = "0";
    if (!answer.ok) { showLintProblem(errorText(answer)); return; }
    showFindings(answer.body.findings, answer.body.counts);
    showRating(answer.body.rating);
  }

  function showLintProblem(text) {
    lint.findings = [];
    $("#findings").hidden = false;
    $("#findings-list").replaceChildren(h("li", "finding-problem", "Not linted: " + text));
    $("#findings-status").textContent = "";
    $("#findings-count").textContent = "";
    markFindings();
  }

  function clearLint() {
    lint.seq += 1;
    app.dataset.lintPending = "0";
    lint.findings = [];
    $("#findings").hidden = true;
    $("#findings-list").replaceChildren();
    $("#findings-count").textContent = "";
    $("#rating-score").textContent = "";
    markFindings();
  }

  function showFindings(findings, counts) {
    lint.findings = findings;
    const list = $("#findings-list");
    list.replaceChildren();
    for (const finding of findings) list.append(findingItem(finding));
    $("#findings").hidden = !findings.length;
    const parts = ["error", "warning", "info"].filter((s) => counts[s]).map((s) => plural(counts[s], s));
    $("#findings-status").textContent = parts.join(", ");
    const serious = (counts.error || 0) + (counts.warning || 0);
    $("#findings-count").textContent = serious ? "\u26a0 " + serious : "";
    $("#findings-count").title = parts.join(", ");
    markFindings();
  }

  function target(finding) {
    if (finding.edges.length) return "e:" + finding.edges[0];
    if (finding.nodes.length) return "n:" + finding.nodes[0];
    return null;
  }

  function findingItem(finding) {
    const item = h("li", "finding finding-" + finding.severity);
    item.dataset.findingId = finding.id;
    item.dataset.elements = finding.nodes.map((id) => "n:" + id).concat(finding.edges.map((id) => "e:" + id)).join(" ");
    const head = h("div", "finding-head");
    head.append(h("span", "issue-badge", finding.severity));
    const rule = h("a", "finding-rule", finding.rule);
    rule.href = finding.whyUrl;
    rule.target = "_blank";
    rule.rel = "noopener";
    rule.title = "Why this matters: " + finding.slug;
    head.append(rule);
    const object = finding.object;
    const subject = object.kind + " " + (object.namespace ? object.namespace + "/" : "") + object.name;
    head.append(h("span", "finding-where", subject + (finding.path ? " \u00b7 " + finding.path : "")));
    item.append(head, h("p", "finding-message", Fenceline.sentence(finding.message)));
    const actions = h("div", "finding-actions");
    const where = target(finding);
    if (where) {
      const show = h("button", "button small", "Show");
      show.type = "button";
      show.dataset.show = where;
      actions.append(show);
    }
    if (!E.readOnly) {
      for (const fix of finding.fixes.filter((f) => f.target === "document")) {
        const button = h("button", "button small primary", "Fix: " + fix.title);
        button.type = "button";
        button.dataset.fix = fix.id;
        actions.append(button);
        const alike = (finding.alike || {})[fix.id];
        if (alike) {
          // The same fix offered by other findings of this rule: all of them as one change (one Ctrl+Z).
          const all = h("button", "button small", "Fix all " + alike);
          all.type = "button";
          all.dataset.fix = fix.id;
          all.dataset.fixAll = "1";
          all.title = fix.title + ", for all " + alike + " findings like this one";
          actions.append(all);
        }
      }
    }
    if (actions.childElementCount) item.append(actions);
    return item;
  }

  function markFindings() {
    E.cy.batch(() => {
      E.cy.elements(".finding-warning, .finding-error").removeClass("finding-warning finding-error");
      for (const finding of lint.findings) {
        if (finding.severity === "info") continue;
        const cls = "finding-" + finding.severity;
        for (const id of finding.nodes) E.cy.getElementById("n:" + id).addClass(cls);
        for (const id of finding.edges) E.cy.getElementById("e:" + id).addClass(cls);
      }
    });
  }

  async function applyFix(button) {
    button.disabled = true;
    let answer;
    try {
      answer = await postDrawing(urls.fixUrl, { fix: button.dataset.fix, all: button.dataset.fixAll === "1" });
    } catch (err) {
      E.toast("The server cannot be reached; nothing was changed.", "error");
      button.disabled = false;
      return;
    }
    if (answer.stale) { E.toast("The drawing changed meanwhile; that fix was not applied. Try again.", "warn"); return; }
    if (!answer.ok) { E.toast("Not fixed: " + errorText(answer), "error"); button.disabled = false; return; }
    if (await E.commitGuarded(answer.body.document)) E.toast(answer.body.message + " Ctrl+Z undoes it.");
    else button.disabled = false;
  }

  $("#findings-list").addEventListener("click", (evt) => {
    const fix = evt.target.closest("[data-fix]");
    if (fix) { applyFix(fix); return; }
    const show = evt.target.closest("[data-show]");
    if (show) {
      E.select(show.dataset.show);
      E.cy.animate({ center: { eles: E.cy.getElementById(show.dataset.show) } }, { duration: 200 });
    }
  });

  // The findings about what is selected on the canvas stand out in the list.
  E.cy.on("select unselect", () => {
    const selected = new Set(E.cy.$(":selected").map((ele) => ele.id()));
    for (const item of document.querySelectorAll("#findings-list .finding")) {
      const related = item.dataset.elements.split(" ").some((id) => selected.has(id));
      item.classList.toggle("related", related);
      if (related) item.scrollIntoView({ block: "nearest" });
    }
  });

  // ------------------------------------------------------------------------------------------------ rating
  function statusBadge(status) {
    return h("span", "verdict-badge verdict-" + status.replace("/", ""), status);
  }

  function criterionRow(criterion) {
    const row = h("tr", "criterion criterion-" + criterion.status.replace("/", ""));
    row.dataset.criterion = criterion.id;
    const name = h("th", null, criterion.title);
    name.scope = "row";
    name.append(h("span", "criterion-id", criterion.id));
    const verdict = h("td");
    verdict.append(statusBadge(criterion.status));
    if (criterion.score !== null && criterion.status === "partial") verdict.append(h("span", "criterion-score", " " + criterion.score));
    const why = h("td");
    why.append(h("p", "criterion-reason", Fenceline.sentence(criterion.reason)));
    if (criterion.improve) why.append(h("p", "criterion-improve", "Improve: " + criterion.improve));
    row.append(name, h("td", "criterion-weight", criterion.weight), verdict, why);
    return row;
  }

  function showRating(rating) {
    if (!rating) {
      // An empty drawing has no rating: nothing is drawn, so there is nothing to judge.
      $("#rating-score").textContent = "";
      $("#rating-total").textContent = "\u2014";
      Array.from($("#rating-bar").children).forEach((segment) => { segment.className = ""; });
      $("#rating-criteria tbody").replaceChildren();
      $("#rating-policies").replaceChildren(h("p", "help", "No rating yet: the drawing is empty. Draw your workloads and the traffic between them, and their policies are rated here."));
      return;
    }
    $("#rating-score").textContent = rating.score.toFixed(1);
    $("#rating-total").textContent = rating.score.toFixed(1);
    const bar = $("#rating-bar");
    Array.from(bar.children).forEach((segment, i) => {
      segment.className = rating.score >= i + 1 ? "full" : rating.score > i ? "part" : "";
    });
    $("#rating-criteria tbody").replaceChildren(...rating.criteria.map(criterionRow));
    const policies = $("#rating-policies");
    policies.replaceChildren();
    if (!rating.policies.length) policies.append(h("p", "help", "No policies yet: nothing is isolated, so the rating is 0."));
    for (const policy of rating.policies) {
      const box = h("details", "policy-rating");
      const summary = h("summary");
      summary.append(h("span", "policy-label", policy.label), h("span", "policy-score", policy.score.toFixed(1) + " / 5"));
      box.append(summary);
      const table = h("table", "rating-table");
      const body = h("tbody");
      body.append(...policy.criteria.filter((c) => c.status !== "n/a").map(criterionRow));
      table.append(body);
      box.append(table);
      policies.append(box);
    }
  }

  // ------------------------------------------------------------------------------------------------ wiring
  // Lint once the person pauses: a compile answers every edit, lint and rating can wait a moment longer.
  let lintTimer = null;
  app.addEventListener("fenceline:compiled", (evt) => {
    clearTimeout(lintTimer);
    if (!evt.detail.ok) { clearLint(); return; }
    app.dataset.lintPending = "1";
    lintTimer = setTimeout(runLint, LINT_DELAY_MS);
  });
  app.addEventListener("fenceline:rendered", markFindings);
  if (app.dataset.pending === "0") runLint();

  window.FencelineViews = { h: h, plural: plural, postDrawing: postDrawing, errorText: errorText, onShow: (callback) => shown.push(callback), show: showView };
})();
