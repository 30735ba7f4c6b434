"""Properties of the analyser on generated clusters and policies (Hypothesis).

* Policies are additive: adding a NetworkPolicy never removes a connection, except where it newly isolates the
  source's egress or the destination's ingress (SEMANTICS S2-S4).
* Order does not matter.
* Connection-set algebra agrees with plain sets of (protocol, port).
* The label index (how the analyser finds the pod classes a selector matches) agrees with the selector.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from editor.policy.analysis import PROTOCOLS, Analysis, ConnectionSet, analyse, format_connlist
from editor.policy.analysis.match import _LabelIndex
from editor.policy.manifests import read_cluster
from editor.policy.selectors import LabelSelector, Requirement
from editor.policy.yamlio import dump_yaml_documents, load_objects

NAMESPACES = {"x": {"team": "a"}, "y": {"team": "b"}, "z": {"team": "a"}}
PODS = [
    ("x", "a", {"app": "a", "tier": "web"}, "10.0.0.1"),
    ("x", "b", {"app": "b"}, "10.0.1.1"),
    ("y", "a", {"app": "a", "tier": "db"}, "10.1.0.1"),
    ("y", "c", {"app": "c", "tier": "web"}, "192.168.0.1"),
    ("z", "b", {"app": "b", "tier": "db"}, "172.16.0.1"),
]
CIDRS = ["10.0.0.0/8", "10.0.0.0/16", "192.168.0.0/16", "0.0.0.0/0"]
PROBE_IPS = ["10.0.5.5", "10.9.0.1", "192.168.3.3", "8.8.8.8"]


def _cluster_objects() -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": labels}}
        for n, labels in NAMESPACES.items()
    ]
    for namespace, name, labels, ip in PODS:
        ports = [
            {"name": "http", "containerPort": 8000 + len(name) + len(namespace) * 7},
            {"containerPort": 53, "protocol": "UDP"},
        ]
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {"containers": [{"name": "c", "ports": ports}]},
                "status": {"podIP": ip},
            }
        )
    return objects


_selector = st.one_of(
    st.just({}),
    st.builds(lambda v: {"matchLabels": {"app": v}}, st.sampled_from(["a", "b", "c"])),
    st.builds(
        lambda op, v: {
            "matchExpressions": [{"key": "tier", "operator": op, **({"values": [v]} if op in ("In", "NotIn") else {})}]
        },
        st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
        st.sampled_from(["web", "db"]),
    ),
)
_peer = st.one_of(
    st.builds(lambda s: {"podSelector": s}, _selector),
    st.builds(lambda s: {"namespaceSelector": s}, st.one_of(st.just({}), st.just({"matchLabels": {"team": "a"}}))),
    st.builds(
        lambda p, n: {"podSelector": p, "namespaceSelector": n}, _selector, st.just({"matchLabels": {"team": "b"}})
    ),
    st.builds(lambda c: {"ipBlock": {"cidr": c}}, st.sampled_from(CIDRS)),
)
_port = st.one_of(
    st.builds(lambda p: {"port": p, "protocol": "TCP"}, st.sampled_from([80, 53, 8001])),
    st.builds(lambda p: {"port": p, "endPort": p + 10, "protocol": "UDP"}, st.sampled_from([50, 60])),
    st.just({"port": "http"}),
    st.just({"protocol": "SCTP"}),
)
_rule = st.fixed_dictionaries({}, optional={"peers": st.lists(_peer, max_size=2), "ports": st.lists(_port, max_size=2)})


@st.composite
def _policy(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": draw(_selector)}
    types = draw(st.sampled_from([[], ["Ingress"], ["Egress"], ["Ingress", "Egress"]]))
    if types:
        spec["policyTypes"] = types
    for direction, key in (("ingress", "from"), ("egress", "to")):
        rules = draw(st.none() | st.lists(_rule, max_size=2))
        if rules is not None:
            spec[direction] = [
                {**({key: r["peers"]} if "peers" in r else {}), **({"ports": r["ports"]} if "ports" in r else {})}
                for r in rules
            ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"p{draw(st.integers(0, 10**6))}", "namespace": draw(st.sampled_from(sorted(NAMESPACES)))},
        "spec": spec,
    }


def _analyse(policies: list[dict[str, Any]]) -> Analysis:
    named = [{**p, "metadata": {**p["metadata"], "name": f"p{i}"}} for i, p in enumerate(policies)]
    loaded, _ = load_objects(dump_yaml_documents(_cluster_objects() + named), "gen.yaml")
    return analyse(read_cluster(loaded))


def _pairs(analysis: Analysis) -> list[tuple[Any, Any, str, str]]:
    """(src, dst, src text, dst text) for workload pairs and for probe IPs against workloads."""
    workloads = [analysis.peer(f"{ns}/{name}") for ns, name, _, _ in PODS]
    pairs = [(s, d, str(s), str(d)) for s in workloads for d in workloads if s != d]
    for ip in PROBE_IPS:
        pairs += [(analysis.external_peer(ip, True), w, ip, str(w)) for w in workloads]
        pairs += [(w, analysis.external_peer(ip, False), str(w), ip) for w in workloads]
    return pairs


@settings(max_examples=60, deadline=None)
@given(st.lists(_policy(), min_size=1, max_size=3), _policy())
def test_adding_a_policy_only_removes_what_it_newly_isolates(
    policies: list[dict[str, Any]], extra: dict[str, Any]
) -> None:
    before = _analyse(policies)
    after = _analyse([*policies, extra])
    after_pairs = {(s_text, d_text): (s, d) for s, d, s_text, d_text in _pairs(after)}
    for src, dst, s_text, d_text in _pairs(before):
        old = before.connection(src, dst)
        new_src, new_dst = after_pairs[(s_text, d_text)]
        new = after.connection(new_src, new_dst)
        if old - new:
            was, now = before.explain(src, dst), after.explain(new_src, new_dst)
            newly = [
                side
                for side, old_side, new_side in (
                    ("egress", was.egress, now.egress),
                    ("ingress", was.ingress, now.ingress),
                )
                if old_side is not None and new_side is not None and new_side.isolated and not old_side.isolated
            ]
            assert newly, f"{s_text} => {d_text} lost {old - new} without new isolation"


@settings(max_examples=30, deadline=None)
@given(st.lists(_policy(), min_size=2, max_size=4), st.randoms(use_true_random=False))
def test_policy_order_does_not_matter(policies: list[dict[str, Any]], rnd: random.Random) -> None:
    shuffled = list(policies)
    rnd.shuffle(shuffled)
    assert format_connlist(_analyse(policies)) == format_connlist(_analyse(shuffled))


_intervals = st.lists(st.tuples(st.integers(1, 40), st.integers(0, 8)), max_size=4)
_conns = st.tuples(_intervals, _intervals, _intervals)


def _build(raw: tuple[list[tuple[int, int]], ...]) -> tuple[ConnectionSet, set[tuple[str, int]]]:
    result = ConnectionSet()
    plain: set[tuple[str, int]] = set()
    for protocol, intervals in zip(PROTOCOLS, raw, strict=True):
        for lo, width in intervals:
            result = result | ConnectionSet.of([protocol], lo, lo + width)
            plain |= {(protocol, p) for p in range(lo, lo + width + 1)}
    return result, plain


def _plain(conns: ConnectionSet) -> set[tuple[str, int]]:
    return {(protocol, p) for protocol, intervals in conns.items() for lo, hi in intervals for p in range(lo, hi + 1)}


@given(_conns, _conns)
def test_connection_set_algebra_matches_plain_sets(raw_a: Any, raw_b: Any) -> None:
    (a, plain_a), (b, plain_b) = _build(raw_a), _build(raw_b)
    assert _plain(a) == plain_a
    assert _plain(a | b) == plain_a | plain_b
    assert _plain(a & b) == plain_a & plain_b
    assert _plain(a - b) == plain_a - plain_b
    assert bool(a) == bool(plain_a)
    for _protocol, intervals in (a | b).items():
        assert all(hi + 1 < next_lo for (_, hi), (next_lo, _) in itertools.pairwise(intervals))


_keys = st.sampled_from(["app", "tier", "team"])
_values = st.sampled_from(["a", "b", "c"])
_label_sets = st.lists(st.dictionaries(_keys, _values), min_size=1, max_size=6)
_requirements = st.builds(
    Requirement,
    _keys,
    st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
    st.lists(_values, max_size=2, unique=True).map(lambda values: tuple(sorted(values))),
)
_label_selectors = st.builds(
    lambda labels, expressions: LabelSelector(tuple(sorted(labels.items())), tuple(sorted(set(expressions)))),
    st.dictionaries(_keys, _values, max_size=2),
    st.lists(_requirements, max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(_label_sets, _label_selectors, st.integers(min_value=0))
def test_the_label_index_selects_what_the_selector_matches(labels, selector, scope_bits) -> None:
    scope = scope_bits % (1 << len(labels))
    expected = sum(1 << i for i, found in enumerate(labels) if scope >> i & 1 and selector.matches(found))
    assert _LabelIndex(labels).select(selector, scope) == expected
