"""What the CLI, the JSON API and the htmx panels share: one answer to "compile this drawing".

`compile_answer(document, dialect)` is the compile result with every emitted object validated against the
upstream schemas, so `fenceline render` and the API report the same issues for the same drawing. The YAML text
and the validation findings are kept per emitted object (keyed by its exact JSON, key order included): an edit
changes one or two policies of a drawing, so the editor's round trip does not grow with the untouched ones. Both
caches are bounded by the characters they hold.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

from .compile import compile_document
from .document import Document
from .edge_states import edge_states
from .layers import has_platform
from .validate import validate_object
from .yamlio import dump_yaml_documents

V = TypeVar("V")
_KEY_ENCODER = msgspec.json.Encoder()


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


# Per-object YAML and validation findings of the policies compiled lately: 16 Mi characters each at most.
CACHE_CHARS = 16 * 1024 * 1024
_yaml_cache: SizedCache[str] = SizedCache(CACHE_CHARS)
_findings_cache: SizedCache[tuple[tuple[str, str], ...]] = SizedCache(CACHE_CHARS)


def _yaml_of(key: str) -> str:
    return dump_yaml_documents([json.loads(key)])


def _findings_of(key: str) -> tuple[tuple[str, str], ...]:
    return tuple((finding.severity, str(finding)) for finding in validate_object(json.loads(key), "compiled"))


class AnswerTooLarge(Exception):
    """The compiled policies are larger than the caller's bound (what the answer may hold)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the policies of this drawing are more than {limit} bytes as YAML and JSON")
        self.limit = limit


def compile_answer(document: Document, dialect: str, max_bytes: int | None = None) -> dict[str, Any]:
    """YAML, objects, issues (compiler and schema validation), explanations, edge colours and `ok`.

    The YAML stops growing at `max_bytes` (with the objects' JSON counted too): AnswerTooLarge, so no drawing
    makes the server build an answer it would not send."""
    result = compile_document(document, dialect)
    # Exact JSON, key order included (msgspec keeps insertion order; several times faster than json.dumps)
    keys = [_KEY_ENCODER.encode(obj).decode() for obj in result.objects]
    parts: list[str] = []
    size = sum(map(len, keys))
    for key in keys:
        parts.append(_yaml_cache.get(key, _yaml_of, len))
        size += len(parts[-1])
        if max_bytes is not None and size > max_bytes:
            raise AnswerTooLarge(max_bytes)
    issues = [issue.to_json() for issue in result.issues]
    for key in keys:
        found = _findings_cache.get(key, _findings_of, lambda pairs: sum(len(message) + 16 for _, message in pairs))
        issues += [{"severity": severity, "message": message} for severity, message in found]
    states = edge_states(document, result)
    reasons: dict[str, str] = {}
    if has_platform(document):  # application edges a platform rule overrides
        from .platform.overrides import overridden_edges  # it analyses; loaded only for drawings with platform layers

        reasons = overridden_edges(document, result)
        states.update({edge_id: "overridden" for edge_id in reasons if states.get(edge_id) == "allowed"})
    return {
        "dialect": result.dialect,
        "yaml": "".join(parts),
        "objects": result.objects,
        "issues": issues,
        "explanations": [explanation.to_json() for explanation in result.explanations],
        "objectNodes": list(result.object_nodes),  # the YAML beside the canvas follows the selection
        "edgeStates": states,
        "edgeReasons": reasons,  # edge id -> why it is not in effect (a platform rule decides against it)
        "ok": not any(issue["severity"] == "error" for issue in issues),
    }
