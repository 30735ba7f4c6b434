"""Benchmark: whole-cluster drawings in the editor (issue 13; targets at 2,000 workloads / 8,000 edges in headless
Chromium: first meaningful paint <= 1.0 s, interactive <= 2.0 s).

Two drawings from tests/large_drawing.py (no positions, as a fresh import): 500 workloads / 2,000 edges in 25
namespaces and 2,000 / 8,000 in 40. Each opens collapsed (collapse.js) and packed. Served by gunicorn (2 workers)
from a throw-away SQLite database, static files through whitenoise, as in production; viewport 1024x768.
Measured, best of PAGE_LOADS fresh browser contexts:
* first meaningful paint: navigation start until the collapsed drawing is drawn and fitted (`data-ready-ms`,
  set by editor.js once the canvas holds the namespace boxes and their aggregate edges);
* interactive: navigation start until the first compile answer is shown (YAML, edge colours, the policies the
  YAML-follows-selection needs) -- the canvas, search and focus already answer before it;
* expand one namespace: FencelineView.expand (what a tap on a collapsed box calls) until the next frame;
* search-to-focus: "/" and the name typed by the keyboard, then Enter (the namespace opens, the workload is
  centred and selected: `data-jump-ms`) plus a click on Focus until the next frame.

    .venv/bin/python bench/bench_large.py      (after `make setup`: needs collectstatic and Chromium)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.appserver import serving  # noqa: E402
from tests.large_drawing import UNIQUE, large_drawing  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SIZES = ((500, 2000, 25), (2000, 8000, 40))
PAGE_LOADS = 3
# Whole clusters are over the default drawing limits (300 / 1,500, 413 beyond): served as README says to.
WHOLE_CLUSTER_LIMITS = {
    "FENCELINE_MAX_NODES": "2500",
    "FENCELINE_MAX_EDGES": "10000",
    "FENCELINE_TIME_LIMIT_SECONDS": "120",
}
# When the frame after a mark was drawn: the page sets data-ready-ms (drawn and fitted) and data-first-compile-ms
# (compile answer shown) at the end of the work; what the browser does with it (Cytoscape's canvas, the YAML's
# layout) happens in the next frame, which is counted: a frame's requestAnimationFrame callbacks run before its
# style, layout and paint, a timeout set there runs after them.
FRAME_AFTER_MARKS = """
new MutationObserver((changes, observer) => {
  const app = document.getElementById('app');
  for (const [mark, key] of [['readyMs', 'paintedMs'], ['firstCompileMs', 'shownMs']]) {
    if (app.dataset[mark] && !app.dataset[key]) {
      app.dataset[key] = 'pending';
      requestAnimationFrame(() => setTimeout(() => {
        app.dataset[key] = String(Math.round(performance.now()));
        if (key === 'shownMs') console.log(SHOWN_MESSAGE);
      }, 0));
    }
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-ready-ms', 'data-first-compile-ms']});
"""
SHOWN = "() => (document.getElementById('app').dataset.shownMs || 'pending') !== 'pending'"
# Until then the page is only watched through its console: Playwright's waits (wait_for_selector, ...) evaluate its
# own script in the page, ~14 ms of the main thread, which ran between the first frame and its mark when the
# load event came before it (page.goto waits for load).
SHOWN_MESSAGE = "fenceline: first compile shown"
FRAME_AFTER_MARKS = FRAME_AFTER_MARKS.replace("SHOWN_MESSAGE", repr(SHOWN_MESSAGE))
NEXT_FRAME = "() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))"
TIMED = """async (code) => { const t = performance.now(); eval(code);
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0))); return performance.now() - t; }"""


def fresh_page(browser: Any) -> tuple[Any, Any]:
    """(context, page): a fresh browser context at 1024x768, the tour done, the frames after the marks counted."""
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    context.add_init_script("localStorage.setItem('fenceline.tour.v1', 'done')")
    context.add_init_script(FRAME_AFTER_MARKS)
    page = context.new_page()
    page.set_default_timeout(180_000)
    return context, page


def one_load(browser: Any, url: str) -> dict[str, float]:
    context, page = fresh_page(browser)
    with page.expect_console_message(lambda message: message.text == SHOWN_MESSAGE):
        page.goto(url, wait_until="commit")
    page.wait_for_selector("#app[data-ready='1']")
    page.wait_for_function(SHOWN)
    figures = {
        "paint": float(page.get_attribute("#app", "data-painted-ms")) / 1000,
        "interactive": float(page.get_attribute("#app", "data-shown-ms")) / 1000,
    }
    assert page.evaluate("fencelineCy.nodes('.workload').length") == 0  # it opened collapsed
    figures["expand"] = page.evaluate(TIMED, "FencelineView.expand('team-01')") / 1000
    page.locator("#cy").click(position={"x": 5, "y": 300})
    page.keyboard.press("/")
    page.keyboard.type(UNIQUE[1], delay=40)
    page.keyboard.press("Enter")
    page.evaluate(NEXT_FRAME)
    jump = float(page.get_attribute("#app", "data-jump-ms")) / 1000
    focus = page.evaluate(TIMED, "document.getElementById('focus-button').click()") / 1000
    assert page.evaluate("FencelineView.focus().id") == f"{UNIQUE[0]}.{UNIQUE[1]}"
    figures["search"] = jump + focus
    # Leave no analysis running on the server when the page goes: gunicorn is stopped at the end.
    page.wait_for_function("() => document.getElementById('app').dataset.lintPending !== '1'")
    context.close()
    return figures


def main() -> int:
    from playwright.sync_api import sync_playwright

    drawings = [large_drawing(w, e, ns) for w, e, ns in SIZES]
    with serving(drawings, workers=2, env=WHOLE_CLUSTER_LIMITS) as (base, slugs), sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        print(f"large drawings in headless Chromium at 1024x768, best of {PAGE_LOADS} loads")
        print("targets at 2,000/8,000: first paint <= 1.0 s, interactive <= 2.0 s")
        for (workloads, edges, namespaces), drawing, slug in zip(SIZES, drawings, slugs, strict=True):
            runs = [one_load(browser, f"{base}/d/{slug}/edit") for _ in range(PAGE_LOADS)]
            best = {key: min(run[key] for run in runs) for key in runs[0]}
            size = len(json.dumps(drawing)) / 1024
            print(f"{workloads} workloads / {edges} edges in {namespaces} namespaces ({size:.0f} KiB of JSON):")
            print(f"  first meaningful paint (collapsed): {best['paint']:.2f} s")
            print(f"  interactive (first compile shown):  {best['interactive']:.2f} s")
            print(f"  expand one namespace:               {best['expand'] * 1000:.0f} ms")
            print(f"  search-to-focus:                    {best['search'] * 1000:.0f} ms")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
