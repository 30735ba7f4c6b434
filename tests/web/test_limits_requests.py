"""Limits with clear answers: oversized requests and uploads, deep or alias-heavy YAML, deep JSON, too many fields.

Every limit answers the way the asker reads: JSON `{"error", "details"}` under /api/, a page (or the import
panel with its problem list) for people, and never a 500.
"""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

pytestmark = pytest.mark.django_db

LIMIT = 64 * 1024
small_limits = override_settings(FENCELINE_MAX_UPLOAD_BYTES=LIMIT, DATA_UPLOAD_MAX_MEMORY_SIZE=LIMIT)

DEEP_YAML = "a:\n" + "".join("  " * depth + "- \n" for depth in range(1, 70)) + "  " * 70 + "x\n"
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 10) + "]\n" for i in range(1, 10)
)
RECURSIVE_ALIAS = "spec: &loop\n  podSelector: *loop\n"
API_POSTS = ["/api/compile", "/api/import", "/api/documents", "/api/templates/dns"]


def assert_json_error(response, status: int, *needles: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) >= {"error", "details"}
    for needle in needles:
        assert needle in body["error"], body
    return body


def assert_page(response, status: int, *needles: str) -> str:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    for needle in needles:
        assert needle in page, needle
    return page


# --- request and upload size -----------------------------------------------------------------------------------


@small_limits
@pytest.mark.parametrize("url", API_POSTS)
def test_every_api_post_answers_413_json_for_a_body_over_the_limit(api, url):
    body = json.dumps({"schema": "fenceline/v1", "description": "x" * (3 * LIMIT)})
    response = api.post(url, body, content_type="application/json", headers={"X-CSRFToken": api.token})
    error = assert_json_error(response, 413, "larger than the limit of 0.1 MiB")
    assert error["details"] == [f"request body: {len(body):,} bytes, limit: {LIMIT:,} bytes"]


@small_limits
def test_an_api_body_just_over_the_limit_is_refused_by_django_with_the_same_answer(api):
    # Within the multipart allowance of the early check, so Django's own limit is the one that trips.
    body = json.dumps({"schema": "fenceline/v1", "description": "x" * (LIMIT + 1000)})
    response = api.post("/api/compile", body, content_type="application/json", headers={"X-CSRFToken": api.token})
    assert_json_error(response, 413, "larger than the limit of 0.1 MiB")


@small_limits
@pytest.mark.parametrize(
    "size", [LIMIT + 10_000, 3 * LIMIT], ids=["over-the-limit", "over-limit-and-multipart-allowance"]
)
def test_the_import_form_answers_a_page_for_pasted_text_over_the_limit(api, size):
    response = api.post_form("/panel/import", {"text": "# " + "x" * size})
    assert_page(response, 413, "Too large", "The request is larger than the limit of 0.1 MiB.")


@small_limits
def test_the_inspector_answers_a_page_for_a_document_over_the_limit(api, talk_doc):
    talk_doc["description"] = "x" * (3 * LIMIT)
    response = api.post_form("/panel/node", {"document": json.dumps(talk_doc), "id": "web"})
    assert_page(response, 413, "Too large")


@small_limits
def test_the_import_form_names_an_uploaded_file_over_the_limit(api):
    upload = SimpleUploadedFile("cluster.yaml", b"# " + b"x" * (LIMIT + 5000), content_type="application/yaml")
    page = assert_page(api.post_form("/panel/import", {"file": upload}), 200, "Nothing was imported")
    assert f"cluster.yaml is {LIMIT + 5002:,} bytes, more than the limit of {LIMIT:,}" in page


@small_limits
def test_the_api_names_an_uploaded_file_over_the_limit(api):
    upload = SimpleUploadedFile("cluster.yaml", b"# " + b"x" * (LIMIT + 5000), content_type="application/yaml")
    assert_json_error(api.post_form("/api/import", {"file": upload}), 413, "larger than the limit")


def test_too_many_form_fields_is_a_bad_request_page_not_a_500(api, talk_doc):
    fields = {f"field{i}": "x" for i in range(1100)}
    response = api.post("/panel/node", {"document": json.dumps(talk_doc), "id": "web", **fields})
    assert_page(response, 400, "Bad request")


def test_too_many_multipart_fields_on_the_api_is_a_json_400(api):
    fields = {f"field{i}": "x" for i in range(1100)}
    assert_json_error(api.post_form("/api/import", fields), 400)


# --- YAML depth, aliases and recursion: the bounded loader's limits through both doors -------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (DEEP_YAML, "nested deeper than 64 levels"),
        (ALIAS_BOMB, "refusing a possible alias bomb"),
        (RECURSIVE_ALIAS, "recursive YAML alias"),
    ],
)
def test_the_api_refuses_hostile_yaml_naming_source_and_line(api, text, message):
    response = api.post(
        "/api/import?source=hostile.yaml", text, content_type="application/yaml", headers={"X-CSRFToken": api.token}
    )
    error = assert_json_error(response, 400, message)
    assert error["error"].startswith("hostile.yaml:")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (DEEP_YAML, "nested deeper than 64 levels"),
        (ALIAS_BOMB, "refusing a possible alias bomb"),
        (RECURSIVE_ALIAS, "recursive YAML alias"),
    ],
)
def test_the_import_form_shows_hostile_yaml_problems_and_keeps_the_drawing(api, text, message):
    page = assert_page(api.post_form("/panel/import", {"text": text}), 200, message)
    assert "Nothing was imported; the drawing is unchanged." in page
    assert "changed_document" not in page and "data-document" not in page


# --- JSON depth -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/api/compile", "/api/documents", "/api/templates/dns"])
def test_the_api_refuses_json_nested_beyond_recursion(api, url):
    body = "[" * 100_000 + "]" * 100_000
    response = api.post(url, body, content_type="application/json", headers={"X-CSRFToken": api.token})
    assert_json_error(response, 400, "nested too deeply")


def test_the_inspector_refuses_json_nested_beyond_recursion(api):
    response = api.post_form("/panel/node", {"document": "[" * 100_000, "id": "web"})
    assert_page(response, 400, "nested too deeply")
