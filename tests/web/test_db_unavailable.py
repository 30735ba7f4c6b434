"""When the database is down (restarting, unreachable), the API answers a retryable 503 JSON, never a 500."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.db.utils import OperationalError


@pytest.mark.django_db
def test_it_answers_503_with_retry_after_when_the_database_fails(client, monkeypatch):
    def fail(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    document = {"schema": "fenceline/v1", "namespaces": [{"name": "shop"}], "nodes": [], "edges": []}
    monkeypatch.setattr(connection, "cursor", fail)
    response = client.post("/api/documents", json.dumps({"document": document}), content_type="application/json")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"].startswith("the database is not available")
