"""Shared fixtures: the application served on loopback the way production serves it, and Debian's Chromium.

`app_url` starts Django's live-server thread once per session with whitenoise serving the collected static
files (the production path; pytest-django's own live_server would serve them from the finders instead), and
gives each test an emptied database. `browser` is Chromium driven by Playwright.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _production_static(application: Any) -> Any:
    """No static-files wrapper: requests reach the middleware, where whitenoise serves them as in production."""
    return application


class AppServer:
    def __init__(self) -> None:
        from django.db import connections
        from django.test.testcases import LiveServerThread

        shared = {c.alias: c for c in connections.all() if c.vendor == "sqlite" and c.is_in_memory_db()}
        self.thread = LiveServerThread("127.0.0.1", _production_static, connections_override=shared, port=0)
        self.thread.daemon = True
        for connection in shared.values():
            connection.inc_thread_sharing()
        self.thread.start()
        self.thread.is_ready.wait()
        if self.thread.error:
            raise self.thread.error
        self.url = f"http://127.0.0.1:{self.thread.port}"

    def stop(self) -> None:
        self.thread.terminate()
        for connection in self.thread.connections_override.values():
            connection.dec_thread_sharing()


@pytest.fixture(scope="session")
def _app_server(django_db_setup: None, django_db_blocker: Any) -> Iterator[AppServer]:
    with django_db_blocker.unblock():
        server = AppServer()
        yield server
        server.stop()


@pytest.fixture
def app_url(_app_server: AppServer, transactional_db: None) -> str:
    return _app_server.url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (scripts/system-packages.sh does)")
    # Playwright's sync API keeps an event loop in this thread; the tests only touch the ORM between its calls.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
