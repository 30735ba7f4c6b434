/* Fenceline: behaviour every page shares. Loaded as a file (the CSP forbids inline script). */
(function () {
  "use strict";

  function csrfToken() {
    const meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.content : "";
  }

  // htmx requests carry the CSRF token like every form post does.
  document.addEventListener("htmx:configRequest", (evt) => {
    evt.detail.headers["X-CSRFToken"] = csrfToken();
  });

  // A panel re-rendered after a change keeps the keyboard focus where the person was.
  let focusedName = null;
  document.addEventListener("htmx:beforeSwap", () => {
    const el = document.activeElement;
    focusedName = el && el.name && el.form ? el.name : null;
  });
  document.addEventListener("htmx:afterSettle", (evt) => {
    if (!focusedName) return;
    const el = evt.detail.target.querySelector("[name='" + CSS.escape(focusedName) + "']");
    focusedName = null;
    if (el && !el.disabled) el.focus();
  });

  async function postJSON(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), "Accept": "application/json" },
      body: JSON.stringify(body),
    });
    let data;
    try { data = await response.json(); } catch (err) { data = { error: "The server answered " + response.status + " without JSON.", details: [] }; }
    return { ok: response.ok, status: response.status, body: data };
  }

  // The core writes its messages for the CLI's `file:line: message` lines, in lower case; on a page a sentence
  // starts with a capital. Only a plain first word is capitalised: `shop/web …` or `app=web …` stay as named.
  function sentence(text) {
    return String(text).replace(/^[a-z]+(?=\s|$)/, (word) => word.charAt(0).toUpperCase() + word.slice(1));
  }

  window.Fenceline = { csrfToken: csrfToken, postJSON: postJSON, sentence: sentence };
})();
