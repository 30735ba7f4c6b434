"""In Chromium at 1024x768: after each Save, the revision badge, the permalink, the History link and the
"Apply it: curl ..." command name the revision just saved, and the permalink and the command each have a
copy button that copies exactly that (issue 10, finding 4)."""

from __future__ import annotations

import pytest
from conftest import SMALL
from editor_page import Person

pytestmark = pytest.mark.e2e


def save(editor, person: Person) -> str:
    """Save with Ctrl+S, as a person does, and return the new permalink's slug."""
    editor.page.locator("#cy").focus()
    editor.page.evaluate("document.getElementById('toast').hidden = true")
    person.press("Control+s")
    link = editor.page.locator("#toast #permalink")
    link.wait_for()
    return link.get_attribute("href").rsplit("/", 1)[1]


def clipboard(editor) -> str:
    return editor.page.evaluate("navigator.clipboard.readText()")


def test_every_link_and_command_follows_the_revision_just_saved(open_editor, app_url):
    editor, watch = open_editor("/", viewport=SMALL)
    editor.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_url)
    person = Person(editor.page)
    editor.add_namespace("shop")
    first = save(editor, person)
    editor.add_workload("cart")
    second = save(editor, person)
    assert first != second

    page = editor.page
    assert page.locator("#revision-badge").inner_text().strip() == "revision 2"
    assert page.locator("#revision-link").get_attribute("href") == f"{app_url}/d/{second}"
    assert page.locator("#history-link").get_attribute("href") == f"{app_url}/d/{second}/history"
    command = page.locator("#apply-command").inner_text()
    assert command == f"curl -s {app_url}/d/{second}.yaml?dialect=native | kubectl apply -f -"
    assert first not in page.locator("header.topbar").inner_html() + page.locator("#apply-foot").inner_html()

    page.click("#copy-command")
    assert clipboard(editor) == command
    page.click("#copy-permalink")
    assert clipboard(editor) == f"{app_url}/d/{second}"
    editor.set_dialect("cilium")
    assert page.locator("#apply-command").inner_text().endswith(f"/d/{second}.yaml?dialect=cilium | kubectl apply -f -")
    watch.assert_clean(page)
