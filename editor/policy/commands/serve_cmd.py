"""`fenceline serve`: migrate the database and run the web editor.

The only command that touches Django, and only inside `run`, so the rest of the CLI stays Django-free.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default: 2)")
    parser.add_argument("--dev", action="store_true", help="Django's auto-reloading development server instead")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "editor.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    address = f"{args.host}:{args.port}"
    if args.dev:
        call_command("runserver", address)
        return 0
    command = [sys.executable, "-m", "gunicorn", "editor.wsgi", "--bind", address, "--workers", str(args.workers)]
    command += ["--worker-class", "editor.gunicorn_worker.SyncWorker"]  # not held by clients (its docstring)
    return subprocess.call(command)
