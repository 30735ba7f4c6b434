"""Benchmark: the server picture (/d/<slug>.svg, .png) and the plan between two revisions (fenceline plan, the
revision diff page), on generated drawings of 500 workloads / 2,000 edges and 2,000 / 8,000 in 15 namespaces.

No target was set by the issues; the floor printed is what a merge-request job or a page view can bear: 2 s
for a picture, 10 s for a plan. Best of REPEAT runs (the machine is shared).

    .venv/bin/python bench/bench_picture_plan.py
"""

from __future__ import annotations

import copy
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from editor.policy.document import Document  # noqa: E402
from editor.policy.picture import render_png, render_svg  # noqa: E402
from editor.policy.plan import Side, make_plan  # noqa: E402

SIZES = ((500, 2_000), (2_000, 8_000))
NAMESPACES = 15
REPEAT = 3
PICTURE_FLOOR, PLAN_FLOOR = 2.0, 10.0


def drawing(workloads: int, edges: int, seed: int = 7) -> Document:
    rnd = random.Random(seed)
    nodes = [
        {"id": f"w{i}", "kind": "workload", "namespace": f"team-{i % NAMESPACES:02d}", "name": f"svc-{i}",
         "labels": {"app": f"svc-{i}"}, "isolate": {"ingress": True, "egress": i % 3 == 0}}
        for i in range(workloads)
    ]  # fmt: skip
    links = set()
    while len(links) < edges:
        a, b = rnd.randrange(workloads), rnd.randrange(workloads)
        if a != b:
            links.add((a, b))
    data: dict[str, Any] = {
        "schema": "fenceline/v1",
        "name": f"bench {workloads}",
        "namespaces": [{"name": f"team-{n:02d}"} for n in range(NAMESPACES)],
        "nodes": nodes,
        "edges": [
            {"id": f"e{k}", "source": f"w{a}", "target": f"w{b}", "ports": [{"protocol": "TCP", "port": 8000 + k % 50}]}
            for k, (a, b) in enumerate(sorted(links))
        ],
    }
    return Document.from_json(data)


def best(action: Callable[[], Any]) -> float:
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    for workloads, edges in SIZES:
        old = drawing(workloads, edges)
        new = copy.deepcopy(old)
        for edge in new.edges[:10]:
            edge.ports[0].port = 9999
        del new.edges[-10:]
        svg = render_svg(old)
        svg_time = best(lambda d=old: render_svg(d))
        png_time = best(lambda s=svg: render_png(s))
        plan_time = best(lambda o=old, n=new: make_plan(Side("old", document=o), Side("new", document=n)))
        print(f"{workloads} workloads / {edges} edges: svg {svg_time:.2f} s ({len(svg) / 1e6:.1f} MB; floor "
              f"{PICTURE_FLOOR} s), png {png_time:.2f} s (floor {PICTURE_FLOOR} s), plan {plan_time:.2f} s "
              f"(floor {PLAN_FLOOR} s)")  # fmt: skip


if __name__ == "__main__":
    main()
