"""Benchmark: the question asked before a change that isolates workloads (`isolation.traffic_lost`).

The drawings are bench_check's (100 and 500 workloads); "before" has ten workloads whose egress is not locked and
whose outgoing edges are enforced on the target only, "after" locks their egress. Printed: traffic_lost and the
floor it compares to, two compile + analyse passes (`check.analyse_document`, before and after), which it cannot
go below; best of REPEAT runs (the machine is shared). A change that isolates nothing costs only a plan.

    .venv/bin/python bench/bench_isolation.py
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_check import SIZES, best, drawing  # noqa: E402

from editor.policy.check import analyse_document  # noqa: E402
from editor.policy.document import Document  # noqa: E402
from editor.policy.isolation import traffic_lost  # noqa: E402

CHANGED = 10


def before_and_after(size: int) -> tuple[Document, Document]:
    after = drawing(size)
    before = copy.deepcopy(after)
    opened = {f"w{i}" for i in range(CHANGED)}
    for node in before.nodes:
        if node.id in opened:
            node.isolate.egress = False
    for edge in before.edges:
        if edge.source in opened:
            edge.enforce = ["target"]
    for edge in after.edges:
        if edge.source in opened:
            edge.enforce = ["target"]
    return before, after


def main() -> None:
    for size in SIZES:
        before, after = before_and_after(size)
        seconds, losses = best(lambda b=before, a=after: traffic_lost(b, a, "native"))
        floor, _ = best(lambda b=before, a=after: (analyse_document(b, "native"), analyse_document(a, "native")))
        unchanged, _ = best(lambda a=after: traffic_lost(a, a, "native"))
        print(
            f"{size} workloads, {CHANGED} newly isolated for egress: traffic_lost {seconds:.2f} s "
            f"(floor: two compile + analyse passes {floor:.2f} s), {len(losses)} losses listed; "
            f"a change that isolates nothing {unchanged * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
