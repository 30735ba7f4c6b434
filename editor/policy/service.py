"""What the CLI, the JSON API and the htmx panels share: one answer to "compile this drawing".

`compile_answer(document, dialect)` is the compile result with every emitted object validated against the
upstream schemas, so `fenceline render` and the API report the same issues for the same drawing. The YAML text
and the validation findings are kept per emitted object (keyed by its exact JSON, key order included): an edit
changes one or two policies of a drawing, so the editor's round trip does not grow with the untouched ones.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from .compile import compile_document
from .document import Document
from .edge_states import edge_states
from .validate import validate_object
from .yamlio import dump_yaml_documents


@functools.lru_cache(maxsize=8192)
def _object_yaml(key: str) -> str:
    return dump_yaml_documents([json.loads(key)])


@functools.lru_cache(maxsize=8192)
def _object_findings(key: str) -> tuple[tuple[str, str], ...]:
    findings = validate_object(json.loads(key), "compiled")
    return tuple((finding.severity, str(finding)) for finding in findings)


def compile_answer(document: Document, dialect: str) -> dict[str, Any]:
    """YAML, objects, issues (compiler and schema validation), explanations, edge colours and `ok`."""
    result = compile_document(document, dialect)
    keys = [json.dumps(obj, separators=(",", ":"), ensure_ascii=False) for obj in result.objects]
    issues = [issue.to_json() for issue in result.issues]
    issues += [
        {"severity": severity, "message": message} for key in keys for severity, message in _object_findings(key)
    ]
    return {
        "dialect": result.dialect,
        "yaml": "".join(_object_yaml(key) for key in keys),
        "objects": result.objects,
        "issues": issues,
        "explanations": [explanation.to_json() for explanation in result.explanations],
        "edgeStates": edge_states(document, result),
        "ok": not any(issue["severity"] == "error" for issue in issues),
    }
