"""The "why" pages of the lint rules and the rating, served from docs/rules/*.md beside the editor.

A finding in the editor links here, so the explanation is one click away and on the same server (no external
site, nothing fetched from elsewhere). The Markdown is rendered by editor.markdown, which escapes everything.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_safe

from editor import markdown
from editor.policy.lint import RULES

RATING_PAGE = "rating"
_LINKED_PAGE = re.compile(r"(FL\d{3}|rating|README)\.md(#[\w-]+)?")


def rules_dir() -> Path:
    return Path(settings.BASE_DIR) / "docs" / "rules"


def page_url(page: str) -> str:
    return reverse("rules_index") if page == "README" else reverse("rule_page", args=[page])


def _link_target(url: str) -> str | None:
    """`FL001.md` or `rating.md#criteria` -> the page serving it; any other relative link is dropped."""
    match = _LINKED_PAGE.fullmatch(url)
    if match is None or (match.group(1) not in RULES and match.group(1) not in (RATING_PAGE, "README")):
        return None
    return page_url(match.group(1)) + (match.group(2) or "")


def _page(request: HttpRequest, page: str, title: str, summary: str) -> HttpResponse:
    path = rules_dir() / f"{page}.md"
    try:
        body = mark_safe(markdown.render(path.read_text(encoding="utf-8"), _link_target))  # everything in it is escaped
    except FileNotFoundError:
        body = None
    rules = sorted(RULES.values(), key=lambda rule: rule.id)
    context = {"title": title, "summary": summary, "body": body, "page": page, "rules": rules}
    return render(request, "editor/rule.html", context)


@require_safe
def rules_index(request: HttpRequest) -> HttpResponse:
    return _page(request, "README", "Lint rules and the rating", "Every lint rule, with what it finds and why.")


@require_safe
def rule_page(request: HttpRequest, page: str) -> HttpResponse:
    if page == RATING_PAGE:
        return _page(request, page, "The Fenceline rating", "How the 0–5 rating is made, criterion by criterion.")
    rule = RULES.get(page)
    if rule is None:
        raise Http404(f"There is no lint rule {page}.")
    return _page(request, page, f"{rule.id} {rule.slug}", rule.summary)
