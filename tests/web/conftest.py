from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

# The application of the talk (tests/fixtures/documents/README.md): read afresh for each test, which may change it.
TALK_APP = Path(__file__).resolve().parents[1] / "fixtures" / "documents" / "talk-app.json"


@pytest.fixture
def talk_doc() -> dict[str, Any]:
    return json.loads(TALK_APP.read_text())


class CsrfClient(Client):
    """A test client that enforces CSRF like a browser session, with the token fetched the documented way."""

    def __init__(self) -> None:
        super().__init__(enforce_csrf_checks=True)
        self.token = self.get("/api/csrf").json()["csrfToken"]

    def post_json(self, path: str, data: Any, **extra: Any) -> Any:
        return self.post(path, data, content_type="application/json", headers={"X-CSRFToken": self.token}, **extra)

    def post_form(self, path: str, data: dict[str, Any], **extra: Any) -> Any:
        return self.post(path, data, headers={"X-CSRFToken": self.token}, **extra)


@pytest.fixture
def api() -> CsrfClient:
    return CsrfClient()
