"""Security headers on every response, no inline script anywhere, CSRF on every POST, health check."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from django.test import Client

from editor.models import save_revision

pytestmark = pytest.mark.django_db


@pytest.fixture
def pages(talk_doc) -> list[str]:
    revision = save_revision(talk_doc)
    return [
        "/",
        f"/d/{revision.slug}",
        f"/d/{revision.slug}/edit",
        f"/d/{revision.slug}/history",
        f"/d/{revision.slug}.yaml",
        "/d/" + "x" * 30,
        "/healthz",
        "/api/csrf",
        "/panel/import/form",
        "/rules/",
        "/rules/FL004",
        "/rules/rating",
        "/rules/FL999",
    ]


def csp_directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_it_sets_the_security_headers_on_every_page(client, pages):
    for url in pages:
        response = client.get(url)
        assert response.status_code in (200, 404), url
        assert response["X-Content-Type-Options"] == "nosniff", url
        assert response["Referrer-Policy"] == "same-origin", url
        assert response["X-Frame-Options"] == "DENY", url
        csp = csp_directives(response)
        assert csp["default-src"] == ["'self'"], url
        assert csp["script-src"] == ["'self'"], url
        assert csp["style-src"] == ["'self'"], url
        assert csp["connect-src"] == ["'self'"], url
        assert csp["frame-ancestors"] == ["'none'"], url
        assert csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"], url
        assert "unsafe" not in response["Content-Security-Policy"], url


def test_it_sets_the_headers_on_static_files_too(client):
    page = client.get("/").content.decode()
    css = page.split('rel="stylesheet" id="__________cytoscape_stylesheet" href="', 1)[1].split('"', 1)[0]
    response = client.get(css)
    response.close()
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in response["Content-Security-Policy"]


class ScriptAudit(HTMLParser):
    """Collects inline scripts, event-handler attributes and javascript: URLs. A JSON data block (`<script
    type="application/json">`, Django's json_script) is data the browser never runs: collected apart."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.scripts: list[str] = []
        self.data_blocks: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "script" and values.get("type") == "application/json" and not values.get("src"):
            self.data_blocks.append(values.get("id") or "")
        elif tag == "script":
            if not values.get("src"):
                self.problems.append("inline <script>")
            self.scripts.append(values.get("src") or "")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:...>")
            if name == "style":
                self.problems.append(f"<{tag} style=...>")


def test_it_has_no_inline_script_or_style_anywhere(client, pages, talk_doc):
    panels = [
        ("/panel/node", {"id": "web"}),
        ("/panel/edge", {"id": "e2", "dialect": "cilium"}),
        ("/panel/namespace", {"id": "frontend"}),
        ("/panel/settings", {}),
        ("/panel/template", {"id": "dns"}),
    ]
    bodies = [client.get(url).content.decode() for url in pages if not url.endswith(".yaml")]
    bodies += [client.post(url, {"document": json.dumps(talk_doc), **data}).content.decode() for url, data in panels]
    for body in bodies:
        audit = ScriptAudit()
        audit.feed(body)
        assert audit.problems == []
        assert all(src.startswith("/static/") for src in audit.scripts)
    editor = bodies[0]
    audit = ScriptAudit()
    audit.feed(editor)
    assert audit.data_blocks == ["drawing-data"]  # the drawing, as data (json_script escapes <, > and &)
    assert 'src="/static/django_htmx/htmx-2.' in editor  # django-htmx's htmx, linked as a file, nothing inlined
    assert "django-htmx.js" not in editor


@pytest.mark.parametrize(
    "url",
    [
        "/api/compile",
        "/api/import",
        "/api/documents",
        "/api/templates/dns",
        "/panel/node",
        "/panel/edge",
        "/panel/namespace",
        "/panel/settings",
        "/panel/template",
        "/panel/import",
    ],
)
def test_it_enforces_csrf_on_every_post(url, talk_doc):
    client = Client(enforce_csrf_checks=True)
    client.get("/")  # a browser session: it has the csrftoken cookie, but this request forgets the token
    response = client.post(url, {"document": "{}"})
    assert response.status_code == 403
    if url.startswith("/api/"):
        assert response.json()["error"].startswith("CSRF check failed")
    else:
        assert b"This form has expired or did not come from this site" in response.content


def test_it_accepts_a_post_with_the_token_from_the_page(talk_doc):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/").content.decode()
    token = page.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]
    response = client.post("/api/compile", talk_doc, content_type="application/json", headers={"X-CSRFToken": token})
    assert response.status_code == 200


def test_it_reports_health_with_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_accepts_csp_reports_without_a_token():
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/csp-report", '{"csp-report": {"violated-directive": "script-src"}}', content_type="application/csp-report"
    )
    assert response.status_code == 204


def test_a_csp_report_is_logged_on_one_line_whatever_it_holds(caplog):
    # The endpoint takes posts from anyone: a report must not be able to add log lines that look like others.
    forged = '{"csp-report": 1}\n2026-01-01 00:00:00,000 ERROR django.request: Internal Server Error\r\u2028x'
    with caplog.at_level("WARNING", logger="editor.views"):
        response = Client().post("/csp-report", forged, content_type="application/csp-report")
    assert response.status_code == 204
    [record] = [r for r in caplog.records if r.name == "editor.views"]
    message = record.getMessage()
    assert message.startswith("CSP violation: ") and "Internal Server Error" in message
    assert message.splitlines() == [message]


def test_the_drawings_data_block_cannot_be_closed_by_what_the_drawing_says(client, talk_doc):
    talk_doc["name"] = "</script><script>alert(1)</script><!--"
    revision = save_revision(talk_doc)
    page = client.get(f"/d/{revision.slug}/edit").content.decode()
    audit = ScriptAudit()
    audit.feed(page)
    assert audit.problems == [] and audit.data_blocks == ["drawing-data"]
    embedded = page.split('<script id="drawing-data" type="application/json">', 1)[1].split("</script>", 1)[0]
    assert json.loads(embedded) == talk_doc
