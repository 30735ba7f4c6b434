"""Optional sign-in: none (anyone may save), Django accounts, or a user name set by a single sign-on proxy.

The switches (FENCELINE_AUTH, FENCELINE_REQUIRE_LOGIN_TO_SAVE, FENCELINE_REQUIRE_LOGIN, FENCELINE_REMOTE_USER_HEADER)
are read on every request, never at import, so that one process answers exactly as its settings say. A session
counts only in the mode it was made in: each backend refuses users while its mode is off, so switching the mode
signs everybody out instead of carrying a proxy's user into password accounts or the other way round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend, RemoteUserBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.middleware import RemoteUserMiddleware
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

log = logging.getLogger(__name__)

NONE, ACCOUNTS, REMOTE_USER = "none", "accounts", "remote-user"
# Reachable without signing in even when FENCELINE_REQUIRE_LOGIN is on: signing in itself, probes, CSP reports,
# and observation intake, which has its own per-stream token.
OPEN_VIEWS = frozenset({"login", "logout", "healthz", "csp_report", "api_csrf", "api_observations"})
MAX_USERNAME = 150  # django.contrib.auth's User.username


def mode() -> str:
    return str(settings.FENCELINE_AUTH)


def login_required_for_everything() -> bool:
    return mode() != NONE and bool(settings.FENCELINE_REQUIRE_LOGIN)


def login_required_to_save() -> bool:
    return login_required_for_everything() or (mode() != NONE and bool(settings.FENCELINE_REQUIRE_LOGIN_TO_SAVE))


def author_of(request: HttpRequest) -> str:
    """The signed-in user's name for a new revision, or "" (no accounts, or nobody signed in)."""
    if mode() == NONE or not request.user.is_authenticated:
        return ""
    return request.user.get_username()


def saving_user(request: HttpRequest) -> Any:
    """Who saves, for ownership: the request's user (possibly anonymous) when sign-in is on, None when it is off
    (then drawings have no owner and anyone may continue any of them, as before ownership existed)."""
    return None if mode() == NONE else request.user


# --- backends -----------------------------------------------------------------------------------------------


class AccountsBackend(ModelBackend):
    """User names and passwords in the database; ModelBackend answers an unknown name as slowly as a wrong password."""

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> AbstractBaseUser | None:
        return super().authenticate(request, *args, **kwargs) if mode() == ACCOUNTS else None

    def get_user(self, user_id: int) -> AbstractBaseUser | None:
        return super().get_user(user_id) if mode() == ACCOUNTS else None


class ProxyUserBackend(RemoteUserBackend):
    """Trusts the proxy's user name (creating the user on first sight), in remote-user mode only."""

    def clean_username(self, username: str) -> str:
        return username.strip()

    def authenticate(self, request: HttpRequest | None, remote_user: str) -> AbstractBaseUser | None:  # type: ignore[override]
        if mode() != REMOTE_USER:
            return None
        name = self.clean_username(remote_user or "")
        if not name or len(name) > MAX_USERNAME or not name.isprintable():
            log.warning("remote-user: ignoring a user name that is empty, longer than %d or unprintable", MAX_USERNAME)
            return None
        return super().authenticate(request, name)

    def get_user(self, user_id: int) -> AbstractBaseUser | None:
        return super().get_user(user_id) if mode() == REMOTE_USER else None


# --- middleware ---------------------------------------------------------------------------------------------


class ProxyUserMiddleware(RemoteUserMiddleware):
    """Django's RemoteUserMiddleware, honouring the header only in remote-user mode and reading its name per request.

    Like its parent it signs the session out when a request comes without the header, so a proxy that stops
    vouching for someone ends their session here too.
    """

    async_capable = False  # Django adapts it under ASGI; the async path of the parent reads a different META key

    @property  # type: ignore[override]
    def header(self) -> str:
        return str(settings.FENCELINE_REMOTE_USER_HEADER)

    def process_request(self, request: HttpRequest) -> None:
        if mode() == REMOTE_USER:
            super().process_request(request)


class SignInRequiredMiddleware:
    """With FENCELINE_REQUIRE_LOGIN, everything but signing in, probes and CSP reports needs a signed-in user."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., HttpResponse], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if not login_required_for_everything() or request.user.is_authenticated:
            return None
        if request.resolver_match is not None and request.resolver_match.url_name in OPEN_VIEWS:
            return None
        if request.path.startswith("/api/"):
            return sign_in_needed(request, "sign in first: this server answers signed-in people only")
        if mode() == ACCOUNTS:
            return redirect_to_login(request.get_full_path())
        return render(request, "error.html", _proxy_message(), status=401)


def _proxy_message() -> dict[str, Any]:
    return {
        "title": "Not signed in",
        "message": "The single sign-on in front of this server did not say who you are. Reload the page to sign in "
        "again; if that does not help, ask whoever runs Fenceline here.",
    }


def sign_in_needed(request: HttpRequest, error: str) -> JsonResponse:
    """401 for the API: what was refused and how to sign in (`signIn` is the sign-in page, null behind a proxy)."""
    if mode() == ACCOUNTS:
        url = request.build_absolute_uri(reverse("login"))
        how = [
            f"sign in at {url}, or from a script: GET {url} for the csrftoken cookie, POST username, password and "
            "csrfmiddlewaretoken to it, and send the sessionid cookie it sets with every request"
        ]
    else:
        url = None
        how = ["sign in through the single sign-on proxy in front of this server: it did not send a user name"]
    return JsonResponse({"error": error, "details": how, "signIn": url}, status=401)


def save_refusal(request: HttpRequest) -> JsonResponse | None:
    """The answer to a save that needs a signed-in user, or None when this request may save."""
    if login_required_to_save() and not request.user.is_authenticated:
        return sign_in_needed(request, "sign in first: this server keeps saved drawings for signed-in people only")
    return None


# --- pages --------------------------------------------------------------------------------------------------

_login = auth_views.LoginView.as_view(template_name="registration/login.html", redirect_authenticated_user=True)
_logout = auth_views.LogoutView.as_view()


def login(request: HttpRequest) -> HttpResponse:
    if mode() == REMOTE_USER:
        raise Http404("This server signs you in through the single sign-on in front of it, not with a password.")
    if mode() != ACCOUNTS:
        raise Http404("This server has no accounts: anyone can save drawings.")
    return _login(request)


def client_ip(request: HttpRequest) -> str:
    """The address sign-in failures are counted for: the peer, or the address the trusted proxies in front of
    Fenceline put in X-Forwarded-For (each appends the address it was talked to from; earlier entries are the
    client's own word and not trusted)."""
    hops = int(settings.FENCELINE_TRUSTED_PROXIES)
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if hops > 0 and len(forwarded) >= hops:
        return forwarded[-hops]
    return str(request.META.get("REMOTE_ADDR", ""))


def locked_out(request: HttpRequest, response: HttpResponse | None, credentials: dict[str, Any] | None) -> HttpResponse:
    """django-axes' answer once a user name failed too often from one address: 429 with when to try again."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = (
        f"Too many failed sign-ins for this user name from your address: signing in is refused for {minutes} "
        "minutes. Ask whoever runs Fenceline here to reset your password if you have forgotten it."
    )
    page = render(request, "error.html", {"title": "Too many attempts", "message": message}, status=429)
    page["Retry-After"] = str(minutes * 60)
    return page


def logout(request: HttpRequest) -> HttpResponse:
    if mode() != ACCOUNTS:
        raise Http404("This server has no accounts to sign out of.")
    return _logout(request)


def account_context(request: HttpRequest) -> dict[str, Any]:
    """What the pages show of sign-in; with no accounts nothing, and the session is not even looked at."""
    if mode() == NONE:
        return {"auth_mode": NONE}
    user = request.user if request.user.is_authenticated else None
    return {"auth_mode": mode(), "signed_in_user": user, "save_needs_sign_in": login_required_to_save()}
