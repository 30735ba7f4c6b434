"""The bounded YAML/JSON loader: every input passes through it, so every kind of bad input is tested here."""

from __future__ import annotations

import resource
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from editor.policy.yamlio import (
    MIB,
    InputError,
    Limits,
    _pyyaml_dump,
    dump_yaml_documents,
    load_documents,
    load_objects,
    objects_as_written,
)

BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]"
            for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


def test_it_refuses_an_alias_bomb_fast_and_with_bounded_memory():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(InputError, match="alias bomb") as caught:
        load_documents(BILLION_LAUGHS, "bomb.yaml")
    elapsed = time.perf_counter() - started
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert caught.value.source == "bomb.yaml"
    assert caught.value.line is not None
    # 9**9 = 387 million strings if expanded; refusing it must cost next to nothing.
    assert elapsed < 1.0
    assert grown_kib < 50 * 1024


def test_it_counts_alias_uses():
    text = "base: &b {x: 1}\nitems:\n" + "".join("  - *b\n" for _ in range(11))
    with pytest.raises(InputError, match="more than 10 YAML alias uses"):
        load_documents(text, "many.yaml", Limits(max_aliases=10))
    assert len(load_documents(text, "few.yaml")[0].value["items"]) == 11


def test_it_counts_alias_uses_of_plain_values():
    # plain values are measured without a call each (most of a manifest); an alias of one is still an alias use
    text = "base: &b hello\nitems:\n" + "".join("  - *b\n" for _ in range(11))
    with pytest.raises(InputError, match="more than 10 YAML alias uses"):
        load_documents(text, "many.yaml", Limits(max_aliases=10))
    assert load_documents(text, "few.yaml")[0].value["items"] == ["hello"] * 11


def test_a_plain_value_one_level_too_deep_is_refused():
    assert load_documents("[" * 64 + "x" + "]" * 64, "edge.yaml")[0].value is not None
    with pytest.raises(InputError, match="nested deeper than 64 levels"):
        load_documents("[" * 65 + "x" + "]" * 65, "deep.yaml")


def test_it_refuses_a_recursive_alias():
    with pytest.raises(InputError, match="recursive YAML alias"):
        load_documents("a: &a [1, *a]\n", "loop.yaml")


def test_it_refuses_deep_nesting():
    with pytest.raises(InputError, match="nested deeper than 64 levels"):
        load_documents("[" * 200 + "]" * 200, "deep.yaml")


def test_it_names_the_line_of_a_non_utf8_byte():
    with pytest.raises(InputError) as caught:
        load_documents(b"kind: Pod\nmetadata:\n  name: caf\xe9\n", "latin1.yaml")
    assert caught.value.line == 3
    assert "not UTF-8" in str(caught.value)
    assert str(caught.value).startswith("latin1.yaml:3: ")


def test_it_refuses_binary_data():
    with pytest.raises(InputError, match="binary data"):
        load_documents(b"\x00\x01\x02garbage", "blob.bin")


def test_it_refuses_an_input_over_the_size_limit_before_parsing():
    data = b"# padding\n" * (5 * MIB)  # 50 MiB
    started = time.perf_counter()
    with pytest.raises(InputError, match=r"input is 50\.0 MiB, more than the limit of 10\.0 MiB"):
        load_documents(data, "huge.yaml")
    assert time.perf_counter() - started < 1.0


def test_it_reports_malformed_yaml_with_its_line():
    with pytest.raises(InputError) as caught:
        load_documents("kind: NetworkPolicy\nspec:\n  podSelector: {\n  ingress: [\n", "broken.yaml")
    assert caught.value.line is not None and caught.value.line >= 3
    assert "invalid YAML" in caught.value.message


def test_it_refuses_duplicate_keys_like_kubectl():
    with pytest.raises(InputError, match="duplicate key 'spec'") as caught:
        load_documents("kind: Pod\nspec: {}\nspec: {}\n", "dup.yaml")
    assert caught.value.line == 3


def test_it_reads_multi_document_yaml_and_finds_lines():
    text = (
        "---\nkind: Namespace\nmetadata: {name: a}\n---\n---\n"
        "kind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n"
    )
    documents = load_documents(text, "multi.yaml")
    assert [d.value["kind"] for d in documents] == ["Namespace", "Pod"]
    assert documents[1].line == 6
    assert documents[1].line_of(("spec", "containers", 0)) == 11
    assert documents[1].line_of(("spec", "missing", 3)) == 9


def test_it_flattens_lists_and_reports_non_objects():
    text = (
        "kind: List\nitems:\n- kind: Namespace\n  metadata: {name: a}\n- kind: Pod\n  metadata: {name: p}\n"
        "---\njust a string\n"
    )
    objects, problems = load_objects(text, "list.yaml")
    assert [o.kind for o in objects] == ["Namespace", "Pod"]
    assert objects[1].line == 5
    assert objects[1].where() == "list.yaml:5"
    assert len(problems) == 1 and "expected a Kubernetes object, found str" in str(problems[0])


def test_it_reads_json_arrays_of_objects():
    objects, problems = load_objects('[{"kind": "Pod"}, {"kind": "Service"}]', "arr.json")
    assert [o.kind for o in objects] == ["Pod", "Service"]
    assert problems == []


def test_it_never_constructs_python_objects():
    with pytest.raises(InputError, match="invalid YAML"):
        load_documents("!!python/object/apply:os.system ['true']\n", "evil.yaml")


def test_it_dumps_stable_block_yaml_without_aliases():
    shared = {"app": "web"}
    text = dump_yaml_documents([{"kind": "A", "x": shared, "y": shared}, {"kind": "B", "items": [1, 2]}])
    assert "&" not in text and "*" not in text
    assert text == "---\nkind: A\nx:\n  app: web\n'y':\n  app: web\n---\nkind: B\nitems:\n  - 1\n  - 2\n"
    assert [d.value for d in load_documents(text, "again.yaml")] == [
        {"kind": "A", "x": shared, "y": shared},
        {"kind": "B", "items": [1, 2]},
    ]


TRICKY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "yes",
        "No",
        "on",
        "OFF",
        "~",
        "null",
        "Null",
        "true",
        "1",
        "-1",
        "0x1F",
        "0o17",
        "1e3",
        "1_000",
        ".inf",
        "-.Inf",
        ".NaN",
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "12:30:00",
        "<<",
        "=",
        "*",
        "&a",
        "*a",
        "!tag",
        "%x",
        "@x",
        "`x",
        "- x",
        "-",
        "? x",
        "?",
        ":",
        "a: b",
        "a:b",
        "a #b",
        "#c",
        "'",
        '"',
        "a'b",
        '"q"',
        "{x}",
        "[x]",
        "x,y",
        "|",
        ">",
        "lead ",
        " trail",
        "ümlaut",
        "日本",
        "k8s:app",
        "io.kubernetes.pod.namespace",
        "^/v1/.*$",
        "*.cilium.io",
        "10.0.0.0/8",
        "::/0",
        "80",
        "app.kubernetes.io/name",
        "line\nbreak",
        "tab\there",
        "bell\x07",
        "x" * 130,
    ]
)
# PyYAML itself does not read back these line separators, and surrogates never come out of UTF-8 input.
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x85\u2028\u2029"), max_size=12
)
SCALARS = st.one_of(TRICKY_TEXT, TEXT, st.integers(-(2**40), 2**40), st.booleans(), st.none())
OBJECTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(TRICKY_TEXT, TEXT), children, max_size=4),
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.one_of(TRICKY_TEXT, TEXT), OBJECTS, max_size=5), max_size=3))
def test_the_fast_emitter_writes_exactly_what_pyyaml_writes(objects):
    assert dump_yaml_documents(objects) == "".join("---\n" + _pyyaml_dump(obj) for obj in objects)
    assert [d.value for d in load_documents(dump_yaml_documents(objects), "again.yaml")] == [
        obj for obj in objects if obj is not None
    ]


def test_objects_as_written_know_their_lines_in_the_dumped_yaml_without_parsing_it():
    objects = [
        {"kind": "A", "spec": {"ingress": [{"from": [{"podSelector": {}}]}, {"ports": [{"port": 80}]}]}},
        {"kind": "B", "metadata": {"name": "b"}},
        {"kind": "C", "spec": {"egress": []}},
    ]
    written = objects_as_written(objects, "compiled")
    parsed, _ = load_objects(dump_yaml_documents(objects), "compiled")
    assert [o.obj for o in written] == objects
    for mine, theirs in zip(written, parsed, strict=True):
        for path in ((), ("kind",), ("spec", "ingress", 1, "ports", 0), ("metadata", "name"), ("spec", "egress")):
            assert mine.line_of(path) == theirs.line_of(path)
    assert [o.line for o in written] == [2, 10, 14]


def test_it_refuses_an_integer_too_long_to_convert():
    with pytest.raises(InputError, match="a value cannot be read"):
        load_documents("containerPort: " + "9" * 5000 + "\n", "long.yaml")


def test_the_scalar_cache_is_bounded_by_characters():
    from editor.policy import yamlio

    for i in range(3000):
        dump_yaml_documents([{"k": f"{i}-" + "x" * 4000}])
        assert yamlio._scalar_chars <= yamlio._SCALAR_CACHE_CHARS + 2 * 4100
