"""Generate large Hubble `-o jsonpb` logs from the real captures in tests/fixtures/hubble (deterministic).

Each output line is a real captured flow with its names varied: the namespace gets one of TENANTS
suffixes (labels follow), pod name suffixes one of REPLICAS variants, some destination ports shift, DNS
names and world addresses vary, and times increase one millisecond per line. So a long log has the shape
of a busy cluster: many workloads and edges, every record kind of the captures, and no two identical lines.

    .venv/bin/python bench/gen_flows.py 1000000   # -> bench/data/hubble-1000000.jsonl
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "tests" / "fixtures" / "hubble"
DATA = Path(__file__).resolve().parent / "data"
TENANTS = 25
REPLICAS = 4
SAFE = "bcdfghjklmnpqrstvwxz2456789"
START = datetime(2024, 3, 1, tzinfo=UTC)
NAMESPACE_LABELS = ("k8s:io.kubernetes.pod.namespace=", "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/")


def _templates() -> list[dict]:
    lines = []
    for path in sorted(CAPTURES.glob("*.json*")):
        lines.extend(orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip())
    return lines


def _vary_endpoint(endpoint: dict, tenant: int, rng: random.Random) -> None:
    identity = endpoint.get("identity", 0)
    if 256 <= identity < 1 << 16:  # a pod identity: one per label set, and the namespace is a label
        endpoint["identity"] = identity * TENANTS + tenant
    namespace = endpoint.get("namespace")
    if namespace:
        endpoint["namespace"] = f"{namespace}-t{tenant}"
    labels = endpoint.get("labels")
    if labels:
        endpoint["labels"] = [f"{label}-t{tenant}" if label.startswith(NAMESPACE_LABELS) else label for label in labels]
    pod = endpoint.get("pod_name")
    if pod and "-" in pod:
        base, _, _ = pod.rpartition("-")
        replica = rng.randrange(REPLICAS)
        endpoint["pod_name"] = f"{base}-{SAFE[replica]}{SAFE[tenant % len(SAFE)]}x{SAFE[replica * 3 % len(SAFE)]}z"


def _vary(record: dict, index: int, rng: random.Random) -> dict:
    flow = record.get("flow")
    if flow is None:
        return record
    tenant = rng.randrange(TENANTS)
    for side in ("source", "destination"):
        if isinstance(flow.get(side), dict):
            _vary_endpoint(flow[side], tenant, rng)
    moment = START + timedelta(milliseconds=index)
    stamp = f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}{rng.randrange(1000):03d}Z"
    flow["time"] = record["time"] = stamp
    l4 = flow.get("l4", {})
    for protocol in ("TCP", "UDP"):
        ports = l4.get(protocol)
        if ports and not flow.get("is_reply") and not flow.get("reply"):
            if rng.random() < 0.2:
                ports["destination_port"] = ports.get("destination_port", 80) + rng.randrange(8)
            ports["source_port"] = 32768 + rng.randrange(28000)
    dns = flow.get("l7", {}).get("dns")
    if dns and dns.get("query"):
        dns["query"] = f"api{rng.randrange(40)}.{dns['query']}"
    addresses = flow.get("IP", {})
    for side in ("source", "destination"):
        labels = flow.get(side, {}).get("labels", [])
        if "reserved:world" in labels and addresses.get(side, "").count(".") == 3:
            head, _, _ = addresses[side].rpartition(".")
            addresses[side] = f"{head}.{rng.randrange(1, 255)}"
    return record


def generate(count: int) -> Path:
    """Write bench/data/hubble-<count>.jsonl unless it is already there; return its path."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"hubble-{count}.jsonl"
    if path.exists():
        return path
    templates = _templates()
    rng = random.Random(20240301)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        batch = []
        for index in range(count):
            template = templates[rng.randrange(len(templates))]
            record = _vary(orjson.loads(orjson.dumps(template)), index, rng)
            batch.append(orjson.dumps(record))
            if len(batch) == 10_000:
                out.write(b"\n".join(batch) + b"\n")
                batch = []
        if batch:
            out.write(b"\n".join(batch) + b"\n")
    partial.rename(path)
    return path


if __name__ == "__main__":
    for argument in sys.argv[1:] or ["100000"]:
        print(generate(int(argument)))
