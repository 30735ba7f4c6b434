"""What the CLI, the JSON API and the htmx panels share: one answer to "compile this drawing".

`compile_answer(document, dialect)` is the compile result with every emitted object validated against the
upstream schemas, so `fenceline render` and the API report the same issues for the same drawing. An edit changes
one or two policies of a drawing, so the editor's round trip should not grow with the untouched ones: each
subject's drafts are kept by the inputs they were compiled from (compile.Context.subject_drafts), and the YAML text
and the validation findings per emitted object (keyed by its exact JSON, key order included). Every cache is
bounded by the characters it holds.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from .compile import SubjectDrafts, compile_document
from .document import Document
from .edge_states import edge_states
from .layers import has_platform
from .sized_cache import SizedCache
from .validate import validate_object
from .yamlio import dump_yaml_documents

_KEY_ENCODER = msgspec.json.Encoder()


# Per-subject drafts, per-object YAML and validation findings of the policies compiled lately: 16 Mi characters
# each at most.
CACHE_CHARS = 16 * 1024 * 1024
drafts_cache: SizedCache[SubjectDrafts] = SizedCache(CACHE_CHARS)  # lint's compile shares it (api lint)
_yaml_cache: SizedCache[str] = SizedCache(CACHE_CHARS)
_findings_cache: SizedCache[tuple[tuple[str, str], ...]] = SizedCache(CACHE_CHARS)
# The nodes and edges (by their exact JSON) that passed the document schema lately, for Document.from_json.
valid_items: SizedCache[bool] = SizedCache(CACHE_CHARS // 4)


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
    result = compile_document(document, dialect, drafts_cache)
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
        # Each subject's isolation per direction, from the plan the policies were compiled from.
        "isolation": {s.node.id: {"ingress": s.isolate_ingress, "egress": s.isolate_egress} for s in result.subjects},
        "ok": not any(issue["severity"] == "error" for issue in issues),
    }
