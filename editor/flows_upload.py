"""POST /api/flows: Hubble and Inspektor Gadget flow logs, uploaded from the editor or with curl, become a drawing.

The request is a multipart form: one or more `file` fields (plain or gzip, any mix of formats), optionally
`document` (the current drawing as JSON) to merge into, and the filters `namespace`, `since`, `until` and
`verdict` (each may repeat or be comma-separated). A raw body works too, named by `?source=NAME`, with the
filters in the query. Django keeps an upload over FILE_UPLOAD_MAX_MEMORY_SIZE in a temporary file and
read_flows streams it, so the server's memory stays flat.

The answer is `{"document", "merged", "summary", "lines"}`: the flows as a new drawing, the same flows merged
into the posted drawing (null when none was posted), the FlowSummary (flows read, skipped lines with their line
numbers and reasons, lost events, workloads and edges) and that summary as lines of text. One bad line never
loses the others: it is skipped and reported.

With `?progress=1` the answer is streamed as JSON lines (`application/x-ndjson`) while the server reads:
`{"progress": {"done": bytes, "total": bytes}}` as often as read_flows reports, then one `{"result": {...}}`,
or `{"error", "details", "status"}` when reading failed half-way (the HTTP status is 200 by then). What is
refused before reading starts (size, options, an invalid drawing) is an ordinary JSON error with its 4xx status.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict, StreamingHttpResponse

from editor.api import ApiError, check_size, document_from, endpoint, error_response, load_json
from editor.middleware import too_large_response
from editor.policy.dialect_fit import adopt_dialect
from editor.policy.document import Document
from editor.policy.flows import FlowOptions, ReadStopped, read_flows
from editor.policy.yamlio import InputError

log = logging.getLogger(__name__)
Event = dict[str, Any]


@dataclasses.dataclass
class FlowUpload:
    files: list[tuple[str, BinaryIO]]
    options: FlowOptions
    into: Document | None


def _values(fields: QueryDict, name: str) -> list[str]:
    return [part.strip() for value in fields.getlist(name) for part in value.split(",") if part.strip()]


def _options(fields: QueryDict) -> FlowOptions:
    try:
        return FlowOptions(
            namespaces=frozenset(_values(fields, "namespace")),
            since=fields.get("since") or None,
            until=fields.get("until") or None,
            verdicts=frozenset(value.upper() for value in _values(fields, "verdict")),
            max_bytes=settings.FENCELINE_MAX_UPLOAD_BYTES,
        )
    except ValueError as exc:
        raise ApiError(f"flow filters: {exc}") from None


def read_upload(request: HttpRequest) -> FlowUpload | HttpResponse:
    """The files, filters and drawing to merge into; a 413 answer when the files are over the limit."""
    if request.content_type == "multipart/form-data":
        uploads = request.FILES.getlist("file")
        if not uploads:
            raise ApiError("no file: send the flow logs as multipart fields named 'file', or as the request body")
        total = sum(upload.size or 0 for upload in uploads)
        if total > settings.FENCELINE_MAX_UPLOAD_BYTES:
            return too_large_response(request, total)
        files = [(upload.name or f"upload {n}", upload.file) for n, upload in enumerate(uploads, 1)]
        fields = request.POST
        raw = fields.get("document")
        into = document_from(load_json(raw, "document")) if raw else None
    else:
        if not request.body.strip():
            raise ApiError("empty body: send Hubble or Inspektor Gadget flow logs (JSON lines, plain or gzip)")
        files = [(request.GET.get("source") or "request body", io.BytesIO(request.body))]
        fields, into = request.GET, None
    return FlowUpload(files, _options(fields), into)


def _import(upload: FlowUpload, emit: Callable[[Event], None], cancelled: threading.Event) -> Event:
    """Read the flows into a new drawing and, when one was posted, into that drawing as well."""
    passes = 2 if upload.into is not None else 1

    def reporter(index: int) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            size = total or done
            emit({"progress": {"done": index * size + done, "total": passes * size}})

        return report

    # Asked before every batch of records, so a read that ran out of time ends within one batch, even when
    # a small gzip body expands to far more data than its compressed size suggests.
    stop = cancelled.is_set
    fresh = read_flows(upload.files, upload.options, reporter(0), stop=stop)
    notes = {"document": adopt_dialect(fresh.document)}
    document = fresh.document.to_json()
    check_size(document, "the flows")
    merged = None
    if upload.into is not None:
        for _, stream in upload.files:
            stream.seek(0)
        merged_document = read_flows(upload.files, upload.options, reporter(1), into=upload.into, stop=stop).document
        notes["merged"] = adopt_dialect(merged_document)
        merged = merged_document.to_json()
        check_size(merged, "the drawing with the flows")
    return {
        "document": document,
        "merged": merged,
        "dialectNotes": notes,
        "summary": fresh.summary.to_json(),
        "lines": fresh.summary.lines(),
    }


def _error(message: str, details: list[str], status: int) -> Event:
    return {"error": message, "details": details, "status": status}


def import_events(upload: FlowUpload) -> Iterator[Event]:
    """Progress events while a worker thread reads, then the result or the error, within the time limit."""
    events: queue.Queue[Event] = queue.Queue()
    cancelled = threading.Event()

    def work() -> None:
        try:
            events.put({"result": _import(upload, events.put, cancelled)})
        except ReadStopped:
            return
        except ApiError as exc:
            events.put(_error(exc.message, exc.details, exc.status))
        except InputError as exc:
            events.put(_error(str(exc), [str(exc)], 400))
        except Exception:
            if cancelled.is_set():  # the request is over and its files are closed: nobody is waiting
                return
            log.exception("flow import failed")
            events.put(_error("the flow import failed; the details are in the server log", [], 500))

    limit = settings.FENCELINE_TIME_LIMIT_SECONDS
    deadline = time.monotonic() + limit if limit > 0 else None
    threading.Thread(target=work, name="flow-import", daemon=True).start()
    try:
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            try:
                if remaining is not None and remaining <= 0:
                    raise queue.Empty
                event = events.get(timeout=remaining)
            except queue.Empty:
                yield _error(
                    f"reading the flow logs took longer than the limit of {limit:g} s on this server; "
                    "upload fewer or smaller files, or filter by namespace",
                    ["the limit is the setting FENCELINE_TIME_LIMIT_SECONDS"],
                    503,
                )
                return
            yield event
            if "progress" not in event:
                return
    finally:
        cancelled.set()


@endpoint("POST")
def flows_view(request: HttpRequest) -> HttpResponse:
    upload = read_upload(request)
    if isinstance(upload, HttpResponse):
        return upload
    if request.GET.get("progress") == "1":
        lines = (json.dumps(event, separators=(",", ":")) + "\n" for event in import_events(upload))
        response = StreamingHttpResponse(lines, content_type="application/x-ndjson")
        response["Cache-Control"] = "no-store"
        response["X-Accel-Buffering"] = "no"  # a proxy in front must pass progress lines on as they come
        return response
    for event in import_events(upload):
        if "result" in event:
            return JsonResponse(event["result"])
        if "error" in event:
            return error_response(event["error"], event["details"], event["status"])
    raise AssertionError("import_events ends with a result or an error")
