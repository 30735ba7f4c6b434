"""What test_security.py leaves out: every route (found from the URLconf, so a new one is covered too) refuses
unsafe methods without the CSRF token; the security headers are on API answers and error answers as well as
pages; permalinks give nothing away to someone guessing them.
"""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client, override_settings
from django.urls import URLPattern, get_resolver, reverse

from editor.models import Revision, save_revision

pytestmark = pytest.mark.django_db

CSRF_EXEMPT = {"csp_report"}  # browsers send CSP reports without cookies or tokens; it only writes a log line
# Observation intake authenticates by a per-stream bearer token, never a cookie: without it the answer is 401.
CSRF_EXEMPT |= {"intake_view"}


def routes(slug: str) -> list[tuple[str, str]]:
    """(view name, URL) for every route, its parameters filled with values that exist."""
    values = {"slug": slug, "what": "node", "name": "dns", "page": "rating"}
    found = []
    for pattern in get_resolver().url_patterns:
        assert isinstance(pattern, URLPattern)
        names = list(pattern.pattern.regex.groupindex)
        assert set(names) <= set(values), f"give routes() a value for the URL parameters of {pattern.pattern}"
        found.append((pattern.callback.__name__, reverse(pattern.name, kwargs={n: values[n] for n in names})))
    return found


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_every_route_refuses_unsafe_methods_without_the_csrf_token(talk_doc, method):
    slug = save_revision(talk_doc).slug
    client = Client(enforce_csrf_checks=True)
    client.get("/")  # a browser session with the csrftoken cookie; the request forgets the token
    answers = {}
    for view, url in routes(slug):
        response = getattr(client, method)(url, json.dumps({"document": talk_doc}), content_type="application/json")
        answers[view] = response.status_code
        if view not in CSRF_EXEMPT:
            assert response.status_code == 403, (method, url)
    assert len(answers) >= 17
    assert answers["csp_report"] in (204, 405)
    assert answers["intake_view"] in (401, 405)
    assert Revision.objects.count() == 1


def test_the_token_of_one_session_does_not_work_in_another(talk_doc):
    mallory = Client(enforce_csrf_checks=True)
    token = mallory.get("/api/csrf").json()["csrfToken"]
    victim = Client(enforce_csrf_checks=True)
    victim.get("/")
    response = victim.post("/api/documents", {"document": talk_doc}, content_type="application/json",
                           headers={"X-CSRFToken": token})  # fmt: skip
    assert response.status_code == 403
    assert not Revision.objects.exists()


def assert_security_headers(response, what: str) -> None:
    policy = response["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert "unsafe" not in policy, what
    assert directives["default-src"] == ["'self'"] and directives["script-src"] == ["'self'"], what
    assert directives["frame-ancestors"] == ["'none'"], what
    assert response["X-Content-Type-Options"] == "nosniff", what
    assert response["Referrer-Policy"] == "same-origin", what


@override_settings(FENCELINE_MAX_UPLOAD_BYTES=16 * 1024, DATA_UPLOAD_MAX_MEMORY_SIZE=16 * 1024)
def test_api_answers_and_error_answers_carry_the_security_headers(api, talk_doc):
    first = api.post_json("/api/documents", {"document": talk_doc})
    api.post_json("/api/documents", {"document": talk_doc, "parent": first.json()["slug"]})
    answers = {
        "201 saved": first,
        "200 compiled": api.post_json("/api/compile", {"schema": "fenceline/v1"}),
        "400 invalid": api.post_json("/api/compile", {"schema": "teapot"}),
        "404 api": api.get("/api/documents/" + "A" * 30),
        "404 page": api.get("/d/" + "A" * 30),
        "404 no route": api.get("/no/such/page"),
        "405": api.get("/api/compile"),
        "409 conflict": api.post_json("/api/documents", {"document": talk_doc, "parent": first.json()["slug"]}),
        "413 early": api.post_json("/api/compile", {"schema": "fenceline/v1", "description": "x" * 200_000}),
        "413 django": api.post_json("/api/compile", {"schema": "fenceline/v1", "description": "x" * 30_000}),
        "403 csrf": Client(enforce_csrf_checks=True).post("/api/compile", {}),
        "yaml": api.get(f"/d/{first.json()['slug']}.yaml"),
        "json": api.get(f"/api/documents/{first.json()['slug']}"),
    }
    statuses = {what: response.status_code for what, response in answers.items()}
    assert statuses == {
        "201 saved": 201, "200 compiled": 200, "400 invalid": 400, "404 api": 404, "404 page": 404,
        "404 no route": 404, "405": 405, "409 conflict": 409, "413 early": 413, "413 django": 413, "403 csrf": 403,
        "yaml": 200, "json": 200,
    }  # fmt: skip
    for what, response in answers.items():
        assert_security_headers(response, what)


def test_a_wrong_method_answers_a_page_for_people_and_json_for_the_api(api, talk_doc):
    slug = save_revision(talk_doc).slug
    seen = 0
    for name, url in routes(slug):
        for method in ("get", "post", "put", "delete"):
            response = getattr(api, method)(url, headers={"X-CSRFToken": api.token})
            if response.status_code != 405:
                continue
            seen += 1
            what = f"{method.upper()} {url} ({name})"
            assert response["Allow"] and response["Allow"] in response.content.decode(), what
            assert_security_headers(response, what)
            if url.startswith("/api/"):
                assert response["Content-Type"] == "application/json", what
                assert response.json()["error"], what
            else:
                assert response["Content-Type"].startswith("text/html"), what
                assert f"it takes {response['Allow']}" in response.content.decode(), what
                assert "<h1>Method not allowed</h1>" in response.content.decode(), what
    assert seen > 20  # every page refuses three of the four methods, every API endpoint at least two


# --- permalinks ------------------------------------------------------------------------------------------------


def without_token(page: bytes) -> bytes:
    """The page without its CSRF token, which Django masks anew for every response."""
    return re.sub(rb'name="csrf-token" content="[^"]*"', b"", page)


def near_misses(slug: str) -> list[str]:
    flipped = slug[:-1] + ("A" if slug[-1] != "A" else "B")
    return [flipped, slug.lower() if slug.lower() != slug else slug.upper(), slug[:20], slug + "x", "A" * len(slug)]


@pytest.mark.parametrize("suffix", ["", ".yaml", "/edit", "/history"])
def test_a_guessed_page_address_answers_exactly_like_any_other_unknown_one(client, talk_doc, suffix):
    slug = save_revision(talk_doc).slug
    baseline = client.get(f"/d/{'Q' * 30}{suffix}")
    assert baseline.status_code == 404
    for guess in near_misses(slug):
        response = client.get(f"/d/{guess}{suffix}")
        assert response.status_code == 404, guess
        assert without_token(response.content) == without_token(baseline.content), guess


@pytest.mark.parametrize("suffix", ["", "/history"])
def test_a_guessed_api_address_answers_exactly_like_any_other_unknown_one(api, talk_doc, suffix):
    slug = save_revision(talk_doc).slug
    baseline = api.get(f"/api/documents/{'Q' * 30}{suffix}")
    assert baseline.status_code == 404
    for guess in near_misses(slug):
        response = api.get(f"/api/documents/{guess}{suffix}")
        assert response.status_code == 404, guess
        assert response.json() == {**baseline.json(), "details": [guess]}


def test_database_ids_and_sequence_numbers_never_open_a_drawing(client, api, talk_doc):
    revision = save_revision(talk_doc)
    for number in (revision.pk, revision.document_id, revision.number):
        for url in (f"/d/{number}", f"/d/{number:020d}", f"/api/documents/{number}", f"/api/documents/{number:020d}"):
            assert client.get(url).status_code == 404, url


def test_answers_about_a_drawing_show_no_database_ids(api, client, talk_doc):
    first = save_revision(talk_doc)
    second = save_revision({**talk_doc, "name": "second"}, first)
    loaded = api.get(f"/api/documents/{second.slug}").json()
    history = api.get(f"/api/documents/{second.slug}/history").json()
    assert not {"id", "pk", "document_id"} & set(loaded)
    assert all(not {"id", "pk", "document_id"} & set(entry) for entry in history["revisions"])
    for url in (f"/d/{second.slug}", f"/d/{second.slug}/history", f"/d/{second.slug}/edit"):
        page = client.get(url).content.decode()
        links = set(re.findall(r'href="/d/([^"/.]+)', page))
        assert links <= {first.slug, second.slug}, url
