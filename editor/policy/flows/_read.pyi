"""Types of the compiled reader (_read.pyx), for mypy."""

from collections.abc import Callable, Sequence
from typing import Any

def add_records(
    self: Any, records: Sequence[Any], start: int, decode: Callable[[Any], Any], wrapped: bool, strict: bool = True
) -> int: ...
