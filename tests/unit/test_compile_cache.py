"""The compile caches never serve a stale answer: after every edit of a sequence, a compile that takes each subject's
policies from the cache (Context.subject_drafts) gives exactly what a compile without a cache gives, in both
dialects, and the document schema checked in parts with the nodes and edges seen before (fast_validate with
`known_valid`) accepts exactly what the whole schema accepts.

The edits are the ones the editor posts (a port, a lock, a label, a container port, an edge added or removed,
namespace labels, the DNS settings), and the targeted tests below change what a subject's policy reads beyond its
own node, edges and peers: the workloads whose port names a Cilium egress named port is looked up on, and the
DNS edges that toFQDNs needs (cilium.py, SEMANTICS C10, C10a)."""

from __future__ import annotations

import copy
from typing import Any

import fastjsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from editor.policy.compile import DIALECTS, CompileResult, SubjectDrafts, compile_document
from editor.policy.document import Document, fast_validate
from editor.policy.sized_cache import SizedCache
from tests.strategies import PORT_NAMES, documents


def fingerprint(result: CompileResult) -> tuple[Any, ...]:
    return (
        result.dialect,
        result.objects,
        [issue.to_json() for issue in result.issues],
        [explanation.to_json() for explanation in result.explanations],
        result.object_nodes,
        [
            (s.node.id, s.isolate_ingress, s.isolate_egress, [e.id for e in s.ingress + s.egress])
            for s in result.subjects
        ],
    )


def assert_cache_agrees(data: dict[str, Any], cache: SizedCache[SubjectDrafts]) -> None:
    for dialect in DIALECTS:
        expected = fingerprint(compile_document(Document.from_json(data), dialect))
        # Twice: the first fills the cache for what changed, the second takes every subject from it.
        for _ in range(2):
            assert fingerprint(compile_document(Document.from_json(data), dialect, cache)) == expected


def edit(data: dict[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    """One edit as the editor makes it, on a copy."""
    data = copy.deepcopy(data)
    nodes, edges = data["nodes"], data["edges"]
    workloads = [node for node in nodes if node["kind"] == "workload"]
    subjects = [node for node in nodes if node["kind"] in ("workload", "selector", "hosts")]
    kind = draw(st.sampled_from(("port", "lock", "labels", "container", "remove", "add", "namespace", "dns", "off")))
    if kind == "port" and edges:
        draw(st.sampled_from(edges))["ports"] = [{"protocol": "TCP", "port": draw(st.sampled_from((80, 53, 8080)))}]
    elif kind == "lock" and subjects:
        node = draw(st.sampled_from(subjects))
        node["isolate"] = {"ingress": draw(st.booleans()), "egress": draw(st.booleans())}
    elif kind == "labels" and workloads:
        draw(st.sampled_from(workloads))["labels"] = {"app": draw(st.sampled_from(("web", "api", "db")))}
    elif kind == "container" and workloads:
        name, number = draw(st.sampled_from(PORT_NAMES)), draw(st.sampled_from((53, 8080, 9090)))
        draw(st.sampled_from(workloads))["containerPorts"] = [{"name": name, "port": number, "protocol": "TCP"}]
    elif kind == "remove" and edges:
        edges.remove(draw(st.sampled_from(edges)))
    elif kind == "add" and nodes:
        source, target = draw(st.sampled_from(nodes)), draw(st.sampled_from(nodes))
        port = draw(st.sampled_from((*PORT_NAMES, 53)))
        edges.append(
            {"id": f"x{len(edges)}", "source": source["id"], "target": target["id"], "ports": [{"port": port}]}
        )
    elif kind == "namespace":
        draw(st.sampled_from(data["namespaces"]))["labels"] = {"team": draw(st.sampled_from(("a", "b")))}
    elif kind == "dns":
        data["settings"]["dns"] = {"namespace": draw(st.sampled_from(("kube-system", "prod"))), "port": 53}
    elif kind == "off" and edges:
        edge = draw(st.sampled_from(edges))
        edge["disabled"] = not edge.get("disabled", False)
    return data


@settings(max_examples=60, deadline=None)
@given(documents(), st.data())
def test_a_cached_compile_equals_an_uncached_one_after_every_edit(document: Document, data: st.DataObject) -> None:
    cache: SizedCache[SubjectDrafts] = SizedCache(1 << 24)
    current = document.to_json()
    assert_cache_agrees(current, cache)
    for _ in range(6):
        changed = edit(current, data.draw)
        try:
            Document.from_json(changed)
        except ValueError:  # an edit that makes the drawing invalid (an edge of a node to itself, ...)
            continue
        current = changed
        assert_cache_agrees(current, cache)


def test_a_tiny_cache_still_gives_the_same_answer() -> None:
    """Entries larger than the cache are not kept, and the ones kept are evicted: never a wrong answer."""
    data = named_port_drawing()
    for limit in (1, 600, 5_000):
        assert_cache_agrees(data, SizedCache(limit))


def named_port_drawing() -> dict[str, Any]:
    """`client` reaches the pods `app=api` of `prod` on the named port `http`: the selector node is the peer, so
    the number comes from workloads that are neither the subject nor the peer."""
    return {
        "schema": "fenceline/v1",
        "namespaces": [{"name": "prod"}, {"name": "kube-system"}],
        "nodes": [
            {"id": "client", "kind": "workload", "name": "client", "namespace": "prod", "labels": {"app": "client"}},
            {"id": "apis", "kind": "selector", "namespace": "prod", "podSelector": {"matchLabels": {"app": "api"}}},
            {
                "id": "api-1",
                "kind": "workload",
                "name": "api-1",
                "namespace": "prod",
                "labels": {"app": "api"},
                "containerPorts": [{"name": "http", "port": 8080}],
            },
            {
                "id": "dns",
                "kind": "workload",
                "name": "coredns",
                "namespace": "kube-system",
                "labels": {"k8s-app": "kube-dns"},
            },
            {"id": "example", "kind": "fqdn", "matchName": "api.example.com"},
            {"id": "all-prod", "kind": "selector", "namespace": "prod", "podSelector": {}},
        ],
        "edges": [
            {
                "id": "e1",
                "source": "client",
                "target": "apis",
                "ports": [{"protocol": "TCP", "port": "http"}],
                "enforce": ["source"],
            },
            {
                "id": "e2",
                "source": "all-prod",
                "target": "dns",
                "ports": [{"protocol": "UDP", "port": 53}],
                "enforce": ["source"],
            },
        ],
    }


def test_a_container_port_of_a_workload_the_peer_selects_changes_the_cilium_policy() -> None:
    cache: SizedCache[SubjectDrafts] = SizedCache(1 << 24)
    data = named_port_drawing()
    before = compile_document(Document.from_json(data), "cilium", cache)
    data["nodes"][2]["containerPorts"] = [{"name": "http", "port": 9090}]  # api-1: neither subject nor peer
    after = compile_document(Document.from_json(data), "cilium", cache)
    ports = [
        [entry["ports"][0]["port"] for rule in obj["spec"]["egress"] for entry in rule["toPorts"]]
        for result in (before, after)
        for obj in result.objects
        if obj["metadata"]["name"] == "client"
    ]
    assert ports == [["8080"], ["9090"]]
    assert fingerprint(after) == fingerprint(compile_document(Document.from_json(data), "cilium"))


def test_an_fqdn_edge_of_one_subject_adds_dns_rules_to_the_policy_of_another() -> None:
    """`all-prod` covers `client`: the FQDN edge of `client` makes the DNS edge of `all-prod` carry DNS rules."""
    cache: SizedCache[SubjectDrafts] = SizedCache(1 << 24)
    data = named_port_drawing()
    before = compile_document(Document.from_json(data), "cilium", cache)
    data["edges"].append({"id": "e3", "source": "client", "target": "example", "ports": [{"port": 443}]})
    after = compile_document(Document.from_json(data), "cilium", cache)
    rules = [
        "rules" in str(obj["spec"].get("egress"))
        for result in (before, after)
        for obj in result.objects
        if obj["metadata"]["name"] == "all-prod"
    ]
    assert rules == [False, True]
    assert fingerprint(after) == fingerprint(compile_document(Document.from_json(data), "cilium"))


def test_what_a_cached_compile_returns_is_its_own() -> None:
    """Changing the objects of one answer changes neither the cache nor the next answer."""
    cache: SizedCache[SubjectDrafts] = SizedCache(1 << 24)

    def fresh() -> Document:  # a document's selectors are in the objects compiled from it: a copy each time
        return Document.from_json(named_port_drawing())

    expected = fingerprint(compile_document(fresh(), "native"))
    for _ in range(2):  # what the first compile made, then what the cache gives
        for obj in compile_document(fresh(), "native", cache).objects:
            obj["spec"]["policyTypes"].append("Changed")
            obj["spec"]["egress"][0]["ports"] = "changed by a caller"
        assert fingerprint(compile_document(fresh(), "native", cache)) == expected


# --- the document schema in parts -----------------------------------------------------------------------------


def accepts(value: Any, known_valid: SizedCache[bool] | None) -> bool:
    try:
        fast_validate(value, known_valid)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


@settings(max_examples=80, deadline=None)
@given(documents(), st.data())
def test_the_schema_in_parts_with_known_items_accepts_what_the_whole_schema_accepts(
    document: Document, data: st.DataObject
) -> None:
    known: SizedCache[bool] = SizedCache(1 << 20)
    valid = document.to_json()
    assert accepts(valid, known) and accepts(valid, known)  # the second time from what it knows
    for field in ("nodes", "edges"):
        if not valid[field]:
            continue
        index = data.draw(st.integers(0, len(valid[field]) - 1))
        key = data.draw(st.sampled_from([*sorted(valid[field][index]), "unknown"]))
        value = data.draw(st.none() | st.integers(-1, 70000) | st.text(max_size=3) | st.just({}) | st.just([]))
        mutated = copy.deepcopy(valid)
        mutated[field][index][key] = value
        assert accepts(mutated, known) == accepts(mutated, None)


@pytest.mark.parametrize("value", [[], None, {"schema": "fenceline/v1", "nodes": [None]}, {"schema": "fenceline/v1"}])
def test_the_schema_in_parts_refuses_and_accepts_odd_values_as_the_whole_schema_does(value: Any) -> None:
    assert accepts(value, SizedCache(1 << 20)) == accepts(value, None)
