"""Platform policies written as ClusterNetworkPolicy v1alpha2, ANP/BANP v1alpha1 and CiliumClusterwideNetworkPolicy,
and the four platform templates proven by probes.

Every v1alpha1/v1alpha2 output is read back through the CRD schemas and CEL rules and must decide every probe as the
source did; every Cilium output must pass the Cilium CRD schema (editor/policy/validate.py). Semantics:
network-policy-api `apis/v1alpha2/clusternetworkpolicy_types.go`; Cilium "Deny policies" and `enableDefaultDeny`
(`pkg/policy/api/rule.go`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from editor.policy.platform import emit, templates
from editor.policy.platform.inputs import read_platform_inputs
from editor.policy.platform.probe import Probe, Prober
from editor.policy.validate import validate_object

CLUSTER = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.0.1.5}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec: {containers: [{name: c}]}
status: {podIP: 10.0.1.6}
---
apiVersion: v1
kind: Pod
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec: {containers: [{name: c}]}
status: {podIP: 10.0.0.10}
---
apiVersion: v1
kind: Pod
metadata: {name: prom, namespace: monitoring, labels: {app.kubernetes.io/name: prometheus}}
spec: {containers: [{name: c}]}
status: {podIP: 10.0.2.2}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress, Egress]
  ingress: [{from: [{podSelector: {matchLabels: {app: db}}}]}]
  egress: [{}]
"""

PROBES = [
    Probe("shop/db", "kube-system/coredns", "UDP", 53),
    Probe("shop/db", "kube-system/coredns", "TCP", 443),
    Probe("shop/web", "169.254.169.254", "TCP", 80),
    Probe("shop/web", "8.8.8.8", "TCP", 443),
    Probe("shop/db", "8.8.8.8", "TCP", 443),
    Probe("shop/db", "shop/web", "TCP", 8080),
    Probe("monitoring/prom", "shop/web", "TCP", 8080),
    Probe("monitoring/prom", "shop/db", "TCP", 9090),
    Probe("kube-system/coredns", "shop/db", "TCP", 80),
]
# what each probe must give under the four templates plus the NetworkPolicy above, and why
EXPECTED = [
    ("allowed", "cluster-dns"),  # Admin accept beats the Baseline deny
    ("denied", "Baseline tier"),  # db has no NetworkPolicy: the Baseline default deny decides
    ("denied", "no-metadata-service"),  # Admin deny beats web's NetworkPolicy that allows all egress
    ("allowed", "NetworkPolicy 'shop/web'"),  # web's NetworkPolicy decides; Baseline never sees it
    ("denied", "deny-all-other-egress"),
    ("denied", "deny-all-egress"),  # web's ingress allows db, but db's egress has no NetworkPolicy: Baseline
    ("allowed", "monitoring-scrape"),  # Admin accept beats web's isolating NetworkPolicy
    ("allowed", "monitoring-scrape"),
    ("denied", "Baseline tier"),
]


def _policies() -> list:
    return [policy for _, make in templates.TEMPLATES.values() for policy in make()]


def _prober(tmp_path: Path, objects: list[dict]) -> Prober:
    (tmp_path / "cluster.yaml").write_text(CLUSTER)
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump_all(objects))
    return Prober(read_platform_inputs([tmp_path / "cluster.yaml", tmp_path / "platform.yaml"]))


@pytest.mark.parametrize("target", [emit.to_v1alpha2, emit.to_v1alpha1])
def test_templates_compile_read_back_and_are_proven_by_probes(tmp_path: Path, target) -> None:
    compiled = target(_policies())
    assert compiled.not_expressed == [] and compiled.caveats == []
    prober = _prober(tmp_path, compiled.objects)
    assert len(prober.inputs.policies) == 6
    for probe, (verdict, reason) in zip(PROBES, EXPECTED, strict=True):
        line = prober.run(probe).line()
        assert line.startswith(verdict) and reason in line, line


def test_v1alpha1_has_one_baseline_policy_named_default(tmp_path: Path) -> None:
    (other,) = templates.default_deny()
    narrower = templates._policy(
        "shop-only", "Baseline", 5, templates.PodSet(templates._labels({"a": "b"})), *other.ingress
    )
    compiled = emit.to_v1alpha1([other, narrower])
    (banp,) = [o for o in compiled.objects if o["kind"] == "BaselineAdminNetworkPolicy"]
    assert banp["metadata"]["name"] == "default"
    (note,) = compiled.not_expressed
    assert "'default'" in note and "one subject" in note


def test_cilium_expresses_deny_and_default_deny_and_says_what_it_cannot() -> None:
    passing = templates._policy(
        "pass-dns",
        "Admin",
        1,
        templates.EVERY_POD,
        templates.PlatformRule("Egress", 1, "pass", "Pass", "pass", templates.cluster_dns()[0].egress[0].peers, None),
    )
    partial = templates._policy(
        "baseline-partial",
        "Baseline",
        2,
        templates.EVERY_POD,
        templates._rule("Ingress", 1, "from-monitoring", "deny", templates.monitoring()[0].ingress[0].peers[0]),
    )
    compiled = emit.to_cilium([*_policies(), passing, partial])
    for obj in compiled.objects:
        assert [f for f in validate_object(obj) if f.is_error] == [], obj
    kinds = {o["metadata"]["name"]: o["spec"] for o in compiled.objects}
    assert kinds["no-metadata-service"]["egressDeny"] == [{"toCIDR": ["169.254.169.254/32", "fd00:ec2::254/128"]}]
    assert kinds["default"]["ingress"] == [{}] and kinds["default"]["enableDefaultDeny"] == {
        "ingress": True,
        "egress": True,
    }
    assert kinds["cluster-dns"]["enableDefaultDeny"] == {"egress": False}
    assert "pass-dns" not in kinds and "baseline-partial" not in kinds
    assert len(compiled.not_expressed) == 2
    assert "'pass-dns' (Admin tier, priority 1) Egress rule pass: Cilium has no Pass" in compiled.not_expressed[0]
    assert (
        "'baseline-partial' (Baseline tier, priority 2) Ingress rule from-monitoring: Cilium cannot place"
        in (compiled.not_expressed[1])
    )
    assert "Cilium has no priorities" in compiled.caveats[-1]
    assert any("application deny rule still wins" in c for c in compiled.caveats)


def test_fenceline_platform_writes_each_api_and_fails_on_what_it_cannot_express(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from editor.policy.cli import main

    assert main(["platform", "--template", "cluster-dns", "--template", "default-deny", "--api", "v1alpha1"]) == 0
    objects = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [o["kind"] for o in objects] == ["AdminNetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy"]
    conformance = Path(__file__).resolve().parent.parent / "fixtures" / "clusternetworkpolicy-conformance"
    source = next((conformance / "cases" / "CNPAdminTierEgressTCP").glob("01-*")) / "objects.yaml"
    assert main(["platform", str(source), "--api", "cilium"]) == 1
    out, err = capsys.readouterr()
    (ccnp,) = yaml.safe_load_all(out)
    assert [f for f in validate_object(ccnp) if f.is_error] == []
    assert (
        "not expressed in cilium: ClusterNetworkPolicy 'egress-tcp' (Admin tier, priority 6) Egress rule "
        "pass-to-ravenclaw-everything: Cilium has no Pass" in err
    )
    assert (
        "Egress rule deny-to-ravenclaw-everything (Deny) comes after ClusterNetworkPolicy 'egress-tcp' Egress rule "
        "allow-to-ravenclaw-everything (Accept)" in err
    )
    assert main(["platform", str(source)]) == 0
    (cnp,) = yaml.safe_load_all(capsys.readouterr().out)
    (tmp_path / "again.yaml").write_text(yaml.safe_dump(cnp))
    (again,) = read_platform_inputs([tmp_path / "again.yaml"]).policies
    (original,) = read_platform_inputs([source]).policies
    assert (again.subject, again.ingress, again.egress) == (original.subject, original.ingress, original.egress)
