"""Benchmark: what the editor's layout costs and what it leaves (issue 13, point 4: no two namespace boxes overlap).

Three drawings:
* 120 workloads / 214 edges in 12 namespaces (tests/cluster_manifests.py, imported, no positions): below the size
  at which namespaces open collapsed, so every workload is laid out on first open (force layout inside each
  namespace, then the boxes packed by their edges);
* 300 / 534 in 15 namespaces (the issue's finding, the same generator): opens collapsed and packed;
* 2,000 / 8,000 in 40 namespaces (tests/large_drawing.py).
The two that open collapsed are saved with scattered positions, as a person's drawing has them (else a Tidy there
has nothing to do). For each, one Tidy in a freshly opened page (a click on the button, until the next frame), best
of PAGES pages; for the two that open collapsed, also after "Expand all" (every workload drawn). Time is given
twice: wall clock in the page and the renderer main thread's busy time from the DevTools Performance domain
(TaskDuration), which counts less of what other programs on a shared machine take. Then the namespace box pairs
that overlap before and after it: the floor is 0.
Served by gunicorn from a throw-away SQLite database, static files through whitenoise; headless Chromium,
viewport 1024x768.

    .venv/bin/python bench/bench_layout.py      (after `make setup`: needs collectstatic and Chromium)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "editor.settings")
from scripts.appserver import serving  # noqa: E402
from tests.cluster_manifests import cluster_manifests  # noqa: E402
from tests.large_drawing import large_drawing  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PAGES = 2
LIMITS = {"FENCELINE_MAX_NODES": "2500", "FENCELINE_MAX_EDGES": "10000", "FENCELINE_TIME_LIMIT_SECONDS": "120"}
NEXT_FRAME = "() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))"
TIMED = """async (selector) => { const t = performance.now(); document.querySelector(selector).click();
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0))); return performance.now() - t; }"""
OVERLAPS = """() => { const b = fencelineCy.nodes().filter(n => n.data('kind') === 'namespace' || !n.isChild())
  .map(n => n.boundingBox({includeLabels: false})); let pairs = 0;
  for (let i = 0; i < b.length; i++) for (let j = i + 1; j < b.length; j++)
    if (b[i].x1 < b[j].x2 && b[j].x1 < b[i].x2 && b[i].y1 < b[j].y2 && b[j].y1 < b[i].y2) pairs++;
  return [pairs, b.length * (b.length - 1) / 2]; }"""


def imported(workloads: int, edges: int, namespaces: int) -> dict[str, Any]:
    import django

    django.setup()
    from editor.policy.importer.build import import_text

    return import_text(cluster_manifests(workloads, edges, namespaces)).document.to_json()


def busy(cdp: Any) -> float:
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "TaskDuration")


def timed(page: Any, cdp: Any, selector: str) -> tuple[float, float]:
    before = busy(cdp)
    wall = page.evaluate(TIMED, selector) / 1000
    return wall, busy(cdp) - before


def measure(browser: Any, url: str, expand: bool) -> dict[str, Any]:
    """One Tidy in a freshly opened page (after "Expand all" when `expand`): a second would find nothing to do."""
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    context.add_init_script("localStorage.setItem('fenceline.tour.v1', 'done')")
    page = context.new_page()
    page.set_default_timeout(180_000)
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    page.goto(url)
    page.wait_for_selector("#app[data-ready='1']")
    page.wait_for_function("() => document.getElementById('app').dataset.firstCompileMs")
    if expand:
        page.click("#expand-all")
        page.evaluate(NEXT_FRAME)  # the opened workloads drawn before Tidy is timed
        page.wait_for_function("() => document.getElementById('app').dataset.pending === '0'")
    opened = page.evaluate(OVERLAPS)
    wall, main_thread = timed(page, cdp, "[data-action=tidy]")
    tidied = page.evaluate(OVERLAPS)
    page.wait_for_function("() => document.getElementById('app').dataset.lintPending !== '1'")
    context.close()
    return {"opened": opened, "wall": wall, "main": main_thread, "tidied": tidied}


def scattered(document: dict[str, Any]) -> dict[str, Any]:
    """Positions for every node, as a person's drawing has them (Tidy in a large drawing packs anew what has them)."""
    for number, node in enumerate(document["nodes"]):
        node["position"] = {"x": (number * 7_919) % 6_000, "y": (number * 104_729) % 4_000}
    return document


def main() -> int:
    from playwright.sync_api import sync_playwright

    sizes = [(120, 214, 12), (300, 534, 15), (2000, 8000, 40)]
    drawings = [imported(120, 214, 12), scattered(imported(300, 534, 15)), scattered(large_drawing(2000, 8000, 40))]
    rows = [(0, False), (1, False), (1, True), (2, False), (2, True)]
    with serving(drawings, workers=2, env=LIMITS) as (base, slugs), sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        print(f"Tidy in headless Chromium at 1024x768, best of {PAGES} pages; load {os.getloadavg()[0]:.2f}")
        print("namespace/outside box pairs that overlap, opened -> after Tidy: floor 0")
        for index, expand in rows:
            workloads, edges, namespaces = sizes[index]
            runs = [measure(browser, f"{base}/d/{slugs[index]}/edit", expand) for _ in range(PAGES)]
            wall, main_thread = min(r["wall"] for r in runs), min(r["main"] for r in runs)
            (before, total), (after, _) = runs[-1]["opened"], runs[-1]["tidied"]
            shown = "all expanded" if expand else ("collapsed" if workloads > 150 else "all drawn")
            print(
                f"{workloads:5d} / {edges:5d} in {namespaces:2d} namespaces, {shown:12s}: {wall * 1000:6.0f} ms wall,"
                f" {main_thread * 1000:6.0f} ms main thread; overlapping pairs {before} -> {after} of {total}"
            )
        browser.close()
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
