"""Tier precedence, peers and ports of ClusterNetworkPolicy / ANP / BANP, probe by probe.

Semantics followed (kubernetes-sigs/network-policy-api): `apis/v1alpha2/clusternetworkpolicy_types.go` (tiers,
priority, actions Accept/Deny/Pass, `networks` "matches any IP, including pods' and nodes' IPs", `nodes`,
`destinationNamedPort`), `site-src/api-overview.md` (Admin tier, then NetworkPolicy, then Baseline, then allow;
Pass skips the rest of the Admin tier; lower priority number first; rules in order) and
`apis/v1alpha1/{admin,baselineadmin}networkpolicy_types.go` for ANP/BANP.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from editor.policy.cli import main

CLUSTER = """
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {zone: a, kubernetes.io/hostname: n1}}
status: {addresses: [{type: InternalIP, address: 172.18.0.2}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {zone: b}}
status: {addresses: [{type: InternalIP, address: 172.18.0.3}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: ops, labels: {team: ops}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  nodeName: n1
  containers: [{name: c, ports: [{name: http, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}]}]
status: {podIP: 10.0.1.5, podIPs: [{ip: 10.0.1.5}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec:
  nodeName: n2
  containers: [{name: c, ports: [{name: sql, containerPort: 5432}]}]
status: {podIP: 10.0.2.7}
---
apiVersion: v1
kind: Pod
metadata: {name: prom, namespace: ops, labels: {app: prom}}
spec: {nodeName: n2, containers: [{name: c}]}
status: {podIP: 10.0.2.9}
---
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: ops, labels: {app: agent}}
spec: {nodeName: n1, hostNetwork: true, containers: [{name: c, ports: [{name: metrics, containerPort: 9100}]}]}
status: {podIP: 172.18.0.2}
"""


def probe(tmp_path: Path, capsys: pytest.CaptureFixture[str], policies: str, *probes: tuple) -> list[str]:
    (tmp_path / "cluster.yaml").write_text(CLUSTER)
    documents = [textwrap.dedent(chunk) for chunk in policies.split("---\n")]
    (tmp_path / "policies.yaml").write_text("---\n".join(documents))
    table = [{"from": f, "to": t, "protocol": p, "port": n} for f, t, p, n in probes]
    (tmp_path / "probes.json").write_text(json.dumps(table))
    assert (
        main(
            [
                "probe",
                str(tmp_path / "cluster.yaml"),
                str(tmp_path / "policies.yaml"),
                "--probes",
                str(tmp_path / "probes.json"),
            ]
        )
        == 0
    )
    return capsys.readouterr().out.splitlines()


def verdicts(lines: list[str]) -> list[str]:
    return [line.split()[0] for line in lines]


def cnp(name: str, tier: str, priority: int, body: str) -> str:
    head = f"""
    ---
    apiVersion: policy.networking.k8s.io/v1alpha2
    kind: ClusterNetworkPolicy
    metadata: {{name: {name}}}
    spec:
      tier: {tier}
      priority: {priority}
    """
    return textwrap.dedent(head) + textwrap.indent(textwrap.dedent(body), "  ")


SHOP = "subject: {namespaces: {matchLabels: {team: shop}}}"


def test_admin_deny_on_one_protocol_and_port_leaves_the_others(tmp_path, capsys) -> None:
    policies = cnp(
        "no-udp-53",
        "Admin",
        5,
        f"""
    {SHOP}
    egress:
    - name: deny-dns
      action: Deny
      to: [{{namespaces: {{}}}}]
      protocols:
      - {{udp: {{destinationPort: {{number: 53}}}}}}
      - {{sctp: {{destinationPort: {{range: {{start: 9000, end: 9010}}}}}}}}
    """,
    )
    lines = probe(
        tmp_path,
        capsys,
        policies,
        ("shop/web", "ops/prom", "UDP", 53),
        ("shop/web", "ops/prom", "TCP", 53),
        ("shop/web", "ops/prom", "SCTP", 9005),
        ("shop/web", "ops/prom", "SCTP", 9011),
    )
    assert verdicts(lines) == ["denied", "allowed", "denied", "allowed"]
    assert "ClusterNetworkPolicy 'no-udp-53' (Admin tier, priority 5) Egress rule deny-dns (Deny)" in lines[0]


def test_ingress_rules_apply_to_the_destination(tmp_path, capsys) -> None:
    policies = cnp(
        "db-ingress",
        "Admin",
        1,
        """
    subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}}
    ingress:
    - {name: web-ok, action: Accept, from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}}]}
    - {name: rest, action: Deny, from: [{namespaces: {}}]}
    """,
    )
    lines = probe(
        tmp_path,
        capsys,
        policies,
        ("shop/web", "shop/db", "TCP", 5432),
        ("ops/prom", "shop/db", "TCP", 5432),
        ("shop/db", "ops/prom", "TCP", 80),
    )
    assert verdicts(lines) == ["allowed", "denied", "allowed"]
    assert "ingress: ClusterNetworkPolicy 'db-ingress' (Admin tier, priority 1) Ingress rule rest (Deny)" in lines[1]


def test_lower_priority_number_wins_and_rule_order_within_a_policy(tmp_path, capsys) -> None:
    policies = cnp(
        "late",
        "Admin",
        20,
        f"""
    {SHOP}
    egress: [{{name: allow-all, action: Accept, to: [{{namespaces: {{}}}}]}}]
    """,
    ) + cnp(
        "early",
        "Admin",
        10,
        f"""
    {SHOP}
    egress:
    - {{name: first, action: Deny, to: [{{namespaces: {{matchLabels: {{team: ops}}}}}}]}}
    - {{name: second, action: Accept, to: [{{namespaces: {{matchLabels: {{team: ops}}}}}}]}}
    """,
    )
    lines = probe(tmp_path, capsys, policies, ("shop/web", "ops/prom", "TCP", 80), ("shop/web", "shop/db", "TCP", 80))
    assert verdicts(lines) == ["denied", "allowed"]
    assert "'early'" in lines[0] and "rule first" in lines[0]
    assert "'late'" in lines[1]


def test_pass_skips_the_rest_of_the_admin_tier_and_networkpolicy_decides(tmp_path, capsys) -> None:
    policies = (
        cnp(
            "pass-ops",
            "Admin",
            1,
            f"""
    {SHOP}
    egress: [{{name: to-ops, action: Pass, to: [{{namespaces: {{matchLabels: {{team: ops}}}}}}]}}]
    """,
        )
        + cnp(
            "deny-all",
            "Admin",
            2,
            f"""
    {SHOP}
    egress: [{{name: everything, action: Deny, to: [{{namespaces: {{}}}}]}}]
    """,
        )
        + """
    ---
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: web-out, namespace: shop}
    spec:
      podSelector: {matchLabels: {app: web}}
      policyTypes: [Egress]
      egress: [{ports: [{port: 9090}]}]
    """
    )
    lines = probe(
        tmp_path,
        capsys,
        policies,
        ("shop/web", "ops/prom", "TCP", 9090),
        ("shop/web", "ops/prom", "TCP", 80),
        ("shop/db", "ops/prom", "TCP", 80),
        ("shop/web", "shop/db", "TCP", 9090),
    )
    assert verdicts(lines) == ["allowed", "denied", "allowed", "denied"]
    assert "passed by ClusterNetworkPolicy 'pass-ops'" in lines[0] and "NetworkPolicy 'shop/web-out'" in lines[0]
    assert "isolates it and no Egress rule allows it" in lines[1]
    assert "no policy decides" in lines[2]  # db: passed, no NetworkPolicy selects it, no baseline: allowed
    assert "'deny-all'" in lines[3]  # Pass covered only ops; the next Admin policy decides


def test_baseline_applies_only_where_no_networkpolicy_selects_the_pod(tmp_path, capsys) -> None:
    policies = (
        cnp(
            "default",
            "Baseline",
            1,
            f"""
    {SHOP}
    ingress: [{{name: deny-in, action: Deny, from: [{{namespaces: {{}}}}]}}]
    """,
        )
        + """
    ---
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: db-in, namespace: shop}
    spec:
      podSelector: {matchLabels: {app: db}}
      ingress: [{from: [{namespaceSelector: {}}]}]
    """
    )
    lines = probe(tmp_path, capsys, policies, ("ops/prom", "shop/db", "TCP", 5432), ("ops/prom", "shop/web", "TCP", 80))
    assert verdicts(lines) == ["allowed", "denied"]
    assert "Baseline tier" in lines[1] and "deny-in" in lines[1]


def test_admin_accept_overrides_a_networkpolicy_that_isolates(tmp_path, capsys) -> None:
    policies = (
        cnp(
            "scrape",
            "Admin",
            0,
            f"""
    {SHOP}
    ingress: [{{name: prom, action: Accept, from: [{{namespaces: {{matchLabels: {{team: ops}}}}}}]}}]
    """,
        )
        + """
    ---
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: deny-in, namespace: shop}
    spec: {podSelector: {}, policyTypes: [Ingress]}
    """
    )
    lines = probe(
        tmp_path, capsys, policies, ("ops/prom", "shop/web", "TCP", 8080), ("shop/db", "shop/web", "TCP", 8080)
    )
    assert verdicts(lines) == ["allowed", "denied"]
    assert "NetworkPolicy 'shop/deny-in' isolates it" in lines[1]


def test_named_ports_resolve_on_the_receiving_pod(tmp_path, capsys) -> None:
    policies = cnp(
        "default",
        "Baseline",
        0,
        f"""
    {SHOP}
    egress:
    - {{name: dns, action: Accept, to: [{{namespaces: {{}}}}], protocols: [{{destinationNamedPort: dns}}]}}
    - {{name: rest, action: Deny, to: [{{namespaces: {{}}}}]}}
    """,
    )
    lines = probe(
        tmp_path,
        capsys,
        policies,
        ("shop/db", "shop/web", "UDP", 53),
        ("shop/db", "shop/web", "TCP", 53),
        ("shop/db", "ops/prom", "UDP", 53),
    )
    assert verdicts(lines) == ["allowed", "denied", "denied"]  # prom defines no port named dns


def test_networks_match_pod_and_node_addresses_and_bare_ips(tmp_path, capsys) -> None:
    policies = cnp(
        "cidrs",
        "Admin",
        3,
        f"""
    {SHOP}
    egress:
    - {{name: metadata, action: Deny, to: [{{networks: [169.254.169.254/32]}}]}}
    - {{name: pods-10-0-2, action: Deny, to: [{{networks: ["10.0.2.0/24"]}}]}}
    - {{name: nodes-net, action: Accept, to: [{{networks: ["172.18.0.0/16"]}}]}}
    - {{name: rest, action: Deny, to: [{{networks: ["0.0.0.0/0", "::/0"]}}]}}
    """,
    )
    lines = probe(
        tmp_path,
        capsys,
        policies,
        ("shop/web", "169.254.169.254", "TCP", 80),
        ("shop/web", "ops/prom", "TCP", 80),
        ("shop/web", "10.0.2.9", "TCP", 80),
        ("shop/web", "ops/agent", "TCP", 9100),
        ("shop/web", "8.8.8.8", "UDP", 53),
        ("shop/web", "2001:db8::1", "TCP", 443),
    )
    assert verdicts(lines) == ["denied", "denied", "denied", "allowed", "denied", "denied"]
    assert "rule metadata" in lines[0] and "rule pods-10-0-2" in lines[2] and "rule nodes-net" in lines[3]


def test_nodes_peers_match_node_addresses_and_host_network_pods(tmp_path, capsys) -> None:
    policies = cnp(
        "nodes",
        "Admin",
        3,
        f"""
    {SHOP}
    egress:
    - {{name: zone-a, action: Deny, to: [{{nodes: {{matchLabels: {{zone: a}}}}}}]}}
    """,
    )
    lines = probe(
        tmp_path,
        capsys,
        policies,
        ("shop/web", "172.18.0.2", "TCP", 10250),
        ("shop/web", "ops/agent", "TCP", 9100),
        ("shop/web", "172.18.0.3", "TCP", 10250),
        ("shop/web", "ops/prom", "TCP", 80),
    )
    assert verdicts(lines) == ["denied", "denied", "allowed", "allowed"]


def test_host_network_pods_are_not_subjects(tmp_path, capsys) -> None:
    policies = cnp(
        "ops-out",
        "Admin",
        3,
        """
    subject: {namespaces: {matchLabels: {team: ops}}}
    egress: [{name: none, action: Deny, to: [{namespaces: {}}]}]
    """,
    )
    lines = probe(
        tmp_path, capsys, policies, ("ops/agent", "shop/web", "TCP", 8080), ("ops/prom", "shop/web", "TCP", 8080)
    )
    assert verdicts(lines) == ["allowed", "denied"]


def test_v1alpha1_anp_and_banp(tmp_path, capsys) -> None:
    policies = """
    apiVersion: policy.networking.k8s.io/v1alpha1
    kind: AdminNetworkPolicy
    metadata: {name: anp}
    spec:
      priority: 10
      subject: {namespaces: {matchLabels: {team: shop}}}
      ingress:
      - {name: pass-ops, action: Pass, from: [{namespaces: {matchLabels: {team: ops}}}]}
      - name: allow-web
        action: Allow
        from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}}]
        ports: [{portNumber: {protocol: TCP, port: 5432}}, {portRange: {protocol: UDP, start: 1000, end: 2000}}]
    ---
    apiVersion: policy.networking.k8s.io/v1alpha1
    kind: BaselineAdminNetworkPolicy
    metadata: {name: default}
    spec:
      subject: {namespaces: {}}
      ingress: [{name: deny-all, action: Deny, from: [{namespaces: {}}]}]
    """
    lines = probe(
        tmp_path,
        capsys,
        policies,
        ("shop/web", "shop/db", "TCP", 5432),
        ("shop/web", "shop/db", "UDP", 1500),
        ("shop/web", "shop/db", "TCP", 80),
        ("ops/prom", "shop/db", "TCP", 5432),
    )
    assert verdicts(lines) == ["allowed", "allowed", "denied", "denied"]
    assert "AdminNetworkPolicy 'anp' (Admin tier, priority 10) Ingress rule allow-web (Allow)" in lines[0]
    assert "passed by AdminNetworkPolicy 'anp'" in lines[3]
    assert "BaselineAdminNetworkPolicy 'default' (Baseline tier) Ingress rule deny-all (Deny)" in lines[3]


def test_single_probe_form(tmp_path, capsys) -> None:
    (tmp_path / "c.yaml").write_text(CLUSTER)
    assert (
        main(
            [
                "probe",
                str(tmp_path / "c.yaml"),
                "--from",
                "shop/web",
                "--to",
                "ops/prom",
                "--protocol",
                "udp",
                "--port",
                "53",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("allowed shop/web -> ops/prom UDP/53: ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "shop/nope", "--to", "ops/prom", "--port", "1"], "'shop/nope' is not a pod"),
        (["--from", "shop/web", "--to", "ops/prom"], "needs --from, --to and --port"),
        (["--from", "10.0.1.5", "--to", "ops/prom", "--port", "1"], "a probe starts at a pod"),
        (["--from", "shop/web", "--to", "ops/prom", "--port", "70000"], "not a number in 1-65535"),
    ],
)
def test_bad_probes_are_refused(tmp_path, capsys, argv: list[str], message: str) -> None:
    (tmp_path / "c.yaml").write_text(CLUSTER)
    assert main(["probe", str(tmp_path / "c.yaml"), *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"from": "a"}', "JSON list"),
        ('[{"from": "shop/web", "to": "x"}]', "needs port"),
        ('[{"from": "shop/web", "to": "ops/prom", "port": 1, "protocol": "ICMP"}]', "not TCP, UDP or SCTP"),
    ],
)
def test_bad_probe_files_are_refused(tmp_path, capsys, content: str, message: str) -> None:
    (tmp_path / "c.yaml").write_text(CLUSTER)
    (tmp_path / "p.json").write_text(content)
    assert main(["probe", str(tmp_path / "c.yaml"), "--probes", str(tmp_path / "p.json")]) == 2
    assert message in capsys.readouterr().err


def test_ingress_over_udp_and_sctp_and_named_ports_on_the_subject(tmp_path, capsys) -> None:
    policies = cnp(
        "web-in",
        "Baseline",
        4,
        """
    subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}}
    ingress:
    - {name: dns-by-name, action: Accept, from: [{namespaces: {}}], protocols: [{destinationNamedPort: dns}]}
    - name: sctp-range
      action: Accept
      from: [{namespaces: {matchLabels: {team: ops}}}]
      protocols: [{sctp: {destinationPort: {range: {start: 9000, end: 9100}}}}]
    - {name: rest, action: Deny, from: [{namespaces: {}}]}
    """,
    )
    lines = probe(
        tmp_path,
        capsys,
        policies,
        ("shop/db", "shop/web", "UDP", 53),
        ("shop/db", "shop/web", "SCTP", 53),
        ("ops/prom", "shop/web", "SCTP", 9050),
        ("shop/db", "shop/web", "SCTP", 9050),
        ("ops/prom", "shop/web", "UDP", 9050),
    )
    assert verdicts(lines) == ["allowed", "denied", "allowed", "denied", "denied"]
    assert "Ingress rule dns-by-name (Accept)" in lines[0] and "Ingress rule rest (Deny)" in lines[1]
