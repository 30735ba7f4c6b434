"""Benchmark: the platform tiers on the `bench_connlist.py` cluster (200 workloads as Deployments, 20 namespaces,
500 NetworkPolicies) plus 24 platform policies: the four templates and 20 AdminNetworkPolicies, one per namespace,
with pod, namespace and CIDR peers, ports and Pass rules. Target: `connlist` within the 5 s of issue 5; 1,000
probes within 5 s. Prints the NetworkPolicy-only connlist for comparison. Best of REPEAT runs (shared machine).

    .venv/bin/python bench/bench_platform.py
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_connlist import WORKLOADS, generate  # noqa: E402

from editor.policy.analysis import analyse, format_connlist  # noqa: E402
from editor.policy.platform import emit, templates  # noqa: E402
from editor.policy.platform.connlist import analyse_tiers  # noqa: E402
from editor.policy.platform.inputs import read_platform_inputs  # noqa: E402
from editor.policy.platform.probe import Probe, Prober  # noqa: E402
from editor.policy.yamlio import dump_yaml_documents  # noqa: E402

TARGET_SECONDS = 5.0
PROBES = 1000
REPEAT = 3


def _admin_policies(rnd: random.Random) -> list[dict]:
    policies = []
    for index in range(20):
        namespace = f"ns-{index:02d}"
        other = f"ns-{(index + 1) % 20:02d}"
        policies.append(
            {
                "apiVersion": "policy.networking.k8s.io/v1alpha1",
                "kind": "AdminNetworkPolicy",
                "metadata": {"name": f"anp-{index:02d}"},
                "spec": {
                    "priority": 100 + index,
                    "subject": {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}},
                    "ingress": [
                        {
                            "name": "pass-team",
                            "action": "Pass",
                            "from": [
                                {
                                    "pods": {
                                        "namespaceSelector": {},
                                        "podSelector": {"matchLabels": {"team": f"team-{index % 7}"}},
                                    }
                                }
                            ],
                        },
                        {
                            "name": "deny-db-from-other",
                            "action": "Deny",
                            "from": [{"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": other}}}],
                            "ports": [{"portNumber": {"protocol": "TCP", "port": rnd.choice([5432, 6379, 8080])}}],
                        },
                    ],
                    "egress": [
                        {"name": "allow-partner", "action": "Allow", "to": [{"networks": [f"203.0.{index}.0/24"]}]},
                        {
                            "name": "deny-web",
                            "action": "Deny",
                            "to": [
                                {"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"tier": "web"}}}}
                            ],
                            "ports": [{"portRange": {"protocol": "TCP", "start": 9000, "end": 9999}}],
                        },
                    ],
                },
            }
        )
    return policies


def _best(run) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(REPEAT):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    data = generate() / "deployments"
    platform = ROOT / "bench" / "data" / "platform.yaml"
    rnd = random.Random(15)
    compiled = emit.to_v1alpha1([p for _, make in templates.TEMPLATES.values() for p in make()])
    platform.write_text(dump_yaml_documents([*compiled.objects, *_admin_policies(rnd)]))

    plain, text = _best(lambda: format_connlist(analyse(read_platform_inputs([data]).cluster)))
    tiered, tiered_text = _best(lambda: format_connlist(analyse_tiers(read_platform_inputs([data, platform]))))
    print(f"connlist, {WORKLOADS} workloads, 500 NetworkPolicies: {plain:.2f} s ({len(str(text).splitlines())} lines)")
    print(
        f"connlist, same plus 26 platform policies (ANP/BANP): {tiered:.2f} s "
        f"({len(str(tiered_text).splitlines())} lines); floor {TARGET_SECONDS:.0f} s"
    )
    prober = Prober(read_platform_inputs([data, platform]))
    names = sorted(prober.pods)
    probes = [
        Probe(rnd.choice(names), rnd.choice(names), rnd.choice(["TCP", "UDP"]), rnd.choice([53, 80, 5432, 8080, 9100]))
        for _ in range(PROBES)
    ]
    elapsed, _ = _best(lambda: [prober.run(p) for p in probes])
    print(f"probe, {PROBES} probes on the same inputs: {elapsed:.2f} s; floor {TARGET_SECONDS:.0f} s")


if __name__ == "__main__":
    main()
