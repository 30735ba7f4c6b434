"""The document schema is checked twice: a compiled fast path for valid documents and jsonschema for the full,
path-named error list. Both must agree on every input, or a bad document could slip through the fast path."""

from __future__ import annotations

import copy

import fastjsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from editor.policy.document import Document, DocumentError
from editor.policy.document_schema import fast_validate, schema_errors
from tests.strategies import documents

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def fast_accepts(value: object) -> bool:
    try:
        fast_validate(value)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def paths(value: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def replaced(value: object, path: tuple, new: object) -> object:
    if not path:
        return new
    copied = copy.deepcopy(value)
    target = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copied


@settings(max_examples=150, deadline=None)
@given(documents(), st.data())
def test_the_fast_and_the_full_validator_agree_on_mutated_documents(document: Document, data: st.DataObject) -> None:
    valid = document.to_json()
    assert fast_accepts(valid) and schema_errors(valid) == []
    path = data.draw(st.sampled_from(paths(valid)))
    mutated = replaced(valid, path, data.draw(JSON_VALUES))
    assert fast_accepts(mutated) == (schema_errors(mutated) == [])


def test_an_invalid_document_lists_every_error_with_its_path() -> None:
    data = {
        "schema": "fenceline/v1",
        "nodes": [{"id": "a b", "kind": "workload"}, {"id": "c", "kind": "cidr", "colour": "red"}],
        "edges": [{"id": "e1", "source": "a", "target": "c", "ports": [{"protocol": "ICMP"}]}],
    }
    with pytest.raises(DocumentError) as caught:
        Document.from_json(data)
    assert [path for path, _ in caught.value.errors] == ["edges[0].ports[0].protocol", "nodes[0].id", "nodes[1]"]
    assert "unknown field" in caught.value.errors[2][1] and "'colour'" in caught.value.errors[2][1]


@pytest.mark.parametrize("name", ["web\r---", "a\nb", "nul\x00", "nel\x85", "ls\u2028"])
def test_node_names_with_control_characters_or_line_breaks_are_refused(name: str) -> None:
    data = {"schema": "fenceline/v1", "nodes": [{"id": "c", "kind": "cidr", "cidr": "10.0.0.0/8", "name": name}]}
    with pytest.raises(DocumentError) as caught:
        Document.from_json(data)
    assert caught.value.errors[0][0] == "nodes[0].name"
