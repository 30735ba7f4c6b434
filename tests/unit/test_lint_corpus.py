"""Lint and rating over the whole policy corpus (tests/fixtures/policies): no crash, and pinned findings for
named upstream files, including the trap of each Cilium editor tutorial."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from editor.policy.lint import RULES, lint_objects
from editor.policy.rating import rate_objects
from editor.policy.yamlio import KubeObject, load_objects

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "policies"
FILES = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
TUTORIALS = "cilium-networkpolicy-editor-tutorials/"

# file -> the (rule, path) of every finding when the file is linted on its own with default settings
PINNED: dict[str, set[tuple[str, str]]] = {
    # "allow cross namespace": a podSelector-only peer cannot reach Prometheus in its own namespace
    TUTORIALS + "tutorials/allow-cross-namespace.yaml": {("FL008", "spec.ingress[0].from[0]")},
    # "allow egress to pod": a /32 pod IP; and without policyTypes the egress policy also denies all ingress
    TUTORIALS + "tutorials/allow-egress-to-pod.yaml": {
        ("FL003", "spec"), ("FL004", "spec.egress"), ("FL010", "spec.egress[0].to[0]"),
    },
    # "allow kube-dns": egress limited to the own namespace breaks DNS
    TUTORIALS + "tutorials/allow-kube-dns.yaml": {
        ("FL003", "spec"), ("FL004", "spec.egress"), ("FL007", "spec.egress[0].to[0]"),
    },
    # "combine policy rules": the `- ports:` item is a second, peer-less rule
    TUTORIALS + "tutorials/combine-policy-rules.yaml": {
        ("FL003", "spec"), ("FL004", "spec.egress"), ("FL005", "spec.egress[1]"), ("FL010", "spec.egress[0].to[0]"),
    },
    # "empty selectors": `- {}` allows everyone (world included) and makes the `podSelector: {}` rule redundant
    TUTORIALS + "tutorials/empty-selectors.yaml": {
        ("FL002", "spec"), ("FL007", "spec.ingress[1].from[0]"),
        ("FL017", "spec.ingress[1]"), ("FL018", "spec.ingress[0]"),
    },
    TUTORIALS + "cross-namespace.yaml": {
        ("FL007", "specs[0].egress[0].toEndpoints[0]"), ("FL007", "specs[0].ingress[0].fromEndpoints[0]"),
    },
    # the DNS rule selects kube-dns in the policy's own namespace, so toFQDNs never learns an address
    TUTORIALS + "egress-fqdn.yaml": {("FL008", "spec.egress[1].toEndpoints[0]"), ("FL014", "spec.egress[2]")},
    "ahmetb-kubernetes-network-policy-recipes/01-web-deny-all.yaml": {("FL002", "spec")},
    "ahmetb-kubernetes-network-policy-recipes/02a-web-allow-all.yaml": {
        ("FL002", "spec"), ("FL018", "spec.ingress[0]"),
    },
    "ahmetb-kubernetes-network-policy-recipes/05-web-allow-all-namespaces.yaml": {
        ("FL002", "spec"), ("FL006", "spec.ingress[0].from[0]"),
    },
    "ahmetb-kubernetes-network-policy-recipes/11-foo-deny-egress.yaml": {("FL004", "spec.egress")},
    "ahmetb-kubernetes-network-policy-recipes/11b-foo-deny-egress-allow-dns.yaml": set(),
    "kubernetes-website/networkpolicy.yaml": {("FL004", "spec.egress"), ("FL019", "spec.ingress[0].from[2]")},
    "kubernetes-website/network-policy-default-deny-all.yaml": {("FL004", "spec.policyTypes")},
    # upstream's FQDN example has a DNS rule without `rules: {dns: ...}`
    "cilium-cilium/l3/fqdn/fqdn.yaml": {("FL014", "spec.egress[1]")},
    # the Star Wars "default deny" is `ingress: [{}]`, an allow-all in current Cilium
    # C4: `- {}` is Cilium's default deny, so no world ingress (FL018) any more
    "cilium-cilium/minikube/sw_deny_policy.yaml": {("FL015", "spec.ingress[0]")},
    # "Allow HTTP GET /public from env=prod" written as two rules: GET /public from everyone
    "cilium-cilium/l7/http/simple/l7.yaml": {("FL005", "spec.ingress[1]"), ("FL018", "spec.ingress[1]")},
    "cilium-cilium/host/lock-down-dev-vms.yaml": {
        ("FL017", f"spec.{section}[{i}]") for section, indexes in (("ingress", (3, 4, 6, 7)), ("egress", (3, 4, 5, 6)))
        for i in indexes
    },
    "cilium-cilium/kubernetes/namespace/namespace-labels-policy.yaml": {
        ("FL004", "spec.egress"),
        ("FL020", "spec.egress[0].toEndpoints[0]"), ("FL020", "spec.ingress[0].fromEndpoints[0]"),
    },
    "cilium-cilium/entities.yaml": {("FL018", "spec.ingress[0].fromEntities[0]")},
    # the mis-indented `matchLabels:` leaves an empty selector: every pod of the namespace
    "cilium-cilium/l4/l3_l4_combined.yaml": {("FL007", "spec.ingress[0].fromEndpoints[0]")},
}  # fmt: skip


def load(path: Path) -> list[KubeObject]:
    objects, _ = load_objects(path.read_bytes(), str(path.relative_to(CORPUS)))
    return objects


def test_the_corpus_is_all_there() -> None:
    assert len(FILES) >= 75
    assert all((CORPUS / name).is_file() for name in PINNED)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_lint_and_rate_every_corpus_file(path: Path) -> None:
    objects = load(path)
    for finding in lint_objects(objects):
        assert finding.rule in RULES and finding.severity in ("error", "warning", "info")
        assert finding.line is not None and finding.source == str(path.relative_to(CORPUS))
        assert finding.path.startswith(("spec", "specs["))
    rating = rate_objects(objects)
    assert 0 <= rating.score <= 5
    assert all(0 <= policy.score <= 5 for policy in rating.policies)


def test_the_whole_corpus_as_one_set() -> None:
    objects = [item for path in FILES for item in load(path)]
    findings = lint_objects(objects)
    rating = rate_objects(objects)
    assert len(rating.policies) >= 75 and 0 < rating.score < 5
    # Cluster-wide policies of the set allow DNS (with the DNS proxy) for every pod: FL004 and FL014 go quiet.
    assert {f.rule for f in findings} >= {"FL005", "FL015", "FL017", "FL018", "FL020"}
    assert not {f.rule for f in findings} & {"FL004", "FL014"}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_findings(name: str) -> None:
    found = {(f.rule, f.path) for f in lint_objects(load(CORPUS / name))}
    assert found == PINNED[name]


def test_dns_from_another_policy_of_the_set_is_seen() -> None:
    recipes = CORPUS / "ahmetb-kubernetes-network-policy-recipes"
    deny = load(recipes / "11-foo-deny-egress.yaml")
    allow_dns = load(recipes / "11b-foo-deny-egress-allow-dns.yaml")
    assert not [f for f in lint_objects(deny + allow_dns) if f.rule == "FL004"]


def test_tutorial_fixes_remove_the_trap() -> None:
    (item,) = load(CORPUS / TUTORIALS / "tutorials/combine-policy-rules.yaml")
    (trap,) = [f for f in lint_objects([item]) if f.rule == "FL005"]
    fixed = trap.fixes[0].apply(item.obj)
    assert fixed["spec"]["egress"] == [{"to": [{"ipBlock": {"cidr": "192.168.1.22/32"}}], "ports": [{"port": 443}]}]
    assert "FL005" not in {f.rule for f in lint_objects([fixed])}


def test_the_readme_tutorial_table_script(capsys: pytest.CaptureFixture[str]) -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "tutorials_table.py"
    spec = importlib.util.spec_from_file_location("tutorials_table", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(CORPUS / TUTORIALS / "tutorials") == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 7 and rows[0].startswith("| tutorial file | rating |")
    traps = {"allow-cross-namespace": "FL008", "allow-egress-to-pod": "FL010", "allow-kube-dns": "FL004",
             "combine-policy-rules": "FL005", "empty-selectors": "FL017"}  # fmt: skip
    for row, (name, rule) in zip(rows[2:], traps.items(), strict=True):
        cells = row.split(" | ")
        assert cells[0] == f"| `{name}.yaml`" and rule in cells[2]
        assert 0 <= float(cells[1]) <= float(cells[4].rstrip(" |")) <= 5  # the fixes never lower these ratings
