"""Reading parsed YAML/JSON whose shape is not yet checked: a part of the wrong type counts as absent."""

from typing import Any


def mapping(value: Any) -> dict[str, Any]:
    """`value` if it is a mapping, else an empty one (a malformed part selects, names or labels nothing)."""
    return value if isinstance(value, dict) else {}
