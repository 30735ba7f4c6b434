/* Fenceline: the inspector beside the canvas, which keeps every keystroke.
 *
 * The server renders each panel and applies its forms (editor/panels.py); this file only carries requests and
 * answers, under three rules:
 *   - one request at a time, in the order the person acted (opening a panel, leaving a changed field, Enter);
 *     each request is built when it leaves, from the drawing and the fields as they are then;
 *   - a field keeps what the person typed: the field being typed into is never redrawn, and no answer
 *     overwrites a field that was changed after its request left (Idiomorph patches the panel in place, so
 *     focus, caret and typed text stay where they are);
 *   - an answer computed from a drawing that changed meanwhile (a drag, an undo) is asked again, never dropped.
 * The answer's changed document goes to the editor (one undo step). No policy logic here.
 */
(function () {
  "use strict";

  const TEXT_TYPES = new Set(["text", "number", "search", "email", "url", "tel", ""]);
  const MAX_RETRIES = 5;

  function isTextEntry(el) {
    return el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && TEXT_TYPES.has(el.getAttribute("type") || ""));
  }

  function fieldValue(el) {
    return el.type === "checkbox" || el.type === "radio" ? (el.checked ? el.value || "on" : null) : el.value;
  }

  function fields(root) {
    return Array.from(root.querySelectorAll("input[name], select[name], textarea[name]"))
      .filter((el) => el.type !== "hidden" && el.type !== "file");
  }

  /* options: root (the inspector element), url (panel URL prefix), readOnly, context() -> {document, dialect,
   * version}, onDocument(doc, select, url), onShown(), busy(bool), toast(text, kind), maxUploadMib */
  function create(options) {
    const root = options.root;
    const queue = [];
    let running = false;
    let session = 0; // which panel the person works in: opening another one starts a new session
    let sessionKey = null; // what + id of that panel
    let shownKey = null; // what + id of the panel on screen, for a refresh to patch rather than replace
    let committed = new Map(); // name -> value of each field when it was last left (or drawn)
    let lastApplied = null; // the session and fields of the latest change asked for

    function setBusy() { options.busy(running || queue.length > 0); }

    function enqueue(job) {
      if (job.kind === "open") {
        // A newer panel supersedes older ones not yet asked for; changes are never skipped.
        for (let i = queue.length - 1; i >= 0; i -= 1) if (queue[i].kind === "open") queue.splice(i, 1);
      }
      queue.push(job);
      setBusy();
      if (!running) next();
    }

    async function next() {
      const job = queue.shift();
      if (!job) { running = false; setBusy(); return; }
      running = true;
      setBusy();
      try {
        await run(job);
      } catch (err) {
        options.toast("The server cannot be reached; nothing was changed.", "error");
      }
      next();
    }

    function body(job) {
      const ctx = options.context();
      const data = new FormData();
      if (job.kind === "apply") {
        const form = job.form.isConnected && job.session === session ? job.form : null;
        const sent = new Map();
        if (form) {
          for (const el of form.querySelectorAll("input[type=hidden][name]")) data.append(el.name, el.value);
          for (const el of fields(form)) {
            // The field being typed into goes as it was when last left; the rest as they are now.
            const value = el === document.activeElement && isTextEntry(el) && committed.has(el.name) ? committed.get(el.name) : fieldValue(el);
            if (value !== null) data.append(el.name, value);
            sent.set(el.name, value);
          }
          job.snapshot = data;
        } else {
          for (const [name, value] of job.snapshot) data.append(name, value);
        }
        job.sent = sent;
      } else {
        for (const [name, value] of Object.entries(job.values)) data.append(name, value);
      }
      data.set("document", JSON.stringify(ctx.document));
      data.set("dialect", ctx.dialect);
      if (options.readOnly) data.set("read_only", "1");
      return { data: data, version: ctx.version };
    }

    async function run(job) {
      const request = body(job);
      const response = await fetch(job.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": Fenceline.csrfToken(), "Accept": "text/html" },
        body: request.data,
      });
      const html = await response.text();
      if (options.context().version !== request.version && (job.retries || 0) < MAX_RETRIES) {
        // Computed from a drawing that has changed since: ask again with the drawing as it is now.
        job.retries = (job.retries || 0) + 1;
        queue.unshift(job);
        return;
      }
      if (!response.ok && !(response.status < 500 && html.includes("panel-problems"))) {
        if (response.status === 413) options.toast("Too large: the server accepts up to " + options.maxUploadMib + " MiB. Nothing was changed.", "error");
        else options.toast("The server answered " + response.status + "; nothing was changed.", "error");
        return;
      }
      const template = document.createElement("template");
      template.innerHTML = html;
      const result = template.content.querySelector(".panel-result");
      if (job.kind === "apply") answerApply(job, template, result);
      else answerOpen(job, template);
      if (result && result.dataset.document) options.onDocument(JSON.parse(result.dataset.document), result.dataset.select || "", job.url);
    }

    function answerOpen(job, template) {
      if (job.session !== session) return; // closed, or another panel asked for since
      root.hidden = false;
      if (shownKey === job.key && root.querySelector("form")) {
        patch(template, (el) => committed.has(el.name) && fieldValue(el) !== committed.get(el.name));
      } else {
        root.replaceChildren(template.content.cloneNode(true));
        shownKey = job.key;
        remember();
      }
      if (job.focus) {
        const first = root.querySelector(typeof job.focus === "string" ? job.focus : "input:not([type=hidden]):not([type=checkbox]), select, textarea");
        if (first) { first.focus(); if (first.select) first.select(); }
      }
      finish();
    }

    function answerApply(job, template, result) {
      if (job.session !== session) {
        // The panel was closed or changed before the answer came: say what was not applied, if anything.
        if (!(result && result.dataset.document)) {
          const problems = Array.from(template.content.querySelectorAll(".field-error, .panel-problems li")).map((p) => p.textContent.trim());
          if (problems.length) options.toast("A change was not applied: " + problems.join("; "), "error");
        }
        return;
      }
      patch(template, (el) => job.sent.has(el.name) ? fieldValue(el) !== job.sent.get(el.name) : committed.has(el.name) && fieldValue(el) !== committed.get(el.name));
      finish();
    }

    /* Morph the shown panel into the answer, leaving alone the field being typed into and every field changed
     * after `changedSince` says so; the fields that take the server's value become the new committed ones. */
    function patch(template, changedSince) {
      const kept = new Set(fields(root).filter((el) => (el === document.activeElement && isTextEntry(el)) || changedSince(el)));
      Idiomorph.morph(root, template.content.cloneNode(true), {
        morphStyle: "innerHTML",
        callbacks: { beforeNodeMorphed: (oldNode) => !kept.has(oldNode) },
      });
      for (const el of fields(root)) if (!kept.has(el)) committed.set(el.name, fieldValue(el));
    }

    function remember() {
      committed = new Map(fields(root).map((el) => [el.name, fieldValue(el)]));
    }

    function finish() {
      lastApplied = null; // after an answer (an undo, say) the same values may be a change again
      if (options.readOnly) {
        root.querySelectorAll("input, select, textarea, button[type=submit]").forEach((el) => { el.disabled = true; });
        root.querySelectorAll("[data-action=delete], [data-add]").forEach((el) => el.remove());
      }
      options.onShown();
    }

    function apply(form) {
      // Enter in a changed field fires both "change" and "submit": the second asks for nothing new.
      const values = JSON.stringify([session, Array.from(new FormData(form))]);
      if (values === lastApplied) return;
      lastApplied = values;
      enqueue({ kind: "apply", url: form.action, form: form, session: session, snapshot: new FormData(form) });
    }

    root.addEventListener("change", (evt) => {
      const el = evt.target;
      if (!el.name || !el.form || !root.contains(el.form)) return;
      committed.set(el.name, fieldValue(el));
      if (el.form.dataset.apply === "change") apply(el.form);
    });
    root.addEventListener("submit", (evt) => {
      if (evt.target.dataset.local !== undefined) return; // handled in the page (e.g. "Connect to...")
      evt.preventDefault();
      const el = document.activeElement;
      if (el && el.name && root.contains(el)) committed.set(el.name, fieldValue(el));
      apply(evt.target);
    });

    return {
      open(what, id, extra, opts) {
        const key = what + ":" + (id || "");
        if (key !== sessionKey) { session += 1; sessionKey = key; }
        const values = Object.assign({ id: id || "" }, extra || {});
        enqueue({ kind: "open", url: options.url + what, values: values, session: session, key: key, focus: (opts || {}).focus || false });
      },
      close() {
        session += 1;
        sessionKey = shownKey = null;
        root.hidden = true;
        root.replaceChildren();
      },
      // A panel renamed by its own answer (a namespace) keeps its session under the new key.
      rekey(what, id) { sessionKey = shownKey = what + ":" + id; },
      busy: () => running || queue.length > 0,
    };
  }

  window.FencelineInspector = { create: create };
})();
