"""The as-written policy model (editor/policy/model): each kind read once, every part with its path and line."""

from __future__ import annotations

from editor.policy.model import read_policy
from editor.policy.yamlio import load_objects

CNP = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web, namespace: shop}
specs:
  - endpointSelector: {matchLabels: {app: web}}
    egress:
      - {}
      - toEndpoints: [{matchLabels: {"k8s:app": db}}]
        toPorts:
          - ports: [{port: "5432", protocol: TCP}]
      - toPorts: [{ports: [{port: "53"}], rules: {dns: [{matchPattern: "*"}]}}]
  - endpointSelector: {matchLabels: {app: api}}
    ingress: [{fromEntities: [world]}]
"""

NP = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db}
spec:
  podSelector: {matchLabels: {app: db}, role: x}
  ingress:
    - from: [{podSelector: {}}, 7, {ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]
      ports: [{port: 5432}]
  egress: {not: a list}
"""


def _policy(text: str):  # type: ignore[no-untyped-def]
    (item,), errors = load_objects(text, "in.yaml")
    assert not errors
    policy = read_policy(item)
    assert policy is not None
    return policy


def test_cilium_specs_are_read_with_paths_lines_and_c4() -> None:
    policy = _policy(CNP)
    assert str(policy) == "CiliumNetworkPolicy shop/web" and policy.cilium
    first, second = policy.specs
    assert (first.path, first.index, second.path) == (("specs", 0), 0, ("specs", 1))
    deny_all, to_db, dns = first.rules
    # C4 (pkg/policy/api/ingress.go): `- {}` selects no peer; ports without peers are a wildcard on those ports
    assert deny_all.selects_nothing and not deny_all.every_peer
    assert not to_db.every_peer and to_db.peer_fields == ("toEndpoints",)
    assert dns.every_peer and dns.port_rules[0].rules == {"dns": [{"matchPattern": "*"}]}
    (peer,) = to_db.peers
    assert peer.kind == "endpoints" and peer.pods is not None and peer.pods.parsed is not None
    assert dict(peer.pods.parsed.match_labels) == {"k8s:app": "db"}
    (port,) = to_db.cilium_ports
    assert port.path == ("specs", 0, "egress", 1, "toPorts", 0, "ports", 0) and port.port == "5432"
    assert port.line == 10 and to_db.line == 8
    assert first.cilium_isolates("egress") and not first.cilium_isolates("ingress")
    assert second.rules[0].peers[0].entity == "world"


def test_networkpolicy_keeps_what_is_wrong_for_each_consumer() -> None:
    policy = _policy(NP)
    assert policy.namespace == "default" and not policy.cilium
    (spec,) = policy.specs
    assert spec.subject is not None and spec.subject.unknown == ((("spec", "podSelector", "role"), "a label selector"),)
    (rule,) = spec.rules
    pods, other, cidr = rule.peers
    assert (pods.kind, other.kind, cidr.kind) == ("pods", "other", "cidr")
    assert cidr.block is not None and cidr.block.except_items == [
        (("spec", "ingress", 0, "from", 2, "ipBlock", "except", 0), "10.1.0.0/16")
    ]
    assert rule.ports[0].port == 5432 and rule.line == 7
    assert [(p.path, p.expected, p.what) for p in policy.problems] == [
        (("spec", "ingress", 0, "from", 1), "mapping", "peer"),
        (("spec", "egress"), "list", "section"),
    ]
    assert spec.effective_policy_types() == ["Ingress"]


def test_other_kinds_and_shapes_are_not_policies() -> None:
    assert read_policy({"kind": "Deployment"}) is None
    assert read_policy({"kind": ["NetworkPolicy"]}) is None
    selector = read_policy({"kind": "NetworkPolicy", "spec": {"podSelector": {"matchLabels": {"a": 1}}}})
    assert selector is not None and selector.specs[0].subject is not None
    assert selector.specs[0].subject.parsed is None and selector.specs[0].subject.error is not None


DEFAULT_DENY = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: lock, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
    - {}
    - toPorts: [{ports: [{port: "53", protocol: UDP}]}]
"""


def test_every_consumer_reads_the_default_deny_as_the_model_does() -> None:
    # SEMANTICS C4; cilium pkg/policy/api/egress.go (GetDestinationEndpointSelectorsWithRequirements: no selector for
    # `{}`) and examples/policies/l3/egress-default-deny: `- {}` isolates and allows nothing, while a rule with
    # ports but no peer fields allows every peer on those ports. The four readers once disagreed on it (issue 11).
    from editor.policy.analysis.parse_cilium import _read_cilium
    from editor.policy.importer import import_objects
    from editor.policy.lint.policyview import read_policies
    from editor.policy.manifests import read_cluster
    from editor.policy.validate import validate_objects

    items, _ = load_objects(DEFAULT_DENY, "lock.yaml")
    deny_all, dns = _policy(DEFAULT_DENY).specs[0].rules
    assert (deny_all.selects_nothing, deny_all.every_peer, dns.every_peer) == (True, False, True)

    (parsed,) = _read_cilium(read_cluster(items).policies[0], [])
    first, second = parsed.egress.rules
    assert (first.peers, first.ports, second.peers) == ([], None, None) and parsed.egress.isolates

    (view,) = read_policies(items[0])
    assert [rule.peers for rule in view.rules] == [[], None] and view.isolates["egress"]

    document = import_objects(items).document
    (subject,) = [node for node in document.nodes if node.policy_name == "lock"]
    assert subject.isolate.egress
    assert [edge.source for edge in document.edges] == [subject.id]  # only the DNS rule is an edge

    assert not [f for f in validate_objects(items) if f.is_error]


def test_label_keys_sections_and_names_as_written() -> None:
    text = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web}
spec:
  endpointSelector:
    matchLabels: {"k8s:app": web, tier: front}
    matchExpressions: [{key: zone, operator: NotIn, values: [a]}, {key: pod-template-hash, operator: Exists}]
  ingress: []
  ingressDeny:
  egress:
    - toFQDNs: [{matchName: example.com}, {matchPattern: "*.example.org"}]
    - toPorts: [{ports: [{port: "53"}], rules: {dns: [{matchName: example.com}, {matchPattern: "*.org"}, 7]}}]
"""
    (spec,) = _policy(text).specs
    assert spec.subject is not None
    assert spec.subject.label_keys() == ["k8s:app", "tier", "zone", "pod-template-hash"]
    assert spec.subject.label_keys(("In", "Exists")) == ["k8s:app", "tier", "pod-template-hash"]
    # written sections keep their order; `[]` and null are hollow, a section with an entry is not
    assert spec.written_sections == ("ingress", "ingressDeny", "egress")
    assert spec.hollow_sections() == ["ingress", "ingressDeny"]
    fqdn, dns = spec.section("egress")
    assert [name for peer in fqdn.peers for name in peer.fqdn_names] == ["example.com", "*.example.org"]
    assert dns.port_rules[0].dns_names == ["example.com", "*.org"]
    # a selector whose terms cannot be read names no key (rather than some of them)
    (unreadable,) = _policy(NP).specs
    assert unreadable.subject is not None and unreadable.subject.label_keys() == []
