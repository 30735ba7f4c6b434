"""Configuration from the environment, and refusing to serve without a secret key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS")}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True)


def test_it_refuses_to_serve_without_a_secret_key():
    refused = run("import editor.wsgi", {})
    assert refused.returncode == 1
    assert (
        refused.stderr.strip()
        .splitlines()[-1]
        .startswith("django.core.exceptions.ImproperlyConfigured: SECRET_KEY is not set. Set it in the environment")
    )
    assert run("import editor.wsgi", {"SECRET_KEY": "k" * 50}).returncode == 0
    assert run("import editor.asgi", {"DEBUG": "1"}).returncode == 0  # a development key, for DEBUG only


def test_it_refuses_to_serve_with_a_short_secret_key():
    for entry in ("import editor.wsgi", "import editor.asgi"):
        refused = run(entry, {"SECRET_KEY": "s" * 49})
        assert refused.returncode == 1
        assert (
            refused.stderr.strip()
            .splitlines()[-1]
            .startswith("django.core.exceptions.ImproperlyConfigured: SECRET_KEY is shorter than 50 characters")
        )
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=ROOT,
        env={**os.environ, "SECRET_KEY": "short"},
        capture_output=True,
        text=True,
    )
    assert check.returncode == 1 and "fenceline.E002" in check.stderr


def settings_in(env: dict[str, str]) -> str:
    code = (
        "import json; from editor import settings as s; "
        "print(json.dumps([s.DEBUG, bool(s.SECRET_KEY), s.ALLOWED_HOSTS, s.DATABASES['default']['ENGINE'], "
        "s.FENCELINE_MAX_UPLOAD_BYTES, s.STORAGES['staticfiles']['BACKEND']]))"
    )
    result = run(code, env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_it_reads_its_settings_from_the_environment():
    assert settings_in({}) == (
        '[false, false, ["localhost", "127.0.0.1", "[::1]"], "django.db.backends.sqlite3", 10485760, '
        '"whitenoise.storage.CompressedManifestStaticFilesStorage"]'
    )
    env = {
        "DEBUG": "1",
        "ALLOWED_HOSTS": "fenceline.example, 10.0.0.5",
        "DATABASE_URL": "postgres://u:p@db:5432/fenceline",
        "FENCELINE_MAX_UPLOAD_BYTES": "1024",
    }
    assert settings_in(env) == (
        '[true, true, ["fenceline.example", "10.0.0.5"], "django.db.backends.postgresql", 1024, '
        '"django.contrib.staticfiles.storage.StaticFilesStorage"]'
    )
