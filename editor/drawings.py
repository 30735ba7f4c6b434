"""/d/: the saved drawings, newest first, searchable by name, namespace or workload, paginated."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import OuterRef, Q, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from editor.models import Document, Revision

PAGE_SIZE = 25
MAX_QUERY = 200


def _row(document: Document, latest: Revision, first: Revision | None) -> dict[str, Any]:
    data = latest.data
    return {
        "document": document,
        "latest": latest,
        "counts": (len(data.get("namespaces", [])), len(data.get("nodes", [])), len(data.get("edges", []))),
        "fork_of": first.parent if first is not None and first.parent_id is not None else None,
    }


@require_safe
def drawing_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:MAX_QUERY]
    documents = Document.objects.all()
    if query:
        # The name, or any text of a saved revision: namespace and workload names are strings in its JSON.
        matching = Revision.objects.filter(data__icontains=query).values("document_id")
        documents = documents.filter(Q(name__icontains=query) | Q(pk__in=matching))
    latest = Revision.objects.filter(document=OuterRef("pk")).order_by("-number").values("pk")[:1]
    documents = (
        documents.annotate(latest_pk=Subquery(latest)).filter(latest_pk__isnull=False).order_by("-updated", "-pk")
    )
    page = Paginator(documents, PAGE_SIZE).get_page(request.GET.get("page"))
    ids = [d.latest_pk for d in page.object_list]
    revisions = {r.pk: r for r in Revision.objects.filter(pk__in=ids)}
    firsts = {
        r.document_id: r
        for r in Revision.objects.select_related("parent", "parent__document").filter(
            document__in=[d.pk for d in page.object_list], number=1
        )
    }
    rows = [_row(d, revisions[d.latest_pk], firsts.get(d.pk)) for d in page.object_list]
    return render(request, "editor/drawings.html", {"rows": rows, "page": page, "query": query})
