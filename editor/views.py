"""Pages for people: the editor, read-only permalinks, revision history, raw YAML, and the inspector partials.

Views are thin: they parse the request, call the core (or editor.panels for form handling) and render.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.html import format_html, json_script
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from django.views.decorators.http import require_POST, require_safe
from django_htmx.middleware import HtmxDetails

from editor import api, forms, panels
from editor.middleware import time_limit_response, too_large_response
from editor.models import Revision
from editor.policy.compile import DIALECTS
from editor.policy.dialects import REGISTRY, capabilities_table
from editor.policy.document import Document, DocumentError
from editor.policy.layers import DEFAULT_PRIORITY
from editor.timelimit import TimeLimitExceeded

log = logging.getLogger(__name__)
CSP_REPORT_MAX_BYTES = 16 * 1024


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def site_context(request: HttpRequest) -> dict[str, Any]:
    return {"max_upload_mib": settings.FENCELINE_MAX_UPLOAD_BYTES / (1024 * 1024)}


def _revision(slug: str) -> Revision:
    # The parent's drawing is not read here (only that there is one): a whole cluster's takes 70 ms to decode.
    revision = Revision.objects.select_related("document", "parent").defer("parent__data").filter(slug=slug).first()
    if revision is None:
        raise Http404("No saved drawing has this address.")
    return revision


def _revision_as_stored(slug: str) -> tuple[Revision, str, str]:
    """(revision without its drawing, the drawing's JSON text as the database keeps it, its name): the editor
    hands the text on to the page as it is, where decoding and encoding it again took a whole cluster's page
    55 ms of the server's CPU."""
    revision = (
        Revision.objects.select_related("document", "parent")
        .defer("data", "parent__data")
        .annotate(data_text=Cast("data", TextField()), data_name=KeyTextTransform("name", "data"))
        .filter(slug=slug)
        .first()
    )
    if revision is None:
        raise Http404("No saved drawing has this address.")
    return revision, revision.data_text, str(revision.data_name or "Untitled")  # type: ignore[attr-defined]


# What json_script escapes in a data block, so that no text of the drawing can close it or open a comment.
_DATA_BLOCK_ESCAPES = (("&", "\\u0026"), ("<", "\\u003C"), (">", "\\u003E"))


def _data_block(text: str, element_id: str) -> str:
    """json_script for JSON that is already text: the same escapes, without decoding and encoding it again."""
    for char, escaped in _DATA_BLOCK_ESCAPES:
        text = text.replace(char, escaped)
    return format_html('<script id="{}" type="application/json">{}</script>', element_id, mark_safe(text))


class _CompactJSON(DjangoJSONEncoder):
    item_separator, key_separator = ",", ":"


def _editor(
    request: HttpRequest,
    document: dict[str, Any] | str,
    *,
    revision: Revision | None,
    read_only: bool,
    name: str = "",
) -> HttpResponse:
    """`document` is the drawing, or its JSON text as stored (a saved revision's, with its `name`)."""
    context = {
        # A data block (json_script), not an attribute: a whole cluster's drawing is megabytes, and as an attribute
        # every quote of it was escaped by the server and unescaped by the browser's parser.
        "document_data": (
            _data_block(document, "drawing-data")
            if isinstance(document, str)
            else json_script(document, "drawing-data", encoder=_CompactJSON)
        ),
        "drawing_name": name,
        "revision": revision,
        "read_only": read_only,
        "templates": panels.TEMPLATES,
        "dialects": DIALECTS,
        "dialect_capabilities": json.dumps(capabilities_table(), separators=(",", ":")),
        "dialect_list": list(REGISTRY.values()),
        "default_priority": DEFAULT_PRIORITY,
    }
    if revision is not None:
        # Its number and address only: decoding the latest drawing as well doubled the page's time for a whole cluster.
        context["latest"] = revision.document.latest_revision(drawing=False)
    return render(request, "editor/editor.html", context)


@require_safe
@ensure_csrf_cookie
def editor(request: HttpRequest) -> HttpResponse:
    return _editor(request, Document().to_json(), revision=None, read_only=False)


@require_safe
@ensure_csrf_cookie
def revision(request: HttpRequest, slug: str) -> HttpResponse:
    found, text, name = _revision_as_stored(slug)
    return _editor(request, text, revision=found, read_only=True, name=name)


@require_safe
@ensure_csrf_cookie
def edit_revision(request: HttpRequest, slug: str) -> HttpResponse:
    found, text, name = _revision_as_stored(slug)
    return _editor(request, text, revision=found, read_only=False, name=name)


@require_safe
def history(request: HttpRequest, slug: str) -> HttpResponse:
    found = _revision(slug)
    revisions = found.document.revisions.select_related("parent").order_by("-number")
    rows = [
        {
            "revision": r,
            "counts": (len(r.data.get("namespaces", [])), len(r.data.get("nodes", [])), len(r.data.get("edges", []))),
        }
        for r in revisions
    ]
    return render(request, "editor/history.html", {"current": found, "rows": rows, "document": found.document})


@require_safe
def revision_yaml(request: HttpRequest, slug: str) -> HttpResponse:
    """The policies of a revision as YAML that `curl ... | kubectl apply -f -` can use."""
    found = _revision(slug)
    try:
        document = Document.from_json(found.data)
    except DocumentError as exc:
        # Saved before this server's bounds (e.g. on free-form fields) were what they are now: say so, serve nothing.
        return _yaml_problem(f"this revision is not a drawing this server compiles any more: {exc}", 409)
    dialect = request.GET.get("dialect") or document.settings.dialect
    if dialect not in DIALECTS:
        return _yaml_problem(f"unknown dialect {dialect!r}; use ?dialect=native or ?dialect=cilium", 400)
    try:
        result = api.compiled(document, dialect)
    except api.ApiError as exc:
        return _yaml_problem(exc.message, exc.status)
    body = api.annotated_yaml(f"# Fenceline drawing {found.name!r}, revision {found.number} ({dialect})", result)
    response = HttpResponse(body, content_type="text/yaml; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="fenceline-{found.slug[:8]}-{dialect}.yaml"'
    return response


def _yaml_problem(message: str, status: int) -> HttpResponse:
    text = "# " + " ".join(message.splitlines()) + "\n"
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


# --- inspector partials (htmx) ------------------------------------------------------------------------------


def _panel_response(request: HttpRequest, panel: panels.Panel) -> HttpResponse:
    context = dict(panel.context)
    if panel.document is not None:
        context["changed_document"] = json.dumps(panel.document.to_json(), separators=(",", ":"))
    context.update(message=panel.message, select=panel.select)
    return render(request, panel.template, context)


def _panel_error(request: HttpRequest, message: str, details: list[str], status: int = 400) -> HttpResponse:
    return render(request, "editor/panels/error.html", {"message": message, "details": details}, status=status)


@require_POST
def panel(request: HtmxHttpRequest, what: str) -> HttpResponse:
    """Show (or, with `_apply`, apply) the inspector form of one part of the posted document."""
    try:
        raw = api.load_json(request.POST.get("document", ""), "document")
        document = api.document_from(raw)
    except RequestDataTooBig:
        return too_large_response(request)
    except api.ApiError as exc:
        return _panel_error(request, exc.message, exc.details, exc.status)
    data = request.POST if "_apply" in request.POST else None
    dialect = request.POST.get("dialect") if request.POST.get("dialect") in DIALECTS else document.settings.dialect
    target = request.POST.get("id", "")
    try:
        if what == "node":
            result = panels.node_panel(document, target, data)
        elif what == "edge":
            result = panels.edge_panel(document, target, data, dialect)
        elif what == "namespace":
            result = panels.namespace_panel(document, target, data)
        elif what == "settings":
            result = panels.settings_panel(document, data)
        elif what == "template":
            result = panels.template_panel(document, target, data, dialect, request.POST.get("scope", ""))
        else:
            raise panels.PanelNotFound(f"there is no panel {what!r}")
    except panels.PanelNotFound as exc:
        return _panel_error(request, str(exc), [], status=404)
    return _panel_response(request, result)


@require_POST
def import_panel(request: HtmxHttpRequest) -> HttpResponse:
    """Import pasted or uploaded YAML; on any problem the drawing in the browser stays as it was."""
    try:
        form = forms.ImportForm(request.POST, request.FILES)
        valid = form.is_valid()
    except RequestDataTooBig:
        return too_large_response(request)
    context: dict[str, Any] = {"form": form}
    if valid:
        upload = form.cleaned_data["file"]
        data, source = (upload.read(), upload.name or "upload") if upload else (form.cleaned_data["text"], "pasted")
        try:
            imported = api.import_document(data, source)
        except api.ApiError as exc:
            form.add_error(None, exc.message)
        else:
            context.update(
                changed_document=json.dumps(imported["document"], separators=(",", ":")),
                warnings=imported["warnings"],
                message=" ".join(filter(None, [_import_message(imported["document"]), imported["dialectNote"]])),
                imported=True,
            )
    return render(request, "editor/panels/import.html", context)


def _import_message(document: dict[str, Any]) -> str:
    counts = [(len(document.get(key, [])), key[:-1]) for key in ("namespaces", "nodes", "edges")]
    return "Imported " + ", ".join(f"{n} {what}{'s' if n != 1 else ''}" for n, what in counts) + "."


@require_safe
def import_form(request: HttpRequest) -> HttpResponse:
    return render(request, "editor/panels/import.html", {"form": forms.ImportForm()})


# --- operations -------------------------------------------------------------------------------------------------


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        connection.ensure_connection()
    except Exception as exc:  # any database failure means "not healthy", whatever the driver raises
        log.warning("healthz: database unavailable: %s", exc)
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok"})


@csrf_exempt  # browsers send reports without cookies or tokens; the endpoint only writes a bounded log line
@require_POST
def csp_report(request: HttpRequest) -> HttpResponse:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if 0 < length <= CSP_REPORT_MAX_BYTES:
        # Anyone may post here: the report is logged as one quoted line, so its line breaks cannot forge entries.
        log.warning("CSP violation: %r", request.body[:CSP_REPORT_MAX_BYTES].decode("utf-8", "replace"))
    return HttpResponse(status=204)


# Error pages say what happened in plain words and nothing else: no exception text, URL patterns, settings names or
# Django's reasons, which describe the server rather than what the person can do (the server log has them).


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if request.path.startswith("/api/"):
        return api.error_response(
            "CSRF check failed: send the token from GET /api/csrf as the X-CSRFToken header, with its cookie",
            [reason],
            status=403,
        )
    message = "This form has expired or did not come from this site. Reload the page and try again."
    return render(request, "error.html", {"title": "Forbidden", "message": message}, status=403)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return api.error_response("forbidden", status=403)
    message = "You may not open this page."
    return render(request, "error.html", {"title": "Forbidden", "message": message}, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return api.error_response("not found", [request.path], status=404)
    # Only our own Http404s carry a sentence meant for people; Resolver404 (a subclass) carries the URL patterns.
    own = type(exception) is Http404 and str(exception)
    message = str(exception) if own else "There is nothing at this address."
    return render(request, "error.html", {"title": "Not found", "message": message}, status=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):  # raised wherever the body is first read, e.g. the CSRF check
        return too_large_response(request)
    log.warning("bad request to %s: %s", request.path, exception)
    if request.path.startswith("/api/"):
        return api.error_response("bad request", status=400)
    message = "The server could not understand this request."
    return render(request, "error.html", {"title": "Bad request", "message": message}, status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    if isinstance(sys.exc_info()[1], TimeLimitExceeded):
        return time_limit_response(request)
    if request.path.startswith("/api/"):
        return api.error_response("internal error; the details are in the server log", status=500)
    context = {"title": "Something went wrong", "message": "The details are in the server log."}
    return render(request, "error.html", context, status=500)
