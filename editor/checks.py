"""Start-up checks: refuse to serve with a configuration that is unsafe in production."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

MISSING_SECRET_KEY = (
    "SECRET_KEY is not set. Set it in the environment to a long random string, e.g. the output of "
    "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`, or set DEBUG=1 for a local development server."
)


MIN_SECRET_KEY_LENGTH = 50  # Django's own deployment check (security.W009) asks for as much
SHORT_SECRET_KEY = (
    f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters: sessions and CSRF tokens are signed with it, "
    "and a short key can be guessed. Set it to a long random string, e.g. the output of "
    "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
)


def _has_secret_key() -> bool:
    try:
        return bool(settings.SECRET_KEY)
    except ImproperlyConfigured:  # Django refuses to even read an empty key
        return False


def require_secret_key() -> None:
    """Called by every entry point that serves requests (wsgi, asgi, runserver)."""
    if not _has_secret_key():
        raise ImproperlyConfigured(MISSING_SECRET_KEY)
    if len(settings.SECRET_KEY) < MIN_SECRET_KEY_LENGTH:
        raise ImproperlyConfigured(SHORT_SECRET_KEY)


@register(Tags.security, deploy=True)
def check_secret_key(app_configs: Any, **kwargs: Any) -> list[Error]:
    if not _has_secret_key():
        return [Error(MISSING_SECRET_KEY, id="fenceline.E001")]
    if len(settings.SECRET_KEY) < MIN_SECRET_KEY_LENGTH:
        return [Error(SHORT_SECRET_KEY, id="fenceline.E002")]
    return []
