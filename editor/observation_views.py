"""The drawing's observation page: its streams (make one, see its token once, revoke it) and its staged
revision (what everything observed would meet under it, grouped by workload; add a connection; promote).

Plain forms and redirects, no script: each action is a POST with the CSRF token, answered by a redirect back
to the page (the new token is the one exception: it is shown in the POST's answer, once, and never stored).
Changing anything needs the right to save (sign-in when the server asks for it), as saving does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from editor import auth, staged_store
from editor.models import Revision, StaleParentError, save_revision
from editor.observation_models import DriftDismissal, ObservationStream, StagedRevision
from editor.policy.document import Document, Settings
from editor.policy.flows.staging import (
    Drift,
    add_observed_edge,
    drawing_refusal,
    drawn_connections,
    drift,
    remove_edge,
)
from editor.staged_store import observed_rows


def _revision(slug: str) -> Revision:
    revision = Revision.objects.select_related("document").filter(slug=slug).first()
    if revision is None:
        raise Http404("No saved drawing has this address.")
    return revision


def _back(revision: Revision) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("observations", args=[revision.slug]))


def latest_drift(document_id: int, latest: Revision) -> Drift | None:
    """Drift of the latest revision over the last FENCELINE_DRIFT_DAYS, less what was dismissed; None when
    nothing was observed in that time (then every edge would look unused)."""
    since = timezone.now() - timedelta(days=settings.FENCELINE_DRIFT_DAYS)
    rows = observed_rows(document_id, since)
    if not rows:
        return None
    found = drift(Document.from_json(latest.data), rows)
    dismissed = set(DriftDismissal.objects.filter(document_id=document_id).values_list("key", flat=True))
    found.new = [row for row in found.new if row.key not in dismissed]
    found.unused = [edge for edge in found.unused if f"edge:{edge.id}" not in dismissed]
    return found


def _page(request: HttpRequest, revision: Revision, new_token: tuple[ObservationStream, str] | None = None):
    document = revision.document
    stage = StagedRevision.objects.select_related("revision").filter(document=document).first()
    report, ready = staged_store.stored_report(stage) if stage else (None, False)
    latest = document.latest_revision()
    nodes = {node["id"]: node for node in latest.data.get("nodes", [])} if latest else {}
    found = latest_drift(document.pk, latest) if latest else None
    dialect_name = Settings.from_json(latest.data.get("settings", {})).dialect if latest else ""
    context = {
        "drift": found,
        # Each new connection and why "Add to the drawing" cannot draw it (None: it can).
        "drift_new": [(row, drawing_refusal(row, dialect_name)) for row in (found.new if found else [])],
        "drift_days": settings.FENCELINE_DRIFT_DAYS,
        "unused": [
            (
                edge,
                nodes.get(edge.source, {}).get("name", edge.source),
                nodes.get(edge.target, {}).get("name", edge.target),
                drawn_connections(edge),
            )
            for edge in (found.unused if found else [])
        ],
        "revision": revision,
        "latest": latest,
        "streams": [
            (stream, request.build_absolute_uri(reverse("api_observations", args=[stream.slug])))
            for stream in document.observation_streams.all()
        ],
        "new_token": new_token,
        "stage": stage,
        "report": report,
        "ready": ready,
        "ready_days": settings.FENCELINE_STAGED_READY_DAYS,
        "today": timezone.now().date().isoformat(),
    }
    if new_token:
        context["push_url"] = request.build_absolute_uri(reverse("api_observations", args=[new_token[0].slug]))
    return render(request, "editor/observations.html", context)


@require_safe
def observations(request: HttpRequest, slug: str) -> HttpResponse:
    return _page(request, _revision(slug))


def _refusal(request: HttpRequest) -> HttpResponse | None:
    refusal = auth.save_refusal(request)
    if refusal is None:
        return None
    return render(
        request, "error.html", {"title": "Sign in first", "message": "Sign in to change this drawing."}, status=401
    )


@require_POST
def create_stream(request: HttpRequest, slug: str) -> HttpResponse:
    revision = _revision(slug)
    if refusal := _refusal(request):
        return refusal
    name = (request.POST.get("name") or "").strip()[:100] or "stream"
    stream, token = ObservationStream.create(revision.document, name)
    return _page(request, revision, (stream, token))


@require_POST
def revoke_stream(request: HttpRequest, slug: str) -> HttpResponse:
    revision = _revision(slug)
    if refusal := _refusal(request):
        return refusal
    stream = request.POST.get("stream", "")
    ObservationStream.objects.filter(document=revision.document, slug=stream, revoked=None).update(
        revoked=timezone.now()
    )
    return _back(revision)


@require_POST
def stage(request: HttpRequest, slug: str) -> HttpResponse:
    revision = _revision(slug)
    if refusal := _refusal(request):
        return refusal
    try:
        since = datetime.fromisoformat(request.POST.get("since") or "1970-01-01").replace(tzinfo=UTC)
    except ValueError:
        since = datetime(1970, 1, 1, tzinfo=UTC)
    with transaction.atomic():
        staged, _ = StagedRevision.objects.select_for_update().update_or_create(
            document=revision.document, defaults={"revision": revision, "since": since}
        )
        staged_store.rebuild(staged)
    return _back(revision)


def _save_on_top(data: dict, staged: Revision, author: str) -> Revision:
    """A new revision of the drawing with `data`: after the staged one when it is the latest, else after the
    latest (the stage carries its line on over whatever was saved meanwhile)."""
    try:
        return save_revision(data, staged, author=author)
    except StaleParentError as exc:
        return save_revision(data, exc.latest, author=author)


@require_POST
def add_observed(request: HttpRequest, slug: str) -> HttpResponse:
    revision = _revision(slug)
    if refusal := _refusal(request):
        return refusal
    with transaction.atomic():
        stage_row = (
            StagedRevision.objects.select_for_update().select_related("revision").get(document=revision.document)
        )
        rows = {row.key: row for row in observed_rows(stage_row.document_id, stage_row.since)}
        row = rows.get(request.POST.get("key", ""))
        staged = Document.from_json(stage_row.revision.data)
        changed = add_observed_edge(staged, row) if row is not None else staged
        if changed is staged:  # no such row, or one the drawing cannot hold (drawing_refusal)
            return _back(stage_row.revision)
        added = _save_on_top(changed.to_json(), stage_row.revision, auth.author_of(request))
        stage_row.revision = added
        stage_row.save(update_fields=["revision"])
        staged_store.rebuild(stage_row)
    return _back(added)


@require_POST
def promote(request: HttpRequest, slug: str) -> HttpResponse:
    revision = _revision(slug)
    if refusal := _refusal(request):
        return refusal
    with transaction.atomic():
        stage_row = (
            StagedRevision.objects.select_for_update()
            .select_related("revision")
            .filter(document=revision.document)
            .first()
        )
        if stage_row is None:
            return _back(revision)
        staged = stage_row.revision
        latest = revision.document.latest_revision()
        promoted = (
            staged
            if latest is not None and latest.pk == staged.pk
            else _save_on_top(staged.data, staged, auth.author_of(request))
        )
        stage_row.delete()
    return HttpResponseRedirect(reverse("revision", args=[promoted.slug]))


@require_POST
def drift_action(request: HttpRequest, slug: str) -> HttpResponse:
    """One click on a drift item: accept (draw the new edge, or remove the unused one) or dismiss it."""
    revision = _revision(slug)
    if refusal := _refusal(request):
        return refusal
    document = revision.document
    key, action = request.POST.get("key", ""), request.POST.get("action", "")
    with transaction.atomic():
        latest = document.latest_revision()
        found = latest_drift(document.pk, latest) if latest else None
        if found is None or action not in ("accept", "dismiss"):
            return _back(revision)
        new = {row.key: row for row in found.new}
        unused = {f"edge:{edge.id}": edge for edge in found.unused}
        if key not in new and key not in unused:
            return _back(revision)
        if action == "dismiss":
            DriftDismissal.objects.get_or_create(document=document, key=key)
            return _back(revision)
        current = Document.from_json(latest.data)
        changed = add_observed_edge(current, new[key]) if key in new else remove_edge(current, unused[key].id)
        if changed is current:  # a row the drawing cannot hold (drawing_refusal)
            return _back(revision)
        saved = _save_on_top(changed.to_json(), latest, auth.author_of(request))
    return _back(saved)
