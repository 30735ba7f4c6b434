"""Label selectors: apimachinery matching semantics, canonical form, and validation messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from editor.policy.selectors import (
    EVERYTHING,
    LabelSelector,
    SelectorError,
    parse_selector,
    validate_label_key,
    validate_label_value,
    validate_namespace_name,
)


def expr(key: str, operator: str, *values: str) -> dict[str, object]:
    entry: dict[str, object] = {"key": key, "operator": operator}
    if values:
        entry["values"] = list(values)
    return entry


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {}, True),
        ({}, {"app": "web"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "web", "tier": "x"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "db"}, False),
        ({"matchLabels": {"app": "web"}}, {}, False),
        ({"matchExpressions": [expr("app", "In", "web", "api")]}, {"app": "api"}, True),
        ({"matchExpressions": [expr("app", "In", "web")]}, {}, False),
        # apimachinery: NotIn matches when the key is absent (cyclonus differs, SEMANTICS 6.2 item 10)
        ({"matchExpressions": [expr("app", "NotIn", "web")]}, {}, True),
        ({"matchExpressions": [expr("app", "NotIn", "web")]}, {"app": "db"}, True),
        ({"matchExpressions": [expr("app", "NotIn", "web")]}, {"app": "web"}, False),
        ({"matchExpressions": [expr("app", "Exists")]}, {"app": ""}, True),
        ({"matchExpressions": [expr("app", "Exists")]}, {"other": "x"}, False),
        ({"matchExpressions": [expr("app", "DoesNotExist")]}, {"other": "x"}, True),
        ({"matchExpressions": [expr("app", "DoesNotExist")]}, {"app": "x"}, False),
        # everything is ANDed
        ({"matchLabels": {"app": "web"}, "matchExpressions": [expr("tier", "Exists")]}, {"app": "web"}, False),
        (
            {"matchLabels": {"app": "web"}, "matchExpressions": [expr("tier", "Exists")]},
            {"app": "web", "tier": "1"},
            True,
        ),
        ({"matchLabels": None, "matchExpressions": None}, {"x": "y"}, True),
    ],
)
def test_matching_follows_apimachinery(selector: dict[str, object], labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(selector, "test").matches(labels) is expected


def test_canonical_form_ignores_order_and_duplicates() -> None:
    a = parse_selector(
        {"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [expr("k", "In", "y", "x", "x"), expr("e", "Exists")]}
    )
    b = parse_selector(
        {"matchExpressions": [expr("e", "Exists"), expr("k", "In", "x", "y")], "matchLabels": {"a": "1", "b": "2"}}
    )
    assert a == b
    assert hash(a) == hash(b)
    assert {a: "found"}[b] == "found"
    assert a.to_dict() == {
        "matchLabels": {"a": "1", "b": "2"},
        "matchExpressions": [{"key": "e", "operator": "Exists"}, {"key": "k", "operator": "In", "values": ["x", "y"]}],
    }
    assert str(a) == "a=1,b=2,e,k in (x,y)"
    assert parse_selector(a.to_dict()) == a


def test_empty_selector() -> None:
    assert parse_selector({}) == EVERYTHING
    assert EVERYTHING.is_empty
    assert EVERYTHING.to_dict() == {}
    assert not parse_selector({"matchLabels": {"a": "b"}}).is_empty


def test_string_form_of_negative_operators() -> None:
    selector = parse_selector({"matchExpressions": [expr("a", "NotIn", "x"), expr("b", "DoesNotExist")]})
    assert str(selector) == "a notin (x),!b"
    assert selector.label_keys() == frozenset({"a", "b"})


@pytest.mark.parametrize(
    ("selector", "message", "path"),
    [
        (
            {"matchExpressions": [expr("app", "Equals", "x")]},
            "'Equals' is not a valid label selector operator",
            ("matchExpressions", 0),
        ),
        (
            {"matchExpressions": [expr("app", "In")]},
            "values must be non-empty when operator is In",
            ("matchExpressions", 0),
        ),
        (
            {"matchExpressions": [expr("app", "NotIn")]},
            "values must be non-empty when operator is NotIn",
            ("matchExpressions", 0),
        ),
        (
            {"matchExpressions": [expr("app", "Exists", "x")]},
            "values must be empty when operator is Exists",
            ("matchExpressions", 0, "values"),
        ),
        (
            {"matchExpressions": [expr("app", "DoesNotExist", "x")]},
            "values must be empty when operator is DoesNotExist",
            ("matchExpressions", 0, "values"),
        ),
        ({"matchLabels": {"app": "$web"}}, "invalid label value '$web'", ("matchLabels", "app")),
        ({"matchLabels": {"app": "web-"}}, "must start and end with an alphanumeric", ("matchLabels", "app")),
        ({"matchLabels": {"app": "x" * 64}}, "must be no more than 63 characters", ("matchLabels", "app")),
        ({"matchLabels": {"app": 3}}, "must be a string", ("matchLabels", "app")),
        (
            {"matchLabels": {"Bad_Prefix.io/app": "x"}},
            "prefix part must be a DNS subdomain",
            ("matchLabels", "Bad_Prefix.io/app"),
        ),
        ({"matchLabels": {"/app": "x"}}, "prefix part must not be empty", ("matchLabels", "/app")),
        ({"matchLabels": {"example.com/": "x"}}, "name part must not be empty", ("matchLabels", "example.com/")),
        ({"matchLabels": {"k8s:app": "x"}}, "invalid label key 'k8s:app'", ("matchLabels", "k8s:app")),
        ({"matchLabels": ["app"]}, "matchLabels must be a mapping", ("matchLabels",)),
        ({"matchExpressions": {"key": "a"}}, "matchExpressions must be a list", ("matchExpressions",)),
        (
            {"matchExpressions": [expr("a", "In", "ok", "$bad")]},
            "invalid label value '$bad'",
            ("matchExpressions", 0, "values", 1),
        ),
    ],
)
def test_invalid_selectors_are_explained(selector: dict[str, object], message: str, path: tuple[object, ...]) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_selector(selector, "NetworkPolicy x/y spec.podSelector")
    assert message in str(caught.value)
    assert str(caught.value).startswith("NetworkPolicy x/y spec.podSelector: ")
    assert caught.value.path == path


def test_a_selector_must_be_a_mapping() -> None:
    with pytest.raises(SelectorError, match="must be a mapping, not list"):
        parse_selector(["app"], "here")


def test_cilium_source_prefixes_are_accepted_only_when_asked() -> None:
    selector = parse_selector(
        {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "shop", "reserved:host": ""}}, source_prefixes=True
    )
    assert selector.matches({"k8s:io.kubernetes.pod.namespace": "shop", "reserved:host": ""})
    with pytest.raises(SelectorError, match="invalid label key"):
        parse_selector({"matchLabels": {"k8s:Bad Key": "x"}}, source_prefixes=True)


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("app", True),
        ("app.kubernetes.io/name", True),
        ("kubernetes.io/metadata.name", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("example.com/" + "a" * 63, True),
        ("-app", False),
        ("app_", False),
        ("my app", False),
        ("a/b/c", False),
        ("UPPER.example.com/x", False),
        ("x." * 126 + "com/app", False),
    ],
)
def test_label_keys(key: str, valid: bool) -> None:
    assert (validate_label_key(key) is None) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [("", True), ("v1.2_3-a", True), ("A", True), ("a" * 63, True), ("a" * 64, False), ("_a", False)],
)
def test_label_values(value: str, valid: bool) -> None:
    assert (validate_label_value(value) is None) is valid


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("shop", None),
        ("0-a", None),
        ("a" * 63, None),
        ("a" * 64, "must be no more than 63 characters"),
        ("Shop", "must consist of lower-case letters"),
        ("shop.eu", "must consist of lower-case letters"),
        ("-shop", "must consist of lower-case letters"),
        ("shop\n", "must consist of lower-case letters"),
        ("", "must consist of lower-case letters"),
    ],
)
def test_namespace_names(name: str, reason: str | None) -> None:
    problem = validate_namespace_name(name)
    if reason is None:
        assert problem is None
    else:
        assert problem is not None and problem.startswith(f"invalid namespace name {name!r}: ") and reason in problem


_names = st.from_regex(r"[a-z]([a-z0-9-]{0,5}[a-z0-9])?", fullmatch=True)
_labels = st.dictionaries(st.sampled_from(["app", "tier", "env", "team"]), st.sampled_from(["a", "b", "c"]), max_size=4)


@st.composite
def _selectors(draw: st.DrawFn) -> dict[str, object]:
    keys = st.sampled_from(["app", "tier", "env", "team"])
    values = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3)
    expressions = []
    for _ in range(draw(st.integers(0, 3))):
        operator = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
        values_part = draw(values) if operator in ("In", "NotIn") else []
        expressions.append(expr(draw(keys), operator, *values_part))
    return {
        "matchLabels": draw(st.dictionaries(keys, st.sampled_from(["a", "b"]), max_size=2)),
        "matchExpressions": expressions,
    }


def _reference_match(selector: dict[str, object], labels: dict[str, str]) -> bool:
    """A direct transcription of Requirement.Matches, to check the implementation against."""
    for key, value in selector["matchLabels"].items():  # type: ignore[union-attr]
        if labels.get(key) != value:
            return False
    for e in selector["matchExpressions"]:  # type: ignore[union-attr]
        key, operator, values = e["key"], e["operator"], e.get("values", [])
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]
        if not ok:
            return False
    return True


@given(_selectors(), _labels)
def test_matching_agrees_with_the_reference_and_survives_a_round_trip(
    raw: dict[str, object], labels: dict[str, str]
) -> None:
    selector = parse_selector(raw)
    assert selector.matches(labels) is _reference_match(raw, labels)
    assert parse_selector(selector.to_dict()) == selector


@given(_names, _names)
def test_generated_dns_style_names_are_valid_keys_and_values(prefix: str, name: str) -> None:
    assert validate_label_key(f"{prefix}.example.com/{name}") is None
    assert validate_label_value(name) is None
    assert isinstance(parse_selector({"matchLabels": {name: name}}), LabelSelector)
