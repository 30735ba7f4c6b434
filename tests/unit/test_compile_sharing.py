"""The emitted objects share no dict or list with the drawing or with each other (compile._fresh).

The compilers build the bodies from the drawing's own values (a node's podSelector and namespaceSelector, an
edge's L7 rules), and one selector can land in several places of one policy (the subject's podSelector and a
peer, or a peer of an ingress and an egress rule). Whoever edits an emitted object then edits the drawing or the
other places too: a lint fix edits a deep copy, but deepcopy keeps the sharing, so the fix for one rule rewrote
another rule as well."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

from hypothesis import HealthCheck, given, settings

from editor.policy.compile import DIALECTS, SubjectDrafts, compile_document
from editor.policy.document import Document
from editor.policy.lint import apply_fix, lint_objects
from editor.policy.sized_cache import SizedCache
from tests.strategies import documents

HANDMADE = {"matchExpressions": [{"key": "name", "operator": "In", "values": ["ops"]}]}


def ops_both_ways() -> Document:
    """web in shop talks to the probe pods of namespace `ops` (chosen by a hand-made label) and back: web's
    policy has the same namespaceSelector in an ingress and an egress rule."""
    ops = {"id": "ops", "kind": "selector", "namespaceSelector": HANDMADE, "podSelector": {"matchLabels": {"a": "b"}}}
    web = {"id": "web", "kind": "workload", "name": "web", "namespace": "shop", "labels": {"app": "web"}}
    tcp = [{"protocol": "TCP", "port": 80}]
    return Document.from_json(
        {
            "schema": "fenceline/v1",
            "settings": {"dialect": "native"},
            "namespaces": [{"name": "default"}, {"name": "shop"}],
            "nodes": [web, ops],
            "edges": [
                {"id": "e1", "source": "ops", "target": "web", "ports": tcp},
                {"id": "e2", "source": "web", "target": "ops", "ports": tcp},
            ],
        }
    )


def test_the_lint_fix_of_one_rule_changes_that_rule_only() -> None:
    (policy,) = compile_document(ops_both_ways(), "native").objects
    spec = policy["spec"]
    assert spec["ingress"][0]["from"][0]["namespaceSelector"] == spec["egress"][0]["to"][0]["namespaceSelector"]
    findings = [f for f in lint_objects([policy]) if f.rule == "FL013"]
    egress = next(f for f in findings if f.path == "spec.egress[0].to[0].namespaceSelector")
    fixed = apply_fix(egress, policy)
    key = "kubernetes.io/metadata.name"
    assert fixed["spec"]["egress"][0]["to"][0]["namespaceSelector"]["matchExpressions"][0]["key"] == key
    assert fixed["spec"]["ingress"] == spec["ingress"]  # the ingress rule still says what it said
    assert spec["ingress"][0]["from"][0]["namespaceSelector"] == HANDMADE  # and the input is untouched


def test_editing_an_emitted_object_changes_neither_the_drawing_nor_the_cached_answer() -> None:
    document = ops_both_ways()
    drawing = json.dumps(document.to_json())  # text: to_json hands out the nodes' own dicts too
    cache: SizedCache[SubjectDrafts] = SizedCache(1 << 20)
    for _ in range(2):  # the compile that fills the cache, then the one that takes from it
        (policy,) = compile_document(document, "native", cache).objects
        policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchExpressions"][0]["key"] = "edited"
        policy["spec"]["podSelector"]["matchLabels"]["app"] = "edited"
        assert json.dumps(document.to_json()) == drawing
    (again,) = compile_document(document, "native", cache).objects
    assert again == compile_document(Document.from_json(json.loads(drawing)), "native").objects[0]


def _containers(value: Any, where: str, found: dict[int, str], shared: list[tuple[str, str]]) -> None:
    """Every dict and list in `value` by id (kept alive by `value`), and the pairs of places that hold one."""
    if isinstance(value, dict | list):
        if id(value) in found:
            shared.append((found[id(value)], where))
            return
        found[id(value)] = where
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            _containers(item, f"{where}/{key}", found, shared)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            _containers(getattr(value, field.name), f"{where}.{field.name}", found, shared)
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            _containers(item, f"{where}({index})", found, shared)


@settings(max_examples=60, suppress_health_check=list(HealthCheck), deadline=None)
@given(documents())
def test_no_emitted_dict_or_list_is_the_drawings_or_another_places(document: Document) -> None:
    cache: SizedCache[SubjectDrafts] = SizedCache(1 << 22)
    for dialect in DIALECTS:
        for drafts_cache in (None, cache, cache):  # no cache, a miss, a hit
            result = compile_document(document, dialect, drafts_cache)
            found: dict[int, str] = {}
            shared: list[tuple[str, str]] = []
            _containers(document, "drawing", found, shared)
            assert shared == []  # the drawing itself may share, but the strategy's drawings do not
            _containers(result.objects, "objects", found, shared)
            assert shared == [], (dialect, drafts_cache is not None, shared[:3])
            assert json.loads(json.dumps(result.objects)) == copy.deepcopy(result.objects)
