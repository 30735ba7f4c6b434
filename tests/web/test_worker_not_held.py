"""A gunicorn worker is not held by a client that does not need it (issue 13: the editor's ~25 static files, each
on its own connection to 2 sync workers): with one worker, a second client is answered while the first
* keeps its connection open after it has its answer (gunicorn 27's sync worker waited up to 2 s for its close),
* has connected but sent nothing yet (a sync worker waited in its read until the arbiter's timeout).
A request with a body still gets its whole answer (gunicorn's own graceful close for it), here a 413 sent before
the body was read.

Real gunicorn as scripts/appserver.py runs it (the Dockerfile's worker class), raw sockets for the clients.
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator

import pytest

from scripts.appserver import serving

# Below gunicorn's 2 s linger and its 30 s worker timeout; a loaded machine answers /healthz well within it.
ANSWER_WITHIN = 1.5


@pytest.fixture(scope="module")
def one_worker() -> Iterator[tuple[str, int]]:
    with serving([], workers=1) as (base, _):
        yield base, int(base.rsplit(":", 1)[1])


def healthz(base: str) -> int:
    request = urllib.request.Request(base + "/healthz", headers={"Host": "localhost"})
    with urllib.request.urlopen(request, timeout=ANSWER_WITHIN) as response:
        return response.status


def read_answer(sock: socket.socket) -> bytes:
    """The whole answer: until the server's end of it (it closes every connection)."""
    data = b""
    sock.settimeout(30)
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_client_keeping_its_connection_after_its_answer_does_not_hold_the_worker(one_worker):
    base, port = one_worker
    with socket.create_connection(("127.0.0.1", port)) as first:
        first.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert read_answer(first).startswith(b"HTTP/1.1 200")
        # The first client has its answer and keeps the connection; the next one is served meanwhile.
        assert healthz(base) == 200


def test_a_client_that_has_only_connected_does_not_hold_the_worker(one_worker):
    base, port = one_worker
    with socket.create_connection(("127.0.0.1", port)) as idle:
        assert healthz(base) == 200
        # And when its request comes, it is answered too.
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert read_answer(idle).startswith(b"HTTP/1.1 200")


def test_an_unread_body_still_gets_its_whole_answer(one_worker):
    base, port = one_worker
    with socket.create_connection(("127.0.0.1", port)) as client:
        # Over the upload limit: refused from its Content-Length before a byte of the body is read.
        client.sendall(
            b"POST /api/compile HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 900000000\r\n\r\n" + b"x" * 200_000
        )
        answer = read_answer(client)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert body.endswith(b"}\r\n0\r\n\r\n") and b"larger than the limit" in body  # to its last chunk
    assert healthz(base) == 200
