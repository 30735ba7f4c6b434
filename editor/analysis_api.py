"""The JSON API of the editor's analysis views: lint findings with the rating, one-click fixes, and the Check view
with flow replay.

Every endpoint takes the drawing like /api/compile does (the document itself, or `{"document": ..., "dialect":
...}`) and answers JSON; errors are `{"error", "details"}` with a 4xx status, as everywhere under /api/.

* POST /api/lint -> `{"dialect", "findings", "counts", "rating"}`: `fenceline lint` and `fenceline rate` of the
  drawing as compiled in that dialect, each finding with `whyUrl` (its rule's page on this server).
* POST /api/lint/fix with `"fix": "<fix id>"` -> `{"document", "message", "fix"}`: the drawing with that fix
  applied (only fixes whose target is the drawing; the others change YAML the drawing would overwrite).
* POST /api/check -> the Check view (`check_document(...).to_json()`) plus `"replay"`: every observed connection
  (edges with `observed`, of the drawing and of the optional `"observed"` document, e.g. the last saved
  revision) judged against the drawing's policies, each with its attribution (`explanation`: the policy and rule
  that allowed it, or why each side denies it, as `connlist --explain` words it), or null when there are none.
  `"only": "replay"` skips the matrix (the editor asks that before saving). `"exposure"`: per workload, what it is
  open to whatever pods exist (`connlist --exposure`), in words.
* POST /api/check/cell with `"src"` and `"dst"` (peer names from the matrix) -> the reasons for one cell.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import reverse

from editor.api import ApiError, body_json, check_size, dialect_of, document_from, endpoint, split_envelope
from editor.policy.check import CheckResult, ReplayResult, check_document, replay_document
from editor.policy.document import Document
from editor.policy.isolation import traffic_lost
from editor.policy.lint import alike_counts, alike_fixes, apply_fixes, lint_document, lint_drawing
from editor.policy.lint.model import SEVERITIES
from editor.policy.peer_names import labels as peer_labels
from editor.policy.peer_names import readable
from editor.policy.rating import rate_drawing
from editor.policy.service import drafts_cache


def request_document(request: HttpRequest) -> tuple[Document, str, dict[str, Any]]:
    """The posted drawing, the dialect it is shown in (`?dialect=`, the body's `dialect`, or its own) and the
    body's other fields."""
    raw, options = split_envelope(body_json(request))
    document = document_from(raw)
    return document, dialect_of(request.GET.get("dialect") or options.get("dialect"), document), options


def in_dialect(document: Document, dialect: str) -> Document:
    """Lint, rating and check read the dialect from the document's settings; the editor shows either."""
    if document.settings.dialect == dialect:
        return document
    return dataclasses.replace(document, settings=dataclasses.replace(document.settings, dialect=dialect))


def _text_option(options: dict[str, Any], name: str) -> str:
    value = options.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(f"{name} must be given, as text")
    return value


# --- lint and rating ----------------------------------------------------------------------------------------


def findings_json(document: Document) -> dict[str, Any]:
    findings = []
    # Compiled (with the compile answers' per-subject policies: the editor asks for both after each change) and
    # linted once, for the findings and the rating.
    linted = lint_drawing(document, drafts_cache=drafts_cache)
    alike = alike_counts(linted.findings)
    for finding in linted.findings:
        data = finding.to_json()
        data["whyUrl"] = reverse("rule_page", args=[finding.rule])
        # Drawing fixes that other findings offer too: "Fix all" applies them as one change.
        data["alike"] = {fix["id"]: alike[fix["id"]] for fix in data["fixes"] if alike.get(fix["id"], 0) > 1}
        findings.append(data)
    rated = rate_drawing(document, linted)
    rating = rated.to_json() if rated is not None else None
    if rating is not None:
        rating["methodUrl"] = reverse("rule_page", args=["rating"])
    counts = {severity: sum(1 for f in findings if f["severity"] == severity) for severity in SEVERITIES}
    return {"dialect": document.settings.dialect, "findings": findings, "counts": counts, "rating": rating}


@endpoint("POST")
def lint_view(request: HttpRequest) -> JsonResponse:
    document, dialect, _ = request_document(request)
    return JsonResponse(findings_json(in_dialect(document, dialect)))


@endpoint("POST")
def fix_view(request: HttpRequest) -> JsonResponse:
    drawn, dialect, options = request_document(request)
    fix_id = _text_option(options, "fix")
    every = options.get("all", False)
    if not isinstance(every, bool):
        raise ApiError(f"all must be true or false, not {every!r}")
    document = in_dialect(drawn, dialect)
    try:
        fixes = alike_fixes(lint_document(document), fix_id)
    except KeyError as exc:
        raise ApiError(str(exc.args[0]), ["lint the drawing again (POST /api/lint) for its fixes"], 409) from None
    fix = fixes[0]
    if fix.target != "document":
        raise ApiError(
            f"the fix {fix_id!r} changes the compiled YAML, not the drawing; only drawing fixes apply here",
            [f"{fix.title}: change the drawing so that its YAML does this"],
        )
    fixed = apply_fixes(fixes if every else [fix], document)
    fixed.settings.dialect = drawn.settings.dialect  # found in the dialect shown; the drawing keeps its own
    data = fixed.to_json()
    check_size(data, "the fixed drawing")
    message = f"Applied {len(fixes)} times: {fix.title}." if every and len(fixes) > 1 else f"Applied: {fix.title}."
    return JsonResponse({"document": data, "message": message, "fix": fix.to_json()})


@endpoint("POST")
def isolation_view(request: HttpRequest) -> JsonResponse:
    """What a change would take away by isolating workloads: `document` is the drawing after the change,
    `before` the drawing now."""
    after, dialect, options = request_document(request)
    if options.get("before") is None:
        raise ApiError("before is required: the drawing as it is before the change")
    before = document_from(options["before"])
    losses = traffic_lost(before, after, dialect)
    return JsonResponse({"dialect": dialect, "losses": [loss.to_json() for loss in losses]})


# --- check and replay ---------------------------------------------------------------------------------------

CACHED_CHECKS = 2  # the drawing on screen and the one before: hovering the matrix asks for cells of the same one
_checks: OrderedDict[str, CheckResult] = OrderedDict()
_checks_lock = threading.Lock()


def checked(document: Document) -> CheckResult:
    """check_document, kept for the last few drawings: each cell's reasons need the whole check (a second on
    500 workloads), and the editor asks for them one at a time for the drawing it has just checked."""
    text = json.dumps(document.to_json(), sort_keys=True, separators=(",", ":"))
    key = hashlib.sha256(text.encode()).hexdigest()
    with _checks_lock:
        if key in _checks:
            _checks.move_to_end(key)
            return _checks[key]
    result = check_document(document)
    with _checks_lock:
        _checks[key] = result
        while len(_checks) > CACHED_CHECKS:
            _checks.popitem(last=False)
    return result


def has_observed(document: Document) -> bool:
    return any(edge.observed is not None for edge in document.edges)


def replay_json(document: Document, observed: Document | None) -> dict[str, Any] | None:
    """Observed connections of `document` and of `observed` (a drawing they may since have left), each judged
    once against `document`'s policies; None when neither has any."""
    sources = [doc for doc in (document, observed) if doc is not None and has_observed(doc)]
    if not sources:
        return None
    judged: dict[tuple[str, str, str, int | None], Any] = {}
    for source in sources:
        for connection in replay_document(document, observed=source, explain=True).connections:
            key = (connection.src, connection.dst, connection.observation.protocol, connection.observation.port)
            judged.setdefault(key, connection)
    order = sorted(judged.items(), key=lambda item: (*item[0][:3], item[0][3] or 0))
    result = ReplayResult([connection for _, connection in order])
    data = result.to_json()
    data["flows"] = sum(c.observation.count for c in result.breaking)
    return data


@endpoint("POST")
def check_view(request: HttpRequest) -> JsonResponse:
    drawn, dialect, options = request_document(request)
    document = in_dialect(drawn, dialect)
    observed = document_from(options["observed"]) if options.get("observed") is not None else None
    only = options.get("only")
    if only not in (None, "replay"):
        raise ApiError(f"only must be 'replay' or left out, not {only!r}")
    data: dict[str, Any] = {"dialect": dialect} if only == "replay" else checked(document).to_json()
    data["replay"] = replay_json(document, observed)
    # Texts for people (`Any IP address`); the peers' `name` stays the analyser's, which the cell request uses.
    data = readable(data)
    data["labels"] = peer_labels(peer["name"] for peer in data.get("peers", []))
    return JsonResponse(data)


@endpoint("POST")
def check_cell_view(request: HttpRequest) -> JsonResponse:
    drawn, dialect, options = request_document(request)
    src, dst = _text_option(options, "src"), _text_option(options, "dst")
    result = checked(in_dialect(drawn, dialect))
    names = {peer.name for peer in result.peers}
    unknown = [name for name in (src, dst) if name not in names]
    if unknown:
        raise ApiError(f"no peer {unknown[0]!r} in this drawing's matrix", ["check the drawing again"], 409)
    try:
        return JsonResponse(readable(result.cell_json(src, dst)))
    except KeyError as exc:
        raise ApiError(str(exc.args[0]), ["a workload to itself has no cell"]) from None
