"""`canonical` is hashed into imported node ids and orders every rule: its text must not change for the values
policies hold (no floats; those are only required to be stable)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from editor.policy.compile import canonical

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_canonical_is_exactly_sorted_compact_json(value: object) -> None:
    assert canonical(value) == json.dumps(value, sort_keys=True, separators=(",", ":"))


def test_canonical_keeps_json_escapes_for_non_ascii_text() -> None:
    assert canonical({"é": ["ü", 1]}) == '{"\\u00e9":["\\u00fc",1]}'
    assert canonical(["\x7f", "\x1f"]) == '["\\u007f","\\u001f"]'


def test_canonical_floats_are_stable() -> None:
    assert canonical({"x": 1e16, "y": 0.5}) == canonical({"y": 0.5, "x": 1e16}) == '{"x":1e16,"y":0.5}'
