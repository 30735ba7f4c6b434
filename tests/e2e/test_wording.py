"""What the editor says reads as sentences and means what it says (issue 10, finding 12): an empty drawing has no
rating, messages start with a capital, the whole IPv4 space is "Any IP address", and "how to improve" answers the
reason given."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def wait_analysed(editor: Any, what: str) -> None:
    editor.wait_compiled()
    editor.page.wait_for_function(f"() => document.getElementById('app').dataset.{what}Pending === '0'")


def test_the_editor_says_things_plainly(open_editor):
    editor, _ = open_editor("/", size=(1024, 768))
    page = editor.page

    page.click("#tab-rating")
    assert page.inner_text("#rating-total") == "\u2014"  # before the first analysis as after it
    wait_analysed(editor, "lint")
    assert page.inner_text("#rating-total") == "\u2014"
    assert "No rating yet: the drawing is empty." in page.inner_text("#rating-view")
    page.click("#tab-yaml")

    editor.add_namespace("shop")
    editor.add_workload("cart")
    editor.tick("isolate_egress")  # egress isolated without DNS: FL004
    wait_analysed(editor, "lint")
    message = page.locator("#findings-list .finding", has_text="FL004").locator(".finding-message").inner_text()
    assert message.startswith("Isolates egress of pods")

    page.click("#tab-rating")
    dns = page.locator("#rating-criteria tbody tr", has_text="DNS only to the cluster DNS")
    assert "DNS is not allowed at all" in dns.locator(".criterion-reason").inner_text()
    assert (
        dns.locator(".criterion-improve")
        .inner_text()
        .startswith("Improve: Allow DNS (port 53, UDP and TCP) to the cluster DNS pods")
    )
    assert page.inner_text("#rating-total") != "\u2014"

    page.click("#tab-check")
    wait_analysed(editor, "check")
    check = page.inner_text("#check-view")
    assert "Any IP address" in check
    assert "[External]" not in check and "255.255.255.255" not in check
    assert all(line[:1].isupper() for line in page.locator("#check-undrawn .check-reason").all_inner_texts())
    wait_analysed(editor, "lint")  # nothing in flight when the test (maybe the session's last) ends
