"""Benchmark: what the layers (editor/static/editor/layers.js) add to drawing a document on the canvas.

graph.js turns the document into Cytoscape elements on every render; with layers.js loaded it asks each node and
edge for its layer's classes and label. This runs graph.js's `elements()` in Node.js on a whole-cluster drawing
(2,000 workloads in 100 namespaces, 8,000 edges, as bench_large.py) with and without the platform templates' rules,
against graph.js as it was at --base (before the layers), back to back in one process: best of REPEAT runs of CPU
time (the machine is shared), the floor being the old graph.js on the same drawing.

    .venv/bin/python bench/bench_layers_canvas.py [--base e7431ff]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "editor" / "static" / "editor"
REPEAT = 7

HARNESS = r"""
const fs = require("fs");
const vm = require("vm");
const [oldGraph, newGraph, layers, docPath, repeat] = process.argv.slice(2);
const doc = JSON.parse(fs.readFileSync(docPath, "utf8"));

function load(files) {
  // A browser's global object as far as graph.js and layers.js use it (layers.js finds no #app: no editor).
  const context = vm.createContext({ localStorage: { getItem: () => null, setItem: () => {} },
    document: { getElementById: () => null } });
  context.window = context;
  for (const file of files) vm.runInContext(fs.readFileSync(file, "utf8"), context);
  return context.FencelineGraph;
}

function cpu(graph, drawing) {
  let best = Infinity;
  for (let i = 0; i < Number(repeat); i += 1) {
    const start = process.cpuUsage();
    graph.elements(drawing);
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return best;
}

const before = load([oldGraph]);
const after = load([layers, newGraph]);
const platform = JSON.parse(JSON.stringify(doc));
platform.nodes.push({ id: "everyone", kind: "selector", namespaceSelector: {}, layer: "admin" });
for (let i = 0; i < 400; i += 1) {
  platform.edges.push({ id: "p" + i, source: "everyone", target: doc.nodes[i].id, ports: [],
    action: i % 2 ? "deny" : "allow", layer: i % 4 ? "admin" : "baseline", priority: 10 });
}
for (let round = 0; round < 2; round += 1) cpu(before, doc), cpu(after, doc); // warm the JIT
const rows = [["application only", doc], ["with 400 platform rules", platform]].map(([name, drawing]) =>
  [name, drawing.edges.length, cpu(before, drawing), cpu(after, drawing)]);
console.log(JSON.stringify(rows));
"""


def drawing(workloads: int = 2000, namespaces: int = 100, edges: int = 8000) -> dict[str, object]:
    nodes = [
        {
            "id": f"w{i}",
            "kind": "workload",
            "name": f"w{i}",
            "namespace": f"ns{i % namespaces}",
            "labels": {"app": f"w{i}"},
            "isolate": {"ingress": i % 3 == 0, "egress": False},
        }
        for i in range(workloads)
    ]
    drawn = [
        {
            "id": f"e{i}",
            "source": f"w{i % workloads}",
            "target": f"w{(i * 7 + 1) % workloads}",
            "ports": [{"protocol": "TCP", "port": 8080}],
        }
        for i in range(edges)
    ]
    spaces = [{"name": f"ns{n}", "labels": {"kubernetes.io/metadata.name": f"ns{n}"}} for n in range(namespaces)]
    return {"schema": "fenceline/v1", "namespaces": spaces, "nodes": nodes, "edges": drawn}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="e7431ff", help="the revision whose graph.js is the floor")
    args = parser.parse_args()
    old = subprocess.run(
        ["git", "show", f"{args.base}:editor/static/editor/graph.js"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        old_path, doc_path, harness = Path(tmp, "graph_old.js"), Path(tmp, "doc.json"), Path(tmp, "harness.js")
        old_path.write_bytes(old)
        doc_path.write_text(json.dumps(drawing()))
        harness.write_text(HARNESS)
        result = subprocess.run(
            [
                "node",
                str(harness),
                str(old_path),
                str(STATIC / "graph.js"),
                str(STATIC / "layers.js"),
                str(doc_path),
                str(REPEAT),
            ],
            capture_output=True,
            text=True,
        )
    if result.returncode:
        sys.exit(result.stderr)
    print(f"graph.js elements(), 2,000 workloads: best of {REPEAT} CPU ms; load average {os.getloadavg()[0]:.1f}")
    for name, edges, before, after in json.loads(result.stdout):
        floor = f"floor {before:7.1f} ms at {args.base}"
        print(f"  {name:<24} {edges:>5} edges: {after:7.1f} ms with layers.js, {floor} ({after / before:.2f}x)")


if __name__ == "__main__":
    sys.exit(main())
