"""`fenceline push URL --token T`: send a flow stream (stdin) to a drawing's observation stream, for as long
as it runs.

    hubble observe --follow -o jsonpb | fenceline push https://fenceline.example/api/observations/<stream> --token T

Lines are sent in batches (a batch closes at 8 MiB or after --interval seconds, whichever comes first),
each as one POST that the server acknowledges once it is stored. A batch that was not acknowledged (the server
restarting, the network gone, a 5xx) is sent again after a back-off that doubles from one second to a minute
(with jitter, so many senders do not return at once); nothing is dropped while the process lives. A refused
token (401) ends the command with exit code 2: retrying cannot help.
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import BinaryIO

from ..yamlio import InputError

# One piece of the server's intake (at most observations_api.PIECE_BYTES, 16 MiB), and under the 12 MiB body
# limit of the nginx in front of it in docker-compose.yml (deploy/nginx/nginx.conf).
BATCH_BYTES = 8 * 1024 * 1024
MAX_BACKOFF = 60.0
_END = b""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", metavar="URL", help="the stream's address: https://HOST/api/observations/STREAM")
    parser.add_argument("--token", required=True, metavar="T", help="the stream's token (shown once when made)")
    parser.add_argument(
        "--interval", type=float, default=1.0, metavar="S", help="send what has arrived at least every S seconds"
    )


class Refused(InputError):
    pass


def send(url: str, token: str, batch: bytes, timeout: float = 60.0) -> int:
    """POST one batch; the flows the server acknowledged. Raises Refused (401/403/404) or OSError (retry)."""
    request = urllib.request.Request(
        url,
        data=batch,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            events = [json.loads(line) for line in response.read().splitlines() if line.strip()]
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403, 404):
            raise Refused(
                f"the server refused the stream ({exc.code}): {exc.read()[:200].decode(errors='replace')}", url
            ) from None
        raise OSError(f"HTTP {exc.code}") from None
    except ValueError as exc:  # an answer that is not ours (a proxy's error page)
        raise OSError(f"unreadable answer: {exc}") from None
    for event in events:
        if "error" in event:
            if event.get("status") == 401:
                raise Refused(event["error"], url)
            raise OSError(event["error"])
        if "done" in event:
            return int(event["done"]["flows"])
    raise OSError("the answer ended before the batch was acknowledged")


def _read_lines(stdin: BinaryIO, lines: queue.Queue[bytes]) -> None:
    for line in stdin:
        lines.put(line if line.endswith(b"\n") else line + b"\n")
    lines.put(_END)


def push(
    stdin: BinaryIO,
    url: str,
    token: str,
    interval: float = 1.0,
    sender: Callable[[str, str, bytes], int] = send,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = lambda text: print(f"fenceline push: {text}", file=sys.stderr),
) -> int:
    """Send stdin until it ends; the number of flows acknowledged."""
    lines: queue.Queue[bytes] = queue.Queue(maxsize=100_000)  # back-pressure on a producer faster than the server
    threading.Thread(target=_read_lines, args=(stdin, lines), daemon=True).start()
    acknowledged = 0
    ended = False
    while not ended:
        batch: list[bytes] = []
        size = 0
        deadline = time.monotonic() + interval
        while size < BATCH_BYTES:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.001) if batch else None)
            except queue.Empty:
                break
            if line == _END:
                ended = True
                break
            batch.append(line)
            size += len(line)
        if not batch:
            continue
        body = b"".join(batch)
        backoff = 1.0
        while True:
            try:
                acknowledged += sender(url, token, body)
                break
            except Refused:
                raise
            except OSError as exc:
                wait = backoff * random.uniform(0.5, 1.0)
                say(f"not acknowledged ({exc}); sending again in {wait:.1f} s")
                sleep(wait)
                backoff = min(backoff * 2, MAX_BACKOFF)
    return acknowledged


def run(args: argparse.Namespace) -> int:
    flows = push(sys.stdin.buffer, args.url, args.token, args.interval)
    print(f"fenceline push: {flows} flows acknowledged", file=sys.stderr)
    return 0
