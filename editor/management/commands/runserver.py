"""Django's runserver, refusing to start without a SECRET_KEY when DEBUG is off (as wsgi.py and asgi.py do)."""

from typing import Any

from django.contrib.staticfiles.management.commands.runserver import Command as StaticRunserver

from editor.checks import require_secret_key


class Command(StaticRunserver):
    def handle(self, *args: Any, **options: Any) -> None:
        require_secret_key()
        super().handle(*args, **options)
