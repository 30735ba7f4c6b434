"""Storing drawings: what goes in comes back, on SQLite and on PostgreSQL alike.

Every test here runs on the database DATABASE_URL names; scripts/test.sh runs tests/web on SQLite and then
again on PostgreSQL (FENCELINE_TEST_POSTGRES=1), where JSONField is jsonb: keys come back in jsonb's order and
text cannot hold a NUL character, so the permalink YAML and the API answers must not depend on either.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml
from django.db import connection

from editor.policy.compile import compile_document
from editor.policy.document import Document

pytestmark = pytest.mark.django_db

ON_POSTGRES = os.getenv("FENCELINE_TEST_POSTGRES") == "1"


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="runs in the PostgreSQL pass of scripts/test.sh")
def test_the_postgres_pass_really_runs_on_postgres():
    # Guards the second pass of scripts/test.sh: without it a wrong DATABASE_URL would test SQLite twice.
    assert connection.vendor == "postgresql"
    assert connection.pg_version >= 150000
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_encoding')")
        assert cursor.fetchone() == ("UTF8",)


def test_the_postgres_tests_are_not_skipped_on_postgres():
    # The other half of the guard: on PostgreSQL without FENCELINE_TEST_POSTGRES=1 the tests marked postgres
    # would all be skipped quietly.
    assert (connection.vendor == "postgresql") == ON_POSTGRES


def unusual(talk_doc):
    """The talk's shop with what storage engines like to change: key order, non-ASCII text, floats, nesting."""
    talk_doc["name"] = "Магазин 🛒 — ショップ"
    talk_doc["description"] = "x" * 9_000 + " ünïcödé, tabs\tand\nnewlines, quotes \" ' and a backslash \\"
    talk_doc["settings"]["extra"] = {"zeta": [1, 2.5, {"b": None, "a": True}], "alpha": {"nested": {"deep": "yes"}}}
    web = talk_doc["nodes"][0]
    web["labels"] = {"zz-last": "1", "app": "web", "a": "first-by-length"}
    web["position"] = {"x": 0.1 + 0.2, "y": -1e-9}
    web["note"] = "רשימה RTL and 中文"
    talk_doc["namespaces"][0]["labels"] = {"team": "shop", "env": "prod"}
    return talk_doc


def test_it_returns_a_saved_document_as_it_was_sent(api, talk_doc):
    document = unusual(talk_doc)
    saved = api.post_json("/api/documents", {"document": document})
    assert saved.status_code == 201
    loaded = api.get(f"/api/documents/{saved.json()['slug']}").json()["document"]
    assert loaded == Document.from_json(document).to_json()
    assert loaded["nodes"][0]["position"] == {"x": 0.1 + 0.2, "y": -1e-9}
    assert [node["id"] for node in loaded["nodes"]] == [node["id"] for node in document["nodes"]]


@pytest.mark.parametrize("dialect", ["native", "cilium"])
def test_the_permalink_yaml_does_not_depend_on_how_the_database_orders_keys(api, client, talk_doc, dialect):
    document = unusual(talk_doc)
    slug = api.post_json("/api/documents", {"document": document}).json()["slug"]
    text = client.get(f"/d/{slug}.yaml?dialect={dialect}").content.decode()
    expected = compile_document(Document.from_json(document), dialect)
    assert text.endswith(expected.yaml)
    assert [obj for obj in yaml.safe_load_all(text) if obj] == expected.objects


def test_it_shows_the_stored_drawing_on_its_page(api, client, talk_doc):
    slug = api.post_json("/api/documents", {"document": unusual(talk_doc)}).json()["slug"]
    page = client.get(f"/d/{slug}")
    assert page.status_code == 200
    assert "Магазин 🛒 — ショップ" in page.content.decode()


@pytest.mark.parametrize("where", ["name", "description", "note", "extra-key"])
def test_it_refuses_a_nul_character_the_same_way_on_every_database(api, talk_doc, where):
    escaped = "a\\u0000b"
    body = talk_doc
    marker = "__NUL__"
    if where == "note":
        body["nodes"][0]["note"] = marker
    elif where == "extra-key":
        body["settings"]["extra"] = {marker: 1}
    else:
        body[where] = marker
    text = json.dumps({"document": body}).replace(marker, escaped)
    response = api.post("/api/documents", text, content_type="application/json", headers={"X-CSRFToken": api.token})
    assert response.status_code == 400, response.content[:300]
    assert "\\u0000" in response.json()["error"] or "NUL" in response.json()["error"]
