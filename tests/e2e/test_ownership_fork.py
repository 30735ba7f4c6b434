"""Someone else's drawing, in Chromium: adding a revision is refused and the editor offers to save a fork."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User

from editor.models import Document, Revision, save_revision

pytestmark = pytest.mark.e2e

TALK_APP = Path(__file__).resolve().parents[1] / "fixtures" / "documents" / "talk-app.json"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def accounts(settings: Any) -> Iterator[None]:
    settings.FENCELINE_AUTH = "accounts"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Sessions are signed and the tests run without SECRET_KEY (see test_sign_in.py).
    unset = django_settings._wrapped.SECRET_KEY
    django_settings.SECRET_KEY = "a key that signs the sessions of this test only " * 2
    yield
    django_settings.SECRET_KEY = unset


def type_like_a_person(locator: Any, text: str) -> None:
    locator.focus()
    for char in text:
        locator.press_sequentially(char, delay=0)
        locator.page.wait_for_timeout(random.randint(30, 150))


def test_a_save_to_someone_elses_drawing_offers_a_fork(open_editor, accounts):
    alice = User.objects.create_user("alice", password=PASSWORD)
    User.objects.create_user("bob", password=PASSWORD)
    theirs = save_revision(json.loads(TALK_APP.read_text()), author="alice", user=alice)

    editor, watch = open_editor("/")
    page = editor.page
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(f"/accounts/login?next=/d/{theirs.slug}/edit")
    type_like_a_person(page.locator("[name=username]"), "bob")
    page.keyboard.press("Tab")
    type_like_a_person(page.locator("[name=password]"), PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/d/{theirs.slug}/edit")
    page.wait_for_selector("#app[data-ready='1']")
    editor.wait_compiled()
    editor.add_namespace("ops")

    page.click("#save-button")
    dialog = page.locator("#dialog")
    dialog.wait_for(state="visible")
    assert "This drawing is not yours to change" in dialog.inner_text()
    assert "only alice and the editors they named may add revisions" in dialog.inner_text()
    assert Revision.objects.count() == 1
    # The fork button has the focus: Enter saves the copy.
    page.keyboard.press("Enter")
    page.wait_for_selector("#permalink")

    fork = Revision.objects.exclude(pk=theirs.pk).get()
    assert fork.parent == theirs and fork.number == 1 and fork.author == "bob"
    assert fork.document.owner.username == "bob"
    assert "ops" in [namespace["name"] for namespace in fork.data["namespaces"]]
    assert Document.objects.get(pk=theirs.document_id).revisions.count() == 1
    watch.assert_clean(page, expected_statuses=(403,))
