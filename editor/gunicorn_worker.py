"""gunicorn's sync worker, not held by clients: it neither waits for the close of a client that has its answer
nor for the request of a client that has only connected.

Since gunicorn 27 (RFC 9112 section 9.6) a sync worker ends each connection by sending its FIN and then reading
until the client closes too (up to 2 s), so that request bytes it never read cannot make the kernel answer with a
reset that cuts the response short. The worker serves no one meanwhile: a browser opening the editor fetches ~25
static files, each on its own connection (sync workers do not keep connections alive), and each of the 2 workers
waited for the browser to close every one of them, 20-70 ms at a time on a busy machine (strace), longer than
serving the file (under 1 ms). After a request without a body nothing is left to read, so the connection is closed
at once, unless the client has already sent more (then gunicorn's own close reads it, as for any request with a
body: an upload refused before it was read is still closed gracefully).
The listening socket also hands a connection to a worker only once its request has begun to arrive
(TCP_DEFER_ACCEPT): a sync worker that accepted a connection waits in its read, and a browser may open one before
it has a request to send on it (or not send one at all: a speculative preconnect).

    gunicorn editor.wsgi --worker-class editor.gunicorn_worker.SyncWorker
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from gunicorn.workers import sync

# How long the kernel keeps a connection that has sent nothing from the workers (rounded to its SYN-ACK
# retransmissions); after that it is accepted as before.
DEFER_ACCEPT_SECONDS = 30


def _bodyless(req: Any) -> bool:
    """Whether the request declared no body: no Transfer-Encoding, Content-Length absent or 0."""
    for name, value in req.headers:
        if name == "TRANSFER-ENCODING" or (name == "CONTENT-LENGTH" and value.strip() != "0"):
            return False
    return True


class SyncWorker(sync.SyncWorker):
    def run(self) -> None:
        for listener in self.sockets:
            if listener.family in (socket.AF_INET, socket.AF_INET6):
                listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, DEFER_ACCEPT_SECONDS)
        super().run()

    def handle_request(self, listener: Any, req: Any, client: socket.socket, addr: Any) -> None:
        super().handle_request(listener, req, client, addr)
        # Only a complete answer gets here (an error on the way raises past this); TLS sockets keep gunicorn's close.
        if self.cfg.is_ssl or not _bodyless(req):
            return
        try:
            if client.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                return  # the client sent more than its request: gunicorn's graceful close reads it
        except BlockingIOError:
            pass  # nothing to read
        except OSError:
            return
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)
        # gunicorn's close afterwards finds the socket closed and leaves it.
        client.close()
