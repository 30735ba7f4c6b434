"""Benchmark: `fenceline connlist` on 5,000 pods in 200 workloads with 500 policies (issue 5; target <= 5 s).

The cluster is generated deterministically into bench/data/connlist/ (git-ignored) in two forms: `pods/` has
200 workloads as 5,000 Pod objects (owned by ReplicaSets, so every pod is read and grouped, as in a
`kubectl get pods -o yaml` dump), `deployments/` the same 200 workloads as Deployments with 25 replicas. Both
have 20 namespaces, named container ports, and the same 500 NetworkPolicies of the kinds real clusters have:
default deny per namespace, per-workload ingress allow lists across namespaces (matchLabels and
matchExpressions), egress to DNS and to external CIDRs with excepts, named ports and endPort ranges, and a
handful of CiliumNetworkPolicies with entities, deny rules and ANY ports. The time measured is the whole
command: reading the YAML, building the model, analysing and formatting; the analysis alone is printed too,
because reading 5,000 Pod objects is mostly YAML parsing. Then the time of each netpol-analyzer corpus case in
tests/fixtures. Best of REPEAT runs (the machine is shared). Then, on the deployments form, analyse + `--explain`
and analyse + `--exposure` against analyse + the plain list (issue 14; target <= 2x). Targets are judged on
wall-clock seconds; the CPU seconds (user + system) of the same runs are printed beside them, with the load
average, since the machine is shared.

    .venv/bin/python bench/bench_connlist.py [--against DIR] [--stream-only]

Last, `fenceline connlist --explain` on the deployments form as a command (a fresh process, stdout read through a
pipe and thrown away): the time to its first byte, its wall and CPU time, its peak RSS (ru_maxrss of the child)
and the size and SHA-256 of what it wrote. With `--against DIR` (another copy of the code, e.g. `git archive
e3f1c83 | tar -x -C DIR`) the same command also runs from DIR, alternating, and the ratios are printed;
`--stream-only` runs this part alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from editor.policy.analysis import analyse, format_connlist  # noqa: E402
from editor.policy.analysis.explain_text import format_explain  # noqa: E402
from editor.policy.analysis.exposure import exposure, format_exposure  # noqa: E402
from editor.policy.manifests import read_paths  # noqa: E402
from editor.policy.yamlio import dump_yaml_documents  # noqa: E402

DATA = ROOT / "bench" / "data" / "connlist"
CORPUS = ROOT / "tests" / "fixtures" / "netpol-analyzer"
NAMESPACES, WORKLOADS, PODS_PER_WORKLOAD, POLICIES = 20, 200, 25, 500
TARGET_SECONDS = 5.0
OUTPUT_FACTOR = 2.0  # --explain and --exposure may cost at most twice the plain list (issue 14)
REPEAT = 3


def _workloads(rnd: random.Random) -> list[dict[str, Any]]:
    result = []
    for index in range(WORKLOADS):
        namespace = f"ns-{index % NAMESPACES:02d}"
        result.append(
            {
                "namespace": namespace,
                "name": f"svc-{index:03d}",
                "labels": {
                    "app": f"svc-{index:03d}",
                    "tier": rnd.choice(["web", "api", "db", "cache", "worker"]),
                    "team": f"team-{index % 7}",
                },
                "ports": [
                    {"name": "http", "containerPort": rnd.choice([8080, 8000, 9090])},
                    {"name": "metrics", "containerPort": 9100},
                ],
            }
        )
    return result


def _deployments(workloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": w["name"], "namespace": w["namespace"]},
            "spec": {
                "replicas": PODS_PER_WORKLOAD,
                "selector": {"matchLabels": {"app": w["labels"]["app"]}},
                "template": {
                    "metadata": {"labels": w["labels"]},
                    "spec": {"containers": [{"name": "main", "ports": w["ports"]}]},
                },
            },
        }
        for w in workloads
    ]


def _pods(workloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pods = []
    for number, workload in enumerate(workloads):
        owner = f"{workload['name']}-5d4f{number:03d}"
        for replica in range(PODS_PER_WORKLOAD):
            pods.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{owner}-{replica:02d}",
                        "namespace": workload["namespace"],
                        "labels": {**workload["labels"], "pod-template-hash": f"5d4f{number:03d}"},
                        "ownerReferences": [
                            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "controller": True}
                        ],
                    },
                    "spec": {"containers": [{"name": "main", "ports": workload["ports"]}]},
                    "status": {"podIP": f"10.{number // 250}.{number % 250}.{replica + 1}"},
                }
            )
    return pods


def _netpol(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _policies(rnd: random.Random, workloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    policies = [
        _netpol(f"ns-{n:02d}", "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
        for n in range(NAMESPACES)
    ]
    policies += [
        _netpol(
            f"ns-{n:02d}",
            "allow-dns",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
                        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                    }
                ],
            },
        )
        for n in range(NAMESPACES)
    ]
    index = 0
    while len(policies) < POLICIES - 10:
        workload = workloads[index % WORKLOADS]
        index += 1
        callers = rnd.sample(workloads, 3)
        ingress_from = [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": caller["namespace"]}},
                "podSelector": {"matchLabels": {"app": caller["labels"]["app"]}},
            }
            for caller in callers
        ]
        ingress_from.append(
            {"podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]}]}}
        )
        spec: dict[str, Any] = {
            "podSelector": {"matchLabels": {"app": workload["labels"]["app"]}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {"from": ingress_from, "ports": [{"port": "http"}, {"port": 9100, "protocol": "TCP"}]},
                {
                    "from": [
                        {
                            "ipBlock": {
                                "cidr": f"172.{16 + index % 16}.0.0/16",
                                "except": [f"172.{16 + index % 16}.{index % 250}.0/24"],
                            }
                        }
                    ]
                },
            ],
            "egress": [
                {
                    "to": [{"podSelector": {"matchLabels": {"tier": "db"}}, "namespaceSelector": {}}],
                    "ports": [{"port": "http"}],
                },
                {
                    "to": [{"ipBlock": {"cidr": f"{20 + index % 200}.0.0.0/8"}}],
                    "ports": [{"port": 443, "endPort": 450, "protocol": "TCP"}],
                },
            ],
        }
        policies.append(_netpol(workload["namespace"], f"allow-{workload['name']}-{index}", spec))
    for n in range(10):
        policies.append(
            {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumNetworkPolicy",
                "metadata": {"name": f"cilium-{n}", "namespace": f"ns-{n:02d}"},
                "spec": {
                    "endpointSelector": {"matchLabels": {"tier": "db"}},
                    "ingress": [{"fromEntities": ["cluster"], "toPorts": [{"ports": [{"port": "5432"}]}]}],
                    "ingressDeny": [{"fromEndpoints": [{"matchLabels": {"tier": "worker"}}]}],
                    "egress": [{"toEntities": ["kube-apiserver"]}],
                },
            }
        )
    return policies


def generate() -> Path:
    """Write both forms of the cluster under bench/data/connlist (once) and return the directory."""
    marker = DATA / "generated.json"
    if marker.exists():
        return DATA
    rnd = random.Random(5)
    workloads = _workloads(rnd)
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns-{n:02d}", "labels": {"zone": f"z{n % 3}"}}}
        for n in range(NAMESPACES)
    ]
    policies = dump_yaml_documents(_policies(rnd, workloads))
    for form, objects in (("pods", _pods(workloads)), ("deployments", _deployments(workloads))):
        (DATA / form).mkdir(parents=True, exist_ok=True)
        (DATA / form / "namespaces.yaml").write_text(dump_yaml_documents(namespaces))
        (DATA / form / "workloads.yaml").write_text(dump_yaml_documents(objects))
        (DATA / form / "policies.yaml").write_text(policies)
    marker.write_text(json.dumps({"workloads": WORKLOADS, "pods": WORKLOADS * PODS_PER_WORKLOAD, "policies": POLICIES}))
    return DATA


def _time(path: Path) -> tuple[float, float, int, float]:
    """(seconds for the whole connlist, seconds for analyse + format alone, output lines, CPU seconds for the
    whole connlist), best of REPEAT."""
    best_total = best_analysis = best_cpu = float("inf")
    lines = 0
    for _ in range(REPEAT):
        start, cpu = time.perf_counter(), time.process_time()
        cluster = read_paths([path])
        middle = time.perf_counter()
        text = format_connlist(analyse(cluster))
        end = time.perf_counter()
        best_total = min(best_total, end - start)
        best_analysis = min(best_analysis, end - middle)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        lines = text.count("\n") + 1 if text else 0
    return best_total, best_analysis, lines, best_cpu


def _time_outputs(path: Path) -> dict[str, tuple[float, float]]:
    """(seconds, CPU seconds) for analyse + each output (plain connlist, --explain, --exposure) on one read
    cluster, best of REPEAT: what explain and exposure add on top of the plain list."""
    cluster = read_paths([path])
    outputs = {
        "connlist": lambda a: format_connlist(a),
        "explain": lambda a: format_explain(a),
        "exposure": lambda a: format_exposure(exposure(a)),
    }
    best = {}
    for name, output in outputs.items():
        times, cpu_times = [], []
        for _ in range(REPEAT):
            start, cpu = time.perf_counter(), time.process_time()
            output(analyse(cluster))
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu)
        best[name] = (min(times), min(cpu_times))
    return best


def _explain_command(tree: Path, path: Path) -> dict[str, Any]:
    """`fenceline connlist --explain PATH` run from `tree` in a fresh process: seconds to the first byte and to
    the end, CPU seconds and peak RSS (MiB) of the child, bytes written and their SHA-256."""
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "editor.policy.cli", "connlist", "--explain", str(path)]
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=tree, env=environment, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert child.stdout is not None
    first, size, digest = None, 0, hashlib.sha256()
    while chunk := os.read(child.stdout.fileno(), 1 << 20):
        first = first if first is not None else time.perf_counter() - start
        size += len(chunk)
        digest.update(chunk)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0, f"connlist --explain from {tree} exited {child.returncode}"
    return {
        "first": first or 0.0,
        "total": time.perf_counter() - start,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss": usage.ru_maxrss / 1024,
        "bytes": size,
        "sha": digest.hexdigest()[:16],
    }


def stream(data: Path, against: Path | None) -> None:
    """The `--explain` command's time to first byte and peak RSS, best of REPEAT, against DIR's when given."""
    trees = {"this tree": ROOT, **({"DIR": against} if against else {})}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for _ in range(REPEAT):
        for name, tree in trees.items():  # alternating, so that both see the same load
            runs[name].append(_explain_command(tree, data / "deployments"))
    best = {}
    for name, results in runs.items():
        best[name] = {key: min(r[key] for r in results) for key in ("first", "total", "cpu", "rss")}
        shown = best[name]
        print(
            f"connlist --explain, deployments ({name}): first byte {shown['first']:.2f} s, end {shown['total']:.2f} s, "
            f"CPU {shown['cpu']:.2f} s, peak RSS {shown['rss']:.0f} MiB; {results[0]['bytes'] / 1e6:.1f} MB written, "
            f"sha256 {results[0]['sha']} (best of {REPEAT})"
        )
    if against:
        same = (
            runs["this tree"][0]["sha"] == runs["DIR"][0]["sha"]
            and len({r["sha"] for v in runs.values() for r in v}) == 1
        )
        ratios = ", ".join(
            f"{key} {best['this tree'][key] / best['DIR'][key]:.2f}x" for key in ("first", "total", "cpu", "rss")
        )
        print(f"  this tree / DIR: {ratios}; output {'byte for byte the same' if same else 'DIFFERENT'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--against", type=Path, help="another copy of the code to run the --explain command from")
    parser.add_argument("--stream-only", action="store_true", help="only the --explain command's figures")
    args = parser.parse_args()
    data = generate()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"load average {load} (wall-clock seconds are judged; CPU seconds shown for a shared machine)")
    if args.stream_only:
        stream(data, args.against)
        print(f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
        return
    for form in ("pods", "deployments"):
        cluster = read_paths([data / form])
        pods = sum(w.replicas for w in cluster.workloads)
        total, analysis, lines, cpu = _time(data / form)
        verdict = "OK" if total <= TARGET_SECONDS else "OVER TARGET"
        print(
            f"{form}: {pods} pods in {len(cluster.workloads)} workloads, {len(cluster.policies)} policies -> "
            f"connlist {total:.2f} s (read {total - analysis:.2f} s, analyse+format {analysis:.2f} s; "
            f"CPU {cpu:.2f} s), {lines} lines; target <= {TARGET_SECONDS:.0f} s: {verdict}"
        )
    for form in ("deployments",):
        best = _time_outputs(data / form)
        base, base_cpu = best["connlist"]
        for name in ("explain", "exposure"):
            seconds, cpu = best[name]
            ratio = seconds / base
            verdict = "OK" if ratio <= OUTPUT_FACTOR else "OVER TARGET"
            print(
                f"{form}: analyse + --{name} {seconds:.2f} s vs analyse + plain connlist {base:.2f} s = {ratio:.1f}x "
                f"(CPU {cpu:.2f} s vs {base_cpu:.2f} s = {cpu / base_cpu:.2f}x); target <= {OUTPUT_FACTOR:.0f}x: "
                f"{verdict}"
            )
    cases = json.loads((CORPUS / "cases.json").read_text())["connlist"]
    print(f"netpol-analyzer corpus cases (whole connlist, best of {REPEAT}):")
    for case in cases:
        total, _, lines, _ = _time(CORPUS / case["input_dir"])
        print(f"  {case['dir']:<72} {total * 1000:7.1f} ms  {lines:4d} lines")
    stream(data, args.against)
    print(f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


if __name__ == "__main__":
    main()
