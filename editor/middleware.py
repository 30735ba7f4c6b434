"""Security headers and request size limits for every response.

Django's SecurityMiddleware and XFrameOptionsMiddleware set nosniff, Referrer-Policy, COOP and X-Frame-Options;
this adds the Content-Security-Policy (Django 5.2 has none built in) and a Permissions-Policy. The CSP allows
only our own origin and no inline script or style: every script is a static file, the page is drawn by
Cytoscape on a canvas (styles set through the CSSOM, which CSP does not restrict), and violations are reported
to /csp-report so that a regression shows up in the log.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import io
import logging
import os
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from editor.timelimit import TimeLimitExceeded, arm

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "report-uri /csp-report",
    ]
)
logger = logging.getLogger(__name__)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"

# Multipart bodies carry boundaries and part headers around the uploaded file itself.
MULTIPART_OVERHEAD = 64 * 1024


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


def too_large_response(request: HttpRequest, size: int | None = None) -> HttpResponse:
    """413 with a message people and scripts can act on: JSON for the API, a page for browsers."""
    limit = settings.FENCELINE_MAX_UPLOAD_BYTES
    message = f"The request is larger than the limit of {limit / (1024 * 1024):.1f} MiB."
    details = [f"request body: {size:,} bytes, limit: {limit:,} bytes"] if size is not None else []
    if request.path.startswith("/api/"):
        return JsonResponse({"error": message, "details": details}, status=413)
    html = render_to_string("error.html", {"title": "Too large", "message": message, "details": details}, request)
    return HttpResponse(html, status=413)


# Bodies read piece by piece and never held whole (observation streams may last for weeks): no size limit.
STREAMED_PATHS = ("/api/observations/",)


class RequestSizeLimitMiddleware:
    """Refuse an oversized body from its Content-Length, before a byte of it is read.

    A chunked body has no Content-Length, and Django would read it as empty. Where the server has decoded the
    chunks and marks the end of the input (gunicorn sets `wsgi.input_terminated`) it is read here up to the limit
    (413 beyond) and handed on with its length; elsewhere (e.g. the development server) it is refused with 411.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(STREAMED_PATHS):
            return self.get_response(request)
        limit = settings.FENCELINE_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower() and not request.META.get(
            "CONTENT_LENGTH"
        ):
            refused = self._read_chunked(request, limit)
            if refused is not None:
                return refused
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return too_large_response(request, length)
        return self.get_response(request)

    @staticmethod
    def _read_chunked(request: HttpRequest, limit: int) -> HttpResponse | None:
        if not request.META.get("wsgi.input_terminated"):
            message = "A chunked request body cannot be read here: send it with a Content-Length header."
            return _error(request, 411, "Length required", message, ["Transfer-Encoding: chunked"])
        data = request.META["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            return too_large_response(request)
        request.META["CONTENT_LENGTH"] = str(len(data))
        request._stream = LimitedStream(io.BytesIO(data), len(data))  # type: ignore[attr-defined]
        return None


class MethodNotAllowedPageMiddleware:
    """Django's method decorators (require_POST, require_safe) answer 405 with an empty body: give people a page
    that says which methods the address takes (the API's own 405s are JSON already and are left as they are)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code != 405 or response.streaming or response.content:
            return response
        allowed = response.get("Allow", "")
        message = f"{request.method} is not used at this address; it takes {allowed or 'no request'}."
        if request.path.startswith("/api/"):
            page: HttpResponse = JsonResponse({"error": message, "details": []}, status=405)
        else:
            context = {"title": "Method not allowed", "message": message}
            page = HttpResponse(render_to_string("error.html", context, request), status=405)
        page["Allow"] = allowed
        return page


class DatabaseUnavailablePageMiddleware:
    """A page whose database is restarting or unreachable answers a retryable 503 with a plain message instead of
    a 500 (the API's own endpoints answer the same in JSON)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError):
            return None
        logger.warning("database unavailable while answering %s", request.path, exc_info=exception)
        page = _error(
            request, 503, "Unavailable", "The database is not available right now. Try again in a moment.", []
        )
        page["Retry-After"] = "5"
        return page


def _error(request: HttpRequest, status: int, title: str, message: str, details: list[str]) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": message, "details": details}, status=status)
    html = render_to_string("error.html", {"title": title, "message": message, "details": details}, request)
    return HttpResponse(html, status=status)


class TimeLimitMiddleware:
    """Every view, pages included (a permalink's YAML compiles the drawing), stops at the time limit with a 503
    naming the setting; API views answer their own JSON 503 inside the same deadline.

    The alarm starts in process_view, as the last middleware, so that it covers the view and not the reading of
    a slow body by an earlier middleware (that is the buffering proxy's job, see docs/deploy.md), and stops when
    the view's answer comes back here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            return self.get_response(request)
        finally:
            disarm = getattr(request, "_fenceline_disarm", None)
            if disarm is not None:
                disarm()

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> None:
        if request.path.startswith(STREAMED_PATHS):
            return  # a stream may last for weeks; it is read piece by piece, each piece its own transaction
        request._fenceline_disarm = arm(settings.FENCELINE_TIME_LIMIT_SECONDS)  # type: ignore[attr-defined]

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # Django turns an exception of a view into a 500 before it reaches __call__: answer it here instead (and
        # in editor.views.server_error if the alarm strikes between the view and this middleware).
        return time_limit_response(request) if isinstance(exception, TimeLimitExceeded) else None


def time_limit_response(request: HttpRequest) -> HttpResponse:
    limit = settings.FENCELINE_TIME_LIMIT_SECONDS
    message = f"This request took longer than the limit of {limit:g} s on this server."
    response = _error(request, 503, "Too slow", message, ["the limit is the setting FENCELINE_TIME_LIMIT_SECONDS"])
    response["Retry-After"] = "30"
    return response


class ResponseSizeLimitMiddleware:
    """No answer is larger than FENCELINE_MAX_RESPONSE_BYTES: the views bound what they build (the compiled YAML
    stops growing at the limit); this is the last guard for any answer that still would be."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        limit = settings.FENCELINE_MAX_RESPONSE_BYTES
        if response.streaming or len(response.content) <= limit:
            return response
        log.warning("%s: refusing an answer of %d bytes (limit %d)", request.path, len(response.content), limit)
        message = f"The answer would be larger than the limit of {limit / (1024 * 1024):.1f} MiB on this server."
        details = [f"answer: {len(response.content):,} bytes; the limit is the setting FENCELINE_MAX_RESPONSE_BYTES"]
        return _error(request, 413, "Too large", message, details)


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc
        return None


class ReleaseMemoryMiddleware:
    """After a request that left the worker much larger than before, give the memory back to the system.

    CPython frees the objects of a big request, but glibc keeps the freed arenas mapped, so a worker that once
    compiled a large drawing would stay that large. When the resident size grew by more than
    RELEASE_AFTER_GROWTH, collect cycles and malloc_trim(0): a few milliseconds, only after big requests.
    """

    RELEASE_AFTER_GROWTH = 64 * 1024 * 1024
    _trim = _malloc_trim()
    _page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def _resident(self) -> int:
        try:
            with open("/proc/self/statm", "rb") as statm:
                return int(statm.read().split()[1]) * self._page
        except OSError:
            return 0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        before = self._resident()
        response = self.get_response(request)
        if before and self._resident() - before > self.RELEASE_AFTER_GROWTH:
            gc.collect()
            if self._trim is not None:
                self._trim(0)
        return response
