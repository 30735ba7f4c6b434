"""Browser fixtures: a fresh Chromium context per page, with everything the page does recorded.

Every page opened through `open_editor` is checked when the test ends: a console error, an uncaught exception, a
CSP violation or a dialog fails the test even when the test itself never looked (a test that provokes an error
status says so with `watch.expect_statuses`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from editor_page import EditorPage

# Reports every CSP violation (Chromium also logs them, but the event carries the directive and the source).
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(
    {directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber});
});
"""
TOUR_DONE = "localStorage.setItem('fenceline.tour.v1', 'done');"
WIDE = (1400, 900)
SMALL = (1024, 768)  # the smallest window the editor is made for (issue 10)


@dataclasses.dataclass
class Watch:
    """What a page did besides drawing: requests, console errors, uncaught exceptions, dialogs, CSP reports."""

    requests: list[str] = dataclasses.field(default_factory=list)
    console_errors: list[str] = dataclasses.field(default_factory=list)
    page_errors: list[str] = dataclasses.field(default_factory=list)
    dialogs: list[str] = dataclasses.field(default_factory=list)
    expected_statuses: set[int] = dataclasses.field(default_factory=set)

    def attach(self, page: Any) -> None:
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", lambda msg: self.console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def expect_statuses(self, *statuses: int) -> None:
        """The test provokes these error statuses on purpose: Chromium's console note on them is no error."""
        self.expected_statuses.update(statuses)

    def assert_clean(self, page: Any, expected_statuses: tuple[int, ...] = ()) -> None:
        """No CSP violation, exception, dialog or console error (but Chromium's note on an expected 4xx)."""
        self.expect_statuses(*expected_statuses)
        violations = page.evaluate("window.__cspViolations")
        assert violations == []
        assert self.page_errors == []
        expected = tuple(f"the server responded with a status of {status} " for status in self.expected_statuses)
        errors = [text for text in self.console_errors if not any(note in text for note in expected)]
        assert errors == [], errors
        assert self.dialogs == []


@pytest.fixture
def open_editor(browser: Any, app_url: str) -> Iterator[Callable[..., tuple[EditorPage, Watch]]]:
    contexts: list[Any] = []
    watched: list[tuple[Any, Watch]] = []

    def open_(
        path: str = "/",
        *,
        tour_done: bool = True,
        editor_page: bool = True,
        viewport: tuple[int, int] = WIDE,
        size: tuple[int, int] | None = None,
        timeout: int = 15_000,
    ) -> tuple[EditorPage, Watch]:
        """`path` in a fresh browser context of `viewport` (or `size`, the same); `editor_page=False` for a page
        that is not the editor (no waiting for the drawing)."""
        width, height = size or viewport
        context = browser.new_context(base_url=app_url, viewport={"width": width, "height": height})
        contexts.append(context)
        context.add_init_script(CSP_LISTENER)
        if tour_done:
            context.add_init_script(TOUR_DONE)
        page = context.new_page()
        page.set_default_timeout(timeout)
        watch = Watch()
        watch.attach(page)
        watched.append((page, watch))
        editor = EditorPage(page)
        if editor_page:
            editor.goto(path)
        else:
            page.goto(path)
        return editor, watch

    yield open_
    try:
        for page, watch in watched:
            watch.assert_clean(page)
    finally:
        for context in contexts:
            context.close()
