"""Lint with platform tiers: what the platform's Admin tier gives counts, and the rules about how an application
author writes peers do not misfire on the platform's own policies.

Semantics: network-policy-api `site-src/api-overview.md` (the Admin tier is evaluated before NetworkPolicy: its
Accept cannot be taken away by a NetworkPolicy, its Pass hands the connection to NetworkPolicy); Cilium
`pkg/policy/utils/parserules.go` (SEMANTICS C2/C3: an allow or deny entry isolates unless `enableDefaultDeny` is
false, and allows add up).
"""

from __future__ import annotations

import pytest

from editor.policy.compile import compile_document
from editor.policy.lint import lint_objects
from editor.policy.lint.engine import lint_document
from editor.policy.platform import layer_templates
from editor.policy.rating import rate_document
from editor.policy.yamlio import load_objects
from tests.unit.test_layers import APP_EDGE, drawing

WEB_EGRESS_ONLY_TO_API = """\
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-out, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: api}}}], ports: [{port: 8080}]}]
"""


def _cnp(name: str, priority: int, action: str, ports: str = "[{portNumber: {protocol: UDP, port: 53}}]") -> str:
    return f"""\
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {{name: {name}}}
spec:
  tier: Admin
  priority: {priority}
  subject: {{namespaces: {{}}}}
  egress:
  - name: dns
    action: {action}
    to: [{{pods: {{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: kube-system}}}},
                  podSelector: {{matchLabels: {{k8s-app: kube-dns}}}}}}}}]
    protocols: {ports.replace("portNumber: {protocol: UDP, port: 53}", "udp: {destinationPort: {number: 53}}")}
"""


def _rules(text: str) -> list[str]:
    return [finding.rule for finding in lint_objects(load_objects(text, "input.yaml")[0])]


@pytest.mark.parametrize(
    ("platform", "asks_for_dns"),
    [
        ("", True),
        (_cnp("cluster-dns", 10, "Accept"), False),
        # an Admin Deny of DNS first: the later Accept never decides
        (_cnp("no-dns", 5, "Deny") + _cnp("cluster-dns", 10, "Accept"), True),
        # Pass hands DNS to NetworkPolicy, which isolates web's egress without it
        (_cnp("ops", 5, "Pass") + _cnp("cluster-dns", 10, "Accept"), True),
    ],
    ids=["no-platform", "admin-accept", "admin-deny-first", "pass-first"],
)
def test_fl004_counts_an_admin_accept_of_dns(platform: str, asks_for_dns: bool) -> None:
    assert ("FL004" in _rules(WEB_EGRESS_ONLY_TO_API + platform)) == asks_for_dns


def test_fl004_without_known_workloads_reads_the_subject() -> None:
    policy_only = WEB_EGRESS_ONLY_TO_API.split("---\n", 1)[1]
    assert "FL004" in _rules(policy_only)
    assert "FL004" not in _rules(policy_only + _cnp("cluster-dns", 10, "Accept"))


def _with_templates(dialect: str, *names: str) -> list[str]:
    document = drawing([APP_EDGE], dialect=dialect)
    for name in names:
        document = layer_templates.APPLY[name](document).document
    return [f"{finding.rule} {finding.name}" for finding in lint_document(document)]


@pytest.mark.parametrize("dialect", ["native", "cilium"])
def test_the_four_platform_templates_raise_no_finding(dialect: str) -> None:
    """web's egress is isolated by its application policy (edge app) and gets DNS from the cluster-dns Admin
    accept; the Baseline deny-all's empty rule, the metadata address and "every namespace" peers are meant."""
    assert any(f.startswith("FL004 web") for f in _with_templates(dialect))
    assert _with_templates(dialect, *layer_templates.APPLY) == []


@pytest.mark.parametrize("dialect", ["native", "cilium"])
def test_without_the_dns_template_fl004_still_asks(dialect: str) -> None:
    found = _with_templates(dialect, "no-metadata-service", "monitoring")
    assert any(f.startswith("FL004 web") for f in found), found


def test_the_cilium_admin_deny_does_not_isolate() -> None:
    """A deny-only CCNP would put every selected pod into default deny (SEMANTICS C2): the metadata deny must not
    take away the egress of pods that no application policy isolates."""
    document = layer_templates.APPLY["no-metadata-service"](drawing([APP_EDGE], dialect="cilium")).document
    (ccnp,) = [
        o for o in compile_document(document, "cilium").objects if o["metadata"]["name"] == "no-metadata-service"
    ]
    assert ccnp["spec"]["egressDeny"] and ccnp["spec"]["enableDefaultDeny"] == {"egress": False}


@pytest.mark.parametrize("dialect", ["native", "cilium"])
def test_the_rating_counts_the_admin_accept_of_dns(dialect: str) -> None:
    def web_dns(*names: str) -> str:
        document = drawing([APP_EDGE], dialect=dialect)
        for name in names:
            document = layer_templates.APPLY[name](document).document
        (web,) = [p for p in rate_document(document).policies if p.name == "web"]
        return next(c.status for c in web.criteria if c.id == "dns-cluster-only")

    assert web_dns() == "partial"  # DNS is not allowed at all (FL004)
    assert web_dns("cluster-dns") == "pass"
