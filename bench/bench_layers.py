"""Benchmark: the platform layers' cost in the editor's round trip. The `bench_check.py` drawings (100 and 500
workloads) with and without the four platform templates: `compile_answer` (the compile on every edit, which now
also finds the application edges a platform rule overrides) and `check_document` (the Check view through the
tiers). The floor is the same drawing without platform layers, measured in the same run; best of REPEAT runs of
CPU time (the machine is shared), wall time beside it.

    .venv/bin/python bench/bench_layers.py
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_check import drawing  # noqa: E402

from editor.policy.check import check_document  # noqa: E402
from editor.policy.document import Document  # noqa: E402
from editor.policy.platform import layer_templates  # noqa: E402
from editor.policy.service import compile_answer  # noqa: E402

REPEAT = 3


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def best(work: Callable[[], Any]) -> tuple[float, float]:
    """(CPU seconds, wall seconds), best of REPEAT."""
    runs = []
    for _ in range(REPEAT):
        cpu, wall = _cpu(), time.perf_counter()
        work()
        runs.append((_cpu() - cpu, time.perf_counter() - wall))
    return min(runs)


def with_layers(document: Document) -> Document:
    for apply in layer_templates.APPLY.values():
        document = apply(document).document
    return document


def main() -> None:
    print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}")
    for size in (100, 500):
        plain = drawing(size)
        layered = with_layers(plain)
        for name, work in (("compile_answer", compile_answer), ("check_document", check_document)):
            floor = best(lambda d=plain, w=work: w(d, "native"))
            found = best(lambda d=layered, w=work: w(d, "native"))
            print(
                f"{size} workloads {name}: without layers {floor[0]:.2f} s CPU ({floor[1]:.2f} s wall), with the four "
                f"platform templates {found[0]:.2f} s CPU ({found[1]:.2f} s wall): x{found[0] / floor[0]:.2f}"
            )


if __name__ == "__main__":
    main()
