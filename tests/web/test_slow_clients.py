"""Slow clients cannot starve the server (issue 12, findings 5 and 6), with the real parts: gunicorn as the Dockerfile
runs it (2 sync workers) behind Debian's nginx with the compose file's configuration (deploy/nginx/nginx.conf).

Without the proxy, two clients sending a body a byte at a time to /csp-report (open to anyone, even with
FENCELINE_REQUIRE_LOGIN=1) held both workers and /healthz waited a minute; the first test shows that this is so
on gunicorn alone, the others that nginx buffers those bodies and the server stays responsive.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.appserver import ROOT, free_port, serving, wait_healthy

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TALK_APP = Path(__file__).resolve().parents[1] / "fixtures" / "documents" / "talk-app.json"
PATIENCE = 5.0  # seconds /healthz may take while slow clients are connected (they would hold it for 60 s)


@pytest.fixture(scope="module")
def gunicorn() -> Iterator[str]:
    with serving([], workers=2, gunicorn_args=("--timeout", "60")) as (base, _):
        yield base


@pytest.fixture(scope="module")
def nginx(gunicorn: str) -> Iterator[str]:
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: install Debian's nginx-light (scripts/system-packages.sh does)")
    upstream = gunicorn.removeprefix("http://")
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        os.chmod(scratch, 0o777)  # nginx's workers run as nobody when the tests run as root
        config = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
        for old, new in (
            ("server web:8000;", f"server {upstream};"),
            ("listen 8080;", f"listen 127.0.0.1:{port};"),
            ("/tmp/", f"{scratch}/"),
            ("access_log /dev/stdout;", "access_log off;"),
        ):
            assert old in config
            config = config.replace(old, new)
        path = Path(scratch) / "nginx.conf"
        path.write_text(config)
        server = subprocess.Popen([NGINX, "-p", scratch, "-c", str(path), "-g", "daemon off;"])
        try:
            base = f"http://127.0.0.1:{port}"
            wait_healthy(base, server)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=10)


class SlowClients:
    """Clients that announce a body and then send it one byte every half second."""

    def __init__(self, base: str, count: int, path: str = "/csp-report") -> None:
        host, port = base.removeprefix("http://").split(":")
        self.sockets = [socket.create_connection((host, int(port))) for _ in range(count)]
        self.stop = threading.Event()
        for sock in self.sockets:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/csp-report\r\n"
                "Content-Length: 4000\r\n\r\n{".encode()
            )
        self.thread = threading.Thread(target=self._dribble, daemon=True)
        self.thread.start()
        time.sleep(1)  # let the server accept them and start reading

    def _dribble(self) -> None:
        while not self.stop.wait(0.5):
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.sendall(b" ")

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


def healthz_within(base: str, seconds: float) -> int | None:
    """The status of GET /healthz, or None when it did not answer within `seconds`."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=seconds)
    try:
        connection.request("GET", "/healthz", headers={"Host": "localhost"})
        return connection.getresponse().status
    except TimeoutError:
        return None
    finally:
        connection.close()


def test_without_the_proxy_two_slow_clients_hold_both_sync_workers(gunicorn):
    slow = SlowClients(gunicorn, 2)
    try:
        assert healthz_within(gunicorn, PATIENCE) is None
    finally:
        slow.close()
    wait_healthy(gunicorn, timeout=30)


@pytest.mark.parametrize("path", ["/csp-report", "/api/compile", "/accounts/login"])
def test_behind_nginx_slow_clients_do_not_hold_the_workers(nginx, path):
    slow = SlowClients(nginx, 8, path)
    try:
        for _ in range(3):
            assert healthz_within(nginx, PATIENCE) == 200
        host, port = nginx.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=PATIENCE * 4)
        connection.request("GET", "/api/csrf", headers={"Host": "localhost"})
        answer = connection.getresponse()
        assert answer.status == 200 and "csrfToken" in json.loads(answer.read())
        connection.close()
    finally:
        slow.close()


def test_behind_nginx_a_chunked_body_arrives_with_its_length(nginx):
    host, port = nginx.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    connection.request("GET", "/api/csrf", headers={"Host": "localhost"})
    answer = connection.getresponse()
    cookie, token = answer.headers["Set-Cookie"].split(";")[0], json.loads(answer.read())["csrfToken"]
    body = TALK_APP.read_bytes()
    chunks = (body[i : i + 1000] for i in range(0, len(body), 1000))
    headers = {"Host": "localhost", "Cookie": cookie, "X-CSRFToken": token, "Content-Type": "application/json"}
    connection.request("POST", "/api/compile", body=chunks, headers=headers, encode_chunked=True)
    answer = connection.getresponse()
    data = answer.read()
    connection.close()
    assert answer.status == 200, data[:300]
    assert "yaml" in json.loads(data)
