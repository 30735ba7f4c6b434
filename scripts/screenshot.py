"""Make docs/screenshot.png: the real editor in Debian's Chromium, showing the talk's application.

Starts the app (gunicorn, a throw-away SQLite database) on loopback, saves the demo drawing without positions
(so the browser lays it out as it would an import), opens it in the editor, switches to the Cilium dialect,
selects the frontend -> API edge and takes the picture.

    .venv/bin/python scripts/screenshot.py [output.png]
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"

DEMO = {
    "schema": "fenceline/v1",
    "name": "Shop: frontend, API, ingress and DNS",
    "settings": {"dialect": "cilium"},
    "namespaces": [{"name": "frontend"}, {"name": "backend"}, {"name": "ingress-nginx"}, {"name": "kube-system"}],
    "nodes": [
        {
            "id": "web",
            "kind": "workload",
            "name": "web",
            "namespace": "frontend",
            "labels": {"app": "web"},
            "containerPorts": [{"name": "http", "port": 8080}],
            "isolate": {"ingress": True, "egress": True},
        },
        {
            "id": "api",
            "kind": "workload",
            "name": "api",
            "namespace": "backend",
            "labels": {"app": "api"},
            "containerPorts": [{"name": "http", "port": 9090}],
            "isolate": {"ingress": True, "egress": True},
        },
        {
            "id": "ingress",
            "kind": "selector",
            "name": "ingress controller",
            "namespace": "ingress-nginx",
            "podSelector": {},
        },
        {
            "id": "dns",
            "kind": "selector",
            "name": "cluster DNS",
            "namespace": "kube-system",
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        },
        {"id": "payments", "kind": "fqdn", "matchName": "api.stripe.com"},
    ],
    "edges": [
        {
            "id": "e1",
            "source": "ingress",
            "target": "web",
            "ports": [{"protocol": "TCP", "port": 8080}],
            "enforce": ["target"],
        },
        {
            "id": "e2",
            "source": "web",
            "target": "api",
            "ports": [{"protocol": "TCP", "port": 9090}],
            "l7": {"http": [{"method": "GET", "path": "/api/.*"}, {"method": "POST", "path": "/api/orders"}]},
        },
        {
            "id": "e3",
            "source": "web",
            "target": "dns",
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            "enforce": ["source"],
        },
        {
            "id": "e4",
            "source": "api",
            "target": "dns",
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            "enforce": ["source"],
        },
        {"id": "e5", "source": "api", "target": "payments", "ports": [{"protocol": "TCP", "port": 443}]},
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    from playwright.sync_api import sync_playwright

    output = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshot.png"
    workdir = Path(tempfile.mkdtemp(prefix="fenceline-shot-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "SECRET_KEY": "screenshot-only",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
    }
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    (workdir / "demo.json").write_text(json.dumps(DEMO))
    demo = str(workdir / "demo.json")
    save = f"import json; from editor.models import save_revision; print(save_revision(json.load(open({demo!r}))).slug)"
    slug = subprocess.run(
        [python, "manage.py", "shell", "-v", "0", "-c", save],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    port = free_port()
    server = subprocess.Popen(
        [python, "-m", "gunicorn", "editor.wsgi", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as playwright:
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
            box = page.locator("#cy").bounding_box()
            point = page.evaluate("fencelineCy.getElementById('e:e2').renderedMidpoint()")
            page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
            page.wait_for_selector("#inspector .panel-kicker:text('Edge')")
            page.wait_for_timeout(300)
            output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(output))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
