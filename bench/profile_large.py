"""Where the editor's time goes while it opens a whole-cluster drawing (issue 13), from Chromium's own trace.

The drawing of bench_large.py (2,000 workloads / 8,000 edges by default) is opened in headless Chromium with a
performance trace running (the categories DevTools' Performance panel records, with its sampling CPU profile),
from navigation until the first compile answer is shown. Printed, per load:
* the page's own phases (performance.measure entries editor.js records: `fenceline:*`), wall time;
* the network: the page's HTML (request to last byte) and the compile request (sent to answer received);
* the renderer main thread's CPU time (the sum of its top-level tasks' thread durations: what the load average
  does not change much), by kind of work (HTML parsing, script, style, layout, paint, garbage collection);
* JavaScript by function (the CPU profile's samples: self time, and total time for the functions that matter).
The server's CPU for the page and the compile request is measured in this process (time.process_time around
Django's test client on a throw-away database), so it does not depend on the other processes either.

    .venv/bin/python bench/profile_large.py [workloads edges namespaces] [--loads N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.bench_large import CHROMIUM, SHOWN, SHOWN_MESSAGE, WHOLE_CLUSTER_LIMITS, fresh_page  # noqa: E402
from scripts.appserver import serving  # noqa: E402
from tests.large_drawing import large_drawing  # noqa: E402

CATEGORIES = [
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "v8.execute",
    "v8",
    "blink.user_timing",
    "disabled-by-default-v8.cpu_profiler",
    "disabled-by-default-devtools.timeline.frame",
]
# Trace event names -> what they are; the first that encloses a slice of time claims it.
KINDS = {
    "ParseHTML": "parse HTML",
    "ParseAuthorStyleSheet": "parse CSS",
    "UpdateLayoutTree": "style (DOM)",
    "Layout": "layout (DOM)",
    "Paint": "paint",
    "PrePaint": "paint",
    "Layerize": "paint",
    "UpdateLayer": "paint",
    "Commit": "paint",
    "MajorGC": "garbage collection",
    "MinorGC": "garbage collection",
    "V8.GC_SCAVENGER": "garbage collection",
    "V8.GCFinalizeMC": "garbage collection",
    "EvaluateScript": "script",
    "v8.compile": "script compile",
    "v8.compileModule": "script compile",
    "FunctionCall": "script",
    "TimerFire": "script",
    "FireAnimationFrame": "script",
    "EventDispatch": "script",
    "XHRReadyStateChange": "script",
    "v8.run": "script",
    "ResourceReceivedData": "network (renderer)",
    "ResourceFinish": "network (renderer)",
}
# Functions of ours whose total (self and callees) time is printed.
WATCHED = (
    "render",
    "elements",
    "transform",
    "collapse",
    "pack",
    "install",
    "scale",
    "qualifyRepeatedNames",
    "applyStates",
    "showIssues",
    "compile",
    "colourAggregates",
    "mirror",
    "refresh",
    "follow",
    "markFindings",
    "markFlagged",
    "fitReadable",
    "parse",
)
PAGE_FIGURES = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const compile = performance.getEntriesByType('resource').filter(r => r.name.includes('/api/compile'))[0];
  const app = document.getElementById('app');
  return {
    html: {request: nav.requestStart, firstByte: nav.responseStart, lastByte: nav.responseEnd,
           bytes: nav.transferSize, domInteractive: nav.domInteractive, domContentLoaded: nav.domContentLoadedEventEnd},
    compile: compile ? {start: compile.startTime, firstByte: compile.responseStart, end: compile.responseEnd,
                        bytes: compile.transferSize} : null,
    measures: performance.getEntriesByType('measure').filter(m => m.name.startsWith('fenceline:'))
      .map(m => ({name: m.name, start: m.startTime, duration: m.duration})),
    paint: Number(app.dataset.paintedMs), interactive: Number(app.dataset.shownMs),
    marks: [Number(app.dataset.readyMs), Number(app.dataset.firstCompileMs)],
  };
}"""


def main_thread(events: list[dict[str, Any]]) -> tuple[int, int]:
    """(pid, tid) of the renderer's main thread that ran the editor (the one with the most script)."""
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    script: dict[tuple[int, int], float] = defaultdict(float)
    for e in events:
        if e.get("name") == "EvaluateScript" and names.get((e["pid"], e["tid"])) == "CrRendererMain":
            script[(e["pid"], e["tid"])] += e.get("dur", 0)
    return max(script, key=lambda k: script[k])


def cpu_by_kind(events: list[dict[str, Any]], thread: tuple[int, int], until_us: float) -> dict[str, float]:
    """Thread CPU (ms) of the main thread's complete events up to `until_us`, each slice claimed by the innermost
    event of a known kind; what no known event covers is 'other'."""
    mine = sorted(
        (e for e in events if (e.get("pid"), e.get("tid")) == thread and e.get("ph") == "X" and e["ts"] <= until_us),
        key=lambda e: (e["ts"], -e.get("dur", 0)),
    )
    totals: dict[str, float] = defaultdict(float)
    # Top-level tasks: their thread durations add up to the thread's CPU time.
    end = -1.0
    for e in mine:
        if e["ts"] >= end and "tdur" in e:
            totals["(main thread CPU)"] += e["tdur"] / 1000
            end = e["ts"] + e.get("dur", 0)
    # By kind: innermost known event, its self CPU (its tdur less its known children's).
    stack: list[dict[str, Any]] = []
    known = [e for e in mine if e["name"] in KINDS and "tdur" in e]
    for e in known:
        while stack and e["ts"] >= stack[-1]["ts"] + stack[-1].get("dur", 0):
            stack.pop()
        if stack:
            stack[-1]["_children"] = stack[-1].get("_children", 0) + e["tdur"]
        stack.append(e)
    for e in known:
        totals[KINDS[e["name"]]] += max(0, e["tdur"] - e.get("_children", 0)) / 1000
    return dict(totals)


def script_cpu(events: list[dict[str, Any]], thread: tuple[int, int], until_us: float) -> dict[str, float]:
    """Thread CPU (ms) of each script file's evaluation (compile and run of its top level, with what it calls
    synchronously) on the main thread up to `until_us`, by file name."""
    totals: dict[str, float] = defaultdict(float)
    for e in events:
        if (e.get("pid"), e.get("tid")) != thread or e.get("name") != "EvaluateScript" or e["ts"] > until_us:
            continue
        url = e.get("args", {}).get("data", {}).get("url", "") or "(inline)"
        totals[url.rsplit("/", 1)[-1].split(".")[0]] += e.get("tdur", 0) / 1000
    return dict(totals)


def js_profile(events: list[dict[str, Any]], thread: tuple[int, int]) -> tuple[dict[str, float], dict[str, float]]:
    """Self and total time (ms) per function from the trace's CPU profile chunks of the thread's process."""
    nodes: dict[int, dict[str, Any]] = {}
    samples: list[int] = []
    deltas: list[int] = []
    for e in events:
        if e.get("name") != "ProfileChunk" or e.get("pid") != thread[0]:
            continue
        data = e["args"]["data"]
        for node in data.get("cpuProfile", {}).get("nodes", []):
            nodes[node["id"]] = node
        samples += data.get("cpuProfile", {}).get("samples", [])
        deltas += data.get("timeDeltas", [])
    parent: dict[int, int] = {}
    for node in nodes.values():
        if "parent" in node:
            parent[node["id"]] = node["parent"]

    def label(node: dict[str, Any]) -> str:
        frame = node["callFrame"]
        url = frame.get("url", "").rsplit("/", 1)[-1]
        return (
            f"{frame['functionName'] or '(anonymous)'} {url}:{frame.get('lineNumber', 0) + 1}"
            if url
            else frame["functionName"] or "(anonymous)"
        )

    self_ms: dict[str, float] = defaultdict(float)
    total_ms: dict[str, float] = defaultdict(float)
    for sample, delta in zip(samples, [*deltas[1:], 0], strict=True):
        ms = max(delta, 0) / 1000
        node = nodes.get(sample)
        if node is None:
            continue
        self_ms[label(node)] += ms
        seen = set()
        current: int | None = sample
        while current is not None:
            name = nodes[current]["callFrame"]["functionName"]
            if name in WATCHED and name not in seen:
                seen.add(name)
                total_ms[name] += ms
            current = parent.get(current)
    return dict(self_ms), dict(total_ms)


def server_cpu(drawing: dict[str, Any], rounds: int = 3) -> dict[str, float]:
    """CPU seconds of GET /d/<slug>/edit and of the page's first POST /api/compile (cold caches, then warm)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "editor.settings")
    workdir = tempfile.mkdtemp(prefix="fenceline-profile-")
    os.environ.update(WHOLE_CLUSTER_LIMITS)
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite:///{workdir}/db.sqlite3",
            "SECRET_KEY": "loopback-only-not-secret-but-as-long-as-a-real-one-must-be",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from editor.models import save_revision

    call_command("migrate", verbosity=0)
    slug = save_revision(drawing).slug
    client = Client(HTTP_HOST="localhost")
    figures: dict[str, float] = {}
    for n in range(rounds):
        started = time.process_time()
        page = client.get(f"/d/{slug}/edit")
        figures[f"page {n + 1}"] = time.process_time() - started
        assert page.status_code == 200
        body = json.dumps({"document": drawing, "dialect": "native"}, separators=(",", ":"))
        started = time.process_time()
        answer = client.post("/api/compile", body, content_type="application/json")
        figures[f"compile {n + 1}"] = time.process_time() - started
        assert answer.status_code == 200, answer.content[:200]
        figures["page bytes"] = len(page.content)
        figures["answer bytes"] = len(answer.content)
    return figures


def one_load(browser: Any, url: str) -> dict[str, Any]:
    context, page = fresh_page(browser)
    browser.start_tracing(page=page, categories=CATEGORIES)
    with page.expect_console_message(lambda message: message.text == SHOWN_MESSAGE):  # as bench_large waits
        page.goto(url, wait_until="commit")
    page.wait_for_function(SHOWN)
    page.wait_for_timeout(300)  # the frames after it
    figures = page.evaluate(PAGE_FIGURES)
    events = json.loads(browser.stop_tracing())
    events = events["traceEvents"] if isinstance(events, dict) else events
    thread = main_thread(events)
    # Trace time of the page's performance.now() == 0: from a measure the page recorded, or (code without them)
    # the editor page's navigationStart.
    if figures["measures"]:
        first = figures["measures"][0]
        mark = next(e for e in events if e.get("name") == first["name"] and e.get("ph") in ("b", "B", "X"))
        origin = mark["ts"] - first["start"] * 1000
    else:
        starts = [
            e
            for e in events
            if e.get("name") == "navigationStart" and "/edit" in json.dumps(e.get("args", {}).get("data", {}))
        ]
        origin = starts[-1]["ts"]
    if os.environ.get("PROFILE_TRACE"):
        Path(os.environ["PROFILE_TRACE"]).write_text(json.dumps({"origin": origin, "thread": thread, "events": events}))
    figures["cpu_to_paint"] = cpu_by_kind(events, thread, origin + figures["paint"] * 1000)
    figures["cpu_to_interactive"] = cpu_by_kind(events, thread, origin + figures["interactive"] * 1000)
    figures["scripts_to_paint"] = script_cpu(events, thread, origin + figures["paint"] * 1000)
    figures["js_self"], figures["js_total"] = js_profile(events, thread)
    page.wait_for_function("() => document.getElementById('app').dataset.lintPending !== '1'")
    context.close()
    return figures


def report(figures: dict[str, Any]) -> None:
    html, compile_ = figures["html"], figures["compile"]
    print(
        f"  first paint {figures['paint']:.0f} ms, interactive {figures['interactive']:.0f} ms"
        f" (the page's marks: {figures['marks'][0]:.0f}, {figures['marks'][1]:.0f})"
    )
    print(
        f"  HTML: request {html['request']:.0f}, first byte {html['firstByte']:.0f}, last byte {html['lastByte']:.0f}"
        f" ({html['bytes'] / 1024:.0f} KiB), DOM interactive {html['domInteractive']:.0f},"
        f" DOMContentLoaded {html['domContentLoaded']:.0f}"
    )
    if compile_:
        print(
            f"  compile request: sent {compile_['start']:.0f}, first byte {compile_['firstByte']:.0f},"
            f" last byte {compile_['end']:.0f} ({compile_['bytes'] / 1024:.0f} KiB)"
        )
    for m in figures["measures"]:
        print(f"    {m['name']:<40} at {m['start']:7.0f}  {m['duration']:7.1f} ms")
    for key in ("cpu_to_paint", "cpu_to_interactive"):
        parts = ", ".join(f"{k} {v:.0f}" for k, v in sorted(figures[key].items(), key=lambda kv: -kv[1]))
        print(f"  {key.replace('_', ' ')} (ms): {parts}")
    parts = ", ".join(f"{k} {v:.0f}" for k, v in sorted(figures["scripts_to_paint"].items(), key=lambda kv: -kv[1]))
    print(f"  script files evaluated before paint (main thread CPU, ms): {parts}")
    top = sorted(figures["js_self"].items(), key=lambda kv: -kv[1])[:25]
    print("  JS self time (ms): " + "; ".join(f"{k} {v:.0f}" for k, v in top))
    print("  JS total time (ms): " + "; ".join(f"{k} {v:.0f}" for k, v in sorted(figures["js_total"].items())))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("size", nargs="*", type=int, default=[2000, 8000, 40])
    parser.add_argument("--loads", type=int, default=2)
    parser.add_argument("--no-server", action="store_true", help="skip the in-process server CPU figures")
    args = parser.parse_args()
    workloads, edges, namespaces = args.size
    drawing = large_drawing(workloads, edges, namespaces)
    print(f"{workloads} workloads / {edges} edges, load average {os.getloadavg()[0]:.2f}")
    from playwright.sync_api import sync_playwright

    with serving([drawing], workers=2, env=WHOLE_CLUSTER_LIMITS) as (base, slugs), sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        for n in range(args.loads):
            print(f"load {n + 1} (load average {os.getloadavg()[0]:.2f}):")
            report(one_load(browser, f"{base}/d/{slugs[0]}/edit"))
        browser.close()
    if not args.no_server:
        cpu = server_cpu(drawing)
        print("server CPU (s, in process): " + ", ".join(f"{k} {v:.3f}" for k, v in cpu.items() if "bytes" not in k))
        print(f"  page {cpu['page bytes'] / 1024:.0f} KiB, compile answer {cpu['answer bytes'] / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
