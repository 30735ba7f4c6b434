"""The JSON API under /api/: compile, import, templates, save and load.

Thin: parse the request, call the core, answer JSON. Every error is `{"error": "...", "details": [...]}` with a
4xx status; nothing a client sends produces a 500. POSTs need Django's CSRF token like every other form: scripts
fetch it from GET /api/csrf (which also sets the csrftoken cookie) and send it back as the X-CSRFToken header.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import re
import zlib
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import msgspec
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.db import IntegrityError, OperationalError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.urls import reverse

from editor import auth, panels
from editor.middleware import too_large_response
from editor.models import CompiledAnswer, NotAnEditorError, Revision, StaleParentError, save_revision
from editor.policy.compile import DIALECTS
from editor.policy.dialect_fit import adopt_dialect, dialect_fit
from editor.policy.document import Document, DocumentError, Settings
from editor.policy.gcpause import paused_gc
from editor.policy.importer import import_text
from editor.policy.service import AnswerTooLarge, compile_answer, valid_items
from editor.policy.sized_cache import SizedCache
from editor.policy.yamlio import InputError, Limits, check_json_value, decode
from editor.timelimit import TimeLimitExceeded, time_limit

logger = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, message: str, details: list[str] | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.details, self.status = message, details or [], status


class EncodedJsonResponse(JsonResponse):
    """A JsonResponse whose JSON msgspec writes: a compile answer is megabytes (objects and YAML) and the standard
    library's encoder spent a fifth of the round trip on it. The same value; non-ASCII text is written as UTF-8
    instead of `\\u` escapes."""

    def __init__(self, data: dict[str, Any] | bytes) -> None:
        body = data if isinstance(data, bytes) else _ENCODER.encode(data)
        HttpResponse.__init__(self, body, content_type="application/json")


_ENCODER = msgspec.json.Encoder()


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
    """JSON text to a value, with the checks every input gets: size, encoding, nesting depth, duplicate keys
    (refused, as the YAML loader and kubectl refuse them) and text that is valid Unicode without NUL characters."""
    try:
        text = decode(data, source, limits())
        value = json.loads(
            text, parse_constant=_not_finite(source), parse_float=_finite_float(source), parse_int=_int_of(source)
        )
        keys = check_json_value(value, source, limits(), text)
        if not _no_duplicate_keys(text, keys):
            json.loads(text, object_pairs_hook=_unique_keys(source))  # finds and names the duplicate
    except InputError as exc:
        raise ApiError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise ApiError(f"{source}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise ApiError(f"{source}: JSON nested too deeply") from None
    return value


_SPACE_BEFORE_COLON = re.compile(r'"\s+:')


def _no_duplicate_keys(text: str, keys: int) -> bool:
    """True when the text certainly has no object with a repeated key, judged without a second parse: every key
    is written `"...":`, so when the text has no space before a colon, as many `":` as keys parsed means none was
    lost to a duplicate (a `":` inside a string only adds to the count, which then asks for the slow check)."""
    return _SPACE_BEFORE_COLON.search(text) is None and text.count('":') == keys


def _unique_keys(source: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """An object whose key appears twice is refused: which value counts differs between readers."""

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(pairs)
        if len(value) != len(pairs):
            seen: set[str] = set()
            duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
            raise ApiError(f"{source}: duplicate key {duplicate!r} in a JSON object; each key may appear once")
        return value

    return build


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
        return Document.from_json(value, valid_items)
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


def compiled(document: Document, dialect: str) -> dict[str, Any]:
    """The compile answer (editor.policy.service, shared with `fenceline render`), with what the editor adds:
    the features the dialect lacks and the YAML with its problems as comments (what Copy and Download give). The
    YAML stops at the response limit (413)."""
    limit = settings.FENCELINE_MAX_RESPONSE_BYTES
    try:
        data = compile_answer(document, dialect, limit)
    except AnswerTooLarge:
        raise ApiError(
            f"the policies of this drawing are more than the limit of {limit / (1024 * 1024):.1f} MiB as YAML "
            "and JSON on this server",
            ["the limit is the setting FENCELINE_MAX_RESPONSE_BYTES"],
            status=413,
        ) from None
    data["needs"], data["switchTo"] = dialect_fit(document, dialect)
    named = f" {document.name!r}" if document.name else ""
    data["annotated"] = annotated_yaml(f"# Fenceline drawing{named} ({data['dialect']})", data)
    return data


# What the editor shows of a compile answer (`"view": "editor"`): it draws and lists, it does not read the objects
# or the explanations, and it has the YAML already for the annotated YAML (Copy, Download): a whole cluster's
# answer is a third as large (3.7 of 10.5 MB at 2,000 workloads), and as much less for the browser to parse.
VIEWS = ("full", "editor")


def answer_view(data: dict[str, Any], view: str) -> dict[str, Any]:
    """`data` as `view` wants it: "full" is the whole answer; "editor" leaves out `objects`, `explanations` and
    `annotated` and says `objectCount` and `annotation` (the comment lines `annotated` starts with) instead."""
    if view == "full":
        return data
    if view not in VIEWS:
        raise ApiError(f"unknown view {view!r}; use one of: {', '.join(VIEWS)}")
    shown = {key: value for key, value in data.items() if key not in ("objects", "explanations", "annotated")}
    shown["objectCount"] = len(data["objects"])
    shown["annotation"] = data["annotated"][: len(data["annotated"]) - len(data["yaml"])]
    return shown


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
    # Everything built here (the parsed drawing, its document, the answer) stays alive until the answer is written:
    # the cyclic collector, set off by those allocations, took a fifth of the round trip finding no garbage.
    with paused_gc():
        raw, options = split_envelope(body_json(request))
        document = document_from(raw)
        dialect = dialect_of(request.GET.get("dialect") or options.get("dialect"), document)
        view = str(request.GET.get("view") or options.get("view") or "full")
        return EncodedJsonResponse(answer_view(compiled(document, dialect), view))


# The compile answers of saved revisions, as the editor asks for them when it opens one: a revision never changes,
# so its answer is made once (a whole cluster's first compile costs seconds), kept with the revision in the database
# (models.CompiledAnswer) and in each worker's memory, and every later opening gets it at once. Keyed by the
# limits as well, which decide whether there is an answer at all, and by the compiler's version.
REVISION_ANSWERS_CHARS = 64 * 1024 * 1024
_revision_answers: SizedCache[bytes] = SizedCache(REVISION_ANSWERS_CHARS)
_ANSWER_SOURCES = (Path(__file__).parent / "policy", Path(__file__))


@functools.cache
def compiler_version() -> str:
    """A digest of the code an answer comes from (the core and this module): answers kept by another version of
    it are not given."""
    digest = hashlib.sha256()
    for root in _ANSWER_SOURCES:
        for path in sorted(root.rglob("*") if root.is_dir() else [root]):
            if path.is_file() and path.suffix in (".py", ".json", ".yaml"):
                digest.update(str(path.relative_to(root.parent)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@endpoint("GET")
def revision_compiled_view(request: HttpRequest, slug: str) -> JsonResponse:
    """GET /api/documents/<slug>/compiled?dialect=&view=: what POST /api/compile answers for the revision's drawing."""
    revision = revision_or_404(slug)
    limits = (settings.FENCELINE_MAX_NODES, settings.FENCELINE_MAX_EDGES, settings.FENCELINE_MAX_RESPONSE_BYTES)
    # The drawing's dialect read without decoding the drawing (the key must be known before the answer is made).
    drawn = revision.data.get("settings")
    written = drawn.get("dialect") if isinstance(drawn, dict) else None
    dialect = str(request.GET.get("dialect") or written or Settings.dialect)
    view = str(request.GET.get("view") or "full")
    if dialect not in DIALECTS or view not in VIEWS:
        raise ApiError(
            f"unknown dialect {dialect!r} or view {view!r}; dialects: {', '.join(DIALECTS)}; views: {', '.join(VIEWS)}"
        )
    key = f"{dialect} {view} {limits[0]} {limits[1]} {limits[2]} {compiler_version()}"

    def answer(_: str) -> bytes:
        kept = CompiledAnswer.objects.filter(revision=revision, key=key).values_list("body", flat=True).first()
        if kept is not None:
            return zlib.decompress(kept)
        with paused_gc():
            document = document_from(revision.data)
            body = bytes(_ENCODER.encode(answer_view(compiled(document, dialect_of(dialect, document)), view)))
        try:
            with transaction.atomic():
                CompiledAnswer.objects.create(revision=revision, key=key, body=zlib.compress(body, 1))
        except IntegrityError:
            pass  # another worker kept the same answer meanwhile
        return body

    return EncodedJsonResponse(_revision_answers.get(f"{slug} {key}", answer, len))


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
            document.to_json(),
            parent,
            fork=bool(options.get("fork")),
            author=auth.author_of(request),
            user=auth.saving_user(request),
        )
    except NotAnEditorError as exc:
        owner = exc.document.owner.get_username() if exc.document.owner else None
        details = ['send the same request with "fork": true to save your own copy']
        return JsonResponse({"error": str(exc), "details": details, "fork": True, "owner": owner}, status=403)
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
    data.update(ownership_json(request, revision.document))
    return JsonResponse(data)


def ownership_json(request: HttpRequest, document: Any) -> dict[str, Any]:
    user = auth.saving_user(request)
    return {
        "owner": document.owner.get_username() if document.owner else None,
        "editors": sorted(person.get_username() for person in document.editors.all()),
        "editorGroups": sorted(group.name for group in document.editor_groups.all()),
        "mayAddRevisions": user is None or document.may_add_revisions(user),
    }


@endpoint("POST")
def editors_view(request: HttpRequest, slug: str) -> JsonResponse:
    """The owner names who else may add revisions: `{"users": [names], "groups": [names]}` replaces both lists."""
    document = revision_or_404(slug).document
    user = auth.saving_user(request)
    if user is None:
        raise ApiError("this server has no sign-in: anyone may add revisions to any drawing", status=404)
    if not user.is_authenticated or not (user.pk == document.owner_id or user.is_superuser):
        owner = document.owner.get_username() if document.owner else "nobody (it was saved without signing in)"
        raise ApiError(f"only the owner of this drawing may name its editors; its owner is {owner}", status=403)
    options = load_json(request.body, "request body")
    names = {}
    for field in ("users", "groups"):
        value = options.get(field, []) if isinstance(options, dict) else None
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            raise ApiError(f"{field} must be a list of names")
        names[field] = set(value)
    users = list(get_user_model().objects.filter(username__in=names["users"]))
    groups = list(Group.objects.filter(name__in=names["groups"]))
    unknown = sorted(names["users"] - {u.get_username() for u in users}) + sorted(
        names["groups"] - {g.name for g in groups}
    )
    if unknown:
        raise ApiError("no such user or group on this server", unknown)
    document.editors.set(users)
    document.editor_groups.set(groups)
    return JsonResponse(ownership_json(request, document))


@endpoint("GET")
def history_view(request: HttpRequest, slug: str) -> JsonResponse:
    revision = revision_or_404(slug)
    revisions = revision.document.revisions.select_related("parent").order_by("-number")
    return JsonResponse({"revisions": [revision_json(request, r, with_document=False) for r in revisions]})
