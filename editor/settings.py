"""Django settings, all from the environment (twelve-factor, in the style of healthchecks).

Every knob has a safe default for a local run; production sets SECRET_KEY, ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS
and DATABASE_URL. DEBUG is off unless the environment turns it on.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: bool) -> bool:
    """A strict boolean: a typo (`DEBUG=ture`) stops start-up instead of silently meaning false."""
    value = (os.getenv(name) or "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    if value == "":
        return default
    raise ImproperlyConfigured(
        f"{name}={os.getenv(name)!r} is not a boolean: use true or false (also 1/0, yes/no, on/off)"
    )


def envint(name: str, default: int) -> int:
    value = os.getenv(name)
    return int(value) if value else default


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", False)

# Without DEBUG there is no fallback: Django refuses to sign anything with an empty key, and editor.wsgi /
# editor.asgi refuse to start (see editor/checks.py), so a forgotten key is loud, not silently shared.
SECRET_KEY = os.getenv("SECRET_KEY", "") or (
    "django-insecure-development-only-key-never-use-it-in-production" if DEBUG else ""
)

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "editor.apps.EditorConfig",
]

MIDDLEWARE = [
    "editor.middleware.ReleaseMemoryMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "editor.middleware.SecurityHeadersMiddleware",
    "editor.middleware.ResponseSizeLimitMiddleware",
    "editor.middleware.RequestSizeLimitMiddleware",
    "editor.middleware.MethodNotAllowedPageMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "editor.auth.ProxyUserMiddleware",
    "editor.auth.SignInRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "editor.middleware.DatabaseUnavailablePageMiddleware",
    "axes.middleware.AxesMiddleware",
    "editor.middleware.TimeLimitMiddleware",  # last: its alarm covers the view, see its docstring
]

ROOT_URLCONF = "editor.urls"
WSGI_APPLICATION = "editor.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "editor.views.site_context",
                "editor.auth.account_context",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=envint("DB_CONN_MAX_AGE", 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Saving locks the document row (select_for_update, a no-op on SQLite): start write transactions IMMEDIATE
    # so concurrent saves queue for the lock instead of failing with "database is locked"; WAL lets readers
    # go on meanwhile.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": envint("SQLITE_TIMEOUT", 20),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- static files: everything from our own origin, served by whitenoise ---------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]  # static/vendor/ is filled from node_modules by scripts/vendor.py
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "editor.static_bundles.BundleFinder",  # the editor page's scripts as one file
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- size limits: a clear 413 instead of memory exhaustion ----------------------------------------------------
FENCELINE_MAX_UPLOAD_BYTES = envint("FENCELINE_MAX_UPLOAD_BYTES", 10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = FENCELINE_MAX_UPLOAD_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = envint("FILE_UPLOAD_MAX_MEMORY_SIZE", 2 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
# The largest drawing bench/bench_limits.py measures within its targets on a 2-core machine (compile <= 1.5 s,
# lint <= 3 s, check <= 5 s of CPU): at 2,000 / 10,000 compiling alone took 7.6 s and linting over 20 s.
FENCELINE_MAX_NODES = envint("FENCELINE_MAX_NODES", 300)
FENCELINE_MAX_EDGES = envint("FENCELINE_MAX_EDGES", 1500)
# Every answer is at most this large (413 beyond); the largest drawing the limits above allow answers far less.
FENCELINE_MAX_RESPONSE_BYTES = envint("FENCELINE_MAX_RESPONSE_BYTES", 32 * 1024 * 1024)
FENCELINE_TIME_LIMIT_SECONDS = float(os.getenv("FENCELINE_TIME_LIMIT_SECONDS") or 20)
# Observation streams (POST /api/observations/<stream>): rows older than this many days are dropped.
FENCELINE_OBSERVATION_RETENTION_DAYS = envint("FENCELINE_OBSERVATION_RETENTION_DAYS", 90)
# A staged revision is ready when nothing observed in this many days would be denied by it.
FENCELINE_STAGED_READY_DAYS = envint("FENCELINE_STAGED_READY_DAYS", 7)
# Drift compares the latest revision with what was observed in this many days.
FENCELINE_DRIFT_DAYS = envint("FENCELINE_DRIFT_DAYS", 7)

# --- sign-in (optional); editor.auth reads these on every request -------------------------------------------
AUTH_MODES = ("none", "accounts", "remote-user")
FENCELINE_AUTH = os.getenv("FENCELINE_AUTH", "").strip().lower() or "none"
FENCELINE_REQUIRE_LOGIN_TO_SAVE = envbool("FENCELINE_REQUIRE_LOGIN_TO_SAVE", False)
FENCELINE_REQUIRE_LOGIN = envbool("FENCELINE_REQUIRE_LOGIN", False)
if FENCELINE_AUTH not in AUTH_MODES:
    raise ImproperlyConfigured(f"FENCELINE_AUTH={FENCELINE_AUTH!r}: use one of {', '.join(AUTH_MODES)}")
if FENCELINE_AUTH == "none" and (FENCELINE_REQUIRE_LOGIN_TO_SAVE or FENCELINE_REQUIRE_LOGIN):
    raise ImproperlyConfigured(
        "FENCELINE_REQUIRE_LOGIN_TO_SAVE / FENCELINE_REQUIRE_LOGIN need a way to sign in: "
        "set FENCELINE_AUTH=accounts or FENCELINE_AUTH=remote-user"
    )
# A header as the proxy names it (X-Forwarded-User) or a WSGI environ key as is (REMOTE_USER, HTTP_X_FORWARDED_USER).
_remote_user = os.getenv("FENCELINE_REMOTE_USER_HEADER", "").strip() or "REMOTE_USER"
FENCELINE_REMOTE_USER_HEADER = (
    "HTTP_" + _remote_user.upper().replace("-", "_") if "-" in _remote_user else _remote_user.upper()
)
# django-axes counts failed sign-ins in the database (shared by every worker and replica) and refuses a user name
# from an address after FENCELINE_SIGN_IN_FAILURES failures for FENCELINE_SIGN_IN_LOCKOUT_MINUTES; its backend
# must come first so that a locked-out attempt never reaches the password check.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "editor.auth.AccountsBackend",
    "editor.auth.ProxyUserBackend",
]
AXES_FAILURE_LIMIT = envint("FENCELINE_SIGN_IN_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("FENCELINE_SIGN_IN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # by name alone, anyone could lock a colleague out
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "editor.auth.locked_out"
AXES_CLIENT_IP_CALLABLE = "editor.auth.client_ip"
AXES_VERBOSE = False
# Proxies in front of Fenceline that append the client's address to X-Forwarded-For (the compose file's nginx: 1).
FENCELINE_TRUSTED_PROXIES = envint("FENCELINE_TRUSTED_PROXIES", 0)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = LOGOUT_REDIRECT_URL = "editor"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in ("UserAttributeSimilarityValidator", "MinimumLengthValidator", "CommonPasswordValidator")
]

# --- security headers (the Content-Security-Policy is set by editor.middleware) --------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_COOKIE_SECURE = envbool("SECURE_COOKIES", False)
CSRF_COOKIE_SAMESITE = "Strict"
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", False)
SESSION_COOKIE_SAMESITE = "Lax"  # a link to a permalink from chat or mail arrives signed in
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", 14 * 24 * 3600)
CSRF_FAILURE_VIEW = "editor.views.csrf_failure"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if envbool("TRUST_X_FORWARDED_PROTO", False) else None
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "plain"}},
    "root": {"handlers": ["stdout"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {"django": {"handlers": ["stdout"], "level": os.getenv("LOG_LEVEL", "INFO"), "propagate": False}},
}
