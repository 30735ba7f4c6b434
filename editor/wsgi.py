"""WSGI entry point (gunicorn editor.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "editor.settings")
application = get_wsgi_application()

from editor.checks import require_secret_key  # noqa: E402  (needs the app registry that the line above set up)

require_secret_key()
