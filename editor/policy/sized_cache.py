"""A least-recently-used cache bounded by the characters it holds, shared by the compile caches of a worker."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class SizedCache(Generic[V]):
    """A least-recently-used cache bounded by the characters it holds (keys and values), not by its count: one
    entry can be a large policy, so a count alone would not bound the worker's memory."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.chars = 0
        self._entries: OrderedDict[str, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, make: Callable[[str], V], size: Callable[[V], int]) -> V:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found[0]
        value = make(key)
        cost = len(key) + size(value)
        if cost > self.max_chars:
            return value
        with self._lock:
            if key not in self._entries:
                self._entries[key] = (value, cost)
                self.chars += cost
            while self.chars > self.max_chars:
                _, (_, freed) = self._entries.popitem(last=False)
                self.chars -= freed
        return value
