"""The rating: published criteria with weights, one verdict and reason each, the weighted formula, and the
same numbers for YAML and for the document that compiles to it."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from editor.policy.compile import compile_document
from editor.policy.document import Document
from editor.policy.lint import LintSettings, inventory_from_document
from editor.policy.rating import CRITERIA, Rating, format_text, rate_document, rate_objects, weighted_score
from editor.policy.yamlio import load_objects

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules" / "rating.md"

STRICT = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  egress:
    - to:
        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
          podSelector: {matchLabels: {k8s-app: kube-dns}}
      ports: [{protocol: UDP, port: 53}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress, Egress]
  ingress:
    - from: [{podSelector: {matchLabels: {app: lb}}}]
      ports: [{protocol: TCP, port: 8080}]
  egress:
    - to:
        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
          podSelector: {matchLabels: {k8s-app: kube-dns}}
      ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
    - to: [{podSelector: {matchLabels: {app: db}}}]
      ports: [{protocol: TCP, port: 5432}]
"""


def rate(text: str, settings: LintSettings | None = None) -> Rating:
    objects, problems = load_objects(textwrap.dedent(text), "inline.yaml")
    assert not problems
    return rate_objects(objects, settings)


def verdict(rating: Rating, policy: str, criterion: str) -> tuple[str, str]:
    result = next(c for p in rating.policies if p.name == policy for c in p.criteria if c.id == criterion)
    return result.status, result.reason


def test_every_criterion_is_published_with_its_weight() -> None:
    page = DOCS.read_text()
    for criterion in CRITERIA:
        assert re.search(rf"^\| `{criterion.id}` \| {criterion.weight} \| {criterion.scope}", page, re.M), criterion.id
    assert len(re.findall(r"^\| `[a-z-]+` \| \d \|", page, re.M)) == len(CRITERIA)


def test_a_strict_set_rates_five() -> None:
    rating = rate(STRICT)
    assert rating.score == 5.0
    assert {p.name: p.score for p in rating.policies} == {"default-deny": 5.0, "web": 5.0}
    assert {c.status for c in rating.criteria} == {"pass"}
    assert verdict(rating, "default-deny", "explicit-protocols") == ("pass", "all 1 port(s) name their protocol")


@pytest.mark.parametrize(
    ("change", "criterion", "status", "reason"),
    [
        (
            ("      ports: [{protocol: TCP, port: 8080}]\n", ""),
            "ports-on-every-rule",
            "partial",
            "1 of 3 rule(s) allow every port: spec.ingress[0]",
        ),
        (
            ("    - from: [{podSelector: {matchLabels: {app: lb}}}]\n", "    - from: [{namespaceSelector: {}}]\n"),
            "no-wildcard-peers",
            "partial",
            "spec.ingress[0].from[0] is every pod of the cluster",
        ),
        (
            ("    - from: [{podSelector: {matchLabels: {app: lb}}}]\n      ports", "    - ports"),
            "no-wildcard-peers",
            "fail",
            "spec.ingress[0] has no peers (every source)",
        ),
        (
            ("        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}\n"
             "          podSelector: {matchLabels: {k8s-app: kube-dns}}\n", "        - ipBlock: {cidr: 0.0.0.0/0}\n"),
            "dns-cluster-only",
            "fail",
            "port 53 is open to servers outside the cluster: spec.egress[0]",
        ),
        (
            ("{protocol: TCP, port: 5432}", "{port: 5432}"),
            "explicit-protocols",
            "partial",
            "1 port(s) rely on the TCP default: spec.egress[1].ports[0]",
        ),
    ],
)  # fmt: skip
def test_a_weakness_shows_in_its_criterion_with_the_reason(
    change: tuple[str, str], criterion: str, status: str, reason: str
) -> None:
    old, new = change
    web = STRICT.index("name: web")
    assert old in STRICT[web:]
    rating = rate(STRICT[:web] + STRICT[web:].replace(old, new, 1))
    assert verdict(rating, "web", criterion) == (status, reason)
    assert rating.score < 5.0
    policy = next(p for p in rating.policies if p.name == "web")
    assert policy.score == weighted_score(policy.criteria) < 5.0
    aggregated = next(c for c in rating.criteria if c.id == criterion)
    assert aggregated.status == "partial" and reason in aggregated.reason  # 1 of 2 policies


def test_the_weighted_formula() -> None:
    rating = rate(STRICT.replace("      ports: [{protocol: TCP, port: 8080}]\n", ""))
    web = next(p for p in rating.policies if p.name == "web")
    scores = {c.id: c.score for c in web.criteria}
    weights = {c.id: c.weight for c in CRITERIA}
    counted = {k: v for k, v in scores.items() if v is not None}
    expected = 5 * sum(weights[k] * v for k, v in counted.items()) / sum(weights[k] for k in counted)
    assert web.score == round(expected, 1)
    assert scores["ports-on-every-rule"] == pytest.approx(2 / 3)
    set_scores = {c.id: c.score for c in rating.criteria}
    assert set_scores["ports-on-every-rule"] == pytest.approx((1 + 2 / 3) / 2)  # the mean over both policies
    counted = {k: v for k, v in set_scores.items() if v is not None}
    assert rating.score == round(
        5 * sum(weights[k] * v for k, v in counted.items()) / sum(weights[k] for k in counted), 1
    )


def test_isolation_by_another_policy_counts_and_is_named() -> None:
    egress_only = STRICT.replace("  policyTypes: [Ingress, Egress]\n  ingress:", "  policyTypes: [Egress]\n  ingress:")
    ingress = "  ingress:\n    - from: [{podSelector: {matchLabels: {app: lb}}}]\n"
    egress_only = egress_only.replace(ingress + "      ports: [{protocol: TCP, port: 8080}]\n", "")
    rating = rate(egress_only)
    assert verdict(rating, "web", "ingress-isolated") == (
        "pass",
        "ingress of pods app=web of namespace shop is isolated by NetworkPolicy shop/default-deny",
    )
    alone = rate(egress_only.split("---\n")[1])
    assert verdict(alone, "web", "ingress-isolated") == (
        "fail",
        "no policy isolates ingress of pods app=web of namespace shop: every peer may connect",
    )


def test_coverage_uses_workloads_when_given() -> None:
    workloads = """\
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: %s, namespace: shop}
spec: {template: {metadata: {labels: {app: %s}}, spec: {containers: [{name: c}]}}}
"""
    web_only = STRICT.split("---\n")[1]
    rating = rate(web_only + workloads % ("web", "web") + workloads % ("cart", "cart"))
    coverage = next(c for c in rating.criteria if c.id == "coverage")
    assert (coverage.status, coverage.score) == ("partial", 0.5)
    assert coverage.reason == "not isolated: shop/cart ingress, shop/cart egress"


def test_no_policies_rate_zero() -> None:
    rating = rate_objects([])
    assert rating.score == 0.0 and rating.policies == []
    assert next(c for c in rating.criteria if c.id == "coverage").status == "fail"


def test_document_rating_is_the_rating_of_what_it_compiles_to() -> None:
    document = Document.from_json(
        {
            "schema": "fenceline/v1",
            "settings": {"dialect": "cilium"},
            "namespaces": [{"name": "shop"}],
            "nodes": [
                {"id": "web", "kind": "workload", "namespace": "shop", "name": "web", "labels": {"app": "web"},
                 "isolate": {"ingress": True, "egress": True}},
                {"id": "db", "kind": "workload", "namespace": "shop", "name": "db", "labels": {"app": "db"}},
            ],
            "edges": [{"id": "e1", "source": "web", "target": "db", "ports": [{"protocol": "TCP", "port": 5432}]}],
        }
    )  # fmt: skip
    rating = rate_document(document)
    objects = compile_document(document).objects
    same = rate_objects(objects, LintSettings.from_settings(document.settings), inventory_from_document(document))
    assert rating.to_json()["score"] == same.to_json()["score"]
    # the Cilium dialect locks web's ingress with a native NetworkPolicy (never `- {}`, SEMANTICS C4)
    assert [(p.kind, p.name, p.nodes) for p in rating.policies] == [
        ("CiliumNetworkPolicy", "db", ["db"]),
        ("CiliumNetworkPolicy", "web", ["web"]),
        ("NetworkPolicy", "web", ["web"]),
    ]
    assert verdict(rating, "web", "dns-cluster-only")[0] == "partial"  # the drawing forgot DNS


def test_json_and_text_carry_every_reason() -> None:
    rating = rate(STRICT.replace("{protocol: TCP, port: 5432}", "{port: 5432}"))
    data = rating.to_json()
    assert data["max"] == 5 and data["method"] == "docs/rules/rating.md"
    for criterion in data["criteria"] + [c for p in data["policies"] for c in p["criteria"]]:
        assert criterion["reason"] and criterion["weight"] in (1, 2, 3)
        assert bool(criterion["improve"]) == (criterion["status"] in ("partial", "fail"))
    text = format_text(rating)
    assert "partial explicit-protocols (weight 1): 1 port(s) rely on the TCP default" in text
    assert text.count("improve: Write the protocol of every port") == 2  # the set and the policy
