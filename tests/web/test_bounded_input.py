"""Every request does bounded work (issue 12): free-form fields have a depth and size bound, text is valid Unicode,
JSON keys are unique, every page has the time limit, caches and answers have a size bound.

Each test here failed on the code before: deep `l7`/`extra` values were stored and amplified into quadratic YAML,
`copy.deepcopy` of a drawing nested 500 levels was a RecursionError (500) in the templates and panels, a lone
surrogate was a 500 on PostgreSQL, duplicate keys were silently merged, and `/d/<slug>.yaml` had no time limit.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.test import override_settings

from editor.models import save_revision
from editor.policy import service
from editor.policy.document_schema import FREE_FORM_MAX_DEPTH

pytestmark = pytest.mark.django_db


def nested(depth: int, leaf: Any = "x") -> Any:
    value = leaf
    for _ in range(depth):
        value = {"d": value}
    return value


def with_l7(document: dict[str, Any], l7: Any) -> dict[str, Any]:
    document["settings"]["dialect"] = "cilium"
    document["edges"][0]["l7"] = l7
    return document


def post_raw(api, url: str, body: str):
    return api.post(url, body, content_type="application/json", headers={"X-CSRFToken": api.token})


# --- depth of free-form fields ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/api/compile", "/api/documents", "/api/lint", "/api/check", "/api/templates/dns"])
@pytest.mark.parametrize("field", ["l7", "extra"])
def test_a_free_form_field_nested_beyond_the_bound_is_a_400_naming_it(api, talk_doc, url, field):
    if field == "l7":
        with_l7(talk_doc, nested(FREE_FORM_MAX_DEPTH + 1))
    else:
        talk_doc["settings"]["extra"] = nested(FREE_FORM_MAX_DEPTH + 1)
    response = api.post_json(url, {"document": talk_doc, "params": {"scope": "frontend"}})
    assert response.status_code == 400, response.content[:300]
    details = " ".join(response.json()["details"])
    assert f"nested deeper than {FREE_FORM_MAX_DEPTH} levels" in details
    assert ("edges[0].l7.d" if field == "l7" else "settings.extra.d") in details


def test_a_free_form_field_at_the_bound_is_accepted(api, talk_doc):
    with_l7(talk_doc, {"http": [{"headerMatches": [{"secret": {"name": "a", "namespace": "b"}}]}]})
    talk_doc["settings"]["extra"] = nested(FREE_FORM_MAX_DEPTH)
    assert api.post_json("/api/documents", {"document": talk_doc}).status_code == 201


@pytest.mark.parametrize("url", ["/api/templates/dns", "/api/templates/default-deny"])
def test_templates_refuse_a_drawing_nested_500_levels_with_a_400_not_a_recursion_error(api, talk_doc, url):
    talk_doc["settings"]["extra"] = nested(500)
    response = api.post_json(url, {"document": talk_doc, "params": {"scope": "frontend"}})
    assert response.status_code == 400, response.content[:300]


@pytest.mark.parametrize(("what", "target"), [("namespace", "ns:frontend"), ("template", "dns")])
def test_panels_refuse_a_drawing_nested_500_levels_with_a_400_not_a_recursion_error(api, talk_doc, what, target):
    with_l7(talk_doc, nested(500))
    form = {"document": json.dumps(talk_doc), "id": target, "_apply": "1", "name": "shop", "scope": "frontend"}
    response = api.post_form(f"/panel/{what}", form)
    assert response.status_code == 400, response.content[:300]
    assert b"nested deeper than" in response.content


def test_any_json_body_nested_beyond_the_loader_depth_is_a_400(api):
    response = api.post_json("/api/compile", {"document": {"schema": "fenceline/v1"}, "params": nested(300)})
    assert response.status_code == 400
    assert "nested deeper than 64 levels" in response.json()["error"]


def test_a_revision_saved_before_the_bound_answers_a_clear_409_not_a_500(client, talk_doc):
    revision = save_revision(with_l7(talk_doc, nested(300)))
    response = client.get(f"/d/{revision.slug}.yaml")
    assert response.status_code == 409
    assert response.content.startswith(b"# this revision is not a drawing this server compiles any more")
    assert client.get(f"/d/{revision.slug}").status_code == 200


# --- text and keys --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "path"),
    [
        (lambda doc: doc.update(name="\ud800"), "name"),
        (lambda doc: doc["nodes"][1]["labels"].update(app="a\udfffb"), "nodes[1].labels.app"),
        (lambda doc: doc["nodes"][0].update(note="\udc00"), "nodes[0].note"),
        (lambda doc: doc["settings"].update(extra={"k\ud801": 1}), "the key of document.settings.extra.k\\ud801"),
    ],
)
@pytest.mark.parametrize("url", ["/api/documents", "/api/compile"])
def test_a_lone_surrogate_anywhere_is_a_400_naming_the_field(api, talk_doc, where, path, url):
    where(talk_doc)
    # json.dumps escapes a lone surrogate as \ud800, as any client's JSON encoder may.
    response = post_raw(api, url, json.dumps({"document": talk_doc}))
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert "lone surrogate" in error, error
    assert error.startswith(f"request body: {path if path.startswith('the key') else 'document.' + path}: "), error


def test_a_valid_surrogate_pair_is_an_ordinary_character(api, talk_doc):
    talk_doc["name"] = "shop \U0001f6d2"
    response = post_raw(api, "/api/documents", json.dumps({"document": talk_doc}))
    assert response.status_code == 201
    assert api.get(f"/api/documents/{response.json()['slug']}").json()["document"]["name"] == "shop \U0001f6d2"


@pytest.mark.parametrize("url", ["/api/compile", "/api/documents", "/api/check"])
def test_duplicate_keys_in_json_are_refused_like_in_yaml(api, url):
    body = '{"document": {"schema": "fenceline/v1", "name": "a", "name": "b"}}'
    response = post_raw(api, url, body)
    assert response.status_code == 400
    assert response.json()["error"] == "request body: duplicate key 'name' in a JSON object; each key may appear once"


# --- time limit on pages, bounded answers and caches -----------------------------------------------------------


def wide(nodes: int, edges: int) -> dict[str, Any]:
    workloads = [
        {"id": f"w{i}", "kind": "workload", "name": f"w{i}", "namespace": "shop", "labels": {"app": f"w{i}"}}
        for i in range(nodes)
    ]
    links = [
        {"id": f"e{i}", "source": f"w{i % nodes}", "target": f"w{(i + 7) % nodes}", "ports": [{"port": 1 + i}]}
        for i in range(edges)
    ]
    return {"schema": "fenceline/v1", "namespaces": [{"name": "shop"}], "nodes": workloads, "edges": links}


@pytest.mark.parametrize("page", ["/d/{slug}.yaml", "/d/{slug}", "/d/{slug}/history"])
def test_permalink_pages_have_the_time_limit(client, page):
    slug = save_revision({**wide(300, 1200), "name": f"time limit {page}"}).slug
    # 0.2 ms: the history page no longer decodes the drawings, and with warm caches it answered within 2 ms.
    with override_settings(FENCELINE_TIME_LIMIT_SECONDS=0.0002):
        response = client.get(page.format(slug=slug))
    assert response.status_code == 503, response.content[:300]
    assert b"longer than the limit of 0.0002 s" in response.content
    assert b"FENCELINE_TIME_LIMIT_SECONDS" in response.content


def test_an_answer_over_the_response_limit_is_a_413(api, client):
    document = wide(60, 200)
    with override_settings(FENCELINE_MAX_RESPONSE_BYTES=20_000):
        response = api.post_json("/api/compile", document)
        slug = save_revision(document).slug
        page = client.get(f"/d/{slug}.yaml")
    assert response.status_code == 413, response.content[:300]
    assert "FENCELINE_MAX_RESPONSE_BYTES" in response.json()["details"][0]
    assert page.status_code == 413 and b"more than the limit" in page.content


def test_the_yaml_cache_is_bounded_by_characters(api):
    cache = service.SizedCache[str](max_chars=50_000)
    for i in range(200):
        key = json.dumps({"kind": "ConfigMap", "metadata": {"name": f"c{i}"}, "data": {"x": "y" * 1000}})
        assert cache.get(key, lambda text: text * 2, len) == key * 2
        assert cache.chars <= 50_000
    assert cache.chars > 0
    assert service._yaml_cache.max_chars == service.CACHE_CHARS


# --- chunked bodies -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/api/import", "/api/compile", "/csp-report"])
def test_a_chunked_body_the_server_cannot_measure_is_a_411_not_an_empty_body(api, url):
    # The development server (wsgiref) passes the chunks undecoded and without an end: refuse, do not guess.
    response = api.post(
        url, b"", content_type="application/json", headers={"X-CSRFToken": api.token},
        CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked",
    )  # fmt: skip
    assert response.status_code == 411, response.content[:300]
    assert b"Content-Length" in response.content


def test_a_chunked_body_the_server_decoded_is_read_up_to_the_limit(api, talk_doc, settings):
    # As gunicorn hands it on: the chunks decoded into a stream that ends, no Content-Length (the real server is
    # tested in test_server_bounds.py).
    body = json.dumps(talk_doc).encode()

    def chunked(data: bytes) -> dict[str, Any]:
        return {
            "CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True,
            "wsgi.input": io.BytesIO(data), "content_type": "application/json", "headers": {"X-CSRFToken": api.token},
        }  # fmt: skip

    response = api.post("/api/compile", body, content_type="application/json", headers={"X-CSRFToken": api.token})
    read = api.generic("POST", "/api/compile", b"", **chunked(body))
    assert read.status_code == 200 and read.json() == response.json()
    settings.FENCELINE_MAX_UPLOAD_BYTES = 100
    too_large = api.generic("POST", "/api/compile", b"", **chunked(body * 100))
    assert too_large.status_code == 413


@pytest.mark.parametrize(
    "body",
    [
        '{"document": {"schema": "fenceline/v1", "name" : "a", "name": "b"}}',  # a space before the colon
        '{"document": {"schema": "fenceline/v1", "description": "x\\":y", "name": "a", "name": "b"}}',
        '{"document": {"schema": "fenceline/v1", "settings": {"extra": {"k": 1, "k": 2}}}}',
    ],
)
def test_duplicate_keys_are_found_however_the_json_is_written(api, body):
    response = post_raw(api, "/api/compile", body)
    assert response.status_code == 400
    assert "duplicate key" in response.json()["error"]


def test_the_time_limit_is_not_swallowed_by_a_finaliser_it_interrupts():
    # An exception raised inside a weakref finaliser is "ignored" by Python (and would fail this test as an
    # unraisable exception): the alarm waits for the finaliser to end, then stops the block.
    import time
    import weakref

    from editor.timelimit import TimeLimitExceeded, time_limit

    class Thing:
        pass

    def slow_cleanup() -> None:
        deadline = time.perf_counter() + 0.2
        while time.perf_counter() < deadline:
            pass

    thing = Thing()
    weakref.finalize(thing, slow_cleanup)
    finished_cleanup = False
    with pytest.raises(TimeLimitExceeded), time_limit(0.02):
        del thing  # runs slow_cleanup, during which the alarm rings
        finished_cleanup = True
        time.sleep(5)
    assert finished_cleanup


def test_the_time_limit_is_not_swallowed_by_a_garbage_collector_callback():
    import gc
    import time

    from editor.timelimit import TimeLimitExceeded, time_limit

    def slow_callback(phase: str, info: dict[str, int]) -> None:
        deadline = time.perf_counter() + 0.2
        while phase == "start" and time.perf_counter() < deadline:
            pass

    gc.callbacks.append(slow_callback)
    collected = False
    try:
        with pytest.raises(TimeLimitExceeded), time_limit(0.02):
            gc.collect()
            collected = True
            time.sleep(5)
    finally:
        gc.callbacks.remove(slow_callback)
    assert collected
