"""The editor page shows what its templates mean, not their source: a Django comment written over several lines
with `{# #}` (single-line only) is printed as text at the top of the page, above the header."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_the_editor_page_starts_with_its_header_and_shows_no_template_source(open_editor):
    editor, watch = open_editor("/")
    page = editor.page
    text = page.evaluate("document.body.innerText")
    assert "{#" not in text and "#}" not in text and "{%" not in text, text[:300]
    # What a person sees first at the top of the window is the header, nothing pushed above it.
    assert page.evaluate("document.querySelector('header').getBoundingClientRect().top") == 0
    watch.assert_clean(page)
