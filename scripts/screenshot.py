"""Make docs/screenshot.png and docs/screenshot-check.png: the real editor in Debian's Chromium, showing the
talk's application (tests/fixtures/documents/talk-app.json, with HTTP rules and a payment provider added).

Starts the app (scripts/appserver.py: gunicorn, a throw-away SQLite database) on loopback, saves the demo
drawing without positions (so the browser lays it out as it would an import), opens it in the editor, switches
to the Cilium dialect, selects the frontend -> API edge and takes the picture; then closes the inspector and
takes the Check tab (the matrix of who may talk to whom).

    .venv/bin/python scripts/screenshot.py [output.png]     (the Check picture goes beside it, *-check.png)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.appserver import serving  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
TALK_APP = ROOT / "tests" / "fixtures" / "documents" / "talk-app.json"


# The editor opens at a zoom where every label is readable, which for this drawing is more than the canvas
# shows; for the picture, the whole drawing is fitted into the canvas (as the Fit button does), above the zoom
# buttons.
FIT_CANVAS = """() => {
    const canvas = document.getElementById('cy').getBoundingClientRect();
    const pad = 32, width = canvas.width - 2 * pad, height = canvas.height - 2 * pad - 40;
    const box = fencelineCy.elements().boundingBox();
    const zoom = Math.min(width / box.w, height / box.h, 2);
    fencelineCy.viewport({zoom, pan: {
        x: pad + (width - box.w * zoom) / 2 - box.x1 * zoom,
        y: pad + (height - box.h * zoom) / 2 - box.y1 * zoom,
    }});
}"""


def demo() -> dict[str, Any]:
    """The talk's application in the Cilium dialect, with HTTP rules on web -> api and a payment provider."""
    document = json.loads(TALK_APP.read_text())
    document["name"] = "Shop: frontend, API, ingress and DNS"
    document["settings"]["dialect"] = "cilium"
    for edge in document["edges"]:
        if edge["id"] == "e2":
            edge["l7"] = {"http": [{"method": "GET", "path": "/api/.*"}, {"method": "POST", "path": "/api/orders"}]}
    document["nodes"].append({"id": "payments", "kind": "fqdn", "matchName": "api.stripe.com"})
    document["edges"].append(
        {"id": "e5", "source": "api", "target": "payments", "ports": [{"protocol": "TCP", "port": 443}]}
    )
    return document


def main() -> int:
    from playwright.sync_api import sync_playwright

    output = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshot.png"
    check_output = output.with_name(f"{output.stem}-check{output.suffix}")
    with serving([demo()]) as (base, [slug]), sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": 1600, "height": 900}, device_scale_factor=1)
        context.add_init_script("localStorage.setItem('fenceline.tour.v1', 'done')")
        page = context.new_page()
        page.goto(f"{base}/d/{slug}/edit")
        page.wait_for_selector("#app[data-ready='1']")
        page.click("[data-dialect=cilium]")
        page.wait_for_function("() => document.getElementById('app').dataset.pending === '0'")
        page.evaluate(FIT_CANVAS)
        box = page.locator("#cy").bounding_box()
        point = page.evaluate("fencelineCy.getElementById('e:e2').renderedMidpoint()")
        page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
        page.wait_for_selector("#inspector .panel-kicker:text('Edge')")
        page.evaluate(FIT_CANVAS)
        page.wait_for_timeout(300)
        output.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(output))
        page.keyboard.press("Escape")
        page.click("#tab-check")
        page.wait_for_function("() => document.getElementById('app').dataset.checkPending === '0'")
        page.wait_for_timeout(300)
        page.screenshot(path=str(check_output))
        browser.close()
    print(f"wrote {output} and {check_output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
