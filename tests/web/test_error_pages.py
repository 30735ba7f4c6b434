"""Every error page a person can meet (400, 403, 404, 405, 413, 500, 503, a failed CSRF check), with DEBUG off,
says what happened in plain words and shows nothing of the server: no URL patterns, exception text, settings names
or Django's reasons (issue 10, finding 10)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.db import connection
from django.db.utils import DatabaseError, OperationalError
from django.test import Client

pytestmark = pytest.mark.django_db

# Words that only the server's internals would put on a page.
INTERNALS = re.compile(
    r"tried|URLPattern|URLResolver|Resolver|Traceback|ALLOWED_HOSTS|HTTP_HOST|Exception|Error\b|settings|"
    r"CSRF cookie|Referer|matches the given query|editor\.|django|\{'|\[<",
    re.IGNORECASE,
)


def visible_text(html: str) -> str:
    body = html.split("<body", 1)[1]
    return re.sub(r"<[^>]+>", " ", body)


def assert_plain(response, status: int, message: str) -> None:
    assert settings.DEBUG is False
    assert response.status_code == status
    text = visible_text(response.content.decode())
    assert message in text
    assert not INTERNALS.search(text), INTERNALS.search(text)


def test_it_shows_a_plain_404_for_an_unknown_address_not_the_url_patterns(client):
    assert_plain(client.get("/no/such/page"), 404, "There is nothing at this address.")


def test_it_keeps_its_own_404_sentence_for_an_unknown_permalink(client):
    assert_plain(client.get("/d/" + "x" * 24), 404, "No saved drawing has this address.")


def test_it_shows_a_plain_400_for_a_host_it_does_not_serve(client):
    assert_plain(client.get("/", HTTP_HOST="evil.example"), 400, "The server could not understand this request.")


def test_it_shows_a_plain_403_when_the_csrf_check_fails():
    client = Client(enforce_csrf_checks=True)
    assert_plain(client.post("/panel/import", {}), 403, "This form has expired or did not come from this site.")


def test_it_shows_a_plain_405_for_a_method_the_address_does_not_take(client):
    assert_plain(client.get("/panel/import"), 405, "GET is not used at this address; it takes POST.")


def test_it_shows_a_plain_413_for_a_body_over_the_limit(client):
    body = b"x" * (settings.FENCELINE_MAX_UPLOAD_BYTES + 128 * 1024)
    response = client.post("/panel/import", body, content_type="application/octet-stream")
    assert_plain(response, 413, "The request is larger than the limit of")


def test_it_shows_a_plain_500_when_the_server_fails(monkeypatch):
    def fail(*args, **kwargs):
        raise DatabaseError('relation "editor_revision" does not exist')

    client = Client(raise_request_exception=False)
    monkeypatch.setattr(connection, "cursor", fail)
    assert_plain(client.get("/d/" + "x" * 24), 500, "The details are in the server log.")


def test_it_shows_a_plain_503_when_the_database_is_down(monkeypatch):
    def fail(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    client = Client(raise_request_exception=False)
    monkeypatch.setattr(connection, "cursor", fail)
    response = client.get("/d/" + "x" * 24)
    assert_plain(response, 503, "The database is not available right now. Try again in a moment.")
    assert response["Retry-After"] == "5"
