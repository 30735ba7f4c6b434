"""Security headers and request size limits for every response.

Django's SecurityMiddleware and XFrameOptionsMiddleware set nosniff, Referrer-Policy, COOP and X-Frame-Options;
this adds the Content-Security-Policy (Django 5.2 has none built in) and a Permissions-Policy. The CSP allows
only our own origin and no inline script or style: every script is a static file, the page is drawn by
Cytoscape on a canvas (styles set through the CSSOM, which CSP does not restrict), and violations are reported
to /csp-report so that a regression shows up in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

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
    """Refuse an oversized body from its Content-Length, before a byte of it is read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(STREAMED_PATHS):
            return self.get_response(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.FENCELINE_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD:
            return too_large_response(request, length)
        return self.get_response(request)


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
        message = "The database is not available right now. Try again in a moment."
        if request.path.startswith("/api/"):
            page: HttpResponse = JsonResponse({"error": message, "details": []}, status=503)
        else:
            context = {"title": "Unavailable", "message": message}
            page = HttpResponse(render_to_string("error.html", context, request), status=503)
        page["Retry-After"] = "5"
        return page
