"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "editor.settings")
application = get_asgi_application()

from editor.checks import require_secret_key  # noqa: E402  (needs the app registry that the line above set up)

require_secret_key()
