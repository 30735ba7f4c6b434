"""`fenceline connlist` (`--explain`, `--exposure`, focus options) and `fenceline diff` on ClusterNetworkPolicy
v1alpha2 inputs go through the tiers as they do on AdminNetworkPolicy / BaselineAdminNetworkPolicy v1alpha1.

Every case of netpol-analyzer's `anp` list (tests/fixtures/netpol-analyzer-anp/README.md) is replayed with its
AdminNetworkPolicies and BaselineAdminNetworkPolicy rewritten as ClusterNetworkPolicies by `fenceline platform
--api v1alpha2` (tier Admin with the same priority, tier Baseline; Allow is Accept): the semantics are the same
(network-policy-api `apis/v1alpha2/clusternetworkpolicy_types.go` against `apis/v1alpha1/*_types.go`), so the
output must be upstream's expected output byte for byte, with the policy named by its kind and tier
("ClusterNetworkPolicy 'x' (Admin tier) denies connections by Egress rule y").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from editor.policy.cli import main

FOLDER = Path(__file__).resolve().parent.parent / "fixtures" / "netpol-analyzer-anp"
CASES = json.loads((FOLDER / "cases.json").read_text())["cases"]
_PLATFORM_KIND = re.compile(r"(?m)^kind:\s*(Baseline)?AdminNetworkPolicy\s*$")


def _clean(text: str) -> str:
    return text.replace("\n", "").replace("\r", "")


def _as_cluster_network_policies(case_dir: Path, target: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The case's folder with its v1alpha1 policies replaced by the ClusterNetworkPolicies `fenceline platform`
    writes for them (the other documents of each file kept as they are)."""
    target.mkdir()
    platform = target.parent / f"{target.name}-v1alpha1.yaml"
    v1alpha1: list[str] = []
    for path in sorted(case_dir.rglob("*.y*ml")):
        documents = [d for d in re.split(r"(?m)^---.*$", path.read_text()) if d.strip()]
        v1alpha1 += [d for d in documents if _PLATFORM_KIND.search(d)]
        (target / path.name).write_text("\n---\n".join(d for d in documents if not _PLATFORM_KIND.search(d)))
    assert v1alpha1, case_dir
    platform.write_text("\n---\n".join(v1alpha1))
    capsys.readouterr()
    assert main(["platform", "--api", "v1alpha2", str(platform)]) == 0
    written = capsys.readouterr().out
    assert "kind: ClusterNetworkPolicy" in written and "AdminNetworkPolicy" not in written
    (target / "clusternetworkpolicies.yaml").write_text(written)
    return target


def _flags(options: dict) -> list[str]:
    flags = [f"--{name}" for name in ("explain", "exposure") if options.get(name)]
    if options.get("focus_workload"):
        flags += ["--focusworkload", ",".join(options["focus_workload"])]
    if options.get("focus_direction"):
        flags += ["--focus-direction", options["focus_direction"]]
    if options.get("focus_conn"):
        flags += ["--focus-conn", options["focus_conn"]]
    return flags


def _named_by_tier(expected: str) -> str:
    expected = re.sub(r"BaselineAdminNetworkPolicy '([^']*)'", r"ClusterNetworkPolicy '\1' (Baseline tier)", expected)
    return re.sub(r"\bAdminNetworkPolicy '([^']*)'", r"ClusterNetworkPolicy '\1' (Admin tier)", expected)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"].removeprefix("connlist/"))
def test_anp_case_as_cluster_network_policies(case: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _as_cluster_network_policies(FOLDER / case["input_dirs"][0], tmp_path / "case", capsys)
    assert main(["connlist", str(folder), *_flags(case["options"])]) == 0
    expected = _named_by_tier((FOLDER / case["expected"]).read_text())
    assert _clean(capsys.readouterr().out) == _clean(expected)


def test_the_options_are_covered() -> None:
    options = {name for case in CASES for name, value in case["options"].items() if value}
    assert {"explain", "exposure", "focus_workload", "focus_direction", "focus_conn"} <= options


_APP = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {kubernetes.io/metadata.name: shop}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, image: nginx, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec: {containers: [{name: c, image: postgres, ports: [{containerPort: 5432}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 5432}]}]
"""


def _cnp(name: str, tier: str, priority: int, action: str, subject: str, peer: str) -> str:
    return (
        f"---\napiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {{name: {name}}}\n"
        f"spec:\n  tier: {tier}\n  priority: {priority}\n"
        f"  subject: {{pods: {{namespaceSelector: {{}}, podSelector: {{matchLabels: {{app: {subject}}}}}}}}}\n"
        f"  ingress: [{{name: r, action: {action}, from: [{{pods: {{namespaceSelector: {{}}, podSelector: "
        f"{{matchLabels: {{app: {peer}}}}}}}}}]}}]\n"
    )


def _diff(tmp_path: Path, old: str, new: str, capsys: pytest.CaptureFixture[str]) -> str:
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    (tmp_path / "old" / "all.yaml").write_text(old)
    (tmp_path / "new" / "all.yaml").write_text(new)
    capsys.readouterr()
    assert main(["diff", str(tmp_path / "old"), str(tmp_path / "new")]) == 0
    return capsys.readouterr().out


def test_diff_shows_an_admin_deny_taking_what_a_networkpolicy_allows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """network-policy-api `site-src/api-overview.md`: the Admin tier is evaluated before NetworkPolicy."""
    out = _diff(tmp_path, _APP, _APP + _cnp("guard-db", "Admin", 5, "Deny", "db", "web"), capsys)
    removed = "diff-type: removed, source: shop/web[Pod], destination: shop/db[Pod], dir1: TCP 5432, "
    removed += "dir2: No Connections"
    assert removed in out


def test_diff_baseline_deny_is_overridden_by_a_networkpolicy_allow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Baseline tier decides only where no NetworkPolicy isolates the pod: db's ingress is isolated (its
    NetworkPolicy allows web), web's is not (the Baseline deny takes db => web)."""
    baseline = _cnp("base-db", "Baseline", 1, "Deny", "db", "web")
    baseline += _cnp("base-web", "Baseline", 2, "Deny", "web", "db")
    out = _diff(tmp_path, _APP, _APP + baseline, capsys)
    assert "source: shop/db[Pod], destination: shop/web[Pod], dir1: All Connections, dir2: No Connections" in out
    assert "destination: shop/db[Pod]" not in out.replace("source: shop/db[Pod], destination: shop/web", "")


def test_diff_pass_hands_over_to_networkpolicy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Pass skips the rest of the Admin tier: the Deny of a later Admin policy no longer applies, NetworkPolicy
    decides (web may reach db on 5432 again)."""
    deny = _cnp("guard-db", "Admin", 5, "Deny", "db", "web")
    out = _diff(tmp_path, _APP + deny, _APP + deny + _cnp("hand-over", "Admin", 1, "Pass", "db", "web"), capsys)
    added = "diff-type: added, source: shop/web[Pod], destination: shop/db[Pod], dir1: No Connections, dir2: TCP 5432"
    assert added in out


def test_explain_names_the_tier_policy_and_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "all.yaml").write_text(_APP + _cnp("guard-db", "Admin", 5, "Deny", "db", "web"))
    assert main(["connlist", str(tmp_path), "--explain", "--focusworkload", "shop/db"]) == 0
    out = capsys.readouterr().out
    assert "ClusterNetworkPolicy 'guard-db' (Admin tier) denies connections by Ingress rule r" in out


def test_flow_replay_explains_a_break_by_the_admin_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flows = Path(__file__).resolve().parent.parent / "fixtures" / "hubble" / "basic-sample-400-tcp-flows.json"
    (tmp_path / "guard.yaml").write_text(_cnp("guard", "Admin", 1, "Deny", "details", "productpage"))
    assert main(["connlist", str(tmp_path / "guard.yaml"), "--flows", str(flows), "--explain"]) == 1
    out = capsys.readouterr().out
    broken = out.split("bookinfo/productpage-v1[Deployment] => bookinfo/details-v1[Deployment] : TCP 9080 : DENIED")[1]
    reason = "ClusterNetworkPolicy 'guard' (Admin tier) denies connections by Ingress rule r"
    assert broken.split("\n")[4].strip() == reason
