/* Fenceline: upload Hubble / Inspektor Gadget flow logs, watch them go up and be read, then add them to the
 * drawing or replace it.
 *
 * The files go to POST /api/flows?progress=1 with XMLHttpRequest, whose upload events drive the first bar; the
 * server then streams JSON lines while it reads (`{"progress": ...}` ..., then `{"result": ...}` or
 * `{"error": ...}`), which drive the second. The answer holds the flows as a new drawing and merged into the
 * one posted; either becomes one undo step. Everything the server says is shown with textContent.
 */
(function () {
  "use strict";

  const E = window.FencelineEditor;
  const V = window.FencelineViews;
  const app = document.getElementById("app");
  const button = document.getElementById("flows-button");
  if (!E || !V || !app || !button) return;

  const $ = (selector, root) => (root || document).querySelector(selector);
  const h = V.h;
  const url = $("#pane-tabs").dataset.flowsUrl;
  const maxBytes = Number(app.dataset.maxUploadMib) * 1024 * 1024;
  let xhr = null;

  function size(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KiB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MiB";
  }

  function hasContent(doc) {
    return Boolean((doc.nodes || []).length || (doc.namespaces || []).length);
  }

  function open() {
    const dialog = $("#dialog");
    $("#dialog-body").replaceChildren($("#flows-template").content.cloneNode(true));
    $("#flows-read").addEventListener("click", send);
    if (!dialog.open) dialog.showModal();
    $("#flows-files").focus();
  }

  function fail(message, details) {
    const box = $("#flows-error");
    if (!box) return;
    box.hidden = false;
    box.replaceChildren(h("p", null, "Nothing was imported; the drawing is unchanged."), h("p", null, message));
    if (details && details.length) {
      const list = h("ul");
      for (const detail of details) list.append(h("li", null, detail));
      box.append(list);
    }
    $("#flows-progress").hidden = true;
    $("#flows-read").disabled = false;
  }

  function send() {
    const files = Array.from($("#flows-files").files);
    $("#flows-error").hidden = true;
    if (!files.length) { fail("Choose one or more flow log files first."); return; }
    const total = files.reduce((sum, file) => sum + file.size, 0);
    if (total > maxBytes) {
      fail("These files are " + size(total) + " in all, more than the limit of " + size(maxBytes) + " on this server. Upload fewer files, or filter the logs first.");
      return;
    }
    const form = new FormData();
    for (const file of files) form.append("file", file, file.name);
    for (const name of ["namespace", "since", "until"]) {
      const value = $("#flows-" + name).value.trim();
      if (value) form.append(name, value);
    }
    const merging = hasContent(E.doc());
    if (merging) form.append("document", JSON.stringify(E.doc()));
    upload(form, merging);
  }

  function upload(form, merging) {
    const version = E.version();
    const sendBar = $("#flows-upload-bar"), readBar = $("#flows-read-bar");
    $("#flows-progress").hidden = false;
    $("#flows-read").disabled = true;
    readBar.removeAttribute("value"); // indeterminate until the server says how far it is
    $("#flows-read-text").textContent = "waiting for the upload";
    const dialog = $("#dialog");
    dialog.dataset.uploadEvents = "0";
    const request = new XMLHttpRequest();
    xhr = request;
    request.open("POST", url + "?progress=1");
    request.setRequestHeader("X-CSRFToken", Fenceline.csrfToken());
    request.setRequestHeader("Accept", "application/x-ndjson, application/json");
    request.upload.addEventListener("progress", (evt) => {
      dialog.dataset.uploadEvents = String(Number(dialog.dataset.uploadEvents) + 1);
      if (!evt.lengthComputable) return;
      sendBar.max = evt.total;
      sendBar.value = evt.loaded;
      $("#flows-upload-text").textContent = size(evt.loaded) + " of " + size(evt.total);
    });
    request.upload.addEventListener("load", () => {
      sendBar.value = sendBar.max;
      $("#flows-read-text").textContent = "reading\u2026";
    });
    let seen = 0;
    let last = null;
    const consume = () => {
      const text = request.responseText;
      let end;
      while ((end = text.indexOf("\n", seen)) !== -1) {
        const line = text.slice(seen, end);
        seen = end + 1;
        if (!line.trim()) continue;
        const event = JSON.parse(line);
        if (event.progress) {
          readBar.max = Math.max(event.progress.total, 1);
          readBar.value = event.progress.done;
          $("#flows-read-text").textContent = Math.round((100 * event.progress.done) / readBar.max) + "% read";
        } else {
          last = event;
        }
      }
    };
    request.addEventListener("progress", () => { if (request.status === 200) consume(); });
    request.addEventListener("load", () => {
      xhr = null;
      if (request.status !== 200) {
        let body = {};
        try { body = JSON.parse(request.responseText); } catch (err) { body = {}; }
        const tooLarge = request.status === 413;
        fail((tooLarge ? "Too large: " : "") + (body.error || "The server answered " + request.status + "."), body.details);
        return;
      }
      consume();
      if (!last) { fail("The server's answer ended early; try again."); return; }
      if (last.error) { fail(last.error, last.details); return; }
      showSummary(last.result, merging, version);
    });
    request.addEventListener("error", () => { xhr = null; fail("The upload did not reach the server, or the server closed it (a file over the limit is refused)."); });
    request.send(form);
  }

  function showSummary(result, merging, version) {
    const summary = result.summary;
    $(".flows-pick").hidden = true;
    $("#flows-progress").hidden = false;
    const box = $("#flows-summary");
    box.hidden = false;
    const files = V.plural(summary.files.length, "file");
    $("#flows-headline").textContent = "Read " + V.plural(summary.flowsRead, "flow") + " from " + files + ": " +
      V.plural(summary.workloads, "workload") + ", " + V.plural(summary.edges, "edge") + " found.";
    const counts = $("#flows-counts");
    const rows = [
      ["Flows read", summary.flowsRead], ["Flows used", summary.flowsUsed], ["Replies left out", summary.replies],
      ["Lines skipped", summary.linesSkipped], ["Events lost", summary.eventsLost],
      ["Workloads", summary.workloads], ["Nodes", summary.nodes],
      ["Edges", summary.edges + (summary.deniedEdges ? " (" + summary.deniedEdges + " denied, drawn switched off)" : "")],
    ];
    for (const [label, value] of rows) counts.append(h("dt", null, label), h("dd", null, value));
    for (const file of summary.files) {
      counts.append(h("dt", null, file.name), h("dd", null, file.format + (file.compression ? ", " + file.compression : "") + ", " + V.plural(file.records, "record") + ", " + file.skipped + " skipped"));
    }
    const notes = [];
    if (summary.eventsLost) notes.push(summary.eventsLost + " events were lost (" + summary.lostRecords + " lost_events records): the log is incomplete, so traffic may be missing.");
    for (const [reason, count] of Object.entries(summary.ignored)) notes.push("Left out " + count + ": " + reason + ".");
    for (const warning of summary.warnings) notes.push(warning);
    if (!E.can("l7") && (result.document.edges || []).some((edge) => edge.l7)) {
      const able = E.dialectsWith("l7").join(" or ");
      notes.push("These flows carry HTTP or DNS rules, which only the " + able + " dialect expresses: switch the YAML to " + able + ", or those edges do not compile.");
    }
    if (notes.length) {
      $("#flows-notes").hidden = false;
      $("#flows-notes ul").append(...notes.map((note) => h("li", null, note)));
    }
    if (summary.linesSkipped) {
      const skipped = $("#flows-skipped");
      skipped.hidden = false;
      $("p", skipped).textContent = V.plural(summary.linesSkipped, "line") + " skipped" + (summary.skipped.length < summary.linesSkipped ? "; the first " + summary.skipped.length + ":" : ":");
      $("ul", skipped).append(...summary.skipped.map((s) => h("li", null, s.source + ":" + s.line + ": " + s.reason)));
    }
    const merge = $("#flows-merge"), replace = $("#flows-replace");
    if (!merging) {
      merge.textContent = "Draw them";
      replace.hidden = true;
    }
    const take = (doc) => {
      $("#dialog").close();
      if (E.version() !== version) { E.toast("The drawing changed meanwhile; read the flows again to add them.", "warn"); return; }
      E.commit(doc, { fit: true });
      E.toast("Added " + V.plural(summary.edges, "observed edge") + ". Ctrl+Z undoes it.");
    };
    merge.addEventListener("click", () => take(merging ? result.merged : result.document));
    replace.addEventListener("click", () => take(result.document));
    merge.focus();
  }

  button.addEventListener("click", open);
  $("#dialog").addEventListener("close", () => { if (xhr) { xhr.abort(); xhr = null; } });
})();
