/* Fenceline: a short tour on the first visit (remembered in localStorage; the ? button replays it). */
(function () {
  "use strict";

  const KEY = "fenceline.tour.v1";
  const tour = document.getElementById("tour");
  const app = document.getElementById("app");
  if (!tour || !app) return;
  const readOnly = app.dataset.readOnly === "1";

  const steps = readOnly ? [
    ["#cy", "A saved drawing", "This is a saved revision: it never changes, so its address is safe to share and to apply."],
    [".yaml-pane", "Its policies", "The YAML in both dialects. The curl line below applies it straight to a cluster."],
    ["#edit-copy", "Change it", "Edit a copy to change the drawing; saving creates a new revision next to this one."],
  ] : [
    ["#palette", "Add what runs", "Add namespaces and their workloads here. Click anything to edit its name, labels and ports."],
    ["#draw-toggle", "Draw the traffic", "Turn on Draw (or hold Shift) and drag from one workload to another: that traffic is now allowed."],
    ["#cy", "Edges hold the rules", "Click an edge to set its ports, which side enforces it and, in Cilium, its HTTP and DNS rules."],
    ["#templates-menu", "The usual extras", "Templates add what every cluster needs: DNS, default deny, ingress controller, Prometheus, the API server."],
    [".yaml-pane", "The YAML writes itself", "Switch between NetworkPolicy and Cilium, copy or download. Problems show here and on the drawing."],
    ["#save-button", "Share it", "Save gives a permanent, unguessable link; every save is a new revision."],
  ];

  let index = 0;

  function show() {
    const [selector, title, text] = steps[index];
    const target = document.querySelector(selector);
    document.getElementById("tour-title").textContent = title;
    document.getElementById("tour-text").textContent = text;
    document.getElementById("tour-step").textContent = (index + 1) + " / " + steps.length;
    tour.querySelector("[data-tour=next]").textContent = index === steps.length - 1 ? "Done" : "Next";
    tour.hidden = false;
    document.querySelectorAll(".tour-target").forEach((el) => el.classList.remove("tour-target"));
    if (target) {
      target.classList.add("tour-target");
      const box = target.getBoundingClientRect();
      const width = tour.offsetWidth, height = tour.offsetHeight;
      let left, top;
      if (box.height > window.innerHeight / 2 && box.right + width + 24 < window.innerWidth) {
        left = box.right + 12; // tall and narrow (the palette): beside it
        top = box.top + 24;
      } else if (box.height > window.innerHeight / 2) {
        left = Math.min(box.left + 24, window.innerWidth - width - 12); // the canvas or the YAML: inside it
        top = box.top + 24;
      } else {
        left = Math.min(Math.max(12, box.left), window.innerWidth - width - 12);
        top = box.bottom + 12;
        if (top + height > window.innerHeight - 12) top = Math.max(12, box.top - height - 12);
      }
      tour.style.left = left + "px";
      tour.style.top = top + "px";
    }
    tour.querySelector("[data-tour=next]").focus();
  }

  function finish() {
    tour.hidden = true;
    document.querySelectorAll(".tour-target").forEach((el) => el.classList.remove("tour-target"));
    try { localStorage.setItem(KEY, "done"); } catch (err) { /* private mode: the tour shows again next time */ }
  }

  tour.addEventListener("click", (evt) => {
    const button = evt.target.closest("[data-tour]");
    if (!button) return;
    if (button.dataset.tour === "skip") { finish(); return; }
    index += 1;
    if (index >= steps.length) finish(); else show();
  });
  tour.addEventListener("keydown", (evt) => { if (evt.key === "Escape") { evt.stopPropagation(); finish(); } });
  document.addEventListener("click", (evt) => {
    if (evt.target.closest("[data-action=tour]")) { index = 0; show(); }
  });

  let seen = false;
  try { seen = localStorage.getItem(KEY) === "done"; } catch (err) { seen = false; }
  if (!seen) setTimeout(show, 300);
})();
