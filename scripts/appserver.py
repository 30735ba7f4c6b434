"""The app served by gunicorn on a free loopback port, for scripts and benchmarks that drive it from outside.

`serving(documents)` migrates a throw-away SQLite database, saves the documents in it, starts gunicorn and
waits for /healthz; it yields the base URL and the saved drawings' slugs and removes everything afterwards.
`free_port()` and `wait_healthy(url)` serve the callers that start the app their own way.

Importable from the repository root (`from scripts.appserver import serving`); it uses only the standard
library, and runs Django in child processes, so importing it does not set Django up.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKER_CLASS = "editor.gunicorn_worker.SyncWorker"  # as the Dockerfile and `fenceline serve` run it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[Any] | None = None, timeout: float = 30) -> None:
    """Until GET url/healthz answers 200; SystemExit when it does not within `timeout` or `process` ends."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            request = urllib.request.Request(url + "/healthz", headers={"Host": "localhost"})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            raise SystemExit(f"the server at {url} did not come up")
        time.sleep(0.2)


@contextlib.contextmanager
def serving(
    documents: list[dict[str, Any]],
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    gunicorn_args: tuple[str, ...] = (),
) -> Iterator[tuple[str, list[str]]]:
    """(base URL, slugs of `documents` saved in order) while gunicorn serves a fresh database; `env` adds settings
    and `gunicorn_args` options (e.g. `--pid FILE` for callers that watch the workers)."""
    workdir = Path(tempfile.mkdtemp(prefix="fenceline-app-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "SECRET_KEY": "loopback-only-not-secret-but-as-long-as-a-real-one-must-be",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    python = sys.executable
    try:
        subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        paths = []
        for number, document in enumerate(documents):
            paths.append(str(workdir / f"document-{number}.json"))
            Path(paths[-1]).write_text(json.dumps(document))
        save = (
            "import json; from editor.models import save_revision; "
            f"print(' '.join(save_revision(json.load(open(p))).slug for p in {paths!r}))"
        )
        command = [python, "manage.py", "shell", "-v", "0", "-c", save]
        slugs = subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout.split()
        port = free_port()
        gunicorn = [python, "-m", "gunicorn", "editor.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
        gunicorn += ["--worker-class", WORKER_CLASS]
        server = subprocess.Popen([*gunicorn, "--log-level", "warning", *gunicorn_args], cwd=ROOT, env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_healthy(base, server)
            yield base, slugs
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
