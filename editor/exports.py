"""Pictures and GitOps bundles of a saved revision (GET) or of the drawing in the editor (POST, unsaved).

Thin views: the picture comes from editor.policy.picture, the bundle from editor.policy.bundle.
"""

from __future__ import annotations

import re

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST, require_safe

from editor import api
from editor.middleware import too_large_response
from editor.models import Revision
from editor.policy.bundle import BundleError, BundleOptions, build_bundle, zip_bundle
from editor.policy.document import Document
from editor.policy.picture import render_png, render_svg
from editor.views import _revision

# Saved revisions never change, so their pictures may be cached for good.
IMMUTABLE = "public, max-age=31536000, immutable"


def _picture_response(document: Document, kind: str, filename: str) -> HttpResponse:
    svg = render_svg(document)
    if kind == "png":
        response = HttpResponse(render_png(svg), content_type="image/png")
    else:
        response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{filename}.{kind}"'
    return response


def _file_stem(revision: Revision) -> str:
    return f"fenceline-{revision.slug[:8]}-r{revision.number}"


def _bundle_response(document: Document, filename: str) -> HttpResponse:
    try:
        files = build_bundle(document, BundleOptions())
    except BundleError as exc:
        return HttpResponse(f"{exc}\n", status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(zip_bundle(files), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}-bundle.zip"'
    return response


@require_safe
def revision_picture(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    """/d/<slug>.svg and .png: the saved drawing as a picture, for CI, docs and merge-request comments."""
    found = _revision(slug)
    response = _picture_response(Document.from_json(found.data), kind, _file_stem(found))
    response["Cache-Control"] = IMMUTABLE
    return response


@require_safe
def revision_bundle(request: HttpRequest, slug: str) -> HttpResponse:
    found = _revision(slug)
    return _bundle_response(Document.from_json(found.data), _file_stem(found))


def posted_document(request: HttpRequest) -> Document:
    """The drawing a form posted (the editor's export menu). Raises api.ApiError with the reason."""
    return api.document_from(api.load_json(request.POST.get("document", ""), "document"))


def _bad_post(request: HttpRequest, exc: api.ApiError) -> HttpResponse:
    body = "\n".join([exc.message, *exc.details]) + "\n"
    return HttpResponse(body, status=exc.status, content_type="text/plain; charset=utf-8")


@require_POST
def posted_export(request: HttpRequest, what: str) -> HttpResponse:
    """The editor's export menu: picture (svg, png) or bundle (zip) of the drawing as it is, saved or not."""
    try:
        document = posted_document(request)
    except RequestDataTooBig:
        return too_large_response(request)
    except api.ApiError as exc:
        return _bad_post(request, exc)
    stem = "fenceline-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", document.name).strip("-")[:40] or "drawing")
    if what == "bundle.zip":
        return _bundle_response(document, stem)
    return _picture_response(document, what.rsplit(".", 1)[1], stem)
