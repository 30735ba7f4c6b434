"""Signing in to save, in Chromium: the refused save asks to sign in and the drawing survives the trip."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User

from editor.models import Revision

pytestmark = pytest.mark.e2e


@pytest.fixture
def accounts_to_save(settings: Any) -> Iterator[None]:
    settings.FENCELINE_AUTH = "accounts"
    settings.FENCELINE_REQUIRE_LOGIN_TO_SAVE = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Sessions are signed and the tests run without SECRET_KEY, which `settings` cannot restore (Django refuses to
    # read it while empty): set it on the settings object itself.
    unset = django_settings._wrapped.SECRET_KEY
    django_settings.SECRET_KEY = "a key that signs the sessions of this test only " * 2
    yield
    django_settings.SECRET_KEY = unset


def test_a_refused_save_asks_to_sign_in_and_keeps_the_drawing(open_editor, accounts_to_save):
    User.objects.create_user("alice", password="correct horse battery staple")
    editor, watch = open_editor("/")
    page = editor.page
    assert page.locator(".topbar #account #sign-in").is_visible()
    editor.add_namespace("shop")
    page.click("#save-button")
    dialog = page.locator("#sign-in-dialog")
    dialog.wait_for(state="visible")
    assert "Your drawing is kept in this browser" in dialog.inner_text()
    assert not Revision.objects.exists()

    page.click("#sign-in-go")
    page.wait_for_url("**/accounts/login?next=%2F")
    page.fill("[name=username]", "alice")
    page.fill("[name=password]", "correct horse battery staple")
    page.click("form [type=submit]")
    page.wait_for_selector("#app[data-ready='1']")
    editor.wait_compiled()
    assert page.locator(".topbar #account .account-name").inner_text() == "alice"
    assert [label.split("\n")[0] for _, label, _ in editor.graph()["nodes"]] == ["shop"]

    page.click("#save-button")
    page.wait_for_selector("#permalink")
    saved = Revision.objects.get()
    assert (saved.author, [namespace["name"] for namespace in saved.data["namespaces"]]) == ("alice", ["shop"])
    watch.assert_clean(page, expected_statuses=(401,))
