"""No lost edits: people saving the same drawing at the same moment, through the real JSON API in threads.

Each thread is one person with their own session and database connection. They all start from the same
revision and press save together (a barrier releases them at once). Exactly one save continues the document;
every other one gets a 409 that says how to go on, and saving as a fork then keeps that person's work too.

Two set-ups: Django's test client in threads against PostgreSQL (scripts/test.sh's PostgreSQL pass; the
in-memory SQLite test database locks whole tables across threads, which is not what a server sees), and the
real server (`fenceline serve`: gunicorn with several worker processes) on loopback against an SQLite file,
the zero-set-up default.
"""

from __future__ import annotations

import copy
import dataclasses
import http.cookiejar
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from django.db import connections
from django.test import Client

from editor.policy.document import Document
from scripts.appserver import free_port

ROOT = Path(__file__).resolve().parents[2]
ON_POSTGRES = os.getenv("FENCELINE_TEST_POSTGRES") == "1"
PEOPLE = 6
ROUNDS = 3


class Person(Protocol):
    def save(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]: ...

    def load(self, path: str) -> dict[str, Any]: ...


class BrowserSession:
    """A browser session in Django's test client: its own cookies, CSRF token and (per thread) connection."""

    def __init__(self) -> None:
        self.client = Client(enforce_csrf_checks=True)
        self.token = self.client.get("/api/csrf").json()["csrfToken"]

    def save(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self.client.post(
            "/api/documents", body, content_type="application/json", headers={"X-CSRFToken": self.token}
        )
        assert response["Content-Type"] == "application/json", response.content[:300]
        return response.status_code, response.json()

    def load(self, path: str) -> dict[str, Any]:
        return self.client.get(path).json()


class HttpSession:
    """A browser session over HTTP: a cookie jar and the CSRF token from GET /api/csrf."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.token = self.load("/api/csrf")["csrfToken"]

    def save(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json", "X-CSRFToken": self.token}
        request = urllib.request.Request(f"{self.base}/api/documents", json.dumps(body).encode(), headers)
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            assert error.headers["Content-Type"] == "application/json", error.read()[:300]
            return error.code, json.load(error)

    def load(self, path: str) -> dict[str, Any]:
        with self.opener.open(f"{self.base}{path}", timeout=60) as response:
            return json.load(response)


def save_together(people: list[Person], bodies: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Every person saves their body at the same moment, each from their own thread."""
    barrier = threading.Barrier(len(people))
    results: list[tuple[int, dict[str, Any]] | None] = [None] * len(people)
    failures: list[BaseException] = []

    def press_save(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = people[index].save(bodies[index])
        except BaseException as exc:  # re-raised in the test's thread below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=press_save, args=(i,)) for i in range(len(people))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if failures:
        raise failures[0]
    return [result for result in results if result is not None]


def edited(document: dict[str, Any], who: int, round_number: int) -> dict[str, Any]:
    """Person `who`'s own change: a name and a workload nobody else adds."""
    changed = copy.deepcopy(document)
    changed["name"] = f"edit by person {who} in round {round_number}"
    changed["nodes"].append(
        {
            "id": f"w{who}",
            "kind": "workload",
            "name": f"batch-{who}",
            "namespace": "backend",
            "labels": {"job": str(who)},
        }
    )
    return changed


def normalised(document: dict[str, Any]) -> dict[str, Any]:
    """What a save stores: the validated document in its canonical JSON form."""
    return Document.from_json(document).to_json()


def play_rounds(people: list[Person], start: dict[str, Any]) -> None:
    """ROUNDS times: everybody saves an edit of the latest revision at once; check nobody's work is lost."""
    status, parent = people[0].save({"document": start})
    assert status == 201
    first = parent
    for round_number in range(1, ROUNDS + 1):
        edits = [edited(start, who, round_number) for who in range(len(people))]
        results = save_together(people, [{"document": edit, "parent": parent["slug"]} for edit in edits])

        assert sorted(status for status, _ in results) == [201] + [409] * (len(people) - 1), results
        [winner] = [who for who, (status, _) in enumerate(results) if status == 201]
        won = results[winner][1]
        assert (won["revision"], won["parent"]) == (round_number + 1, parent["slug"])
        assert people[0].load(f"/api/documents/{won['slug']}")["document"] == normalised(edits[winner])

        for who, (_, conflict) in enumerate(results):
            if who == winner:
                continue
            assert conflict["error"].startswith(f"revision {round_number} is not the latest of this document any more")
            assert (
                "Save your drawing as a fork, or open the latest revision and redo your change there"
                in (conflict["error"])
            )
            assert conflict["latest"]["slug"] == won["slug"]
            assert conflict["details"] == [f"latest revision: {won['url']}"]
            # The way out the message offers: the same body as a fork keeps this person's work.
            status, fork = people[who].save({"document": edits[who], "parent": parent["slug"], "fork": True})
            assert status == 201
            assert (fork["revision"], fork["parent"]) == (1, parent["slug"])
            assert people[who].load(f"/api/documents/{fork['slug']}")["document"] == normalised(edits[who])
        parent = won

    history = people[0].load(f"/api/documents/{first['slug']}/history")["revisions"]
    assert [revision["revision"] for revision in history] == list(range(ROUNDS + 1, 0, -1))


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="runs in the PostgreSQL pass of scripts/test.sh")
@pytest.mark.django_db(transaction=True)
def test_it_keeps_every_edit_when_people_save_at_once_on_postgres(talk_doc):
    play_rounds([BrowserSession() for _ in range(PEOPLE)], talk_doc)


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="runs in the PostgreSQL pass of scripts/test.sh")
@pytest.mark.django_db(transaction=True)
def test_it_continues_different_documents_in_parallel_on_postgres(talk_doc):
    people: list[Person] = [BrowserSession() for _ in range(PEOPLE)]
    parents = [person.save({"document": talk_doc})[1] for person in people]
    bodies = [{"document": edited(talk_doc, who, 1), "parent": parents[who]["slug"]} for who in range(PEOPLE)]
    results = save_together(people, bodies)
    assert [(status, saved["revision"]) for status, saved in results] == [(201, 2)] * PEOPLE


@dataclasses.dataclass
class Server:
    base: str
    log: Path


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[Server]:
    """`fenceline serve` with four gunicorn workers on loopback, on a fresh SQLite file."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fenceline.sqlite3'}",
        "SECRET_KEY": "test-" + "s" * 50,
        "DEBUG": "",
        "GUNICORN_CMD_ARGS": "--no-control-socket",
    }
    command = [sys.executable, "-m", "editor.policy.cli", "serve", "--port", str(port), "--workers", "4"]
    log = (tmp_path / "server.log").open("w")
    # Its own process group: `fenceline serve` waits for gunicorn, and both must stop with the test.
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.2)
        yield Server(base, tmp_path / "server.log")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


@pytest.mark.skipif(ON_POSTGRES, reason="uses its own SQLite file; runs once, in the SQLite pass")
def test_it_keeps_every_edit_when_people_save_at_once_on_the_sqlite_server(sqlite_server, talk_doc):
    play_rounds([HttpSession(sqlite_server.base) for _ in range(PEOPLE)], talk_doc)
    assert "Internal Server Error" not in sqlite_server.log.read_text()
