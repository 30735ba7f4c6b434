"""`fenceline push`: stdin to an observation stream over real HTTP, with a connection that fails once."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db.models import Sum

from editor.models import save_revision
from editor.observation_models import Observation, ObservationStream
from editor.policy.commands.push_cmd import Refused, push
from editor.policy.flows.observe import observe

TCP = Path(__file__).parents[1] / "fixtures" / "hubble" / "basic-sample-400-tcp-flows.json"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def keep_old_captures(settings):
    """The captures are from 2021: keep them past the default retention of 90 days."""
    settings.FENCELINE_OBSERVATION_RETENTION_DAYS = 36500


class FlakyProxy:
    """A loopback TCP proxy to the app that drops its first `drops` connections without an answer."""

    def __init__(self, target: tuple[str, int], drops: int) -> None:
        self.target = target
        self.drops = drops
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.drops:
                self.drops -= 1
                client.recv(1024)
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()
        for connection in self.sockets:
            connection.close()


def test_push_sends_stdin_and_sends_again_after_a_dropped_connection(app_url, talk_doc):
    stream, token = ObservationStream.create(save_revision(talk_doc).document, "cluster")
    address = urlsplit(app_url)
    proxy = FlakyProxy((address.hostname, address.port), drops=2)
    waits: list[float] = []
    notes: list[str] = []
    try:
        flows = push(
            io.BytesIO(TCP.read_bytes()),
            f"http://127.0.0.1:{proxy.port}/api/observations/{stream.slug}",
            token,
            interval=0.2,
            sleep=waits.append,
            say=notes.append,
        )
    finally:
        proxy.close()
    assert flows == 400
    assert len(waits) == 2 and waits[1] > waits[0] * 0.5 and all(0.5 <= wait <= 2 for wait in waits)
    assert all("sending again" in note for note in notes)
    expected, _ = observe(TCP.read_bytes())
    total = Observation.objects.aggregate(total=Sum("count"))["total"]
    assert total == sum(edge.count for edge in expected)  # sent again, counted once


def test_push_stops_on_a_refused_token(app_url, talk_doc):
    stream, _ = ObservationStream.create(save_revision(talk_doc).document, "cluster")
    with pytest.raises(Refused, match="401"):
        push(io.BytesIO(TCP.read_bytes()), f"{app_url}/api/observations/{stream.slug}", "wrong", sleep=lambda _: None)
    assert not Observation.objects.exists()


def fenceline_push(url: str, token: str) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "editor.policy.cli", "push", url, "--token", token]
    return subprocess.run(command, input=TCP.read_bytes(), cwd=ROOT, capture_output=True, timeout=60)


def test_the_command_line_reads_stdin(app_url, talk_doc):
    stream, token = ObservationStream.create(save_revision(talk_doc).document, "cluster")
    done = fenceline_push(f"{app_url}/api/observations/{stream.slug}", token)
    assert done.returncode == 0, done.stderr
    assert b"400 flows acknowledged" in done.stderr
    refused = fenceline_push(f"{app_url}/api/observations/{stream.slug}", "x")
    assert refused.returncode == 2 and b"401" in refused.stderr
