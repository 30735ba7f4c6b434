"""The JSON form of the core's plain records: each dataclass field under its camelCase name, in order."""

from __future__ import annotations

import dataclasses
from typing import Any


def camel_json(record: Any, **extra: Any) -> dict[str, Any]:
    """The fields of the dataclass instance `record` in their order under camelCase keys (`edge_ids` ->
    `edgeIds`), tuples as lists, then `extra`."""
    data = {
        key: list(value) if isinstance(value := getattr(record, name), tuple) else value
        for name, key in _keys(type(record))
    }
    data.update(extra)
    return data


def _keys(cls: type) -> tuple[tuple[str, str], ...]:
    keys = _KEYS.get(cls)
    if keys is None:
        keys = _KEYS[cls] = tuple((field.name, _camel(field.name)) for field in dataclasses.fields(cls))
    return keys


_KEYS: dict[type, tuple[tuple[str, str], ...]] = {}  # per record class: (field name, JSON key)


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)
