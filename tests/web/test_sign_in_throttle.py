"""Sign-in throttling (issue 12, finding 7): thirty wrong passwords in a row used to be answered normally.

django-axes counts failures per user name and address in the database (shared by every worker and replica); after
FENCELINE_SIGN_IN_FAILURES (5) the name is refused from that address with a 429, even with the right password, for
FENCELINE_SIGN_IN_LOCKOUT_MINUTES; other names and other addresses are not affected, and a success resets the count.
"""

from __future__ import annotations

from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from test_auth import FAST_HASHER, PASSWORD, form_token, signing_key  # noqa: F401  (signing_key is a fixture)

from editor import auth

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(settings: Any) -> Any:
    settings.FENCELINE_AUTH = "accounts"
    settings.PASSWORD_HASHERS = FAST_HASHER
    User.objects.create_user("alice", password=PASSWORD)
    User.objects.create_user("bob", password=PASSWORD)
    return settings


def attempt(client: Client, username: str, password: str) -> Any:
    token = form_token(client.get("/accounts/login"))
    return client.post("/accounts/login", {"username": username, "password": password, "csrfmiddlewaretoken": token})


def test_after_five_wrong_passwords_the_name_is_locked_out_from_that_address(accounts):
    client = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(4):
        answer = attempt(client, "alice", "wrong")
        assert answer.status_code == 200 and b"Please enter a correct username and password" in answer.content
    locked = attempt(client, "alice", "wrong")
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content and locked["Retry-After"] == "900"
    # The right password does not help now, from this address.
    assert attempt(client, "alice", PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session
    # Another name from the same address, and the same name from elsewhere, still sign in.
    assert attempt(client, "bob", PASSWORD).status_code == 302
    assert attempt(Client(REMOTE_ADDR="203.0.113.9"), "alice", PASSWORD).status_code == 302
    assert AccessAttempt.objects.get(username="alice", ip_address="198.51.100.7").failures_since_start >= 5


def test_a_successful_sign_in_resets_the_count(accounts):
    client = Client(REMOTE_ADDR="198.51.100.8")
    for _ in range(4):
        attempt(client, "alice", "wrong")
    assert attempt(client, "alice", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        assert attempt(client, "alice", "wrong").status_code == 200


def test_the_limit_is_a_setting(accounts):
    accounts.AXES_FAILURE_LIMIT = 2
    client = Client(REMOTE_ADDR="198.51.100.9")
    assert attempt(client, "alice", "wrong").status_code == 200
    assert attempt(client, "alice", "wrong").status_code == 429


def test_behind_trusted_proxies_failures_count_for_the_address_the_proxy_saw(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7")
    assert auth.client_ip(request) == "10.0.0.2"  # no trusted proxy: the header is anybody's word
    settings.FENCELINE_TRUSTED_PROXIES = 1
    assert auth.client_ip(request) == "198.51.100.7"  # nginx appended the peer; "6.6.6.6" was the client's claim
    settings.FENCELINE_TRUSTED_PROXIES = 3
    assert auth.client_ip(request) == "10.0.0.2"
