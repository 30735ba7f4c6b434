"""Optional sign-in: no accounts (the default), Django accounts, a single sign-on proxy's user name; the switches
that require it for saving or for everything; the author kept with each revision.

The switches are plain settings read on every request, so each test sets them with pytest-django's `settings`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client
from test_security import ScriptAudit

from editor.models import ImmutableRevisionError, Revision, save_revision

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # the default hasher takes ~0.3 s per check


@pytest.fixture(autouse=True)
def signing_key() -> Iterator[None]:
    """Sessions are signed; the tests run without SECRET_KEY, which Django refuses to read while it is empty (so
    pytest-django's `settings` cannot restore it): set and restore it on the settings object itself."""
    unset = django_settings._wrapped.SECRET_KEY
    django_settings.SECRET_KEY = "a key that signs the sessions of these tests only " * 2
    yield
    django_settings.SECRET_KEY = unset


@pytest.fixture
def accounts(settings: Any) -> Any:
    settings.FENCELINE_AUTH = "accounts"
    settings.PASSWORD_HASHERS = FAST_HASHER
    return settings


@pytest.fixture
def remote_user(settings: Any) -> Any:
    settings.FENCELINE_AUTH = "remote-user"
    settings.FENCELINE_REMOTE_USER_HEADER = "HTTP_X_FORWARDED_USER"
    return settings


@pytest.fixture
def alice(settings: Any) -> User:
    settings.PASSWORD_HASHERS = FAST_HASHER
    return User.objects.create_user("alice", password=PASSWORD)


def form_token(page: Any) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert found, "the page has no CSRF token in a form"
    return found.group(1)


def sign_in(client: Client, username: str, password: str, next_url: str = "/") -> Any:
    """Sign in through the login page like a browser, then take the rotated CSRF token the way scripts do."""
    token = form_token(client.get(f"/accounts/login?next={next_url}"))
    answer = client.post(
        "/accounts/login",
        {"username": username, "password": password, "next": next_url, "csrfmiddlewaretoken": token},
    )
    client.token = client.get("/api/csrf").json()["csrfToken"]
    return answer


def save(client: Any, document: dict[str, Any], **extra: Any) -> Any:
    return client.post_json("/api/documents", {"document": document}, **extra)


# --- no accounts (the default) --------------------------------------------------------------------------------


def test_without_accounts_anyone_saves_and_no_author_is_recorded(api, talk_doc):
    answer = save(api, talk_doc)
    assert answer.status_code == 201
    assert answer.json()["author"] is None
    assert Revision.objects.get().author == ""


def test_without_accounts_there_is_no_sign_in_page_and_no_account_box(api, client):
    assert client.get("/accounts/login").status_code == 404
    assert api.post_form("/accounts/logout", {}).status_code == 404
    page = client.get("/").content.decode()
    assert 'id="account"' not in page and "auth.js" not in page


def test_without_accounts_a_session_or_a_proxy_header_names_no_author(api, alice, talk_doc, settings):
    settings.FENCELINE_REMOTE_USER_HEADER = "HTTP_X_FORWARDED_USER"
    api.force_login(alice)
    assert save(api, talk_doc, HTTP_X_FORWARDED_USER="mallory").status_code == 201
    assert Revision.objects.get().author == ""
    assert not User.objects.filter(username="mallory").exists()


# --- accounts ---------------------------------------------------------------------------------------------------


def test_the_sign_in_page_is_styled_like_the_app_and_has_no_inline_script(accounts, client):
    page = client.get("/accounts/login?next=/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'class="topbar"' in body and "/static/editor/app." in body and "/static/editor/auth." in body
    assert 'name="username"' in body and 'type="password"' in body and 'name="next" value="/"' in body
    audit = ScriptAudit()
    audit.feed(body)
    assert audit.problems == []
    assert "unsafe" not in page["Content-Security-Policy"]


def test_signing_in_needs_the_csrf_token(accounts, alice):
    browser = Client(enforce_csrf_checks=True)
    browser.get("/accounts/login")  # the csrftoken cookie, but the form below forgets the token
    refused = browser.post("/accounts/login", {"username": "alice", "password": PASSWORD})
    assert refused.status_code == 403
    assert b"This form has expired or did not come from this site" in refused.content
    assert "sessionid" not in browser.cookies


def test_signing_in_leads_back_and_saves_carry_the_author(accounts, alice, api, talk_doc):
    answer = sign_in(api, "alice", PASSWORD, next_url="/")
    assert (answer.status_code, answer["Location"]) == (302, "/")
    assert api.cookies["sessionid"]["httponly"]
    first = save(api, talk_doc)
    assert first.status_code == 201 and first.json()["author"] == "alice"
    history = api.get(f"/d/{first.json()['slug']}/history").content.decode()
    assert '<td class="author">alice</td>' in history
    assert api.get(f"/api/documents/{first.json()['slug']}").json()["author"] == "alice"


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(accounts, alice):
    User.objects.create_user("carol", password=PASSWORD, is_active=False)
    answers = []
    for username, password in [("alice", "wrong"), ("nobody", "wrong"), ("nobody", PASSWORD), ("carol", PASSWORD)]:
        client = Client(enforce_csrf_checks=True)
        answer = sign_in(client, username, password)
        problems = re.search(r'<div class="panel-problems" role="alert">(.*?)</div>', answer.content.decode())
        answers.append((answer.status_code, problems and problems.group(1), "sessionid" in client.cookies))
    assert answers[0][1] and "correct username and password" in answers[0][1]
    assert answers == [answers[0]] * 4
    assert answers[0][0] == 200 and not answers[0][2]


def test_signing_in_does_not_redirect_to_another_site(accounts, alice, api):
    answer = sign_in(api, "alice", PASSWORD, next_url="https://evil.example/")
    assert (answer.status_code, answer["Location"]) == (302, "/")


def test_signing_out_is_a_post_with_the_token_and_ends_the_session(accounts, alice, api, talk_doc):
    sign_in(api, "alice", PASSWORD)
    assert api.get("/accounts/logout").status_code == 405
    assert Client(enforce_csrf_checks=True).post("/accounts/logout").status_code == 403
    answer = api.post_form("/accounts/logout", {})
    assert (answer.status_code, answer["Location"]) == (302, "/")
    api.token = api.get("/api/csrf").json()["csrfToken"]
    assert save(api, talk_doc).json()["author"] is None


def test_the_editor_shows_who_is_signed_in_or_a_sign_in_link(accounts, alice, api, client, settings):
    settings.FENCELINE_REQUIRE_LOGIN_TO_SAVE = True
    anonymous = client.get("/").content.decode()
    assert re.search(r'<a class="button" id="sign-in" href="/accounts/login\?next=/" title="Sign in to save', anonymous)
    assert 'id="sign-in-dialog"' in anonymous and "/static/editor/auth." in anonymous
    sign_in(api, "alice", PASSWORD)
    signed_in = api.get("/").content.decode()
    assert '<span class="account-name" title="Signed in as alice">alice</span>' in signed_in
    assert 'action="/accounts/logout"' in signed_in and 'id="sign-in"' not in signed_in
    for body in (anonymous, signed_in):
        audit = ScriptAudit()
        audit.feed(body)
        assert audit.problems == []


def test_a_name_in_the_page_is_escaped(accounts, api):
    user = User.objects.create_user("<b>eve</b>", password=PASSWORD)
    api.force_login(user)
    page = api.get("/").content.decode()
    assert "<b>eve</b>" not in page and "&lt;b&gt;eve&lt;/b&gt;" in page


def test_with_the_save_switch_off_anyone_may_still_save(accounts, api, talk_doc):
    answer = save(api, talk_doc)
    assert answer.status_code == 201 and answer.json()["author"] is None


def test_with_the_save_switch_on_saving_needs_a_signed_in_user(accounts, alice, api, client, talk_doc):
    accounts.FENCELINE_REQUIRE_LOGIN_TO_SAVE = True
    refused = save(api, talk_doc)
    assert refused.status_code == 401
    body = refused.json()
    assert body["error"] == "sign in first: this server keeps saved drawings for signed-in people only"
    assert body["signIn"] == "http://testserver/accounts/login"
    assert "POST username, password and csrfmiddlewaretoken" in body["details"][0]
    assert not Revision.objects.exists()
    # Viewing, compiling and permalinks stay open.
    existing = save_revision(talk_doc, author="alice")
    assert client.get("/").status_code == 200
    assert client.get(f"/d/{existing.slug}").status_code == 200
    assert client.get(f"/d/{existing.slug}.yaml").status_code == 200
    assert api.get(f"/api/documents/{existing.slug}").status_code == 200
    assert api.post_json("/api/compile", talk_doc).status_code == 200
    sign_in(api, "alice", PASSWORD)
    saved = save(api, talk_doc)
    assert saved.status_code == 201 and saved.json()["author"] == "alice"


def test_requiring_sign_in_for_everything_leaves_signing_in_and_probes_open(accounts, alice, api, client, talk_doc):
    accounts.FENCELINE_REQUIRE_LOGIN = True
    slug = save_revision(talk_doc).slug
    page = client.get(f"/d/{slug}")
    assert (page.status_code, page["Location"]) == (302, f"/accounts/login?next=/d/{slug}")
    for url in [f"/api/documents/{slug}", f"/d/{slug}.yaml"]:
        assert client.get(url).status_code in (302, 401), url
    assert client.get(f"/api/documents/{slug}").json()["signIn"] == "http://testserver/accounts/login"
    assert api.post_json("/api/compile", talk_doc).status_code == 401
    assert save(api, talk_doc).status_code == 401
    assert client.get("/accounts/login").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/csrf").status_code == 200
    sign_in(api, "alice", PASSWORD)
    assert api.get(f"/d/{slug}").status_code == 200
    assert save(api, talk_doc).status_code == 201


def test_a_proxy_header_signs_nobody_in_with_accounts(accounts, api, talk_doc):
    accounts.FENCELINE_REQUIRE_LOGIN_TO_SAVE = True
    accounts.FENCELINE_REMOTE_USER_HEADER = "HTTP_X_FORWARDED_USER"
    assert save(api, talk_doc, HTTP_X_FORWARDED_USER="alice", REMOTE_USER="alice").status_code == 401
    assert not User.objects.exists()


# --- a single sign-on proxy ------------------------------------------------------------------------------------


def test_the_proxy_header_names_the_author_and_creates_the_user(remote_user, api, talk_doc):
    answer = save(api, talk_doc, HTTP_X_FORWARDED_USER="carol")
    assert answer.status_code == 201 and answer.json()["author"] == "carol"
    assert User.objects.get().username == "carol"
    history = api.get(f"/d/{answer.json()['slug']}/history", HTTP_X_FORWARDED_USER="carol").content.decode()
    assert '<span class="account-name" title="Signed in as carol">carol</span>' in history
    assert 'action="/accounts/logout"' not in history  # signing out is the proxy's business


def test_the_session_follows_the_header_and_ends_without_it(remote_user, api, talk_doc):
    remote_user.FENCELINE_REQUIRE_LOGIN_TO_SAVE = True
    api.token = api.get("/api/csrf", HTTP_X_FORWARDED_USER="carol").json()["csrfToken"]
    assert save(api, talk_doc, HTTP_X_FORWARDED_USER="dave").json()["author"] == "dave"
    api.token = api.get("/api/csrf", HTTP_X_FORWARDED_USER="dave").json()["csrfToken"]
    refused = save(api, talk_doc)  # the proxy stopped vouching: the session cookie alone is not enough
    assert refused.status_code == 401
    assert refused.json()["signIn"] is None
    assert "single sign-on proxy" in refused.json()["details"][0]


def test_only_the_configured_header_counts(remote_user, api, talk_doc):
    assert save(api, talk_doc, HTTP_REMOTE_USER="mallory", REMOTE_USER="mallory").json()["author"] is None
    remote_user.FENCELINE_REMOTE_USER_HEADER = "REMOTE_USER"  # the default: set by the server, never by a client
    assert save(api, talk_doc, HTTP_REMOTE_USER="mallory").json()["author"] is None
    assert save(api, talk_doc, REMOTE_USER="erin").json()["author"] == "erin"
    assert sorted(User.objects.values_list("username", flat=True)) == ["erin"]


@pytest.mark.parametrize("name", ["x" * 151, " ", "bad\tname"])
def test_a_user_name_no_account_can_have_is_ignored(remote_user, api, talk_doc, name):
    answer = save(api, talk_doc, HTTP_X_FORWARDED_USER=name)
    assert answer.status_code == 201 and answer.json()["author"] is None
    assert not User.objects.exists()


def test_password_accounts_do_not_count_behind_the_proxy(remote_user, alice, api, client, talk_doc):
    assert client.get("/accounts/login").status_code == 404
    api.force_login(alice, backend="editor.auth.AccountsBackend")
    assert save(api, talk_doc).json()["author"] is None


def test_requiring_sign_in_behind_the_proxy_explains_the_refusal(remote_user, client):
    remote_user.FENCELINE_REQUIRE_LOGIN = True
    page = client.get("/")
    assert page.status_code == 401
    assert b"single sign-on in front of this server did not say who you are" in page.content
    assert client.get("/", HTTP_X_FORWARDED_USER="carol").status_code == 200


# --- the author is part of the immutable revision -------------------------------------------------------------


def test_the_author_cannot_be_changed_afterwards(talk_doc):
    revision = save_revision(talk_doc, author="alice")
    revision.author = "mallory"
    with pytest.raises(ImmutableRevisionError):
        revision.save()
    with pytest.raises(ImmutableRevisionError):
        Revision.objects.filter(pk=revision.pk).update(author="mallory")
    assert Revision.objects.get().author == "alice"


def test_a_conflict_names_who_saved_first(accounts, alice, api, talk_doc):
    first = save_revision(talk_doc, author="bob")
    save_revision(talk_doc, first, author="bob")
    sign_in(api, "alice", PASSWORD)
    conflict = api.post_json("/api/documents", {"document": talk_doc, "parent": first.slug})
    assert conflict.status_code == 409
    assert "revision 2 was saved by bob at " in conflict.json()["error"]
