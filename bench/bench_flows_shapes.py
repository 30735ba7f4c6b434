"""Benchmark: `fenceline flows` end to end (read, build, write the JSON) on the two shapes of issue 17, item 5.

- `pods`: a capture whose pods do not group into workloads: 100,000 bare pods (names without a controller
  suffix, no shared labels), 150,000 flows making about 110,000 edges. Target: <= 3x the floor, <= 400 MB.
- `realistic`: 300,000 flows of 400 Deployments (3 replicas each) in 25 namespaces, with their replies and
  DNS lookups to kube-dns. Target: <= 1.2x the floor, <= 100 MB.

The floor is reading the same file line by line and parsing every line with orjson, doing nothing else. Each
run is a fresh `python -m editor.policy.cli flows FILE > /dev/null` process; its peak RSS is that child's
ru_maxrss (os.wait4), and its CPU time (user + sys) is printed beside the wall time: on a shared machine the
ratio in CPU time is the steadier one. Floor and import alternate REPEAT times; the fastest of each is kept.
The children run with Python's bytecode cache (in bench/data/pycache, written by a first run that is not
counted), as an installed fenceline has it: with PYTHONDONTWRITEBYTECODE set, every run would compile the
project's modules again, about 0.14 s of CPU that the floor, importing only orjson, never pays.

    .venv/bin/python bench/bench_flows_shapes.py              # both shapes (generates bench/data/ on first use)
    .venv/bin/python bench/bench_flows_shapes.py realistic
    .venv/bin/python bench/bench_flows_shapes.py --against /tmp/old pods   # and another checkout, back to back
    .venv/bin/python bench/bench_flows_shapes.py --phases pods   # and the CPU time of each phase

With `--phases`, one more child reads, builds and writes in one process and prints the CPU time of each phase
(reading and counting the flows, making the graph's rows, writing the JSON), to see where a change goes.
With `--against DIR` the same command also runs from DIR (a checkout of other code, e.g. `git archive REV |
tar -x -C DIR`), interleaved with the floor and this tree, and its figures are printed beside this tree's.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
REPEAT = 3
SAFE = "bcdfghjklmnpqrstvwxz2456789"
START = datetime(2024, 3, 1, tzinfo=UTC)

PHASES = """
import os, sys, time
from editor.policy.flows import importer
from editor.policy.flows.model import FlowOptions
from editor.policy.gcpause import paused_gc
clock, marks, build = time.process_time, [], importer.build_document
def timed_build(reading, into):
    marks.append(clock())
    graph = build(reading, into)
    marks.append(clock())
    return graph
importer.build_document = timed_build
with paused_gc(), open(os.devnull, "wb") as out:
    start = clock()
    result = importer.read_flow_paths([sys.argv[1]], FlowOptions())
    out.writelines(result.dump_chunks())
    end = clock()
print(f"read {marks[0] - start:.2f}s, build {marks[1] - marks[0]:.2f}s, write {end - marks[1]:.2f}s of CPU")
"""

FLOOR = """
import orjson, sys
with open(sys.argv[1], "rb") as handle:
    for line in handle:
        orjson.loads(line)
"""


def _suffix(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(SAFE) for _ in range(length))


def _endpoint(namespace: str, pod: str, labels: dict[str, str], identity: int) -> dict:
    return {
        "ID": identity % 4000 + 1,
        "identity": identity,
        "namespace": namespace,
        "labels": [f"k8s:{key}={value}" for key, value in labels.items()]
        + [f"k8s:io.kubernetes.pod.namespace={namespace}", "k8s:io.cilium.k8s.policy.cluster=default"],
        "pod_name": pod,
    }


def _flow(index: int, source: dict, destination: dict, protocol: str, port: int, reply: bool, rng) -> bytes:
    moment = START + timedelta(milliseconds=index * 7)
    stamp = f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}{rng.randrange(1000):03d}Z"
    client_port = 32768 + rng.randrange(28000)
    ports = (
        {"source_port": port, "destination_port": client_port}
        if reply
        else {"source_port": client_port, "destination_port": port}
    )
    flow = {
        "time": stamp,
        "verdict": "FORWARDED",
        "IP": {
            "source": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
            "destination": "10.1.0.1",
            "ipVersion": "IPv4",
        },
        "l4": {protocol: ports},
        "source": destination if reply else source,
        "destination": source if reply else destination,
        "Type": "L3_L4",
        "node_name": "kind-worker",
        "event_type": {"type": 4, "sub_type": 3},
        "traffic_direction": "INGRESS" if reply else "EGRESS",
        "trace_observation_point": "TO_ENDPOINT",
        "is_reply": reply,
        "Summary": f"{protocol} Flags: SYN",
    }
    return orjson.dumps({"flow": flow, "node_name": "kind-worker", "time": stamp})


def generate_pods(path: Path, pods: int = 100_000, flows: int = 150_000) -> None:
    """Bare pods with unique names and labels: nothing to group, so every pod is a node."""
    rng = random.Random(17)
    namespaces = [f"batch-{n}" for n in range(25)]
    endpoints = []
    for number in range(pods):
        namespace = namespaces[number % len(namespaces)]
        name = f"worker{number}"
        endpoints.append(_endpoint(namespace, name, {"run": name}, 70000 + number))
    distinct = pods * 11 // 10  # 110,000 edges: every pod sends, and the last 40,000 flows repeat earlier ones
    pairs: list[tuple[int, int, int]] = []
    with path.open("wb") as out:
        for index in range(flows):
            if index < distinct:
                pair = (index % pods, rng.randrange(pods), 8000 + index % 7)
                pairs.append(pair)
            else:
                pair = pairs[rng.randrange(distinct)]
            source, destination, port = pair
            out.write(_flow(index, endpoints[source], endpoints[destination], "TCP", port, False, rng) + b"\n")


def generate_realistic(path: Path, flows: int = 300_000) -> None:
    """400 Deployments x 3 replicas in 25 namespaces; each calls a few others; replies and DNS lookups."""
    rng = random.Random(4)
    deployments = []
    for number in range(400):
        namespace = f"team-{number % 25}"
        name = f"svc{number}"
        template = _suffix(rng, 10)
        replicas = [
            _endpoint(
                namespace,
                f"{name}-{template}-{_suffix(rng, 5)}",
                {"app": name, "pod-template-hash": template},
                1000 + number,
            )
            for _ in range(3)
        ]
        deployments.append(replicas)
    calls = [rng.sample(range(400), 4) for _ in range(400)]
    dns = _endpoint(
        "kube-system", "coredns-5d78c9869d-x2b4q", {"k8s-app": "kube-dns", "pod-template-hash": "5d78c9869d"}, 102
    )
    with path.open("wb") as out:
        for index in range(flows):
            caller = rng.randrange(400)
            source = rng.choice(deployments[caller])
            kind = index % 10
            if kind < 3:  # a DNS lookup
                out.write(_flow(index, source, dns, "UDP", 53, kind == 2, rng) + b"\n")
                continue
            callee = calls[caller][rng.randrange(4)]
            destination = rng.choice(deployments[callee])
            port = 8080 + callee % 3
            out.write(_flow(index, source, destination, "TCP", port, kind >= 7, rng) + b"\n")


SHAPES = {
    "pods": (generate_pods, 3.0, 400),
    "realistic": (generate_realistic, 1.2, 100),
}


def _data(shape: str) -> Path:
    DATA.mkdir(exist_ok=True)
    path = DATA / f"hubble-shape-{shape}.jsonl"
    if not path.exists():
        partial = path.with_suffix(".partial")
        SHAPES[shape][0](partial)
        partial.rename(path)
    return path


def _environment() -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    environment["PYTHONPYCACHEPREFIX"] = str(DATA / "pycache")
    return environment


def _timed(command: list[str], cwd: Path = ROOT) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one child process, from its own rusage (os.wait4)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_environment())
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{command} failed with exit code {child.returncode}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main(shapes: list[str], against: Path | None = None, phases: bool = False) -> None:
    for shape in shapes:
        path = _data(shape)
        _, ratio_target, rss_target = SHAPES[shape]
        floors, imports, others = [], [], []
        command = [sys.executable, "-m", "editor.policy.cli", "flows", str(path.resolve())]
        empty = DATA / "empty.jsonl"
        empty.touch()
        for cwd in (ROOT, against) if against is not None else (ROOT,):  # compiles the modules once, not counted
            _timed([*command[:-1], str(empty)], cwd)
        for _ in range(REPEAT):
            floors.append(_timed([sys.executable, "-c", FLOOR, str(path)]))
            imports.append(_timed(command))
            if against is not None:
                others.append(_timed(command, against))
        floor, best = min(run[0] for run in floors), min(run[0] for run in imports)
        floor_cpu, best_cpu = min(run[1] for run in floors), min(run[1] for run in imports)
        peak = max(run[2] for run in imports)
        lines = sum(1 for _ in path.open("rb"))
        print(
            f"{shape}: {lines:,} flows ({path.stat().st_size / 1e6:.0f} MB): fenceline flows {best:.2f}s, "
            f"floor {floor:.2f}s, ratio {best / floor:.2f}x; in CPU time {best_cpu:.2f}s against {floor_cpu:.2f}s, "
            f"ratio {best_cpu / floor_cpu:.2f}x (target <= {ratio_target}x); peak RSS {peak:.0f} MB "
            f"(target <= {rss_target} MB); load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        if phases:
            split = subprocess.run(
                [sys.executable, "-c", PHASES, str(path)], cwd=ROOT, env=_environment(), capture_output=True, text=True
            )
            print(f"  phases of this tree: {split.stdout.strip() or split.stderr.strip()}", flush=True)
        if others:
            other_cpu = min(run[1] for run in others)
            print(
                f"  {against}: {min(run[0] for run in others):.2f}s, in CPU time {other_cpu:.2f}s = "
                f"{other_cpu / floor_cpu:.2f}x the floor; this tree takes {best_cpu / other_cpu:.2f} of its CPU time; "
                f"peak RSS {max(run[2] for run in others):.0f} MB",
                flush=True,
            )


if __name__ == "__main__":
    arguments = sys.argv[1:]
    other = None
    split_phases = "--phases" in arguments
    arguments = [argument for argument in arguments if argument != "--phases"]
    if arguments[:1] == ["--against"]:
        other, arguments = Path(arguments[1]).resolve(), arguments[2:]
    main(arguments or list(SHAPES), other, split_phases)
