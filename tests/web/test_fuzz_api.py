"""Fuzzing the HTTP entry points: whatever a client sends, the answer is a 4xx (or success), never a 500.

The JSON API answers JSON with `error` and `details`; the inspector and import panels answer HTML. Bodies are
valid documents mutated at random, Kubernetes-shaped YAML, arbitrary JSON values and arbitrary bytes, sent to
every endpoint that takes a body, with NUL characters, NaN and infinities among the values (JSON can carry
them; the databases cannot store them).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from editor import panels
from tests.unit.test_fuzz_parsers import (
    DEEP_EXAMPLES,
    document_seeds,
    manifests,
    mutated,
    paths,
    policies,
    scalars,
    spliced_text,
    strings,
    values,
)

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=int(DEEP_EXAMPLES or 40),
    derandomize=DEEP_EXAMPLES is None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PANEL_FIELDS = (
    "_apply", "dialect", "scope", "name", "labels", "ports", "namespace", "kind", "isolate_ingress", "enforce",
    "action", "cidr", "except", "entity", "protocol", "port", "l7",
)  # fmt: skip
DIALECTS = st.one_of(st.sampled_from(("native", "cilium", "", "calico")), strings)


# What JSON can carry but a database cannot store: NaN and infinities (json.dumps writes NaN, Infinity).
wild_scalars = st.one_of(scalars, st.floats(), st.text(max_size=8), st.just("\x00"))
wild_values = st.recursive(
    wild_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(strings, children, max_size=4)),
    max_leaves=20,
)


documents_or_junk = st.one_of(mutated(document_seeds, wild_values), document_seeds, wild_values)
envelopes = st.one_of(
    documents_or_junk,
    st.fixed_dictionaries(
        {"document": documents_or_junk},
        optional={
            "dialect": DIALECTS,
            "parent": st.one_of(strings, st.none(), st.integers(), st.just("A" * 30)),
            "fork": values,
            "params": st.one_of(values, st.dictionaries(st.sampled_from(("scope", "namespace", "labels")), strings)),
        },
    ),
)
json_bodies = st.one_of(
    envelopes.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200),
    st.sampled_from((b"", b"{", b"null", b"[]", b'"text"', b"{}" * 3, b'{"document": null}', b"\xef\xbb\xbf{}")),
)
yaml_bodies = st.one_of(
    st.lists(st.one_of(policies, manifests), min_size=1, max_size=3).map(
        lambda objects: "".join("---\n" + json.dumps(obj) + "\n" for obj in objects).encode()
    ),
    spliced_text().map(str.encode),
    st.binary(max_size=200),
)


def assert_json_answer(response: Any) -> None:
    assert response.status_code < 500, response.content[:500]
    assert response["Content-Type"] == "application/json", response.content[:200]
    body = response.json()
    if response.status_code >= 400:
        assert isinstance(body["error"], str) and body["error"] and isinstance(body["details"], list)


def assert_html_answer(response: Any) -> None:
    assert response.status_code < 500, response.content[:500]
    assert response["Content-Type"].startswith("text/html")


@FUZZ
@given(
    url=st.sampled_from(
        [
            "/api/compile",
            "/api/documents",
            "/api/lint",
            "/api/lint/fix",
            "/api/check",
            "/api/check/cell",
            *(f"/api/templates/{name}" for name in panels.TEMPLATES),
        ]
    ),
    body=json_bodies,
    dialect=st.one_of(st.none(), DIALECTS),
)
def test_json_endpoints_answer_json_for_any_body(api, url, body, dialect):
    query = {"dialect": dialect} if dialect is not None else {}
    path = url + ("?" + "&".join(f"dialect={value}" for value in query.values()) if query else "")
    assert_json_answer(api.post(path, body, content_type="application/json", headers={"X-CSRFToken": api.token}))


@FUZZ
@given(body=yaml_bodies, how=st.sampled_from(("yaml", "json", "octet", "upload")), source=st.one_of(st.none(), strings))
def test_the_import_api_answers_json_for_any_body(api, body, how, source):
    if how == "upload":
        upload = SimpleUploadedFile((source or "upload").replace("\x00", "") or "x", body)
        response = api.post_form("/api/import", {"file": upload})
    else:
        content_type = {"yaml": "application/yaml", "json": "application/json", "octet": "application/octet-stream"}
        path = "/api/import" + (f"?source={source}" if source else "")
        response = api.post(path, body, content_type=content_type[how], headers={"X-CSRFToken": api.token})
    assert_json_answer(response)


@FUZZ
@given(
    what=st.sampled_from(("node", "edge", "namespace", "settings", "template", "nothing")),
    document=st.one_of(documents_or_junk.map(lambda value: json.dumps(value)), strings),
    target=st.one_of(st.sampled_from(("web", "api", "e1", "dns", "default", "prod", "w0")), strings),
    fields=st.dictionaries(st.sampled_from(PANEL_FIELDS), strings, max_size=5),
)
def test_the_inspector_answers_html_for_any_form(api, what, document, target, fields):
    assert_html_answer(api.post_form(f"/panel/{what}", {**fields, "document": document, "id": target}))


@FUZZ
@given(body=yaml_bodies)
def test_the_import_panel_answers_html_for_any_text(api, body):
    assert_html_answer(api.post_form("/panel/import", {"text": body.decode("utf-8", "replace")}))


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_number_json_cannot_store_is_a_400(api, number):
    body = '{"document": {"schema": "fenceline/v1", "namespaces": [{"name": "a", "position": {"x": %s, "y": 1}}]}}'
    response = api.post(
        "/api/documents", body % number, content_type="application/json", headers={"X-CSRFToken": api.token}
    )
    assert response.status_code == 400, response.content[:300]
    assert number.lstrip("-") in response.json()["error"] or "finite" in response.json()["error"]


JSON_ENDPOINTS = [
    "/api/compile", "/api/documents", "/api/lint", "/api/lint/fix", "/api/check", "/api/check/cell",
    "/api/templates/deny-all-ingress",
]  # fmt: skip


@pytest.mark.parametrize("url", JSON_ENDPOINTS)
def test_an_integer_longer_than_python_converts_is_a_400_not_a_500(api, talk_doc, url):
    # Python refuses to convert integer text of more than 4,300 digits (ValueError): it must not escape as a 500.
    talk_doc["nodes"][0]["position"] = {"x": 1, "y": 2}
    body = json.dumps({"document": talk_doc}).replace('"x": 1', '"x": ' + "9" * 5000)
    response = api.post(url, body, content_type="application/json", headers={"X-CSRFToken": api.token})
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"] == "request body: an integer of 5,000 digits is too large"
    flows = api.post_form(
        "/api/flows", {"file": SimpleUploadedFile("a.json", b"{}"), "document": '{"n": -1%s}' % ("0" * 5000)}
    )
    assert flows.status_code == 400
    assert flows.json()["error"] == "document: an integer of 5,001 digits is too large"


@pytest.mark.parametrize("url", JSON_ENDPOINTS)
def test_a_multipart_form_to_a_json_endpoint_is_a_400_not_a_500(api, talk_doc, url):
    # `curl -F document=@drawing.json`: the CSRF check reads the form, after which the raw body cannot be read.
    response = api.post_form(url, {"document": SimpleUploadedFile("drawing.json", json.dumps(talk_doc).encode())})
    assert response.status_code == 400, response.content[:300]
    assert "Content-Type: application/json, not as a multipart form" in response.json()["error"]


# --- deep and wide values (issue 12) ----------------------------------------------------------------------------
# Values nested up to a thousand levels (chains of objects and lists, as deep as a JSON parser goes) and wide ones
# (thousands of items), put into the free-form fields and anywhere else in a valid drawing: every answer is a
# 4xx or a success, and none is larger than the documented bound (FENCELINE_MAX_RESPONSE_BYTES).


PLACEHOLDER = "\u2603fenceline-deep-value\u2603"


@st.composite
def chains(draw: st.DrawFn) -> str:
    """JSON text of a value nested 0 to 1,200 levels (objects and lists), written without recursion."""
    opening, closing = [], []
    for _ in range(draw(st.integers(0, 1200))):
        if draw(st.booleans()):
            key = draw(st.sampled_from(("d", "http", "rules", "")))
            opening.append("{" + json.dumps(key) + ":")
            closing.append("}")
        else:
            opening.append("[")
            closing.append("]")
    return "".join(opening) + json.dumps(draw(wild_scalars)) + "".join(reversed(closing))


wide_values = st.one_of(
    st.lists(wild_scalars, min_size=100, max_size=3000),
    st.dictionaries(st.text(max_size=300), wild_scalars, min_size=50, max_size=300),
    st.text(min_size=1000, max_size=20000),
    wild_values,
).map(json.dumps)
deep_or_wide = st.one_of(
    chains(), wide_values, st.lists(chains(), min_size=2, max_size=5).map(lambda t: f"[{','.join(t)}]")
)


@st.composite
def bodies_with_deep_values(draw: st.DrawFn, dialect: str, envelope: bool = True) -> str:
    """A JSON envelope of a valid drawing with a deep or wide value in a free-form field or anywhere else."""
    document = json.loads(json.dumps(draw(document_seeds)))
    document.setdefault("settings", {})
    where = draw(st.sampled_from(("l7", "extra", "anywhere")))
    if where == "extra":
        document["settings"]["extra"] = {"k": PLACEHOLDER}
    elif where == "l7" and document.get("edges"):
        document["edges"][draw(st.integers(0, len(document["edges"]) - 1))]["l7"] = {"http": PLACEHOLDER}
    else:
        path = draw(st.sampled_from([path for path in paths(document) if path]))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = PLACEHOLDER
    sent = (
        {"document": document, "dialect": dialect, "params": {"scope": "default"}, "fix": "x"} if envelope else document
    )
    return json.dumps(sent).replace(json.dumps(PLACEHOLDER), draw(deep_or_wide), 1)


@FUZZ
@given(
    url=st.sampled_from(
        ["/api/compile", "/api/documents", "/api/lint", "/api/check", "/api/templates/dns", "/api/lint/fix"]
    ),
    body=st.sampled_from(("native", "cilium")).flatmap(bodies_with_deep_values),
)
def test_deep_and_wide_values_get_a_bounded_answer_never_a_500(api, url, body):
    from django.conf import settings as django_settings

    response = api.post(url, body, content_type="application/json", headers={"X-CSRFToken": api.token})
    assert_json_answer(response)
    assert len(response.content) <= django_settings.FENCELINE_MAX_RESPONSE_BYTES
    if response.status_code == 201:
        slug = response.json()["slug"]
        for page in (f"/d/{slug}.yaml", f"/d/{slug}", f"/api/documents/{slug}"):
            served = api.get(page)
            assert served.status_code < 500 and len(served.content) <= django_settings.FENCELINE_MAX_RESPONSE_BYTES


@FUZZ
@given(
    what=st.sampled_from(("node", "edge", "namespace", "settings", "template")),
    document=bodies_with_deep_values("cilium", envelope=False),
)
def test_the_inspector_answers_deep_and_wide_drawings_with_html(api, what, document):
    response = api.post_form(f"/panel/{what}", {"document": document, "id": "dns", "_apply": "1"})
    assert_html_answer(response)
