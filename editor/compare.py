"""Revision diff: the plan (editor.policy.plan) between two saved revisions, or a revision and the drawing in
the editor, shown as a page: the drawing with changed edges coloured, connectivity, flows, lint, YAML diff."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_safe

from editor import api
from editor.exports import posted_document
from editor.middleware import too_large_response
from editor.models import Revision
from editor.policy.document import Document
from editor.policy.picture import CHANGE_COLOURS, render_svg
from editor.policy.plan import Side, make_plan
from editor.views import _revision


def _label(revision: Revision) -> str:
    return f"r{revision.number}"


def _previous(revision: Revision) -> Revision | None:
    """The revision this one was saved from: its parent, or for a fork's first revision the one forked."""
    if revision.parent is not None:
        return revision.parent
    return revision.document.revisions.filter(number__lt=revision.number).order_by("-number").first()


def _diff_lines(text: str) -> list[tuple[str, str]]:
    kinds = {"+": "add", "-": "del", "@": "hunk"}
    return [
        (kinds.get(line[:1], "same") if not line.startswith(("+++", "---")) else "file", line)
        for line in text.splitlines()
    ]


def _page(request: HttpRequest, old: Side, new: Side, context: dict[str, Any], status: int = 200) -> HttpResponse:
    plan = make_plan(old, new)
    svg = render_svg(plan.picture, changes=plan.edge_changes, title=f"{old.label} → {new.label}")
    context.update(
        plan=plan,
        counts=plan.counts(),
        picture=mark_safe(svg),  # safe: editor.policy.picture escapes every text it writes
        yaml_lines=_diff_lines(plan.yaml_diff),
        change_colours=CHANGE_COLOURS,
    )
    return render(request, "editor/compare.html", context, status=status)


@require_safe
def compare_revisions(request: HttpRequest) -> HttpResponse:
    """/d/compare?old=<slug>&new=<slug>: the plan from one saved revision to another."""
    old_slug, new_slug = request.GET.get("old", ""), request.GET.get("new", "")
    if not old_slug or not new_slug:
        raise Http404("Pick two revisions to compare.")
    old, new = _revision(old_slug), _revision(new_slug)
    return _page(
        request,
        Side(_label(old), document=Document.from_json(old.data)),
        Side(_label(new), document=Document.from_json(new.data)),
        {"old": old, "new": new, "document": new.document},
    )


@require_http_methods(["GET", "HEAD", "POST"])
def compare_revision(request: HttpRequest, slug: str) -> HttpResponse:
    """GET /d/<slug>/compare: this revision against the one before it. POST (from the editor, with the drawing
    as `document`): this revision against the drawing as it is now, unsaved."""
    found = _revision(slug)
    saved = Side(_label(found), document=Document.from_json(found.data))
    if request.method == "POST":
        try:
            drawing = posted_document(request)
        except RequestDataTooBig:
            return too_large_response(request)
        except api.ApiError as exc:
            context = {"title": "Cannot compare", "message": exc.message, "details": exc.details}
            return render(request, "error.html", context, status=exc.status)
        return _page(
            request,
            saved,
            Side("your unsaved drawing", document=drawing),
            {"old": found, "new": None, "document": found.document},
        )
    previous = _previous(found)
    if previous is None:
        context = {"title": "Nothing to compare", "message": f"r{found.number} is the first revision of this drawing."}
        return render(request, "error.html", context, status=404)
    return _page(
        request,
        Side(_label(previous), document=Document.from_json(previous.data)),
        saved,
        {"old": previous, "new": found, "document": found.document},
    )
