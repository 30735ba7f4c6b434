"""Each lint rule on small inline YAML: it fires on the trap, stays quiet on the correct form, and every fix it
offers removes the finding and leaves an object that the upstream schema and our validator accept."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from editor.policy.lint import RULES, LintFinding, LintSettings, apply_fix, lint_objects
from editor.policy.lint.context import LintContext
from editor.policy.lint.model import Inventory, KnownWorkload
from editor.policy.lint.policyview import PodScope
from editor.policy.selectors import LabelSelector
from editor.policy.validate import validate_object
from editor.policy.yamlio import KubeObject, load_objects

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "rules"


def objects(text: str) -> list[KubeObject]:
    found, problems = load_objects(textwrap.dedent(text), "inline.yaml")
    assert not problems
    return found


def lint(text: str, settings: LintSettings | None = None) -> list[LintFinding]:
    return lint_objects(objects(text), settings)


def of(rule: str, findings: list[LintFinding]) -> list[LintFinding]:
    return [finding for finding in findings if finding.rule == rule]


NP = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
"""
CNP = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web, namespace: shop}
"""
DNS_RULE = """\
    - to:
        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
          podSelector: {matchLabels: {k8s-app: kube-dns}}
      ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
"""
CILIUM_DNS_RULE = """\
    - toEndpoints:
        - matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s:k8s-app: kube-dns}
      toPorts:
        - ports: [{port: "53", protocol: ANY}]
          rules: {dns: [{matchPattern: "*"}]}
"""
DEPLOYMENTS = """\
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          ports: [{name: http, containerPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: prometheus, namespace: monitoring}
spec:
  template:
    metadata: {labels: {app: prometheus}}
    spec: {containers: [{name: prometheus}]}
"""

# rule id -> (YAML that must produce the finding, YAML that must not)
CASES: dict[str, list[tuple[str, str]]] = {
    "FL001": [
        (
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n"
            "  ingress: [{from: [{podSelector: {matchLabels: {app: lb}}}]}]\n  egress:\n" + DNS_RULE,
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"
            "  ingress: [{from: [{podSelector: {matchLabels: {app: lb}}}]}]\n  egress:\n" + DNS_RULE,
        )
    ],
    "FL002": [
        (
            NP + "spec:\n  podSelector: {}\n  ingress: []\n",
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress: []\n",
        )
    ],
    "FL003": [
        (
            NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  egress:\n" + DNS_RULE,
            NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress:\n" + DNS_RULE,
        ),
        (
            NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  egress: []\n",
            NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress, Egress]\n  egress: []\n",
        ),
        # `egress:` left null defaults policyTypes as `egress: []` does (k8s.io/api networking/v1 types.go,
        # NetworkPolicySpec.PolicyTypes: Egress only "if the NetworkPolicy has any egress rules").
        (
            NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  egress:\n",
            NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress, Egress]\n  egress:\n",
        ),
    ],
    "FL004": [
        (
            NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n"
            "  egress: [{to: [{podSelector: {matchLabels: {app: db}}}], ports: [{protocol: TCP, port: 5432}]}]\n",
            NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress:\n" + DNS_RULE,
        ),
        (
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n"
            "  egress: [{toEndpoints: [{matchLabels: {app: db}}],"
            " toPorts: [{ports: [{port: '5432', protocol: TCP}]}]}]\n",
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  egress:\n" + CILIUM_DNS_RULE,
        ),
    ],
    "FL005": [
        (
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
            "    - to: [{ipBlock: {cidr: 192.0.2.10/32}}]\n    - ports: [{protocol: TCP, port: 443}]\n",
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
            "    - to: [{ipBlock: {cidr: 192.0.2.10/32}}]\n      ports: [{protocol: TCP, port: 443}]\n",
        ),
        (
            CNP + "spec:\n  endpointSelector: {}\n  ingress:\n    - fromEndpoints: [{matchLabels: {env: prod}}]\n"
            "    - toPorts: [{ports: [{port: '80', protocol: TCP}]}]\n",
            CNP + "spec:\n  endpointSelector: {}\n  ingress:\n    - fromEndpoints: [{matchLabels: {env: prod}}]\n"
            "      toPorts: [{ports: [{port: '80', protocol: TCP}]}]\n",
        ),
    ],
    "FL006": [
        (
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress: [{from: [{namespaceSelector: {}}]}]\n",
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n"
            "  ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: agent}}}]}]\n",
        )
    ],
    "FL007": [
        (
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress: [{from: [{podSelector: {}}]}]\n",
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n"
            "  ingress: [{from: [{podSelector: {matchLabels: {app: lb}}}]}]\n",
        ),
        (
            CNP + "spec:\n  endpointSelector: {}\n  ingress: [{fromEndpoints: [{}]}]\n",
            CNP + "spec:\n  endpointSelector: {}\n  ingress: [{fromEndpoints: [{matchLabels: {app: lb}}]}]\n",
        ),
    ],
    "FL008": [
        (
            NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n"
            "  ingress: [{from: [{podSelector: {matchLabels: {app: prometheus}}}]}]\n" + DEPLOYMENTS,
            NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n"
            "  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}},"
            " podSelector: {matchLabels: {app: prometheus}}}]}]\n" + DEPLOYMENTS,
        ),
        (
            NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress:\n"
            "    - to: [{podSelector: {matchLabels: {k8s-app: kube-dns}}}]\n"
            "      ports: [{protocol: UDP, port: 53}]\n",
            NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress:\n" + DNS_RULE,
        ),
    ],
    "FL009": [
        (
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
            "    - to: [{ipBlock: {cidr: 10.244.3.0/24}}]\n      ports: [{protocol: TCP, port: 80}]\n",
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
            "    - to: [{ipBlock: {cidr: 203.0.113.0/24}}]\n      ports: [{protocol: TCP, port: 80}]\n",
        ),
        (
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
            "    - to: [{ipBlock: {cidr: 10.0.2.125/32}}]\n      ports: [{protocol: TCP, port: 80}]\n"
            "---\napiVersion: v1\nkind: Pod\nmetadata: {name: api-0, namespace: backend, labels: {app: api}}\n"
            "spec: {containers: [{name: api}]}\nstatus: {podIP: 10.0.2.125}\n",
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
            "    - to: [{ipBlock: {cidr: 10.0.2.126/32}}]\n      ports: [{protocol: TCP, port: 80}]\n"
            "---\napiVersion: v1\nkind: Pod\nmetadata: {name: api-0, namespace: backend, labels: {app: api}}\n"
            "spec: {containers: [{name: api}]}\nstatus: {podIP: 10.0.2.125}\n",
        ),
    ],
    "FL010": [
        (
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
            "    - to: [{ipBlock: {cidr: 192.168.1.22/32}}]\n      ports: [{protocol: TCP, port: 443}]\n",
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
            "    - to: [{ipBlock: {cidr: 203.0.113.7/32}}]\n      ports: [{protocol: TCP, port: 443}]\n",
        )
    ],
    "FL011": [
        (
            NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n"
            "  ingress: [{ports: [{protocol: TCP, port: htpp}], from: [{podSelector: {matchLabels: {app: lb}}}]}]\n"
            + DEPLOYMENTS,
            NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n"
            "  ingress: [{ports: [{protocol: TCP, port: http}], from: [{podSelector: {matchLabels: {app: lb}}}]}]\n"
            + DEPLOYMENTS,
        )
    ],
    "FL012": [
        (
            NP + "spec:\n  podSelector: {matchLabels: {app: fronend}}\n  policyTypes: [Ingress]\n" + DEPLOYMENTS,
            NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n" + DEPLOYMENTS,
        )
    ],
    "FL013": [
        (
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n"
            "  ingress: [{from: [{namespaceSelector: {matchLabels: {name: prod}}}]}]\n",
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n"
            "  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: prod}}}]}]\n",
        )
    ],
    "FL014": [
        (
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  egress:\n"
            "    - toFQDNs: [{matchName: api.example.com}]\n      toPorts: [{ports: [{port: '443', protocol: TCP}]}]\n",
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  egress:\n"
            "    - toFQDNs: [{matchName: api.example.com}]\n      toPorts: [{ports: [{port: '443', protocol: TCP}]}]\n"
            + CILIUM_DNS_RULE,
        )
    ],
    "FL015": [
        (
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  ingress: [{}]\n",
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  ingress: [{fromEntities: [all]}]\n",
        )
    ],
    # FL023: SEMANTICS C4a, cilium/cilium pkg/policy/api/rule_validation.go and the CRD's L7 oneOf
    "FL023": [
        (
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  ingress:\n"
            "    - toPorts: [{ports: [{port: '80', protocol: TCP}], rules: {HTTP: [{method: GET}]}}]\n",
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  ingress:\n"
            "    - toPorts: [{ports: [{port: '80', protocol: TCP}], rules: {http: [{method: GET}]}}]\n",
        ),
        (
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  egress: [{toEntities: [world-ipv4]}]\n",
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  egress: [{toEntities: [world]}]\n",
        ),
        (
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  ingress: []\n",
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  ingress: [{}]\n",
        ),
        (
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n"
            "  ingress: [{fromNodes: [{matchLabels: {role: worker}}]}]\n",
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  ingress: [{fromEntities: [remote-node]}]\n",
        ),
        (  # rule_validation.go errUnsupportedICMPWithToPorts
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  ingress:\n"
            "    - toPorts: [{ports: [{port: '80', protocol: TCP}]}]\n      icmps: [{fields: [{type: 8}]}]\n",
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  ingress:\n"
            "    - toPorts: [{ports: [{port: '80', protocol: TCP}]}]\n    - icmps: [{fields: [{type: 8}]}]\n",
        ),
        (  # the CRD's ICMPField.type pattern misspells this name
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n"
            "  ingress: [{icmps: [{fields: [{type: ExtendedEchoReply}]}]}]\n",
            CNP
            + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  ingress: [{icmps: [{fields: [{type: 43}]}]}]\n",
        ),
    ],
    # FL026: pkg/policy/l4.go createL4Filter, port 0 a wildcard (cilium/cilium#41304)
    "FL026": [
        (
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n"
            "  ingress: [{fromEndpoints: [{matchLabels: {app: lb}}], icmps: [{fields: [{type: EchoReply}]}]}]\n",
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n"
            "  ingress: [{fromEndpoints: [{matchLabels: {app: lb}}], icmps: [{fields: [{type: EchoRequest}]}]}]\n",
        ),
        (
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n"
            "  egressDeny: [{toEntities: [world], icmps: [{fields: [{family: IPv6, type: 0}]}]}]\n",
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n"
            "  egressDeny: [{toEntities: [world], icmps: [{fields: [{family: IPv6, type: EchoRequest}]}]}]\n",
        ),
    ],
    # FL024: SEMANTICS C10c, cilium/cilium pkg/labelsfilter/filter.go defaultLabelPrefixCfg
    "FL024": [
        (
            CNP + "spec:\n  endpointSelector: {matchLabels: {statefulset.kubernetes.io/pod-name: web-0}}\n"
            "  ingress: [{fromEndpoints: [{matchLabels: {app: web}}]}]\n",
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n"
            "  ingress: [{fromEndpoints: [{matchLabels: {app: web}}]}]\n",
        ),
        (
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n"
            "  ingress: [{fromEndpoints: [{matchLabels: {k8s:pod-template-hash: 5d8f}}]}]\n",
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n"
            "  ingress: [{fromEndpoints: [{matchLabels: {app.kubernetes.io/name: web}}]}]\n",
        ),
    ],
    # FL025: SEMANTICS C10, cilium/cilium examples/policies/l3/fqdn/fqdn.yaml (DNS rules gate what toFQDNs learns)
    "FL025": [
        (
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  egress:\n"
            "    - toFQDNs: [{matchName: api.example.com}]\n      toPorts: [{ports: [{port: '443', protocol: TCP}]}]\n"
            + CILIUM_DNS_RULE.replace('matchPattern: "*"', 'matchPattern: "*.example.org"'),
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  egress:\n"
            "    - toFQDNs: [{matchName: api.example.com}]\n      toPorts: [{ports: [{port: '443', protocol: TCP}]}]\n"
            + CILIUM_DNS_RULE.replace('matchPattern: "*"', 'matchPattern: "*.example.com"'),
        )
    ],
    "FL016": [
        (
            CNP + "spec:\n  endpointSelector: {}\n  ingress:\n"
            "    - fromEndpoints: [{matchLabels: {app: lb}}]\n      toPorts: [{ports: [{port: '80'}]}]\n",
            CNP + "spec:\n  endpointSelector: {}\n  ingress:\n"
            "    - fromEndpoints: [{matchLabels: {app: lb}}]\n"
            "      toPorts: [{ports: [{port: '80', protocol: TCP}]}]\n",
        )
    ],
    "FL017": [
        (
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress:\n"
            "    - from: [{podSelector: {matchLabels: {app: lb}}}]\n      ports: [{protocol: TCP, port: 80}]\n"
            "    - from: [{podSelector: {matchLabels: {app: lb, tier: edge}}}]\n"
            "      ports: [{protocol: TCP, port: 80}]\n",
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress:\n"
            "    - from: [{podSelector: {matchLabels: {app: lb}}}]\n      ports: [{protocol: TCP, port: 80}]\n"
            "    - from: [{podSelector: {matchLabels: {app: lb, tier: edge}}}]\n"
            "      ports: [{protocol: TCP, port: 443}]\n",
        ),
        (
            CNP + "spec:\n  endpointSelector: {}\n  egress:\n    - toEntities: [cluster]\n"
            "    - toEndpoints: [{matchLabels: {app: db}}]\n"
            "      toPorts: [{ports: [{port: '5432', protocol: TCP}]}]\n",
            CNP + "spec:\n  endpointSelector: {}\n  egress:\n    - toEntities: [cluster]\n" + CILIUM_DNS_RULE,
        ),
    ],
    "FL018": [
        (
            NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n"
            "  ingress: [{ports: [{protocol: TCP, port: 8080}]}]\n",
            NP + "spec:\n  podSelector: {matchLabels: {app: ingress-nginx}}\n  policyTypes: [Ingress]\n"
            "  ingress: [{ports: [{protocol: TCP, port: 8080}]}]\n",
        ),
        (
            CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n"
            "  ingress: [{fromEntities: [world], toPorts: [{ports: [{port: '443', protocol: TCP}]}]}]\n",
            CNP.replace("metadata: {", "metadata: {annotations: {fenceline.dev/ingress-gateway: 'true'}, ")
            + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n"
            "  ingress: [{fromEntities: [world], toPorts: [{ports: [{port: '443', protocol: TCP}]}]}]\n",
        ),
    ],
    "FL019": [
        (
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress:\n    - from:\n"
            "        - namespaceSelector: {matchLabels: {team: ops}}\n"
            "        - podSelector: {matchLabels: {role: monitoring}}\n",
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress:\n    - from:\n"
            "        - namespaceSelector: {matchLabels: {team: ops}}\n"
            "          podSelector: {matchLabels: {role: monitoring}}\n",
        )
    ],
    "FL020": [
        (
            CNP + "spec:\n  endpointSelector: {}\n"
            "  ingress: [{fromEndpoints: [{matchLabels: {io.cilium.k8s.namespace.labels.team: ops}}]}]\n",
            CNP + "spec:\n  endpointSelector: {}\n"
            "  ingress: [{fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: ops}}]}]\n",
        )
    ],
    "FL021": [
        (
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
            "    - to: [{ipBlock: {cidr: 203.0.113.0/24}}]\n      ports: [{protocol: TCP, port: https}]\n",
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
            "    - to: [{ipBlock: {cidr: 203.0.113.0/24}}]\n      ports: [{protocol: TCP, port: 443}]\n",
        )
    ],
    "FL022": [
        (
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
            "    - to: [{ipBlock: {cidr: 0.0.0.0/0}}]\n      ports: [{protocol: TCP, port: 443}]\n",
            NP + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
            "    - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]\n"
            "      ports: [{protocol: TCP, port: 443}]\n",
        )
    ],
}
PARAMS = [
    pytest.param(rule, pos, neg, id=f"{rule}-{i}")
    for rule, pairs in CASES.items()
    for i, (pos, neg) in enumerate(pairs)
]


def test_every_rule_has_a_case_and_a_why_page() -> None:
    assert sorted(CASES) == sorted(RULES)
    index = (DOCS / "README.md").read_text()
    for rule in RULES.values():
        page = (DOCS / f"{rule.id}.md").read_text()
        assert page.startswith(f"# {rule.id} {rule.slug}\n")
        assert f"**Severity:** {rule.severity}" in page
        assert f"| [{rule.id}]({rule.id}.md) | {rule.slug} | {rule.severity} |" in index
        assert rule.to_json()["help"] == f"docs/rules/{rule.id}.md" and rule.summary in rule.to_json().values()


@pytest.mark.parametrize(("rule", "positive", "negative"), PARAMS)
def test_rule_fires_on_the_trap_and_not_on_the_fixed_form(rule: str, positive: str, negative: str) -> None:
    found = of(rule, lint(positive))
    assert found, f"{rule} did not fire"
    for finding in found:
        assert finding.source == "inline.yaml" and finding.line and finding.line > 1
        assert finding.path.startswith("spec")
        assert finding.message
    assert not of(rule, lint(negative))


@pytest.mark.parametrize(("rule", "positive", "negative"), PARAMS)
def test_each_fix_removes_its_finding_and_keeps_the_object_valid(rule: str, positive: str, negative: str) -> None:
    items = objects(positive)
    for finding in of(rule, lint(positive)):
        for fix in finding.fixes:
            index = next(i for i, item in enumerate(items) if item.obj.get("kind") == finding.kind)
            fixed = apply_fix(fix, items[index].obj)
            assert fixed is not items[index].obj and items[index].obj == objects(positive)[index].obj
            context = [item.obj for i, item in enumerate(items) if i != index]
            after = [f for f in lint_objects([fixed, *context]) if f.rule == rule and f.path == finding.path]
            assert not after, f"{fix.id} left {after}"
            assert not [f for f in validate_object(fixed) if f.is_error], fix.id


def test_fix_ids_resolve_through_apply_fix() -> None:
    text = NP + "spec:\n  podSelector: {}\n  ingress: []\n"
    obj = objects(text)[0].obj
    finding = of("FL002", lint(text))[0]
    fixed = apply_fix(finding.fixes[0].id, obj)
    assert fixed["spec"]["policyTypes"] == ["Ingress"]
    assert list(fixed["spec"]) == ["podSelector", "policyTypes", "ingress"]
    assert apply_fix(finding.id, obj) == fixed  # a finding id applies its first fix
    with pytest.raises(KeyError, match="no finding or fix"):
        apply_fix("FL999:nothing", obj)


def test_dns_hint_names_the_namespace_the_peer_really_selects() -> None:
    text = CASES["FL008"][1][0]
    (finding,) = of("FL004", lint(text))
    assert "spec.egress[0].to[0] selects pods k8s-app=kube-dns of namespace shop, not namespace kube-system" in (
        finding.message
    )


def test_dns_allowed_by_another_policy_of_the_same_pods_counts() -> None:
    deny = NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress: []\n"
    allow_dns = NP.replace("name: web", "name: dns") + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
    assert of("FL004", lint(deny))
    assert not of("FL004", lint(deny + "---\n" + allow_dns + DNS_RULE))


def test_cidr_settings_come_from_the_command_line_or_the_document() -> None:
    text = CASES["FL010"][0][0].replace("192.168.1.22", "10.0.2.125")
    assert of("FL010", lint(text)) and not of("FL009", lint(text))
    wide = LintSettings().with_overrides(pod_cidrs=["10.0.0.0/8"])
    (finding,) = of("FL009", lint(text, wide))
    assert "inside the pod CIDR 10.0.0.0/8" in finding.message
    with pytest.raises(ValueError, match="--pod-cidr 'ten'"):
        LintSettings().with_overrides(pod_cidrs=["ten"])


def test_gateway_labels_from_settings_silence_world_ingress() -> None:
    text = CASES["FL018"][0][0]
    assert not of("FL018", lint(text, LintSettings().with_overrides(gateway_labels=["app=web"])))
    with pytest.raises(ValueError, match="KEY=VALUE"):
        LintSettings().with_overrides(gateway_labels=["app"])


def test_known_pod_ip_fix_selects_the_pod_by_labels() -> None:
    items = objects(CASES["FL009"][1][0])
    (finding,) = of("FL009", lint_objects(items))
    assert "is the IP of a pod of backend/api-0" in finding.message
    fixed = apply_fix(finding, items[0].obj)
    assert fixed["spec"]["egress"][0]["to"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "backend"}},
         "podSelector": {"matchLabels": {"app": "api"}}}
    ]  # fmt: skip


def test_l7_rule_under_a_wider_l4_rule_is_not_shadowed() -> None:
    text = CASES["FL017"][1][1]
    assert "rules: {dns:" in text
    assert not of("FL017", lint(text))


def test_unreadable_parts_do_not_crash_the_rules() -> None:
    text = NP + (
        "spec:\n  podSelector: {matchExpressions: [{key: app, operator: in, values: [a]}]}\n"
        "  ingress: [{from: [{podSelector: 7}, {ipBlock: {cidr: banana}}, 3], ports: [{port: true}, 5]},\n"
        "            {from: [{namespaceSelector: {matchLabels: true, matchExpressions: 5}}]}]\n"
        "  egress: {not: a list}\n"
    )
    findings = lint(text)
    assert [f.rule for f in findings] == ["FL002"]


def test_fixes_on_a_null_cilium_peer_build_on_an_empty_selector() -> None:
    text = CNP + "spec:\n  endpointSelector: {matchLabels: {app: web}}\n  egress: [{toEndpoints: [null]}]\n"
    items = objects(text)
    findings = lint(text)
    (own_namespace,) = of("FL007", findings)
    fixed = apply_fix(own_namespace, items[0].obj)
    assert fixed["spec"]["egress"][0]["toEndpoints"][0] == {
        "matchExpressions": [{"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}]
    }
    assert not [f for f in validate_object(fixed) if f.is_error]


def test_asking_for_labels_no_pod_has_does_not_grow_the_index() -> None:
    """The label index answers "no pod" for a pair it lacks without adding the pair: a cluster's worth of
    selectors naming absent labels would otherwise grow it for as long as the context lives."""
    workloads = [KnownWorkload("shop", "web", {"app": "web"}, ()), KnownWorkload("shop", "api", {"app": "api"}, ())]
    context = LintContext([], LintSettings(), Inventory({"shop": {}}, workloads))
    absent = PodScope(LabelSelector(), LabelSelector((("app", "gone"),)))
    web = PodScope(LabelSelector((("kubernetes.io/metadata.name", "shop"),)), LabelSelector((("app", "web"),)))
    assert context.matching(web) == workloads[:1]
    before = dict(context._index_sets)
    assert context.matching(absent) == []
    assert context.matching(PodScope(LabelSelector((("kubernetes.io/metadata.name", "gone"),)), LabelSelector())) == []
    assert context._index_sets == before and ("app", "gone") not in context._index_sets
