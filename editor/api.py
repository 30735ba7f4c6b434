"""The JSON API under /api/: compile, import, templates, save and load.

Thin: parse the request, call the core, answer JSON. Every error is `{"error": "...", "details": [...]}` with a
4xx status; nothing a client sends produces a 500. POSTs need Django's CSRF token like every other form: scripts
fetch it from GET /api/csrf (which also sets the csrftoken cookie) and send it back as the X-CSRFToken header.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import signal
import threading
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.db import OperationalError
from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import get_token
from django.urls import reverse

from editor import auth, panels
from editor.middleware import too_large_response
from editor.models import Revision, StaleParentError, save_revision
from editor.policy.compile import DIALECTS, compile_document
from editor.policy.dialect_fit import adopt_dialect, missing_features
from editor.policy.document import Document, DocumentError
from editor.policy.edge_states import edge_states
from editor.policy.importer import import_text
from editor.policy.isolation import isolation
from editor.policy.validate import validate_object
from editor.policy.yamlio import InputError, Limits, decode, dump_yaml_documents

logger = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, message: str, details: list[str] | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.details, self.status = message, details or [], status


def error_response(message: str, details: list[str] | None = None, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message, "details": details or []}, status=status)


def endpoint(method: str) -> Callable[[Callable[..., JsonResponse]], Callable[..., JsonResponse]]:
    """An API view for one HTTP method, bounded by the time limit, whose errors (ApiError, an oversized body,
    a wrong method, a database that is down, the time limit) are JSON."""

    def decorate(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            if request.method != method and not (method == "GET" and request.method == "HEAD"):
                response = error_response(f"use {method} for {request.path}", status=405)
                response["Allow"] = method
                return response
            limit = settings.FENCELINE_TIME_LIMIT_SECONDS
            try:
                with time_limit(limit):
                    return view(request, *args, **kwargs)
            except TimeLimitExceeded:
                return error_response(
                    f"this request took longer than the limit of {limit:g} s on this server; "
                    "try again with a smaller drawing",
                    ["the limit is the setting FENCELINE_TIME_LIMIT_SECONDS"],
                    status=503,
                )
            except ApiError as exc:
                return error_response(exc.message, exc.details, exc.status)
            except RequestDataTooBig:
                return too_large_response(request)  # type: ignore[return-value]
            except OperationalError:
                # The database is restarting or unreachable: a clear, retryable answer instead of a 500.
                logger.warning("database unavailable while answering %s", request.path, exc_info=True)
                response = error_response("the database is not available right now; try again in a moment", status=503)
                response["Retry-After"] = "5"
                return response

        return wrapper

    return decorate


def limits() -> Limits:
    return Limits(max_bytes=settings.FENCELINE_MAX_UPLOAD_BYTES)


def load_json(data: bytes | str, source: str) -> Any:
    """JSON text to a value, with the size, encoding and nesting checks every input gets."""
    try:
        text = decode(data, source, limits())
        value = json.loads(
            text, parse_constant=_not_finite(source), parse_float=_finite_float(source), parse_int=_int_of(source)
        )
    except InputError as exc:
        raise ApiError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise ApiError(f"{source}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise ApiError(f"{source}: JSON nested too deeply") from None
    if "\\u0000" in text:
        _refuse_nul(value, source)
    return value


def _not_finite(source: str) -> Callable[[str], float]:
    def refuse(literal: str) -> float:
        raise ApiError(f"{source}: {literal} is not a finite number; every number must be finite")

    return refuse


def _finite_float(source: str) -> Callable[[str], float]:
    """Floats as usual, except literals beyond the float range (1e999), which no database column holds."""

    def parse(literal: str) -> float:
        number = float(literal)
        if math.isinf(number):
            raise ApiError(f"{source}: {literal} is not a finite number; every number must be finite")
        return number

    return parse


def _int_of(source: str) -> Callable[[str], int]:
    """Integers as usual, except literals longer than Python converts (4,300 digits), which would be a 500."""

    def parse(literal: str) -> int:
        try:
            return int(literal)
        except ValueError:
            raise ApiError(f"{source}: an integer of {len(literal.lstrip('-')):,} digits is too large") from None

    return parse


def _refuse_nul(value: Any, path: str) -> None:
    """No text may hold a NUL (\\u0000): PostgreSQL cannot store it, and no Kubernetes field allows it."""
    if isinstance(value, str) and "\x00" in value:
        raise ApiError(f"{path}: text holds a NUL character (\\u0000), which no field accepts")
    if isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_nul(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, path)
            _refuse_nul(item, f"{path}.{key}")


def check_size(value: Any, what: str = "the drawing") -> None:
    """Refuse (413) a document with more nodes or edges than the server accepts, before any work on it."""
    if not isinstance(value, dict):
        return
    for field, setting in (("nodes", "FENCELINE_MAX_NODES"), ("edges", "FENCELINE_MAX_EDGES")):
        items, limit = value.get(field), getattr(settings, setting)
        if isinstance(items, list) and len(items) > limit:
            raise ApiError(
                f"{what} has {len(items):,} {field}, more than the limit of {limit:,} on this server",
                [f"the limit is the setting {setting}"],
                status=413,
            )


def document_from(value: Any) -> Document:
    check_size(value)
    try:
        return Document.from_json(value)
    except DocumentError as exc:
        details = [f"{path}: {message}" if path else message for path, message in exc.errors]
        raise ApiError(f"not a valid Fenceline document: {exc}", details) from None


def body_json(request: HttpRequest) -> Any:
    if request.content_type == "multipart/form-data":
        # The CSRF check has read the form's stream already, so the raw body is gone (RawPostDataException).
        raise ApiError(
            "send the drawing as the request body with Content-Type: application/json, not as a multipart form"
        )
    return load_json(request.body, "request body")


def split_envelope(value: Any) -> tuple[Any, dict[str, Any]]:
    """A body is either the document itself or `{"document": {...}, ...options}`."""
    if isinstance(value, dict) and "document" in value and "schema" not in value:
        return value["document"], {k: v for k, v in value.items() if k != "document"}
    return value, {}


def dialect_of(value: Any, document: Document) -> str:
    dialect = value or document.settings.dialect
    if dialect not in DIALECTS:
        raise ApiError(f"unknown dialect {dialect!r}; use one of: {', '.join(DIALECTS)}")
    return str(dialect)


@functools.lru_cache(maxsize=8192)
def _object_yaml(key: str) -> str:
    return dump_yaml_documents([json.loads(key)])


@functools.lru_cache(maxsize=8192)
def _object_findings(key: str) -> tuple[dict[str, str], ...]:
    findings = validate_object(json.loads(key), "compiled")
    return tuple({"severity": finding.severity, "message": str(finding)} for finding in findings)


def compiled(document: Document, dialect: str) -> dict[str, Any]:
    """The compile answer: YAML, objects, issues (compiler and schema validation), explanations, edge colours.

    An edit changes one or two policies of a drawing, so the YAML text and the validation findings are kept
    per emitted object (keyed by its exact JSON, key order included): the answer is the same as rendering and
    validating everything again, and the editor's round trip does not grow with the untouched policies.
    """
    result = compile_document(document, dialect)
    keys = [json.dumps(obj, separators=(",", ":"), ensure_ascii=False) for obj in result.objects]
    data: dict[str, Any] = {
        "dialect": result.dialect,
        "yaml": "".join(_object_yaml(key) for key in keys),
        "objects": result.objects,
        "issues": [issue.to_json() for issue in result.issues],
        "explanations": [explanation.to_json() for explanation in result.explanations],
        "objectNodes": list(result.object_nodes),  # the YAML beside the canvas follows the selection
    }
    data["issues"].extend(dict(finding) for key in keys for finding in _object_findings(key))
    data["edgeStates"] = edge_states(document, result)
    data["ok"] = not any(issue["severity"] == "error" for issue in data["issues"])
    data["needs"] = missing_features(document, dialect)
    data["isolation"] = {node_id: {"ingress": i, "egress": e} for node_id, (i, e) in isolation(document).items()}
    named = f" {document.name!r}" if document.name else ""
    data["annotated"] = annotated_yaml(f"# Fenceline drawing{named} ({result.dialect})", data)
    return data


def annotated_yaml(title: str, data: dict[str, Any]) -> str:
    """The compiled YAML with `title` and every problem as comments on top: what a person copies or applies
    carries the warnings with it."""
    header = [title, *(f"# {issue['severity']}: {issue['message']}" for issue in data["issues"])]
    # A comment ends at any line break YAML knows (\r, NEL, LS, PS as well as \n): one in a quoted name would
    # end the comment and add objects of its own to what `kubectl apply` creates.
    return "\n".join(" ".join(line.splitlines()) for line in header) + "\n" + data["yaml"]


@endpoint("GET")
def csrf(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"csrfToken": get_token(request)})


@endpoint("POST")
def compile_view(request: HttpRequest) -> JsonResponse:
    raw, options = split_envelope(body_json(request))
    document = document_from(raw)
    dialect = dialect_of(request.GET.get("dialect") or options.get("dialect"), document)
    return JsonResponse(compiled(document, dialect))


class TimeLimitExceeded(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after `seconds` of wall time (SIGALRM).

    Gunicorn's sync workers and the test client run requests in the main thread, where a timer signal can be
    used; a threaded development server cannot, and there the block runs unbounded.
    """
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    armed = True

    def expire(signum: int, frame: Any) -> None:
        if armed:
            raise TimeLimitExceeded

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        # An alarm that arrives while we are leaving must neither escape nor skip the clean-up (which would leave
        # this handler installed and let a late alarm raise somewhere else): disarm first, restore in any case.
        try:
            armed = False
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def import_document(data: bytes | str, source: str) -> dict[str, Any]:
    limit = settings.FENCELINE_TIME_LIMIT_SECONDS
    try:
        with time_limit(limit):
            result = import_text(data, source)
    except InputError as exc:
        raise ApiError(str(exc), [str(exc)]) from None
    except TimeLimitExceeded:
        raise ApiError(
            f"{source}: the import took longer than the limit of {limit:g} s on this server; "
            "import fewer files at once",
            ["the limit is the setting FENCELINE_TIME_LIMIT_SECONDS"],
            status=503,
        ) from None
    dialect_note = adopt_dialect(result.document)
    document = result.document.to_json()
    check_size(document, f"{source}: the import")
    return {"document": document, "warnings": [str(w) for w in result.warnings], "dialectNote": dialect_note}


@endpoint("POST")
def import_view(request: HttpRequest) -> JsonResponse:
    """Raw YAML/JSON as the body, or a multipart upload in the field `file`."""
    if request.content_type == "multipart/form-data":
        upload = request.FILES.get("file")
        if upload is None:
            raise ApiError("no file: send the YAML as the request body, or as a multipart field named 'file'")
        if upload.size is not None and upload.size > settings.FENCELINE_MAX_UPLOAD_BYTES:
            return too_large_response(request, upload.size)  # type: ignore[return-value]
        return JsonResponse(import_document(upload.read(), upload.name or "upload"))
    source = request.GET.get("source") or "request body"
    if not request.body.strip():
        raise ApiError("empty body: send YAML or JSON (policies and/or workload manifests)")
    return JsonResponse(import_document(request.body, source))


@endpoint("POST")
def template_view(request: HttpRequest, name: str) -> JsonResponse:
    """Apply a one-click template: body `{"document": {...}, "params": {"scope": "shop", ...}, "dialect": ...}`."""
    raw, options = split_envelope(body_json(request))
    document = document_from(raw)
    params = options.get("params") or {}
    if not isinstance(params, dict):
        raise ApiError("params must be an object of form fields")
    dialect = dialect_of(options.get("dialect"), document)
    try:
        panel = panels.template_panel(document, name, params, dialect)  # type: ignore[arg-type]
    except panels.PanelNotFound as exc:
        raise ApiError(str(exc), [f"templates: {', '.join(panels.TEMPLATES)}"], status=404) from None
    if panel.document is None:
        form = panel.context["form"]
        details = [
            message if field == NON_FIELD_ERRORS else f"{field}: {message}"
            for field, messages in form.errors.items()
            for message in messages
        ]
        raise ApiError("the template could not be applied", details + panel.context.get("problems", []))
    return JsonResponse({"document": panel.document.to_json(), "message": panel.message})


def revision_json(request: HttpRequest, revision: Revision, *, with_document: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "slug": revision.slug,
        "revision": revision.number,
        "name": revision.name,
        "author": revision.author or None,
        "created": revision.created.isoformat(),
        "parent": revision.parent.slug if revision.parent else None,
        "url": request.build_absolute_uri(reverse("revision", args=[revision.slug])),
        "yamlUrl": request.build_absolute_uri(reverse("revision_yaml", args=[revision.slug])),
        "historyUrl": request.build_absolute_uri(reverse("history", args=[revision.slug])),
    }
    if with_document:
        data["document"] = revision.data
    return data


def revision_or_404(slug: str) -> Revision:
    revision = Revision.objects.select_related("document", "parent").filter(slug=slug).first()
    if revision is None:
        raise ApiError("no saved drawing has this address", [slug], status=404)
    return revision


@endpoint("POST")
def save_view(request: HttpRequest) -> JsonResponse:
    """Save `{"document": {...}, "parent": "<slug>" | null, "fork": false}` as a new immutable revision."""
    refusal = auth.save_refusal(request)
    if refusal is not None:
        return refusal
    raw, options = split_envelope(body_json(request))
    document = document_from(raw)
    parent_slug = options.get("parent")
    if parent_slug is not None and not isinstance(parent_slug, str):
        raise ApiError("parent must be the slug of a saved revision, or null")
    parent = revision_or_404(parent_slug) if parent_slug else None
    try:
        revision = save_revision(
            document.to_json(), parent, fork=bool(options.get("fork")), author=auth.author_of(request)
        )
    except StaleParentError as exc:
        latest = revision_json(request, exc.latest, with_document=False)
        return JsonResponse(
            {"error": str(exc), "details": [f"latest revision: {latest['url']}"], "latest": latest}, status=409
        )
    return JsonResponse(revision_json(request, revision, with_document=False), status=201)


@endpoint("GET")
def load_view(request: HttpRequest, slug: str) -> JsonResponse:
    revision = revision_or_404(slug)
    data = revision_json(request, revision)
    latest = revision.document.latest_revision()
    data["latest"] = latest.slug if latest else revision.slug
    return JsonResponse(data)


@endpoint("GET")
def history_view(request: HttpRequest, slug: str) -> JsonResponse:
    revision = revision_or_404(slug)
    revisions = revision.document.revisions.select_related("parent").order_by("-number")
    return JsonResponse({"revisions": [revision_json(request, r, with_document=False) for r in revisions]})
