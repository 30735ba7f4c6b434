/* Fenceline: who is signed in, and the sign-in prompt when the server refuses a save for want of a user.
   The account box and the dialog are rendered by registration/account.html; this places the box in the page's
   top bar and opens the dialog. Loaded as a file after site.js (the CSP forbids inline script). */
(function () {
  "use strict";

  function here() { return location.pathname + location.search; }

  function withNext(url) { return url + "?next=" + encodeURIComponent(here()); }

  const box = document.getElementById("account");
  const bar = document.querySelector(".topbar");
  if (box && bar) {
    bar.append(box);
    box.hidden = false;
  }
  // The editor changes its address after a first save: sign in from where the drawing is now.
  const signIn = document.getElementById("sign-in");
  if (signIn) signIn.addEventListener("click", () => { signIn.href = withNext(signIn.pathname); });

  const dialog = document.getElementById("sign-in-dialog");
  if (!dialog || !window.Fenceline) return;
  document.getElementById("sign-in-cancel").addEventListener("click", () => dialog.close());

  // The unsaved drawing is already in this browser's storage (editor.js keeps a draft of every change) and is
  // restored when the editor opens this address again after signing in.
  function promptSignIn() {
    const go = document.getElementById("sign-in-go");
    go.href = dialog.dataset.loginUrl ? withNext(dialog.dataset.loginUrl) : here();
    if (!dialog.open) dialog.showModal();
    go.focus();
  }

  // Every JSON post goes through Fenceline.postJSON: an answer asking for sign-in (401 with `signIn`) opens the
  // prompt, whatever the caller then does with the answer.
  const postJSON = window.Fenceline.postJSON;
  window.Fenceline.postJSON = async function (url, body) {
    const answer = await postJSON(url, body);
    if (answer.status === 401 && answer.body && "signIn" in answer.body) promptSignIn();
    return answer;
  };
  window.Fenceline.promptSignIn = promptSignIn;
})();
