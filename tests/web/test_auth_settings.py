"""Sign-in settings from the environment, and the migration that adds the author to saved revisions."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from test_settings import run

from editor.models import Revision

NAMES = [
    "FENCELINE_AUTH",
    "FENCELINE_REQUIRE_LOGIN_TO_SAVE",
    "FENCELINE_REQUIRE_LOGIN",
    "FENCELINE_REMOTE_USER_HEADER",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SESSION_COOKIE_AGE",
]


def auth_settings(env: dict[str, str]) -> list[object]:
    """The settings NAMES, as a fresh process with `env` reads them."""
    result = run(
        f"import json; from editor import settings; print(json.dumps([getattr(settings, n) for n in {NAMES}]))", env
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_by_default_there_are_no_accounts():
    assert auth_settings({}) == ["none", False, False, "REMOTE_USER", False, False, 14 * 24 * 3600]


def test_it_reads_the_sign_in_switches_and_the_cookie_settings():
    env = {
        "FENCELINE_AUTH": "Accounts",
        "FENCELINE_REQUIRE_LOGIN_TO_SAVE": "1",
        "SECURE_COOKIES": "true",
        "SESSION_COOKIE_AGE": "3600",
    }
    assert auth_settings(env) == ["accounts", True, False, "REMOTE_USER", True, True, 3600]


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("X-Forwarded-User", "HTTP_X_FORWARDED_USER"),
        ("Remote-User", "HTTP_REMOTE_USER"),
        ("HTTP_X_FORWARDED_USER", "HTTP_X_FORWARDED_USER"),
        ("REMOTE_USER", "REMOTE_USER"),
    ],
)
def test_the_proxy_header_is_named_as_the_proxy_names_it_or_as_a_wsgi_key(header, key):
    env = {"FENCELINE_AUTH": "remote-user", "FENCELINE_REQUIRE_LOGIN": "yes", "FENCELINE_REMOTE_USER_HEADER": header}
    assert auth_settings(env)[:4] == ["remote-user", False, True, key]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FENCELINE_AUTH": "ldap"}, "FENCELINE_AUTH='ldap': use one of none, accounts, remote-user"),
        (
            {"FENCELINE_REQUIRE_LOGIN_TO_SAVE": "1"},
            "FENCELINE_REQUIRE_LOGIN_TO_SAVE / FENCELINE_REQUIRE_LOGIN need a way to sign in: "
            "set FENCELINE_AUTH=accounts or FENCELINE_AUTH=remote-user",
        ),
        ({"FENCELINE_AUTH": "none", "FENCELINE_REQUIRE_LOGIN": "1"}, "need a way to sign in"),
    ],
)
def test_it_refuses_switches_that_cannot_work(env, message):
    refused = run("import editor.settings", env)
    assert refused.returncode == 1
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: ") and message in last


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_earlier_revisions_with_no_author(talk_doc):
    before = [("editor", "0001_initial")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        document = old.get_model("editor", "Document").objects.create(name="saved before sign-in existed")
        old.get_model("editor", "Revision").objects.create(document=document, number=1, slug="s" * 30, data=talk_doc)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())  # back to the latest schema, for the tests after this
    revision = Revision.objects.get()
    assert (revision.slug, revision.author, revision.data) == ("s" * 30, "", talk_doc)
