/* Fenceline: the editor's two dividers -- drawing | side panel, and inspector / YAML inside the side panel.
 *
 * Each is a focusable separator: drag it, or focus it and use the arrow keys (Shift for bigger steps, Home and
 * End for the limits). Sizes are kept within limits that leave every part usable, and remembered in this
 * browser. The sizes are CSS custom properties set through the CSSOM, which the CSP allows.
 */
(function () {
  "use strict";

  const workspace = document.querySelector(".workspace");
  const side = document.getElementById("side");
  if (!workspace || !side) return;

  const KEY = "fenceline.layout.v1";
  const CANVAS_MIN = 320, SIDE_MIN = 300, INSPECTOR_MIN = 140, YAML_MIN = 200, STEP = 16;
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(KEY) || "{}") || {}; } catch (err) { saved = {}; }
  function remember(name, value) {
    saved[name] = value;
    try { localStorage.setItem(KEY, JSON.stringify(saved)); } catch (err) { /* storage disabled: sizes are a convenience */ }
  }

  function resizer(divider, options) {
    if (!divider) return null;
    function set(size, keep) {
      const [low, high] = options.bounds();
      const value = Math.round(Math.min(high, Math.max(low, size)));
      options.target.style.setProperty(options.property, value + "px");
      divider.setAttribute("aria-valuemin", String(low));
      divider.setAttribute("aria-valuemax", String(high));
      divider.setAttribute("aria-valuenow", String(value));
      if (keep) remember(options.name, value);
    }
    divider.addEventListener("pointerdown", (evt) => {
      if (evt.button !== 0) return;
      evt.preventDefault();
      divider.setPointerCapture(evt.pointerId);
      divider.classList.add("dragging");
      const move = (e) => set(options.fromPointer(e), false);
      const up = (e) => {
        divider.classList.remove("dragging");
        divider.removeEventListener("pointermove", move);
        set(options.fromPointer(e), true);
      };
      divider.addEventListener("pointermove", move);
      divider.addEventListener("pointerup", up, { once: true });
    });
    divider.addEventListener("keydown", (evt) => {
      const step = evt.shiftKey ? 4 * STEP : STEP;
      const [low, high] = options.bounds();
      const keys = { Home: () => low, End: () => high };
      keys[options.grow] = () => options.current() + step;
      keys[options.shrink] = () => options.current() - step;
      if (!keys[evt.key]) return;
      evt.preventDefault();
      set(keys[evt.key](), true);
    });
    return { set: set, saved: () => saved[options.name] };
  }

  const palette = document.getElementById("palette");
  const sideSize = resizer(document.getElementById("side-divider"), {
    name: "side", target: workspace, property: "--side-w", grow: "ArrowLeft", shrink: "ArrowRight",
    bounds: () => {
      const free = workspace.clientWidth - (palette ? palette.offsetWidth : 0) - 8;
      return [SIDE_MIN, Math.max(SIDE_MIN, free - CANVAS_MIN)];
    },
    current: () => side.getBoundingClientRect().width,
    fromPointer: (e) => workspace.getBoundingClientRect().right - e.clientX - 4,
  });
  const inspector = document.getElementById("inspector");
  const splitSize = resizer(document.getElementById("split-divider"), {
    name: "split", target: side, property: "--split", grow: "ArrowDown", shrink: "ArrowUp",
    bounds: () => [INSPECTOR_MIN, Math.max(INSPECTOR_MIN, side.clientHeight - YAML_MIN - 8)],
    current: () => inspector.getBoundingClientRect().height,
    fromPointer: (e) => e.clientY - side.getBoundingClientRect().top - 4,
  });

  function restore() {
    for (const size of [sideSize, splitSize]) if (size && size.saved() !== undefined) size.set(size.saved(), false);
  }
  restore();
  window.addEventListener("resize", restore);
})();
