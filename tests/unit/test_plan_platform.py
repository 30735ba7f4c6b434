"""`fenceline plan` when a side holds platform policies: its connectivity goes through the tiers (network-policy-api
`site-src/api-overview.md`: Admin, then NetworkPolicy, then Baseline, then allow), so a new Admin deny shows as
lost traffic, and the platform policy itself as an added policy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from editor.policy.cli import main
from editor.policy.commands.plan_cmd import read_side
from editor.policy.plan import Side, make_plan
from tests.unit.test_layers import ADMIN_DENY, APP_EDGE, drawing

HUBBLE_400 = Path(__file__).resolve().parents[1] / "fixtures" / "hubble" / "basic-sample-400-tcp-flows.json"
GUARD = """\
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: guard}
spec:
  tier: Admin
  priority: 1
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: details}}}}
  ingress: [{name: no-productpage, action: Deny, from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels:
    {app: productpage}}}}]}]
"""
DETAILS = """\
apiVersion: v1
kind: Pod
metadata: {name: details, namespace: bookinfo, labels: {app: details}}
spec: {containers: [{name: c, image: details, ports: [{containerPort: 9080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: productpage, namespace: bookinfo, labels: {app: productpage}}
spec: {containers: [{name: c, image: productpage}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: details-in, namespace: bookinfo}
spec:
  podSelector: {matchLabels: {app: details}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {app: productpage}}}], ports: [{port: 9080}]}]
"""


def test_a_new_admin_deny_is_lost_traffic_and_breaks_observed_flows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "old.yaml").write_text(DETAILS)
    (tmp_path / "new.yaml").write_text(DETAILS + GUARD)
    plan = make_plan(read_side(str(tmp_path / "old.yaml")), read_side(str(tmp_path / "new.yaml")))
    assert [str(c) for c in plan.connections] == [
        "diff-type: removed, source: bookinfo/productpage[Pod], destination: bookinfo/details[Pod], "
        "ref1: TCP 9080, ref2: No Connections"
    ]
    assert [(p.kind, p.object) for p in plan.policies] == [("added", "ClusterNetworkPolicy guard")]
    code = main(["plan", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml"), "--flows", str(HUBBLE_400),
                 "--format", "json"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert any(b["src"].startswith("bookinfo/productpage") and "details" in b["dst"] for b in report["flows"]["breaks"])


def test_between_drawings_a_new_admin_deny_edge_is_lost_traffic() -> None:
    old = drawing([APP_EDGE])
    new = drawing([APP_EDGE, ADMIN_DENY])
    plan = make_plan(Side("old", document=old), Side("new", document=new))
    assert [(c.kind, c.src, c.dst) for c in plan.connections] == [
        ("removed", "shop/web[Workload]", "shop/api[Workload]")
    ]
    assert ("added", "ClusterNetworkPolicy api") in [(p.kind, p.object) for p in plan.policies]
