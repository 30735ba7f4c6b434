"""POST /api/observations/<stream>: a long-running body of Hubble or Gadget lines, added up as it arrives.

Authentication is the stream's token (`Authorization: Bearer <token>`), made on the drawing's observation
page; it writes to that one stream of that one drawing and nothing else. The body may be as long as the
sender likes (a `hubble observe --follow` piped in, with or without Content-Length, chunked too): it is read
in pieces of PIECE_BYTES (16 MiB, or what came in FLUSH_SECONDS) cut at line ends, and each piece is
aggregated and committed on its own. The answer streams one JSON line per committed piece,
`{"acknowledged": bytes, "flows": n}`, so a sender knows what is safe; then `{"done": {...}}`, or
`{"error": ...}` when the token is revoked half-way. What was acknowledged survives a restart; a piece cut off
by a dropped connection was never acknowledged and is simply sent again.

The request's time limit does not apply: this request is meant to last (gunicorn's sync workers still end a
request that outlasts their --timeout, keeping what was acknowledged; `fenceline push` posts bounded batches).
CSRF does not apply either: the token is not a cookie, so a page elsewhere cannot make a browser send it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from editor.observation_models import ObservationStream
from editor.observation_store import StreamRevoked, compact_now_and_then, record
from editor.policy.flows import FlowOptions
from editor.policy.flows.detect import MAX_LINE_BYTES
from editor.policy.flows.observe import observe

log = logging.getLogger(__name__)
# One piece, one transaction: large enough that a piece's rows (one per distinct edge) and its aggregation
# cost little per flow, small enough to hold in memory. Measured on 400 Deployments' traffic (bench/
# soak_observations.py): a 4 MiB piece (~4,000 flows) wrote ~1,300 rows, a 16 MiB one ~2,000, and the intake
# went from 34,000 to 80,000 flows per CPU-second. `fenceline push` posts one piece per batch.
PIECE_BYTES = 16 * 1024 * 1024
# A slow stream (a quiet cluster's `hubble observe --follow`) is stored, and acknowledged, at least this often:
# a read waits for READ_BYTES (or the end), then a piece older than FLUSH_SECONDS is stored whatever its size.
# Not less: on a busy server reading a 16 MiB batch can take a second or two, and a piece cut in two costs its
# edges' rows twice (the soak measured 1.33 pieces per 14.6 MiB POST at 1 s under load average 16, 1.00 at 5 s).
FLUSH_SECONDS = 5.0
READ_BYTES = 64 * 1024


def _refuse(message: str, status: int) -> JsonResponse:
    response = JsonResponse({"error": message, "details": []}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="fenceline observations"'
    return response


def _token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _body(request: HttpRequest) -> tuple[BinaryIO, int | None]:
    """The request body as a stream, and its announced length. A chunked body has no Content-Length, and
    Django's own stream would read it as empty: it is read from the server's input, which decodes the chunks
    (gunicorn does)."""
    length = request.META.get("CONTENT_LENGTH")
    if not length or request.META.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        return request.META["wsgi.input"], None
    return request, int(length)  # type: ignore[return-value]


def _line(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def _commit(stream: ObservationStream, piece: bytes, totals: dict[str, int]) -> bytes:
    edges, summary = observe(piece, FlowOptions())
    record(stream, edges, summary.flows_read)
    totals["acknowledged"] += len(piece)
    totals["flows"] += summary.flows_read
    totals["skipped"] += summary.lines_skipped
    return _line({"acknowledged": totals["acknowledged"], "flows": totals["flows"]})


def _intake(stream: ObservationStream, body: BinaryIO, length: int | None) -> Iterator[bytes]:
    totals = {"acknowledged": 0, "flows": 0, "skipped": 0}
    chunks: list[bytes] = []  # the piece so far, joined once when it is stored
    size = 0
    began = 0.0  # when the piece's first bytes arrived
    received = 0
    try:
        while True:
            try:
                chunk = body.read(READ_BYTES)
            except OSError:  # the sender went away: what was acknowledged is stored, the rest was not promised
                return
            if not chunk:
                break
            received += len(chunk)
            if not chunks:
                began = time.monotonic()
            chunks.append(chunk)
            size += len(chunk)
            if size < PIECE_BYTES and time.monotonic() - began < FLUSH_SECONDS:
                continue
            pending = b"".join(chunks)
            cut = pending.rfind(b"\n")
            if cut < 0:
                if len(pending) > MAX_LINE_BYTES:
                    pending = b""  # an endless line holds no flow; drop it rather than grow without bound
                chunks, size = ([pending] if pending else []), len(pending)
                continue
            piece, rest = pending[: cut + 1], pending[cut + 1 :]
            chunks, size, began = ([rest] if rest else []), len(rest), time.monotonic()
            yield _commit(stream, piece, totals)
        if length is not None and received < length:
            return  # the connection dropped before the announced end: its last, partial line is not stored
        pending = b"".join(chunks)
        if pending.strip():
            yield _commit(stream, pending, totals)
    except StreamRevoked:
        yield _line({"error": "this stream's token was revoked", "status": 401})
        return
    compact_now_and_then(stream.document_id)
    yield _line({"done": totals})


@csrf_exempt
def intake_view(request: HttpRequest, slug: str) -> HttpResponse:
    if request.method != "POST":
        response = _refuse(f"use POST for {request.path}", 405)
        response["Allow"] = "POST"
        return response
    token = _token(request)
    stream = ObservationStream.objects.filter(slug=slug).first()
    if not token or stream is None or not stream.accepts(token):
        # One answer for a missing stream, a wrong token and a revoked one: nothing to learn by probing.
        return _refuse("a valid, unrevoked token for this stream is needed (Authorization: Bearer <token>)", 401)
    body, length = _body(request)
    response = StreamingHttpResponse(_intake(stream, body, length), content_type="application/x-ndjson")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # a proxy in front must pass acknowledgements on as they come
    return response
